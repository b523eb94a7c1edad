/**
 * One pgwarden agent (a one-member cluster) under the memory limits this machine lets us set, measured while it works.
 *
 * 1. An address-space rlimit (prlimit --as) on a plain `node`: what `ulimit -v` does to an unprepared Node agent.
 * 2. The agent started by its launcher (bin/pgwarden.cjs) with node --disable-wasm-trap-handler, in a cgroup memory
 *    limit when a memory controller is writable (v2 memory.max, else v1 memory.limit_in_bytes). A calibration phase
 *    (REST load and a PostgreSQL restart through the REST API) measures the need; then the cgroup limit is lowered to
 *    the measured peak plus a margin and the agent's own address-space limit to its measured VmPeak plus a margin
 *    (prlimit --pid), so that any thread or mapping created on demand would fail, as under strict overcommit. The
 *    window repeats REST load (wrk) and a restart and counts health-check answers, HA cycles and the agent's threads.
 *
 * Runs inside `pnpm bench`, or alone: `node bench/dist/src/memory-restricted.js [--seconds S]` after the bench's build.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';
import { BenchCluster, PROFILES, REPO_ROOT, snapshotAgentBuild } from './cluster.js';
import { installCleanupHooks, sampleProcess } from './proc.js';
import { say } from './scenarios.js';
import { runWrk } from './wrk.js';

/** What one phase (calibration or the tight window) saw. */
export interface PhaseResult {
  readonly seconds: number;
  /** GET /liveness (the agent answers) and GET /health (PostgreSQL runs, 503 during the restart), once a second. */
  readonly liveness: { readonly ok: number; readonly total: number };
  readonly health: { readonly ok: number; readonly total: number };
  readonly wrk: { readonly requests: number; readonly requestsPerSecond: number; readonly non2xx: number; readonly p99Ms: number; readonly errors: string | null } | { readonly error: string };
  /** POST /restart: HTTP status and how long the request took. */
  readonly restart: { readonly status: number | null; readonly seconds: number };
  readonly cycleLines: number;
  readonly expectedCycles: number;
  readonly threadsBefore: number | null;
  readonly threadsAfter: number | null;
  /** Highest thread count seen by the 1-second sampler during the phase. */
  readonly threadsMax: number | null;
}

export interface MemoryRestrictedVariant {
  readonly label: string;
  /** Address-space rlimit on the agent (inherited by PostgreSQL), MiB; null for none. */
  readonly addressSpaceLimitMb: number | null;
  /** The agent's own address-space limit during the tight window (prlimit --pid), MiB. */
  readonly tightAddressSpaceMb: number | null;
  /** Node started with --disable-wasm-trap-handler (no 10 GiB guard reservation for WebAssembly memory). */
  readonly disableWasmTrapHandler: boolean;
  /** limitMb: the calibration limit; tightLimitMb: the limit of the window; peakMb: the window's peak (agent + PostgreSQL). */
  readonly cgroup:
    | { readonly kind: 'v2' | 'v1'; readonly limitMb: number; readonly calibrationPeakMb: number | null; readonly tightLimitMb: number | null; readonly peakMb: number | null; readonly failcnt: number | null; readonly oomKills: number | null }
    | { readonly kind: 'none'; readonly why: string };
  readonly bootstrapped: boolean;
  readonly windowSeconds: number;
  /** GET /liveness answers in the tight window (kept under these names for the report). */
  readonly restOk: number;
  readonly restTotal: number;
  readonly cycleLines: number;
  readonly expectedCycles: number;
  readonly agentAlive: boolean;
  readonly rssMb: number | null;
  /** The agent's peak RSS (VmHWM) and peak address space (VmPeak) at the end, MiB. */
  readonly agentPeakRssMb: number | null;
  readonly agentPeakVmMb: number | null;
  readonly calibration: PhaseResult | null;
  readonly window: PhaseResult | null;
  readonly error: string | null;
  /** The agent's last log line when it died. */
  readonly lastLogLine: string | null;
  /** The agent's thread pool line (bin/pgwarden.cjs sizes the pool). */
  readonly threadPoolLine: string | null;
}

export interface MemoryRestrictedResult {
  readonly variants: MemoryRestrictedVariant[];
}

interface Cgroup {
  readonly kind: 'v1' | 'v2';
  readonly dir: string;
  add(pid: number): void;
  peakMb(): number | null;
  failcnt(): number | null;
  /** Lowers (or raises) the limit of the running group. */
  setLimit(bytes: number): void;
  /** Starts the peak over from the current usage, where the kernel allows it (v1, v2 from Linux 6.12). */
  resetPeak(): boolean;
  remove(): void;
}

function makeCgroup(limitBytes: number): Cgroup | string {
  const name = `pgwarden-bench-${process.pid}`;
  const v2 = '/sys/fs/cgroup';
  const v1 = '/sys/fs/cgroup/memory';
  const readNumber = (file: string) => {
    try {
      return Number(readFileSync(file, 'utf8').trim());
    } catch {
      return null;
    }
  };
  const attempt = (kind: 'v1' | 'v2', base: string, limitFile: string, peakFile: string, failFile: string | null): Cgroup | string => {
    const dir = join(base, name);
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, limitFile), String(limitBytes));
    } catch (error) {
      try {
        rmdirSync(dir);
      } catch {
        // never created
      }
      return `${kind}: ${(error as Error).message}`;
    }
    return {
      kind,
      dir,
      add: (pid) => writeFileSync(join(dir, 'cgroup.procs'), String(pid)),
      peakMb: () => {
        const value = readNumber(join(dir, peakFile));
        return value === null ? null : Math.round(value / 1024 / 1024);
      },
      failcnt: () => (failFile ? readNumber(join(dir, failFile)) : null),
      setLimit: (bytes) => writeFileSync(join(dir, limitFile), String(bytes)),
      resetPeak: () => {
        try {
          writeFileSync(join(dir, peakFile), '0');
          if (failFile) writeFileSync(join(dir, failFile), '0');
          return true;
        } catch {
          return false;
        }
      },
      remove: () => {
        for (let i = 0; i < 20; i++) {
          try {
            rmdirSync(dir);
            return;
          } catch {
            // processes may still be leaving
          }
        }
      },
    };
  };
  const reasons: string[] = [];
  if (existsSync(join(v2, 'cgroup.controllers')) && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').includes('memory')) {
    const got = attempt('v2', v2, 'memory.max', 'memory.peak', null);
    if (typeof got !== 'string') return got;
    reasons.push(got);
  } else reasons.push('v2: no memory controller in /sys/fs/cgroup');
  if (existsSync(join(v1, 'memory.limit_in_bytes'))) {
    const got = attempt('v1', v1, 'memory.limit_in_bytes', 'memory.max_usage_in_bytes', 'memory.failcnt');
    if (typeof got !== 'string') return got;
    reasons.push(got);
  } else reasons.push('v1: no memory controller');
  return reasons.join('; ');
}

export interface MemoryRestrictedOptions {
  readonly addressSpaceMb: number;
  /** The cgroup limit of the calibration phase; the window's limit is the measured peak plus a margin. */
  readonly cgroupMb: number;
  readonly windowSeconds: number;
  /** The workspace's (or the snapshot's) bin/pgwarden.js; its launcher bin/pgwarden.cjs next to it is what runs. */
  readonly agentBin: string;
}

/** Head room over the calibration's peaks: cgroup (agent + PostgreSQL) and the agent's address space. */
const CGROUP_MARGIN_MB = 24;
const ADDRESS_SPACE_MARGIN_MB = 64;

export async function runMemoryRestricted(options: MemoryRestrictedOptions): Promise<MemoryRestrictedResult> {
  const variants: MemoryRestrictedVariant[] = [];
  variants.push(await runVariant(options, { label: 'address-space rlimit, plain node', wasmFlag: false, useCgroup: false }));
  variants.push(
    await runVariant(options, { label: 'node --disable-wasm-trap-handler, MALLOC_ARENA_MAX=2, cgroup memory limit and address-space limit tightened to the measured need', wasmFlag: true, useCgroup: true }),
  );
  return { variants };
}

const mib = (kb: number | null | undefined) => (kb === null || kb === undefined || !Number.isFinite(kb) ? null : Math.round(kb / 1024));

function statusKb(pid: number, field: string): number | null {
  try {
    const line = readFileSync(`/proc/${pid}/status`, 'utf8')
      .split('\n')
      .find((entry) => entry.startsWith(`${field}:`));
    const value = Number(/(\d+)/.exec(line ?? '')?.[1]);
    return Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

/** Waits for a healthy member, giving up as soon as the agent has exited. */
async function waitHealthyOrExit(cluster: BenchCluster, timeoutMs: number): Promise<void> {
  const member = cluster.members[0]!;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const child = member.process;
    if (child && (child.exitCode !== null || child.signalCode !== null)) throw new Error(`the agent exited (${child.exitCode ?? child.signalCode}) before it was healthy`);
    if ((await cluster.httpStatus(member.name, '/health', 900)) === 200) return;
    if (Date.now() > deadline) throw new Error(`not healthy after ${timeoutMs / 1000} s`);
    await delay(250);
  }
}

/** REST load (wrk on GET /patroni) and a PostgreSQL restart through the REST API, with a once-a-second sampler. */
async function workPhase(cluster: BenchCluster, seconds: number): Promise<PhaseResult> {
  const member = cluster.members[0]!;
  const pid = cluster.agentPid(member.name);
  const threads = () => (pid ? (sampleProcess(pid)?.threads ?? null) : null);
  const threadsBefore = threads();
  let threadsMax = threadsBefore;
  const cyclesAtStart = member.cycleLines;
  const liveness = { ok: 0, total: 0 };
  const health = { ok: 0, total: 0 };
  const started = Date.now();
  const sampler = (async () => {
    while (Date.now() - started < seconds * 1000) {
      const tick = Date.now();
      const [live, healthy] = await Promise.all([cluster.httpStatus(member.name, '/liveness', 900), cluster.httpStatus(member.name, '/health', 900)]);
      liveness.total++;
      if (live === 200) liveness.ok++;
      health.total++;
      if (healthy === 200) health.ok++;
      const now = threads();
      if (now !== null && (threadsMax === null || now > threadsMax)) threadsMax = now;
      await delay(Math.max(0, 1000 - (Date.now() - tick)));
    }
  })();
  const wrkSeconds = Math.max(2, seconds - 4);
  const load = runWrk(`http://127.0.0.1:${member.apiPort}/patroni`, wrkSeconds, { connections: 32, threads: 2 }).then(
    (result) => ({ requests: result.requests, requestsPerSecond: result.requestsPerSecond, non2xx: result.non2xx, p99Ms: result.p99Ms, errors: result.socketErrors }),
    (error: unknown) => ({ error: (error as Error).message.split('\n')[0] ?? 'wrk failed' }),
  );
  await delay(Math.min(3_000, (seconds * 1000) / 4));
  const restartStarted = Date.now();
  const restartStatus = await cluster.httpStatus(member.name, '/restart', 120_000, { method: 'POST', body: '{}', headers: { 'content-type': 'application/json' } });
  const restart = { status: restartStatus, seconds: Math.round((Date.now() - restartStarted) / 100) / 10 };
  const [wrk] = await Promise.all([load, sampler]);
  return {
    seconds,
    liveness,
    health,
    wrk,
    restart,
    cycleLines: member.cycleLines - cyclesAtStart,
    expectedCycles: Math.floor(seconds / PROFILES['fast']!.loopWait),
    threadsBefore,
    threadsAfter: threads(),
    threadsMax,
  };
}

function oomKills(cgroup: Cgroup): number | null {
  try {
    const text = readFileSync(join(cgroup.dir, cgroup.kind === 'v2' ? 'memory.events' : 'memory.oom_control'), 'utf8');
    const value = /oom_kill (\d+)/.exec(text)?.[1];
    return value === undefined ? null : Number(value);
  } catch {
    return null;
  }
}

async function runVariant(options: MemoryRestrictedOptions, variant: { label: string; wasmFlag: boolean; useCgroup: boolean }): Promise<MemoryRestrictedVariant> {
  const cgroup = variant.useCgroup ? makeCgroup(options.cgroupMb * 1024 * 1024) : 'not requested';
  say(`memory-restricted (${variant.label}): prlimit --as=${options.addressSpaceMb}MiB${typeof cgroup === 'string' ? `, no cgroup (${cgroup})` : `, cgroup ${cgroup.kind} limit ${options.cgroupMb}MiB to calibrate`}`);
  const launcher = options.agentBin.replace(/pgwarden\.js$/, 'pgwarden.cjs');
  const cluster = await BenchCluster.create({
    implementation: 'pgwarden',
    profile: PROFILES['fast']!,
    members: 1,
    agentBin: existsSync(launcher) ? launcher : options.agentBin,
    scope: variant.wasmFlag ? 'restricted-prepared' : 'restricted-plain',
    // The prepared agent also gets MALLOC_ARENA_MAX=2: glibc otherwise reserves 64 MiB of address space per thread
    // arena, and under REST load an agent with 1 GiB of address space ran out of it at 16 MB of JavaScript heap.
    wrap: (command, args) => [
      'prlimit',
      [`--as=${options.addressSpaceMb * 1024 * 1024}`, '--', ...(variant.wasmFlag ? ['env', 'MALLOC_ARENA_MAX=2'] : []), command, ...(variant.wasmFlag ? ['--disable-wasm-trap-handler'] : []), ...args],
    ],
    onSpawn: (_member, pid) => {
      if (typeof cgroup !== 'string') cgroup.add(pid);
    },
  });
  let bootstrapped = false;
  let error: string | null = null;
  let calibration: PhaseResult | null = null;
  let window: PhaseResult | null = null;
  let calibrationPeakMb: number | null = null;
  let tightLimitMb: number | null = null;
  let tightAddressSpaceMb: number | null = null;
  let rssMb: number | null = null;
  let agentPeakRssMb: number | null = null;
  let agentPeakVmMb: number | null = null;
  const member = cluster.members[0]!;
  try {
    cluster.startAll();
    await waitHealthyOrExit(cluster, 90_000);
    bootstrapped = true;
    const pid = cluster.agentPid(member.name);
    // Calibration: the same work as the window, under the loose limits, to measure what it needs.
    calibration = await workPhase(cluster, Math.max(10, Math.round(options.windowSeconds / 2)));
    await waitHealthyOrExit(cluster, 60_000);
    if (typeof cgroup !== 'string') {
      calibrationPeakMb = cgroup.peakMb();
      if (calibrationPeakMb !== null) {
        tightLimitMb = calibrationPeakMb + CGROUP_MARGIN_MB;
        cgroup.setLimit(tightLimitMb * 1024 * 1024);
        cgroup.resetPeak();
      }
    }
    const vmPeakMb = pid ? mib(statusKb(pid, 'VmPeak')) : null;
    if (pid && vmPeakMb !== null && variant.wasmFlag) {
      tightAddressSpaceMb = vmPeakMb + ADDRESS_SPACE_MARGIN_MB;
      const bytes = tightAddressSpaceMb * 1024 * 1024;
      execFileSync('prlimit', ['--pid', String(pid), `--as=${bytes}:${bytes}`]);
    }
    say(`memory-restricted: calibration peak ${calibrationPeakMb ?? 'n/a'} MiB (cgroup), agent VmPeak ${vmPeakMb ?? 'n/a'} MiB; window under cgroup ${tightLimitMb ?? 'n/a'} MiB, agent address space ${tightAddressSpaceMb ?? 'n/a'} MiB`);
    window = await workPhase(cluster, options.windowSeconds);
    if (pid) {
      rssMb = mib(statusKb(pid, 'VmRSS'));
      agentPeakRssMb = mib(statusKb(pid, 'VmHWM'));
      agentPeakVmMb = mib(statusKb(pid, 'VmPeak'));
    }
  } catch (caught) {
    error = (caught as Error).message.split('\n')[0] ?? 'unknown';
  }
  const agentAlive = member.process !== null && member.process.exitCode === null && member.process.signalCode === null;
  const cgroupResult: MemoryRestrictedVariant['cgroup'] =
    typeof cgroup === 'string'
      ? { kind: 'none', why: cgroup }
      : { kind: cgroup.kind, limitMb: options.cgroupMb, calibrationPeakMb, tightLimitMb, peakMb: cgroup.peakMb(), failcnt: cgroup.failcnt(), oomKills: oomKills(cgroup) };
  const lastLogLine = agentAlive ? null : lastMeaningfulLine(member.logFile);
  const threadPoolLine = logLine(member.logFile, /thread pool:/);
  await cluster.stopAll();
  if (typeof cgroup !== 'string') cgroup.remove();
  return {
    label: variant.label,
    addressSpaceLimitMb: options.addressSpaceMb,
    tightAddressSpaceMb,
    disableWasmTrapHandler: variant.wasmFlag,
    cgroup: cgroupResult,
    bootstrapped,
    windowSeconds: options.windowSeconds,
    restOk: window?.liveness.ok ?? 0,
    restTotal: window?.liveness.total ?? 0,
    cycleLines: window?.cycleLines ?? 0,
    expectedCycles: window?.expectedCycles ?? Math.floor(options.windowSeconds / PROFILES['fast']!.loopWait),
    agentAlive,
    rssMb,
    agentPeakRssMb,
    agentPeakVmMb,
    calibration,
    window,
    error,
    lastLogLine,
    threadPoolLine,
  };
}

function lastMeaningfulLine(file: string): string | null {
  try {
    const lines = readFileSync(file, 'utf8').split('\n').map((line) => line.trim()).filter(Boolean);
    return lines.find((line) => /Error|error:/.test(line)) ?? lines.at(-1) ?? null;
  } catch {
    return null;
  }
}

function logLine(file: string, pattern: RegExp): string | null {
  try {
    return readFileSync(file, 'utf8').split('\n').find((line) => pattern.test(line))?.trim() ?? null;
  } catch {
    return null;
  }
}

function phaseMarkdown(name: string, phase: PhaseResult): string {
  const wrk = 'error' in phase.wrk ? `wrk failed: ${phase.wrk.error}` : `wrk GET /patroni, 32 connections: ${phase.wrk.requests} requests (${Math.round(phase.wrk.requestsPerSecond)}/s), ${phase.wrk.non2xx} non-2xx, p99 ${phase.wrk.p99Ms} ms${phase.wrk.errors ? `, ${phase.wrk.errors}` : ''}`;
  return (
    `- ${name} (${phase.seconds} s): ${wrk}; POST /restart answered ${phase.restart.status ?? 'nothing'} after ${phase.restart.seconds} s; ` +
    `GET /liveness 200 ${phase.liveness.ok}/${phase.liveness.total}, GET /health 200 ${phase.health.ok}/${phase.health.total} (503 while PostgreSQL restarts); ` +
    `${phase.cycleLines} HA cycle log lines (about ${phase.expectedCycles} expected); agent threads ${phase.threadsBefore ?? 'n/a'} before, ${phase.threadsAfter ?? 'n/a'} after, at most ${phase.threadsMax ?? 'n/a'}`
  );
}

/** The memory-restricted section of the bench report. */
export function memoryRestrictedMarkdown(result: MemoryRestrictedResult): string {
  return result.variants
    .map((r) => {
      const cgroup =
        r.cgroup.kind === 'none'
          ? `no cgroup memory limit (${r.cgroup.why})`
          : `cgroup ${r.cgroup.kind} memory limit on the agent and the PostgreSQL it starts: ${r.cgroup.limitMb} MiB to calibrate (peak ${r.cgroup.calibrationPeakMb ?? 'n/a'} MiB), then ${r.cgroup.tightLimitMb ?? 'n/a'} MiB (peak + ${CGROUP_MARGIN_MB}) for the window: peak ${r.cgroup.peakMb ?? 'n/a'} MiB, limit hits (failcnt) ${r.cgroup.failcnt ?? 'n/a'}, OOM kills ${r.cgroup.oomKills ?? 'n/a'}`;
      return [
        `### ${r.label}`,
        '',
        `- limits: address space (prlimit --as) ${r.addressSpaceLimitMb ?? 'none'} MiB at start (inherited by PostgreSQL)${r.tightAddressSpaceMb !== null ? `, the agent's own lowered to ${r.tightAddressSpaceMb} MiB (its VmPeak + ${ADDRESS_SPACE_MARGIN_MB}) for the window` : ''}${r.disableWasmTrapHandler ? ', node --disable-wasm-trap-handler' : ''}; ${cgroup}`,
        `- bootstrapped a one-member cluster: ${r.bootstrapped ? 'yes' : 'no'}${r.error ? ` (${r.error})` : ''}`,
        ...(r.threadPoolLine ? [`- the agent at start: \`${r.threadPoolLine.replace(/^\S+ \S+ /, '')}\``] : []),
        ...(r.calibration ? [phaseMarkdown('calibration', r.calibration)] : []),
        ...(r.window ? [phaseMarkdown('window under the tightened limits', r.window)] : []),
        `- agent alive at the end: ${r.agentAlive ? 'yes' : 'no'}; agent RSS ${r.rssMb ?? 'n/a'} MiB, peak RSS (VmHWM) ${r.agentPeakRssMb ?? 'n/a'} MiB, peak address space (VmPeak) ${r.agentPeakVmMb ?? 'n/a'} MiB`,
        ...(r.lastLogLine ? [`- the agent's last error: \`${r.lastLogLine.slice(0, 200)}\``] : []),
        '',
      ].join('\n');
    })
    .join('\n');
}

/** Standalone: `node bench/dist/src/memory-restricted.js [--seconds S]`; writes bench/results/memory-restricted.{json,md}. */
async function standalone(argv: readonly string[]): Promise<number> {
  installCleanupHooks();
  const index = argv.indexOf('--seconds');
  const windowSeconds = index >= 0 ? Number(argv[index + 1]) : 40;
  const snapshot = await snapshotAgentBuild();
  try {
    const result = await runMemoryRestricted({ addressSpaceMb: 1024, cgroupMb: 256, windowSeconds, agentBin: snapshot.agentBin });
    const dir = join(REPO_ROOT, 'bench/results');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'memory-restricted.json'), `${JSON.stringify({ date: new Date().toISOString(), node: process.version, ...result }, null, 2)}\n`);
    const markdown = memoryRestrictedMarkdown(result);
    writeFileSync(join(dir, 'memory-restricted.md'), `# Memory-restricted pgwarden agent\n\n${new Date().toISOString()}\n\n${markdown}`);
    process.stdout.write(`\n${markdown}`);
    return 0;
  } finally {
    rmSync(snapshot.root, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  standalone(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
