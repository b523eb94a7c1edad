/**
 * The command line of the simulator (`pnpm simulate`): runs a range of seeds or one seed, prints failing
 * seeds with their trace. Output goes through `io`, so the library itself never writes to the console.
 */
import type { FaultKind, SimulationOptions } from './simulation.js';
import { ALL_FAULTS, DEFAULT_FAULTS, formatTrace, runSimulation } from './simulation.js';

export interface CliIo {
  write(line: string): void;
  /** A monotonic clock in ms, only to report throughput. */
  elapsedMs(): number;
}

const USAGE = `usage: simulate [--seeds N] [--from S] [--seed S] [--nodes N] [--faults LIST] [--fault-phase SECONDS] [--verbose] [--trace-lines N] [--no-timeline-reservation]
  --seeds N        run seeds S..S+N-1 (default 200), S from --from (default 1)
  --seed S         run one seed and print its whole trace
  --nodes N        members (default 3)
  --faults LIST    comma-separated fault kinds, "default", "all", or "+kind" to add to the default set
                   kinds: ${ALL_FAULTS.join(', ')}
  --fault-phase S  virtual seconds of faults (default 600)
  --trace-lines N  trace lines printed for a failing seed in a batch (default 60)
  --verbose        print every seed's outcome
  --no-timeline-reservation
                   promote without planting history files (as Patroni): shows the duplicate-timelines class`;

function parseFaults(value: string): FaultKind[] {
  if (value === 'default') return [...DEFAULT_FAULTS];
  if (value === 'all') return [...ALL_FAULTS];
  if (value === 'none') return [];
  const parts = value.split(',').map((part) => part.trim()).filter(Boolean);
  const base: FaultKind[] = parts.every((part) => part.startsWith('+')) ? [...DEFAULT_FAULTS] : [];
  for (const part of parts) {
    const kind = part.replace(/^\+/, '');
    if (!(ALL_FAULTS as readonly string[]).includes(kind)) throw new Error(`unknown fault kind ${kind}`);
    if (!base.includes(kind as FaultKind)) base.push(kind as FaultKind);
  }
  return base;
}

/** Returns the exit code: 0 when every seed passed, 1 when one failed, 2 on bad arguments. */
export function runSimulatorCli(argv: readonly string[], io: CliIo): number {
  const flags = new Map<string, string>();
  let verbose = false;
  let noReservation = false;
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index]!;
    if (arg === '--') continue;
    if (arg === '--verbose' || arg === '-v') verbose = true;
    else if (arg === '--no-timeline-reservation') noReservation = true;
    else if (arg === '--help' || arg === '-h') {
      io.write(USAGE);
      return 0;
    } else if (arg.startsWith('--')) {
      const [name, inline] = arg.slice(2).split('=', 2) as [string, string | undefined];
      const value = inline ?? argv[++index];
      if (value === undefined) {
        io.write(`missing value for --${name}\n${USAGE}`);
        return 2;
      }
      flags.set(name, value);
    } else {
      io.write(`unexpected argument ${arg}\n${USAGE}`);
      return 2;
    }
  }
  const known = new Set(['seeds', 'from', 'seed', 'nodes', 'faults', 'fault-phase', 'trace-lines']);
  for (const name of flags.keys()) {
    if (!known.has(name)) {
      io.write(`unknown option --${name}\n${USAGE}`);
      return 2;
    }
  }
  const int = (name: string, fallback: number): number => {
    const raw = flags.get(name);
    if (raw === undefined) return fallback;
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 0) throw new Error(`--${name} must be a non-negative integer`);
    return value;
  };
  let base: Omit<SimulationOptions, 'seed'>;
  let seeds: number[];
  let traceLines: number;
  try {
    const faults = flags.has('faults') ? parseFaults(flags.get('faults')!) : undefined;
    base = {
      nodes: int('nodes', 3),
      faultPhaseMs: int('fault-phase', 600) * 1000,
      ...(faults ? { faults } : {}),
      ...(noReservation ? { timelineReservation: false } : {}),
    };
    traceLines = int('trace-lines', 60);
    if (flags.has('seed')) seeds = [int('seed', 1)];
    else {
      const from = int('from', 1);
      seeds = Array.from({ length: int('seeds', 200) }, (_, index) => from + index);
    }
  } catch (error) {
    io.write(`${(error as Error).message}\n${USAGE}`);
    return 2;
  }

  const single = seeds.length === 1;
  const started = io.elapsedMs();
  const failed: number[] = [];
  for (const seed of seeds) {
    const result = runSimulation({ ...base, seed });
    if (single) {
      for (const line of formatTrace(result.trace)) io.write(line);
    }
    if (!result.ok && result.violation) {
      failed.push(seed);
      io.write(`seed ${seed} FAILED at +${(result.violation.t / 1000).toFixed(3)}s [${result.violation.invariant}] ${result.violation.message}`);
      if (!single) {
        for (const line of formatTrace(result.trace, { last: traceLines })) io.write(`  ${line}`);
        io.write(`  reproduce: pnpm simulate --seed ${seed}${flags.has('faults') ? ` --faults ${flags.get('faults')}` : ''}${flags.has('nodes') ? ` --nodes ${flags.get('nodes')}` : ''}${flags.has('fault-phase') ? ` --fault-phase ${flags.get('fault-phase')}` : ''}${noReservation ? ' --no-timeline-reservation' : ''}`);
      }
    } else if (verbose || single) {
      const { stats } = result;
      io.write(`seed ${seed} ok: ${stats.events} events, ${stats.cycles} cycles, ${stats.faults} faults, ${stats.promotions} promotions`);
    }
  }
  const seconds = (io.elapsedMs() - started) / 1000;
  io.write(
    `${seeds.length - failed.length}/${seeds.length} seeds passed in ${seconds.toFixed(1)} s (${(seeds.length / Math.max(seconds, 0.001)).toFixed(1)} seeds/s)` +
      (failed.length ? `; failing seeds: ${failed.join(' ')}` : ''),
  );
  return failed.length ? 1 : 0;
}
