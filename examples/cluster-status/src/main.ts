#!/usr/bin/env node
import { runClusterStatus } from './cli.js';

process.exitCode = await runClusterStatus(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
});
