/** The figures, each measured on a running BenchCluster. Every wait is bounded. */
import { readFile } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';
import type { BenchCluster } from './cluster.js';
import { counterDelta, EtcdProbe } from './etcd-probe.js';
import { CLOCK_TICKS, sampleProcess } from './proc.js';
import type { PacedLoad, PacedResult, WrkResult } from './wrk.js';
import { runWrk, runWrkPaced } from './wrk.js';
import { Writer } from './writer.js';

const RECOVER_TIMEOUT_MS = 180_000;

export function say(message: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

function probeFor(cluster: BenchCluster): EtcdProbe {
  return new EtcdProbe(cluster.etcd.clientUrl, `/service/${cluster.scope}/leader`);
}

/** Start of 3 agents until one leader and 2 streaming replicas. */
export async function measureBootstrap(cluster: BenchCluster): Promise<{ seconds: number; leader: string }> {
  const started = Date.now();
  cluster.startAll();
  const leader = await cluster.waitHealthy(RECOVER_TIMEOUT_MS);
  const seconds = (Date.now() - started) / 1000;
  await cluster.query(leader, 'CREATE TABLE IF NOT EXISTS bench_writes (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now())', 5_000);
  return { seconds, leader };
}

export interface SteadyResult {
  readonly rssAfterStartMb: Record<string, number>;
  readonly rssAfterSteadyMb: Record<string, number>;
  /** Unique set size (pages no other process maps) at the end of the steady window. */
  readonly ussAfterSteadyMb: Record<string, number>;
  readonly threads: Record<string, number>;
  readonly cpuSecondsPer60s: Record<string, number>;
  readonly cpuWindowSeconds: number;
  readonly steadyMinutes: number;
  readonly healthChecks: { ok: number; total: number };
  readonly dcsRequestsPerMemberPerMinute: number;
  readonly dcsRequestsByMethod: Record<string, number>;
}

const mb = (kb: number) => Math.round((kb / 1024) * 10) / 10;

/**
 * Steady state: RSS right after bootstrap, then `steadyMinutes` with a GET /health to each member every second;
 * CPU over the first `cpuWindowSeconds` of it, etcd's request counters over all of it, RSS and threads at its end.
 */
export async function measureSteady(cluster: BenchCluster, steadyMinutes: number, cpuWindowSeconds: number): Promise<SteadyResult> {
  const pids = Object.fromEntries(cluster.members.map((member) => [member.name, cluster.agentPid(member.name)]));
  const sampleAll = () => Object.fromEntries(Object.entries(pids).map(([name, pid]) => [name, pid ? sampleProcess(pid) : null]));
  const first = sampleAll();
  await using probe = probeFor(cluster);
  const countersBefore = await probe.requestCounters();
  const windowStart = Date.now();
  const windowMs = Math.max(steadyMinutes * 60_000, cpuWindowSeconds * 1000);
  let cpuEnd: ReturnType<typeof sampleAll> | null = null;
  let ok = 0;
  let total = 0;
  while (Date.now() - windowStart < windowMs) {
    const tick = Date.now();
    const statuses = await Promise.all(cluster.members.map((member) => cluster.httpStatus(member.name, '/health', 900)));
    total += statuses.length;
    ok += statuses.filter((status) => status === 200).length;
    if (!cpuEnd && Date.now() - windowStart >= cpuWindowSeconds * 1000) cpuEnd = sampleAll();
    await delay(Math.max(0, 1000 - (Date.now() - tick)));
  }
  const elapsedMinutes = (Date.now() - windowStart) / 60_000;
  const countersAfter = await probe.requestCounters();
  const last = sampleAll();
  cpuEnd ??= last;
  const byMethod = counterDelta(countersBefore, countersAfter);
  const requests = Object.values(byMethod).reduce((sum, value) => sum + value, 0);
  const per = <T>(pick: (name: string) => T | null) =>
    Object.fromEntries(cluster.members.map((member) => [member.name, pick(member.name)]).filter((entry): entry is [string, T] => entry[1] !== null));
  return {
    rssAfterStartMb: per((name) => (first[name] ? mb(first[name].rssKb) : null)),
    rssAfterSteadyMb: per((name) => (last[name] ? mb(last[name].rssKb) : null)),
    ussAfterSteadyMb: per((name) => (last[name]?.ussKb != null ? mb(last[name].ussKb) : null)),
    threads: per((name) => last[name]?.threads ?? null),
    cpuSecondsPer60s: per((name) => {
      const a = first[name];
      const b = cpuEnd?.[name];
      return a && b ? Math.round(((b.cpuTicks - a.cpuTicks) / CLOCK_TICKS) * (60 / cpuWindowSeconds) * 1000) / 1000 : null;
    }),
    cpuWindowSeconds,
    steadyMinutes: Math.round(elapsedMinutes * 100) / 100,
    healthChecks: { ok, total },
    dcsRequestsPerMemberPerMinute: Math.round((requests / cluster.members.length / elapsedMinutes) * 10) / 10,
    dcsRequestsByMethod: byMethod,
  };
}

export interface RestResult {
  readonly health: WrkResult;
  readonly replica: WrkResult;
  readonly patroni: WrkResult;
  /** GET /health on the leader with one new connection per request (HAProxy's model). */
  readonly healthClose?: WrkResult;
  /** The leader's HA loop while wrk saturates its GET /health. */
  readonly haUnderLoad?: HaUnderLoad;
  /** Health-check traffic (many checkers, each about one request per interval): latency at a realistic load. */
  readonly paced?: PacedRun[];
}

/** One paced load on one path: /health and /patroni on the leader, /replica on a replica. */
export interface PacedRun extends PacedResult {
  readonly path: '/health' | '/replica' | '/patroni';
}

export interface RestOptions {
  /** wrk duration per path for the saturation figures, seconds. */
  readonly seconds: number;
  /** Paced loads, each run on every path; none skips them. */
  readonly pacedLoads: readonly PacedLoad[];
  readonly pacedSeconds: number;
}

export interface HaUnderLoad {
  readonly windowSeconds: number;
  readonly loopWait: number;
  /** floor(window / loop_wait). */
  readonly expectedCycles: number;
  /** The leader's HA cycle log lines stamped inside the window. */
  readonly seenCycles: number;
  /** Largest distance between consecutive cycles around and inside the window (the last one before it included). */
  readonly maxGapSeconds: number | null;
  /** GET /liveness on the leader every 250 ms during the window, on its own connections. */
  readonly liveness: { readonly ok: number; readonly total: number; readonly p50Ms: number | null; readonly p99Ms: number | null; readonly maxMs: number | null };
}

/**
 * GET /health and /patroni on the leader, GET /replica on a replica: each answers 200 there. First saturated (wrk
 * as fast as it can), then, after the HA-loop check, at health-check pace (`runWrkPaced`).
 */
export async function measureRest(cluster: BenchCluster, leader: string, options: RestOptions): Promise<RestResult> {
  const { seconds } = options;
  const replica = cluster.members.find((member) => member.name !== leader)!;
  const url = (name: string, path: string) => `http://127.0.0.1:${cluster.member(name).apiPort}${path}`;
  const health = await runWrk(url(leader, '/health'), seconds);
  const replicaResult = await runWrk(url(replica.name, '/replica'), seconds);
  const patroni = await runWrk(url(leader, '/patroni'), seconds);
  const healthClose = await runWrk(url(leader, '/health'), seconds, { connection: 'close' });
  const haUnderLoad = await measureHaUnderLoad(cluster, leader, seconds);
  const paced: PacedRun[] = [];
  const targets = [
    ['/health', leader],
    ['/replica', replica.name],
    ['/patroni', leader],
  ] as const;
  for (const load of options.pacedLoads) {
    for (const [path, member] of targets) {
      say(`${cluster.implementation}: paced ${path}: ${load.connections} checkers, one request per ~${load.intervalMs} ms each, ${options.pacedSeconds} s`);
      paced.push({ path, ...(await runWrkPaced(url(member, path), options.pacedSeconds, load)) });
      // Let the closed connections' sockets drain before the next load.
      await delay(1_000);
    }
  }
  return { health, replica: replicaResult, patroni, healthClose, haUnderLoad, paced };
}

/**
 * A cycle's log line and its time. Both agents start lines with the local time (`2026-11-22 02:17:42.840` or
 * `,840`); the patterns are those cluster.ts counts (pgwarden: "Lock owner: ..."; Patroni: "no action. I am ...").
 */
const CYCLE_LOG_LINE =
  /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})[.,](\d{3}).*(?:Lock owner: |no action\. +I am |I am \(.*\), the leader with the lock|: promoted self to leader|following a different leader|acquired session lock as a leader)/;

export function cycleTimes(log: string): number[] {
  const times: number[] = [];
  for (const line of log.split('\n')) {
    const match = CYCLE_LOG_LINE.exec(line);
    if (match) times.push(new Date(`${match[1]}T${match[2]}.${match[3]}`).getTime());
  }
  return times;
}

/** Largest gap between consecutive cycles that touch [start, end]: the last cycle before start, those inside, the first after end. */
export function maxCycleGap(times: readonly number[], start: number, end: number): number | null {
  const before = times.filter((time) => time < start).at(-1);
  const inside = times.filter((time) => time >= start && time <= end);
  const after = times.find((time) => time > end);
  const sequence = [...(before === undefined ? [] : [before]), ...inside, ...(after === undefined ? [] : [after])];
  if (sequence.length < 2) return null;
  let gap = 0;
  for (let index = 1; index < sequence.length; index++) gap = Math.max(gap, sequence[index]! - sequence[index - 1]!);
  return gap / 1000;
}

const percentile = (sorted: readonly number[], p: number): number | null =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]! : null;

/**
 * wrk saturates the leader's GET /health (keep-alive, 16 connections) for at least 3 loop_waits while this process
 * asks GET /liveness every 250 ms; afterwards the leader's log says when its HA cycles ran.
 */
async function measureHaUnderLoad(cluster: BenchCluster, leader: string, seconds: number): Promise<HaUnderLoad> {
  const loopWait = cluster.options.profile.loopWait;
  const windowSeconds = Math.max(seconds, 3 * loopWait + 1, 15);
  const api = `http://127.0.0.1:${cluster.member(leader).apiPort}`;
  const latencies: number[] = [];
  let total = 0;
  let stop = false;
  const prober = (async () => {
    while (!stop) {
      const sent = performance.now();
      total++;
      try {
        const response = await fetch(`${api}/liveness`, { signal: AbortSignal.timeout(2_000), headers: { connection: 'close' } });
        await response.arrayBuffer();
        if (response.status === 200) latencies.push(performance.now() - sent);
      } catch {
        // counted as not ok
      }
      await delay(250);
    }
  })();
  const start = Date.now();
  try {
    await runWrk(`${api}/health`, windowSeconds);
  } finally {
    stop = true;
    await prober;
  }
  const end = Date.now();
  // Let the first cycle after the window reach the log, so a stall at the end counts.
  await delay((loopWait + 1) * 1000);
  const times = cycleTimes(await readFile(cluster.member(leader).logFile, 'utf8'));
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    windowSeconds: (end - start) / 1000,
    loopWait,
    expectedCycles: Math.floor((end - start) / 1000 / loopWait),
    seenCycles: times.filter((time) => time >= start && time <= end).length,
    maxGapSeconds: maxCycleGap(times, start, end),
    liveness: { ok: latencies.length, total, p50Ms: percentile(sorted, 50), p99Ms: percentile(sorted, 99), maxMs: sorted.at(-1) ?? null },
  };
}

export type SwitchoverResult =
  | { readonly implemented: false; readonly status: number | null }
  | {
      readonly implemented: true;
      readonly status: number;
      readonly from: string;
      readonly to: string;
      /** Last write on the old primary until first write on the new one. */
      readonly writeUnavailabilitySeconds: number | null;
      /** From the request until the first write on the new primary. */
      readonly totalSeconds: number | null;
    };

export interface SwitchoverSeries {
  /** Each switchover in order; a "not implemented" answer ends the series after its first run. */
  readonly runs: SwitchoverResult[];
  readonly medianWriteUnavailabilitySeconds: number | null;
  readonly medianTotalSeconds: number | null;
  /** Why the series stopped early, if it did. */
  readonly error?: string;
}

/** The member after `leader` in member order (wrapping): each run of a series hands the lock to another replica. */
export function nextCandidate(members: readonly string[], leader: string): string {
  const index = members.indexOf(leader);
  const next = members[(index + 1) % members.length];
  if (index < 0 || next === undefined || next === leader) throw new Error(`[bench] no switchover candidate besides ${leader}`);
  return next;
}

/**
 * `runs` planned switchovers, each from the current leader to the next member in order, so every run moves the
 * lock and the candidate changes from run to run. Before each run: 1 leader + 2 streaming replicas, then one
 * loop_wait more, so every member has published its new role to the DCS (Patroni checks the candidate there).
 */
export async function measureSwitchovers(cluster: BenchCluster, runs: number): Promise<SwitchoverSeries> {
  const results: SwitchoverResult[] = [];
  const names = cluster.members.map((member) => member.name);
  let error: string | undefined;
  try {
    for (let run = 1; run <= runs; run++) {
      const leader = await cluster.waitHealthy(RECOVER_TIMEOUT_MS, 250);
      await delay((cluster.options.profile.loopWait + 1) * 1000);
      const current = await cluster.waitHealthy(RECOVER_TIMEOUT_MS, 250);
      if (current !== leader) throw new Error(`[bench] the leader moved from ${leader} to ${current} by itself before switchover ${run}`);
      const candidate = nextCandidate(names, leader);
      say(`${cluster.implementation}/${cluster.options.profile.name}: switchover ${run}/${runs}: ${leader} -> ${candidate}`);
      const result = await measureSwitchover(cluster, leader, candidate);
      results.push(result);
      if (!result.implemented) break;
    }
    await cluster.waitHealthy(RECOVER_TIMEOUT_MS, 250);
  } catch (caught) {
    // The runs measured so far are kept; the caller reports the error.
    error = (caught as Error).message.split('\n')[0] ?? 'unknown';
  }
  const done = results.filter((result): result is Extract<SwitchoverResult, { implemented: true }> => result.implemented);
  return {
    runs: results,
    medianWriteUnavailabilitySeconds: median(done.map((result) => result.writeUnavailabilitySeconds)),
    medianTotalSeconds: median(done.map((result) => result.totalSeconds)),
    ...(error === undefined ? {} : { error }),
  };
}

/** Planned switchover, through POST /switchover on the leader, with the writer running. */
export async function measureSwitchover(cluster: BenchCluster, leader: string, candidate: string): Promise<SwitchoverResult> {
  const writer = new Writer(cluster);
  writer.start();
  try {
    await delay(1_000);
    const requested = Date.now();
    let status: number | null = null;
    try {
      const response = await fetch(`http://127.0.0.1:${cluster.member(leader).apiPort}/switchover`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ leader, candidate }),
        signal: AbortSignal.timeout(60_000),
      });
      status = response.status;
      await response.arrayBuffer();
    } catch {
      status = null;
    }
    if (status === 404 || status === 405 || status === 501) return { implemented: false, status };
    if (status === null || status >= 300) throw new Error(`[bench] POST /switchover answered ${status ?? 'nothing'}`);
    const first = await writer.waitFirstOnOther(leader, requested, 60_000);
    await delay(500);
    const last = first ? writer.lastOn(leader, first.at) : undefined;
    return {
      implemented: true,
      status,
      from: leader,
      to: first?.member ?? candidate,
      writeUnavailabilitySeconds: first && last ? (first.at - last.at) / 1000 : null,
      totalSeconds: first ? (first.at - requested) / 1000 : null,
    };
  } finally {
    await writer.stop();
  }
}

export interface GracefulResult {
  readonly from: string;
  /** SIGTERM until the first write on a new primary. */
  readonly secondsToWritesOnNewPrimary: number | null;
  readonly writeUnavailabilitySeconds: number | null;
  readonly agentExitSeconds: number | null;
}

/** SIGTERM to the leader's agent: it stops PostgreSQL and gives the lock up; how long until writes succeed elsewhere. */
export async function measureGracefulStop(cluster: BenchCluster, leader: string): Promise<GracefulResult> {
  const writer = new Writer(cluster);
  writer.start();
  try {
    await delay(1_000);
    const signalled = Date.now();
    const stopping = cluster.stop(leader, 90_000).then(() => Date.now());
    const first = await writer.waitFirstOnOther(leader, signalled, 90_000);
    const exitedAt = await stopping;
    const last = first ? writer.lastOn(leader, first.at) : undefined;
    return {
      from: leader,
      secondsToWritesOnNewPrimary: first ? (first.at - signalled) / 1000 : null,
      writeUnavailabilitySeconds: first && last ? (first.at - last.at) / 1000 : null,
      agentExitSeconds: (exitedAt - signalled) / 1000,
    };
  } finally {
    await writer.stop();
  }
}

export interface FailoverRun {
  readonly killed: string;
  readonly newLeader: string | null;
  /** The leader lease's remaining and granted TTL when the leader was killed (whole seconds, as etcd reports them). */
  readonly leaseRemainingAtKill: number;
  readonly leaseGrantedTtl: number;
  /** Kill until etcd deleted the expired leader key. */
  readonly expirySeconds: number | null;
  /** Kill until the first write on the new primary. */
  readonly totalSeconds: number | null;
  /** Leader key expiry until a new leader key. */
  readonly expiryToNewLeaderKeySeconds: number | null;
  /** Leader key expiry until the first write on the new primary. */
  readonly expiryToWritesSeconds: number | null;
}

/** kill -9 of the leader's agent and postmaster, the writer running; then the member is restarted and rejoins. */
export async function measureFailover(cluster: BenchCluster): Promise<FailoverRun> {
  const leader = await cluster.waitHealthy(RECOVER_TIMEOUT_MS);
  await using probe = probeFor(cluster);
  await probe.watchLeader();
  const writer = new Writer(cluster);
  writer.start();
  try {
    await delay(1_500);
    const key = await probe.leader();
    if (!key || key.holder !== leader) throw new Error(`[bench] the leader key names ${key?.holder ?? 'nobody'}, GET /primary ${leader}`);
    const ttl = await probe.leaseTtl(key.lease);
    const killed = Date.now();
    await cluster.crash(leader);
    const first = await writer.waitFirstOnOther(leader, killed, Math.max(ttl.granted, 10) * 1000 + 60_000);
    const expiry = probe.eventAfter(killed, (event) => event.kind === 'delete');
    const acquired = probe.eventAfter(killed, (event) => event.kind === 'put' && event.value !== leader);
    const since = (a: number | undefined, b: number | undefined) => (a !== undefined && b !== undefined ? (b - a) / 1000 : null);
    return {
      killed: leader,
      newLeader: first?.member ?? acquired?.value ?? null,
      leaseRemainingAtKill: ttl.remaining,
      leaseGrantedTtl: ttl.granted,
      expirySeconds: since(killed, expiry?.at),
      totalSeconds: since(killed, first?.at),
      expiryToNewLeaderKeySeconds: since(expiry?.at, acquired?.at),
      expiryToWritesSeconds: since(expiry?.at, first?.at),
    };
  } finally {
    await writer.stop();
    cluster.start(leader);
    await cluster.waitHealthy(RECOVER_TIMEOUT_MS, 250);
  }
}

export function median(values: readonly (number | null)[]): number | null {
  const present = values.filter((value): value is number => value !== null).sort((a, b) => a - b);
  if (!present.length) return null;
  const middle = Math.floor(present.length / 2);
  return present.length % 2 ? present[middle]! : (present[middle - 1]! + present[middle]!) / 2;
}
