#!/usr/bin/env node
// `pnpm simulate`: the deterministic cluster simulator over many seeds (see docs/concepts/simulator.md).
import { performance } from 'node:perf_hooks';
import { runSimulatorCli } from '../dist/simulator.js';

process.exitCode = runSimulatorCli(process.argv.slice(2), {
  write: (line) => process.stdout.write(`${line}\n`),
  elapsedMs: () => performance.now(),
});
