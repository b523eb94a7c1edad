/**
 * `pnpm bench [--quick] [--steady-minutes N] ...`: the same 3-member cluster run by pgwarden, then by Patroni 3.0.2,
 * measured the same way; prints one table and writes bench/results/latest.json and latest.md.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { AGENT_BIN, BenchCluster, PATRONI_BIN, PROFILES, REPO_ROOT, patroniVersion, snapshotAgentBuild } from './cluster.js';
import type { Implementation, TimingProfile } from './cluster.js';
import type { MemoryRestrictedResult } from './memory-restricted.js';
import { runMemoryRestricted } from './memory-restricted.js';
import { installCleanupHooks } from './proc.js';
import type { BenchPorts } from './ports.js';
import { allocatePorts } from './ports.js';
import type { FailoverRun, GracefulResult, RestResult, SteadyResult, SwitchoverSeries } from './scenarios.js';
import { measureBootstrap, measureFailover, measureGracefulStop, measureRest, measureSteady, measureSwitchovers, say } from './scenarios.js';
import type { Row } from './report.js';
import { buildRows, renderMarkdown, renderTable } from './report.js';
import type { PacedLoad } from './wrk.js';

/** The parts of a run; bootstrap is always measured (every other part needs the cluster up). */
export const SECTIONS = ['steady', 'rest', 'switchover', 'graceful', 'failover', 'restricted'] as const;
export type Section = (typeof SECTIONS)[number];

export interface Options {
  readonly quick: boolean;
  readonly steadyMinutes: number;
  readonly cpuWindowSeconds: number;
  readonly failoverRuns: number;
  readonly switchoverRuns: number;
  readonly wrkSeconds: number;
  readonly implementations: Implementation[];
  readonly profiles: TimingProfile[];
  readonly restricted: boolean;
  readonly restrictedSeconds: number;
  readonly addressSpaceMb: number;
  readonly cgroupMb: number;
  /** Where latest.json and latest.md go; default bench/results. */
  readonly outDir: string;
  /** What is measured (`--sections`); every section by default. */
  readonly sections: readonly Section[];
  /** Health-check paced REST loads (`--paced`), each run on /health, /replica and /patroni. */
  readonly pacedLoads: readonly PacedLoad[];
  readonly pacedSeconds: number;
}

export interface ProfileResult {
  readonly profile: TimingProfile;
  bootstrapSeconds?: number;
  steady?: SteadyResult;
  rest?: RestResult;
  switchover?: SwitchoverSeries;
  graceful?: GracefulResult;
  failovers: FailoverRun[];
  readonly errors: string[];
}

export interface Results {
  readonly date: string;
  readonly command: string;
  readonly options: Options;
  readonly machine: Record<string, string | number>;
  /** The ports every cluster of the run listened on (both implementations, every profile). */
  readonly ports: BenchPorts;
  readonly runs: Partial<Record<Implementation, Record<string, ProfileResult>>>;
  memoryRestricted?: MemoryRestrictedResult | { error: string };
  rows?: Row[];
  readonly durationSeconds?: number;
}

function parseArgs(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  const value = (flag: string): string | undefined => {
    const index = argv.indexOf(flag);
    return index >= 0 ? argv[index + 1] : undefined;
  };
  const number = (flag: string, fallback: number): number => {
    const raw = value(flag);
    if (raw === undefined) return fallback;
    const parsed = Number(raw);
    if (!Number.isFinite(parsed) || parsed <= 0) throw new Error(`[bench] ${flag} wants a positive number, got ${raw}`);
    return parsed;
  };
  const only = value('--only');
  const implementations: Implementation[] = only === 'pgwarden' || only === 'patroni' ? [only] : ['pgwarden', 'patroni'];
  const profiles = (value('--profiles') ?? 'default,fast').split(',').map((name) => {
    const profile = PROFILES[name.trim()];
    if (!profile) throw new Error(`[bench] unknown profile ${name}; known: ${Object.keys(PROFILES).join(', ')}`);
    return profile;
  });
  const sectionsRaw = value('--sections');
  const sections = sectionsRaw === undefined ? [...SECTIONS] : sectionsRaw.split(',').map((name) => name.trim()).filter(Boolean);
  for (const name of sections) {
    if (!(SECTIONS as readonly string[]).includes(name)) throw new Error(`[bench] unknown section ${name}; known: ${SECTIONS.join(', ')}`);
  }
  // `--paced 500x1000,1000x500`: connections x mean interval (ms) per checker; `--paced none` skips them.
  const pacedRaw = value('--paced') ?? '500x1000,1000x500';
  const pacedConnection = value('--paced-connection') ?? 'close';
  if (pacedConnection !== 'close' && pacedConnection !== 'keep-alive') throw new Error(`[bench] --paced-connection wants close or keep-alive, got ${pacedConnection}`);
  const pacedLoads: PacedLoad[] =
    pacedRaw === 'none'
      ? []
      : pacedRaw.split(',').map((spec) => {
          const match = /^\s*(\d+)x(\d+)\s*$/.exec(spec);
          if (!match || Number(match[1]) < 1 || Number(match[2]) < 1) throw new Error(`[bench] --paced wants CONNECTIONSxINTERVAL_MS[,...], got ${spec}`);
          return { connections: Number(match[1]), intervalMs: Number(match[2]), connection: pacedConnection };
        });
  return {
    quick,
    steadyMinutes: number('--steady-minutes', quick ? 0.5 : 2),
    cpuWindowSeconds: number('--cpu-window', quick ? 30 : 60),
    failoverRuns: Math.round(number('--failover-runs', quick ? 1 : 3)),
    switchoverRuns: Math.round(number('--switchover-runs', 3)),
    wrkSeconds: Math.round(number('--wrk-seconds', quick ? 5 : 10)),
    implementations,
    profiles,
    restricted: !argv.includes('--no-restricted'),
    restrictedSeconds: number('--restricted-seconds', quick ? 15 : 60),
    addressSpaceMb: number('--as-mb', 1024),
    cgroupMb: number('--cgroup-mb', 256),
    outDir: resolve(value('--out') ?? join(REPO_ROOT, 'bench/results')),
    sections: sections as Section[],
    pacedLoads,
    pacedSeconds: Math.round(number('--paced-seconds', quick ? 10 : 15)),
  };
}

/** First line of `<command> --version`; some tools (wrk) print it and exit non-zero. */
function version(command: string, args: string[]): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  return `${result.stdout ?? ''}${result.stderr ?? ''}`.split('\n')[0]?.trim() || 'unknown';
}

async function benchProfile(implementation: Implementation, profile: TimingProfile, options: Options, primaryProfile: boolean, agentBin: string, ports: BenchPorts): Promise<ProfileResult> {
  const result: ProfileResult = { profile, failovers: [], errors: [] };
  const cluster = await BenchCluster.create({ implementation, profile, agentBin, ports });
  const step = async (name: string, work: () => Promise<void>) => {
    say(`${implementation}/${profile.name}: ${name}`);
    try {
      await work();
    } catch (error) {
      const message = `${name}: ${(error as Error).message.split('\n')[0]}`;
      result.errors.push(message);
      say(`${implementation}/${profile.name}: FAILED ${message}`);
    }
  };
  try {
    let leader = '';
    await step('bootstrap', async () => {
      const bootstrap = await measureBootstrap(cluster);
      result.bootstrapSeconds = bootstrap.seconds;
      leader = bootstrap.leader;
    });
    if (!leader) return result;
    const wanted = (section: Section) => options.sections.includes(section);
    // Steady state, REST, switchover and graceful stop on the primary profile only: they keep the quick run short.
    if (primaryProfile && wanted('steady')) {
      await step(`steady state (${options.steadyMinutes} min, CPU over ${options.cpuWindowSeconds} s)`, async () => {
        result.steady = await measureSteady(cluster, options.steadyMinutes, options.cpuWindowSeconds);
      });
    }
    if (primaryProfile && wanted('rest')) {
      const paced = options.pacedLoads.map((load) => `${load.connections}x${load.intervalMs} ms`).join(', ') || 'none';
      await step(`REST load (wrk, ${options.wrkSeconds} s per path saturated; paced ${paced}, ${options.pacedSeconds} s per path)`, async () => {
        result.rest = await measureRest(cluster, await cluster.waitHealthy(60_000), {
          seconds: options.wrkSeconds,
          pacedLoads: options.pacedLoads,
          pacedSeconds: options.pacedSeconds,
        });
      });
    }
    if (primaryProfile && wanted('switchover')) {
      await step(`planned switchover (median of ${options.switchoverRuns})`, async () => {
        const series = await measureSwitchovers(cluster, options.switchoverRuns);
        result.switchover = series;
        if (series.error !== undefined) throw new Error(`after ${series.runs.length} of ${options.switchoverRuns} runs: ${series.error}`);
      });
    }
    if (primaryProfile && wanted('graceful')) {
      await step('graceful stop of the leader', async () => {
        const current = await cluster.waitHealthy(60_000);
        try {
          result.graceful = await measureGracefulStop(cluster, current);
        } finally {
          cluster.start(current);
        }
        await cluster.waitHealthy(180_000, 250);
      });
    }
    for (let run = 1; wanted('failover') && run <= options.failoverRuns; run++) {
      let failed = false;
      await step(`failover run ${run}/${options.failoverRuns} (kill -9 of the leader's agent and postmaster)`, async () => {
        try {
          result.failovers.push(await measureFailover(cluster));
        } catch (error) {
          failed = true;
          throw error;
        }
      });
      if (failed) break;
    }
  } finally {
    say(`${implementation}/${profile.name}: stopping the cluster`);
    await cluster.stopAll();
  }
  return result;
}

async function main(argv: readonly string[]): Promise<number> {
  installCleanupHooks();
  const options = parseArgs(argv);
  const started = Date.now();
  if (!existsSync(join(AGENT_BIN, '../../dist/index.js'))) throw new Error('[bench] the agent is not built: run `pnpm turbo run build`');
  if (options.implementations.includes('patroni') && !existsSync(PATRONI_BIN)) {
    throw new Error(`[bench] ${PATRONI_BIN} is missing: apt-get install -y patroni`);
  }
  // Drawn once: every cluster of the run (both implementations, every profile) listens on these same ports.
  const ports = await allocatePorts(3);
  const results: Results = {
    date: new Date().toISOString(),
    command: `pnpm bench ${argv.join(' ')}`.trim(),
    options,
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      memoryMb: Math.round(totalmem() / 1024 / 1024),
      node: process.version,
      patroni: patroniVersion() ?? 'missing',
      postgres: version('/usr/lib/postgresql/15/bin/postgres', ['--version']),
      etcd: version('/usr/bin/etcd', ['--version']),
      wrk: version('wrk', ['-v']).replace(/ \[.*$/, ''),
    },
    ports,
    runs: {},
  };
  const snapshot = await snapshotAgentBuild();
  say(`pgwarden agent: a snapshot of the workspace build in ${snapshot.root}`);
  say(`ports for every cluster: ${ports.members.map((member, index) => `node${index} pg ${member.pg} api ${member.api}`).join(', ')}, etcd ${ports.etcdClient}/${ports.etcdPeer}`);
  for (const implementation of options.implementations) {
    const byProfile: Record<string, ProfileResult> = {};
    results.runs[implementation] = byProfile;
    for (const [index, profile] of options.profiles.entries()) {
      // The other profiles only measure failovers (and bootstrap): without that section they are skipped.
      if (index > 0 && !options.sections.includes('failover')) continue;
      try {
        byProfile[profile.name] = await benchProfile(implementation, profile, options, index === 0, snapshot.agentBin, ports);
      } catch (error) {
        byProfile[profile.name] = { profile, failovers: [], errors: [(error as Error).message] };
      }
    }
  }
  if (options.restricted && options.sections.includes('restricted') && options.implementations.includes('pgwarden')) {
    try {
      results.memoryRestricted = await runMemoryRestricted({ addressSpaceMb: options.addressSpaceMb, cgroupMb: options.cgroupMb, windowSeconds: options.restrictedSeconds, agentBin: snapshot.agentBin });
    } catch (error) {
      results.memoryRestricted = { error: (error as Error).message };
    }
  }
  rmSync(snapshot.root, { recursive: true, force: true });
  const rows = buildRows(results);
  results.rows = rows;
  const finished: Results = { ...results, durationSeconds: Math.round((Date.now() - started) / 1000) };
  const dir = options.outDir;
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), `${JSON.stringify(finished, null, 2)}\n`);
  writeFileSync(join(dir, 'latest.md'), renderMarkdown(finished));
  process.stdout.write(`\n${renderTable(rows)}\n`);
  say(`done in ${finished.durationSeconds} s; results in ${join(dir, 'latest.json')} and latest.md`);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exitCode = 1;
  },
);
