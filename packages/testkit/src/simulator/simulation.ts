/**
 * The deterministic cluster simulator: N members running the core's HA cycle against a simulated DCS and
 * simulated PostgreSQL servers, in virtual time, under a fault schedule drawn from a seed, with the safety
 * and liveness invariants checked after every event. The same seed replays the same run, event for event.
 */
import { checkSwitchoverRequest, parseSyncStandbyNames, resolveDynamicConfig, slotNameForMember, slotSettings, standbyClusterOf } from '@pgwarden/core';
import type { DynamicConfig, Effect, HaSettings, SwitchoverRequest } from '@pgwarden/core';
import type { Rng } from './prng.js';
import { createRng } from './prng.js';
import { Scheduler } from './scheduler.js';
import { SimStore } from './store.js';
import type { World } from './node.js';
import { REMOTE_UPSTREAM_NAME, SimNode } from './node.js';
import type { Branch } from './postgres.js';
import { SimPostgres, divergencePoint } from './postgres.js';

export type FaultKind =
  | 'kill'
  | 'sigterm'
  | 'dcs-partition'
  | 'peer-partition'
  | 'dcs-outage'
  | 'stall'
  | 'freeze'
  | 'clock-jump'
  | 'switchover'
  | 'pause'
  | 'long-stall'
  | 'long-freeze';

/**
 * Faults drawn by default. `stall`/`freeze` stop an agent (or a whole node) for less than
 * ttl - loop_wait - retry_timeout: a leader must survive them without losing its lock. `long-stall` and
 * `long-freeze` stop it past its lease: without a watchdog nothing can demote a stopped agent's PostgreSQL,
 * so they are opt-in and show that gap rather than a rule of the core.
 */
export const DEFAULT_FAULTS: readonly FaultKind[] = [
  'kill',
  'sigterm',
  'dcs-partition',
  'peer-partition',
  'dcs-outage',
  'stall',
  'freeze',
  'clock-jump',
  'switchover',
  'pause',
];

export const ALL_FAULTS: readonly FaultKind[] = [...DEFAULT_FAULTS, 'long-stall', 'long-freeze'];

export interface SimulationOptions {
  readonly seed: number;
  /** Members, default 3. */
  readonly nodes?: number;
  /** Virtual ms before the first fault (bootstrap and cloning), default 60 s. */
  readonly warmupMs?: number;
  /** Virtual ms during which faults are drawn, default 10 min. */
  readonly faultPhaseMs?: number;
  /** Virtual ms of the quiet period after the faults (everything healed), default 5 min. */
  readonly quietMs?: number;
  /** Faults to draw from; `[]` for a hand-written scenario. Default `DEFAULT_FAULTS`. */
  readonly faults?: readonly FaultKind[];
  /** Mean virtual ms between two faults, default 20 s. */
  readonly meanFaultIntervalMs?: number;
  /** Extra margin (ms) allowed for the election after the faults stop, on top of ttl + loop_wait. Default loop_wait + 15 s. */
  readonly electionMarginMs?: number;
  /** Dynamic configuration overrides (ttl, loop_wait, postgresql.use_pg_rewind...); by default drawn from the seed. */
  readonly dynamicConfig?: Readonly<Record<string, unknown>>;
  /** Tags per member name; by default drawn from the seed (sometimes one member has `replicatefrom: <another>`). */
  readonly tags?: Readonly<Record<string, Record<string, unknown>>>;
  /**
   * A standby cluster: a simulated remote primary (no member, always reachable, always writing) and
   * `standby_cluster` in the bootstrap dynamic config. By default drawn from the seed (8 %).
   */
  readonly standbyCluster?: boolean;
  /** Called once the simulation exists and before it runs: schedule a scenario's faults with `at`. */
  readonly scenario?: (simulation: Simulation) => void;
  /**
   * The promote handler plants the history files the core reserves (default true). Off, PostgreSQL picks its
   * timeline as under Patroni, and two branches can reuse a number again (the "timelines" class).
   */
  readonly timelineReservation?: boolean;
}

export interface TraceEntry {
  /** Virtual ms since the start. */
  readonly t: number;
  readonly node: string;
  readonly text: string;
}

export interface Violation {
  readonly invariant:
    | 'single-writable-primary'
    | 'promote-holds-lock'
    | 'promote-lag'
    | 'paused-no-action'
    | 'elected-after-faults'
    | 'replicas-streaming'
    | 'sync-commit-lost'
    | 'member-slots'
    | 'cascade-followed'
    | 'standby-never-writable'
    | 'standby-follows-remote'
    | 'logical-slot-kept';
  readonly t: number;
  readonly message: string;
}

/** A change of the cluster's leader as the invariants see it: lock holder and running read-write. */
export interface LeaderChange {
  readonly t: number;
  readonly name: string | null;
}

export interface SimulationResult {
  readonly seed: number;
  readonly ok: boolean;
  readonly violation: Violation | null;
  readonly trace: readonly TraceEntry[];
  readonly leaders: readonly LeaderChange[];
  readonly stats: {
    readonly virtualMs: number;
    readonly events: number;
    readonly cycles: number;
    readonly promotions: number;
    readonly faults: number;
    /** Ticks on which a primary acknowledged commits synchronously. */
    readonly syncAcks: number;
    /**
     * Members that became primary without a copy of a permanent logical slot (it is created anew there, and its
     * consumers miss what was written since they last confirmed). Not an invariant: Patroni does not wait for
     * the copy before a failover either.
     */
    readonly logicalSlotGaps: number;
  };
  /** When the faults stopped (virtual ms since start). */
  readonly quietAt: number;
}

/** Virtual time starts here (ms since the epoch), so ISO timestamps in keys look real. */
const EPOCH = Date.UTC(2025, 0, 1);
const TICK_MS = 250;
/** The least a slow replica receives per tick: above the workload's mean write rate (see #scheduleTicks). */
const SLOW_REPLICA_MIN_BYTES = 64 * 1024;

class SimulationFailed extends Error {
  constructor(readonly violation: Violation) {
    super(violation.message);
  }
}

export class Simulation {
  readonly scheduler = new Scheduler(EPOCH);
  readonly store: SimStore;
  readonly nodes: SimNode[] = [];
  readonly trace: TraceEntry[] = [];
  readonly leaders: LeaderChange[] = [];
  readonly options: SimulationOptions;
  /** Tags per member, as given or drawn. */
  readonly tags: Readonly<Record<string, Record<string, unknown>>>;
  readonly warmupMs: number;
  readonly faultPhaseMs: number;
  readonly quietMs: number;
  readonly bootstrapConfig: Record<string, unknown>;
  /** The remote primary of a standby cluster, or null. */
  readonly remote: SimPostgres | null;
  readonly #rng: Rng;
  readonly #faultRng: Rng;
  readonly #workRng: Rng;
  readonly #dcsCut = new Set<string>();
  readonly #peerCut = new Set<string>();
  #outage = false;
  #branchId = 0;
  #events = 0;
  #promotions = 0;
  #faults = 0;
  #quiet = false;
  #settledAt: number | null = null;
  #currentLeader: string | null = null;
  #slowReplica = new Map<string, number>();
  /** When the last drawn short stall or freeze of each node ends (virtual ms). */
  readonly #agentStopEnd = new Map<string, number>();
  /** The newest commit acknowledged as synchronous: its position, the history it belongs to, and by whom. */
  #lastSyncAck: { lsn: number; lineage: readonly Branch[]; primary: string } | null = null;
  #syncAcks = 0;
  #logicalSlotGaps = 0;

  constructor(options: SimulationOptions) {
    this.options = options;
    const root = createRng(options.seed);
    this.#rng = root.fork();
    this.#faultRng = root.fork();
    this.#workRng = root.fork();
    const setupRng = root.fork();
    // Drawn from its own stream so adding it left every earlier draw (and the known-failing seeds) unchanged.
    const syncRng = root.fork();
    const syncMode = syncRng.pick(['off', 'off', 'off', 'on', 'on', 'quorum', 'quorum', 'quorum'] as const);
    const syncConfig =
      syncMode === 'off'
        ? {}
        : {
            synchronous_mode: syncMode === 'on' ? true : 'quorum',
            synchronous_mode_strict: syncRng.chance(0.3),
            synchronous_node_count: syncRng.pick([1, 1, 2]),
          };
    // Its own stream again, for the same reason.
    const failsafeConfig = root.fork().chance(0.3) ? { failsafe_mode: true } : {};
    // Cascading, standby cluster, permanent logical slot: each from its own stream, appended after the others.
    const count = options.nodes ?? 3;
    const names = Array.from({ length: count }, (_, index) => `node${index + 1}`);
    const cascadeRng = root.fork();
    const drawnTags: Record<string, Record<string, unknown>> = {};
    if (count > 1 && cascadeRng.chance(0.3)) {
      const member = cascadeRng.pick(names);
      drawnTags[member] = { replicatefrom: cascadeRng.pick(names.filter((name) => name !== member)) };
    }
    this.tags = options.tags ?? drawnTags;
    const standby = options.standbyCluster ?? root.fork().chance(0.08);
    const slotsConfig = root.fork().chance(0.25) ? { slots: { cdc: { type: 'logical', database: 'postgres', plugin: 'test_decoding' } } } : {};
    if (standby) {
      // The primary of the other cluster: a server of its own that this cluster replicates from.
      this.remote = new SimPostgres();
      this.remote.initdb(`6${String(++this.#branchId).padStart(18, '0')}`, ++this.#branchId);
      this.remote.start('primary', null);
    } else {
      this.remote = null;
    }
    this.warmupMs = options.warmupMs ?? 60_000;
    this.faultPhaseMs = options.faultPhaseMs ?? 600_000;
    this.quietMs = options.quietMs ?? 300_000;
    this.store = new SimStore(
      () => this.scheduler.now(),
      (time, run) => this.scheduler.at(time, run),
    );
    this.bootstrapConfig = {
      ttl: setupRng.pick([20, 30, 30]),
      loop_wait: setupRng.pick([5, 10, 10]),
      retry_timeout: setupRng.pick([5, 10, 10]),
      maximum_lag_on_failover: 1_048_576,
      postgresql: { use_pg_rewind: setupRng.chance(0.7), use_slots: true },
      ...syncConfig,
      ...failsafeConfig,
      ...slotsConfig,
      ...(standby ? { standby_cluster: { host: '10.0.1.1', port: 5432 } } : {}),
      ...options.dynamicConfig,
    };
    const world = this.#world();
    // Without pg_rewind, a diverged former primary comes back only if its data directory may be removed
    // (`remove_data_directory_on_diverged_timelines`, as in Patroni); the simulated members allow it, so every
    // seed can still reach a healthy cluster.
    const removeOnDiverged = !resolveDynamicConfig(this.bootstrapConfig).usePgRewind;
    for (let index = 1; index <= count; index++) {
      const name = `node${index}`;
      const settings: HaSettings = {
        name,
        scope: 'sim',
        tags: this.tags[name] ?? {},
        connUrl: `postgres://10.0.0.${index}:5432/postgres`,
        apiUrl: `http://10.0.0.${index}:8008/patroni`,
        patroniVersion: '4.1.4',
        bootstrapDynamicConfig: this.bootstrapConfig,
        enforceTimingMinimums: true,
        removeDataDirectoryOnRewindFailure: setupRng.chance(0.5),
        removeDataDirectoryOnDivergedTimelines: removeOnDiverged,
      };
      this.nodes.push(new SimNode(settings, world, this.#rng.fork()));
      // Some replicas are slow: they receive at most this many bytes per tick. Never below what the primary writes
      // on average (about 45 KB a tick, bulk loads included): a slower one falls behind without bound, and a
      // cascading replica that got ahead of it would wait longer than any quiet period (seeds 2039, 2211, 2248).
      if (setupRng.chance(0.4)) this.#slowReplica.set(name, Math.max(SLOW_REPLICA_MIN_BYTES, setupRng.int(16_384, 131_072)));
    }
  }

  /** When the faults stop (virtual ms since the start). */
  get quietAt(): number {
    return this.warmupMs + this.faultPhaseMs;
  }

  /** Virtual ms since the start. */
  elapsed(): number {
    return this.scheduler.now() - EPOCH;
  }

  /** Runs `action` at `ms` virtual ms since the start. */
  at(ms: number, action: () => void): void {
    this.scheduler.at(EPOCH + ms, action);
  }

  node(name: string): SimNode {
    const found = this.nodes.find((node) => node.name === name);
    if (!found) throw new RangeError(`[simulator] no member ${name}`);
    return found;
  }

  /**
   * The member holding the lock while running read-write, or null. In a standby cluster: the lock holder
   * while it runs in recovery following the remote primary (the standby leader).
   */
  leader(): string | null {
    const holder = this.store.leader();
    if (!holder) return null;
    const node = this.nodes.find((candidate) => candidate.name === holder.name);
    if (!node) return null;
    if (this.standbyActive()) return node.pg.running && node.pg.accepting && !node.pg.frozen && node.pg.mode === 'replica' && node.pg.upstream === REMOTE_UPSTREAM_NAME ? node.name : null;
    return node.pg.writable() ? node.name : null;
  }

  /** The `config` key (or, before it exists, the bootstrap config) makes this a standby cluster. */
  standbyActive(): boolean {
    return standbyClusterOf(this.#configData()) !== null;
  }

  dynamic(): DynamicConfig {
    return resolveDynamicConfig(this.#configData());
  }

  log(node: string, text: string): void {
    this.trace.push({ t: this.elapsed(), node, text });
  }

  // ---- faults, usable by scenarios ----

  kill(name: string): void {
    const node = this.node(name);
    if (!node.alive) return;
    this.#fault(name, 'killed (agent and postmaster)');
    node.kill();
  }

  restart(name: string): void {
    const node = this.node(name);
    if (node.alive) return;
    node.pg.frozen = false;
    node.startAgent(this.#faultRng.int(500, 3000));
  }

  terminate(name: string): void {
    const node = this.node(name);
    if (!node.alive) return;
    this.#fault(name, 'SIGTERM');
    node.terminate();
  }

  partitionFromDcs(name: string, ms: number): void {
    this.#fault(name, `partitioned from the DCS for ${ms} ms`);
    this.#dcsCut.add(name);
    this.scheduler.after(ms, () => this.healDcs(name));
  }

  healDcs(name: string): void {
    if (this.#dcsCut.delete(name)) this.log(name, 'fault healed: reaches the DCS again');
  }

  partitionPeers(a: string, b: string, ms: number): void {
    const key = [a, b].sort().join('|');
    this.#fault(a, `partitioned from ${b} for ${ms} ms`);
    this.#peerCut.add(key);
    this.scheduler.after(ms, () => {
      if (this.#peerCut.delete(key)) this.log(a, `fault healed: reaches ${b} again`);
    });
  }

  dcsOutage(ms: number): void {
    this.#fault('dcs', `outage for ${ms} ms`);
    this.#outage = true;
    this.scheduler.after(ms, () => {
      if (this.#outage) this.log('dcs', 'outage over');
      this.#outage = false;
    });
  }

  /** The agent process stops (SIGSTOP, a GC pause); PostgreSQL keeps running. */
  stallAgent(name: string, ms: number): void {
    const node = this.node(name);
    if (!node.alive) return;
    this.#fault(name, `agent stalled for ${ms} ms (postgres keeps running)`);
    node.agentPausedUntil = Math.max(node.agentPausedUntil, this.scheduler.now() + ms);
  }

  /** The whole node stops (a VM freeze): agent and PostgreSQL. */
  freeze(name: string, ms: number): void {
    const node = this.node(name);
    if (node.pg.frozen) return;
    this.#fault(name, `node frozen for ${ms} ms`);
    node.pg.frozen = true;
    this.scheduler.after(ms, () => {
      if (!node.pg.frozen) return;
      node.pg.frozen = false;
      this.log(name, 'fault healed: node thawed');
    });
  }

  jumpClock(name: string, ms: number): void {
    this.#fault(name, `clock jumps ${ms} ms forward`);
    this.node(name).clockOffset += ms;
  }

  /**
   * What `POST /switchover` (or `/failover`) on member `via` does: read the cluster, check the request with the
   * core's rules (probing members from `via`), then write the `failover` key.
   */
  requestSwitchover(via: string, request: Omit<SwitchoverRequest, 'action'> & { action?: SwitchoverRequest['action'] }): boolean {
    const api = this.node(via);
    if (!api.apiAnswers() || !this.dcsReachable(api)) {
      this.log(via, 'operator: switchover request not answered');
      return false;
    }
    const full: SwitchoverRequest = { action: request.action ?? 'switchover', leader: request.leader, candidate: request.candidate, scheduledAt: request.scheduledAt };
    const generator = checkSwitchoverRequest(this.store.loadCluster(), full, api.localNow());
    let step = generator.next();
    while (!step.done) {
      const effect: Effect = step.value;
      if (effect.kind !== 'peers.probe') throw new Error(`[simulator] unexpected effect ${effect.kind} in checkSwitchoverRequest`);
      step = generator.next(api.handlers['peers.probe'](effect));
    }
    const verdict = step.value;
    const what = `${full.action} leader=${full.leader ?? '-'} candidate=${full.candidate ?? '-'}${full.scheduledAt ? ` at ${full.scheduledAt}` : ''}`;
    if (!verdict.ok) {
      this.log(via, `operator: ${what} refused (${verdict.status} ${verdict.message})`);
      return false;
    }
    this.#faults++;
    this.log(via, `operator: ${what} accepted`);
    this.store.setFailover({ leader: verdict.leader, candidate: verdict.candidate, scheduledAt: verdict.scheduledAt });
    return true;
  }

  /** `pgwardenctl pause` / `resume`: a compare-and-set of the `config` key. */
  setPaused(paused: boolean): boolean {
    if (this.#outage) {
      this.log('operator', `${paused ? 'pause' : 'resume'} failed: DCS unreachable`);
      return false;
    }
    const cluster = this.store.loadCluster();
    if (!cluster.config) return false;
    this.#faults++;
    this.log('operator', paused ? 'pause' : 'resume');
    return this.store.setConfig({ ...cluster.config.data, pause: paused }, cluster.config.version);
  }

  /** The operator promotes a standby cluster: `standby_cluster` is removed from the `config` key (compare-and-set). */
  promoteCluster(): boolean {
    const cluster = this.store.loadCluster();
    if (this.#outage || !cluster.config) {
      this.log('operator', 'promote-cluster failed');
      return false;
    }
    this.#faults++;
    this.log('operator', 'promote-cluster: standby_cluster removed from the config');
    return this.store.setConfig({ ...cluster.config.data, standby_cluster: null }, cluster.config.version);
  }

  /**
   * Resume as a careful operator does: an agent stopped during maintenance left its PostgreSQL running
   * (as Patroni does when paused); it is started again before the cluster resumes, or its orphaned primary
   * would meet a new leader. Retries every 10 s until the resume is written.
   */
  resumeWhenSafe(): void {
    const orphans = this.startOrphanedAgents();
    if (orphans.length || !this.setPaused(false)) this.scheduler.after(10_000, () => this.resumeWhenSafe());
  }

  /** Starts every agent that is down while its PostgreSQL still runs (stopped while paused); returns their names. */
  startOrphanedAgents(): string[] {
    const orphans = this.nodes.filter((node) => !node.alive && node.pg.running).map((node) => node.name);
    for (const name of orphans) this.restart(name);
    return orphans;
  }

  // ---- the run ----

  run(): SimulationResult {
    const start = EPOCH;
    for (const node of this.nodes) node.startAgent(this.#rng.int(0, 2000));
    this.#scheduleTicks();
    const faults = this.options.faults ?? DEFAULT_FAULTS;
    const quietAt = this.quietAt;
    if (faults.length) this.#scheduleFaults(faults, this.warmupMs, quietAt);
    this.options.scenario?.(this);
    this.at(quietAt, () => this.#beginQuiet());
    const end = start + quietAt + this.quietMs;
    let violation: Violation | null = null;
    try {
      while (this.scheduler.step(end)) {
        this.#events++;
        this.#checkAfterEvent();
      }
      this.scheduler.advanceTo(end);
      this.#checkAtEnd();
    } catch (error) {
      if (!(error instanceof SimulationFailed)) throw error;
      violation = error.violation;
      this.log('CHECK', `VIOLATION ${violation.invariant}: ${violation.message}`);
    }
    return {
      seed: this.options.seed,
      ok: violation === null,
      violation,
      trace: this.trace,
      leaders: this.leaders,
      stats: {
        syncAcks: this.#syncAcks,
        logicalSlotGaps: this.#logicalSlotGaps,
        virtualMs: this.elapsed(),
        events: this.#events,
        cycles: this.nodes.reduce((sum, node) => sum + node.cycles, 0),
        promotions: this.#promotions,
        faults: this.#faults,
      },
      quietAt,
    };
  }

  #fault(node: string, text: string): void {
    this.#faults++;
    this.log(node, `fault: ${text}`);
  }

  dcsReachable(node: SimNode): boolean {
    return !this.#outage && !this.#dcsCut.has(node.name) && !node.pg.frozen;
  }

  peersConnected(a: SimNode, b: SimNode): boolean {
    return !this.#peerCut.has([a.name, b.name].sort().join('|'));
  }

  #world(): World {
    return {
      scheduler: this.scheduler,
      store: this.store,
      rng: this.#rng,
      node: (name) => this.nodes.find((node) => node.name === name),
      nodes: () => this.nodes,
      dcsReachable: (node) => this.dcsReachable(node),
      peersConnected: (a, b) => this.peersConnected(a, b),
      nextBranchId: () => ++this.#branchId,
      trace: (node, text) => this.log(node, text),
      beforePromote: (node) => this.#checkPromote(node),
      afterBecamePrimary: (node, how) => this.#checkBecamePrimary(node, how),
      onAction: (node, action) => this.#checkPausedAction(node, action),
      remote: () => this.remote,
      timelineReservation: this.options.timelineReservation ?? true,
    };
  }

  /** The client workload and replication, every TICK_MS. */
  #scheduleTicks(): void {
    const tick = (): void => {
      for (const node of this.nodes) {
        if (!node.pg.writable()) continue;
        // A logical decoding client confirms what was written up to the last tick (no draw: earlier draws stay).
        for (const slot of node.pg.slots.values()) if (slot.type === 'logical') slot.restartLsn = Math.max(slot.restartLsn ?? 0, node.pg.lsn);
        // Writes; now and then a bulk load that leaves slow replicas past maximum_lag_on_failover.
        node.pg.lsn += this.#workRng.chance(0.005) ? 2_500_000 : this.#workRng.int(0, 65_536);
      }
      // The remote primary of a standby cluster writes on, whatever happens here; slower than the slowest replica
      // receives, so a cascading replica that got ahead of its slow upstream is caught up with again.
      if (this.remote?.writable()) this.remote.lsn += 8_192;
      for (const node of this.nodes) {
        const slow = this.#slowReplica.get(node.name);
        const bytes = this.#workRng.chance(0.05) ? 0 : (slow ?? Number.MAX_SAFE_INTEGER);
        node.replicate(bytes);
      }
      this.#acknowledgeSyncCommits();
      this.scheduler.after(TICK_MS, tick);
    };
    this.scheduler.after(TICK_MS, tick);
  }

  #scheduleFaults(kinds: readonly FaultKind[], from: number, to: number): void {
    const rng = this.#faultRng;
    const mean = this.options.meanFaultIntervalMs ?? 20_000;
    const names = this.nodes.map((node) => node.name);
    const timing = resolveDynamicConfig(this.bootstrapConfig).timing;
    const shortStall = Math.max(1000, (timing.ttl - timing.loopWait - timing.retryTimeout) * 1000 - 1000);
    let t = from + rng.int(0, mean);
    while (t < to) {
      const kind = rng.pick(kinds);
      const name = rng.pick(names);
      const duration = rng.int(5_000, 60_000);
      this.at(t, () => this.#inject(kind, name, duration, shortStall, rng));
      t += rng.int(mean / 4, mean * 2);
    }
  }

  #inject(kind: FaultKind, name: string, duration: number, shortStall: number, rng: Rng): void {
    if (this.#quiet) return;
    const ttlMs = this.dynamic().timing.ttl * 1000;
    switch (kind) {
      case 'kill':
        this.kill(name);
        this.scheduler.after(duration, () => this.restart(name));
        return;
      case 'sigterm':
        this.terminate(name);
        this.scheduler.after(duration, () => this.restart(name));
        return;
      case 'dcs-partition':
        return this.partitionFromDcs(name, duration);
      case 'peer-partition': {
        const other = rng.pick(this.nodes.filter((node) => node.name !== name)).name;
        return this.partitionPeers(name, other, duration);
      }
      case 'dcs-outage':
        return this.dcsOutage(Math.min(duration, 45_000));
      case 'stall':
      case 'freeze': {
        const ms = rng.int(500, shortStall);
        // Short stops stacked on one node (a stall, a freeze, a stall with a second between them) add up to a long
        // one, which only a watchdog can survive (long-stall): the agent gets a ttl to run between two of them.
        const now = this.scheduler.now();
        if (now < (this.#agentStopEnd.get(name) ?? -Infinity) + ttlMs) {
          this.log(name, `fault skipped: ${kind} within a ttl of the last stop`);
          return;
        }
        this.#agentStopEnd.set(name, now + ms);
        return kind === 'stall' ? this.stallAgent(name, ms) : this.freeze(name, ms);
      }
      case 'long-stall':
        return this.stallAgent(name, rng.int(ttlMs, 2 * ttlMs));
      case 'long-freeze':
        return this.freeze(name, rng.int(ttlMs, 2 * ttlMs));
      case 'clock-jump':
        return this.jumpClock(name, rng.int(5_000, 120_000));
      case 'switchover': {
        const cluster = this.store.loadCluster();
        const others = cluster.members.filter((member) => member.name !== cluster.leader?.name).map((member) => member.name);
        const candidate = others.length && rng.chance(0.6) ? rng.pick(others) : null;
        const failover = candidate !== null && rng.chance(0.25);
        const scheduled = !failover && rng.chance(0.15) ? new Date(this.scheduler.now() + rng.int(5_000, 60_000)).toISOString() : null;
        // A forced failover is the operator vouching that no other primary runs. A careful one first starts the
        // agents stopped during maintenance, as before a resume: their PostgreSQL may still be read-write.
        const orphans = failover ? this.startOrphanedAgents() : [];
        if (orphans.length) {
          this.log('operator', `failover to ${candidate ?? '-'} put off: started the agent of ${orphans.join(', ')} first`);
          return;
        }
        this.requestSwitchover(name, {
          action: failover ? 'failover' : 'switchover',
          leader: failover ? null : (cluster.leader?.name ?? null),
          candidate,
          scheduledAt: scheduled,
        });
        return;
      }
      case 'pause':
        this.setPaused(true);
        this.scheduler.after(rng.int(20_000, 120_000), () => {
          if (!this.#quiet) this.resumeWhenSafe();
        });
        return;
    }
  }

  /** Faults stop: every partition heals, stopped agents run again, dead members restart, the cluster resumes. */
  #beginQuiet(): void {
    this.#quiet = true;
    this.log('sim', 'faults stop: healing everything');
    this.#dcsCut.clear();
    this.#peerCut.clear();
    this.#outage = false;
    for (const node of this.nodes) {
      node.pg.frozen = false;
      node.agentPausedUntil = 0;
      if (!node.alive && !node.stopping) this.restart(node.name);
    }
    if (this.dynamic().pause) this.scheduler.after(5_000, () => this.resumeWhenSafe());
  }

  fail(invariant: Violation['invariant'], message: string): never {
    throw new SimulationFailed({ invariant, t: this.elapsed(), message });
  }

  // ---- invariants ----

  /** (a) A member runs read-write only while no other member holds the lock. */
  #checkAfterEvent(): void {
    const holder = this.store.leader();
    let writableLeader: string | null = null;
    const standby = this.remote !== null && this.standbyActive();
    for (const node of this.nodes) {
      if (!node.pg.writable()) continue;
      if (standby) {
        this.fail('standby-never-writable', `${node.name} runs read-write (timeline ${node.pg.timeline ?? '?'}, lsn ${node.pg.lsn}) in a standby cluster; lock: ${holder?.name ?? 'nobody'}`);
      }
      if (holder && holder.name !== node.name) {
        this.fail(
          'single-writable-primary',
          `${node.name} runs read-write (timeline ${node.pg.timeline ?? '?'}, lsn ${node.pg.lsn}) while ${holder.name} holds the leader lock; ` +
            `${node.name}'s agent believes its lock valid until ${formatTime(node.memory.lockValidUntil)} (its clock), ` +
            `agent ${node.alive ? (node.blockedUntil() ? 'stopped' : 'running') : 'dead'}`,
        );
      }
      if (holder?.name === node.name) writableLeader = node.name;
    }
    if (writableLeader !== this.#currentLeader) {
      this.#currentLeader = writableLeader;
      this.leaders.push({ t: this.elapsed(), name: writableLeader });
    }
    if (this.#quiet) this.#checkElection();
  }

  /** (b) and (c): promotion only with the lock, and not past maximum_lag_on_failover unless the operator named it. */
  #checkPromote(node: SimNode): void {
    this.#promotions++;
    if (this.standbyActive()) this.fail('standby-never-writable', `${node.name} promotes in a standby cluster`);
    const holder = this.store.leader();
    if (holder?.name !== node.name) {
      this.fail('promote-holds-lock', `${node.name} promotes while ${holder ? `${holder.name} holds the leader lock` : 'nobody holds the leader lock'}`);
    }
    const cluster = this.store.loadCluster();
    const optime = cluster.status.optime;
    const maxLag = this.dynamic().maximumLagOnFailover;
    const lag = optime - node.pg.lsn;
    const named = node.view?.failover?.candidate === node.name;
    if (optime > 0 && lag > maxLag && !named) {
      this.fail(
        'promote-lag',
        `${node.name} promotes at lsn ${node.pg.lsn}, ${lag} bytes behind the last published optime ${optime} (maximum_lag_on_failover ${maxLag}), and no operator named it`,
      );
    }
  }

  /**
   * The workload's commits on a primary wait for `synchronous_standby_names`: FIRST/priority n or ANY n of the
   * listed standbys that stream from it must have the WAL (the placeholder never answers). What they all hold up
   * to is acknowledged; with an empty setting commits are asynchronous and promise nothing.
   */
  #acknowledgeSyncCommits(): void {
    for (const node of this.nodes) {
      if (!node.pg.writable()) continue;
      const guc = parseSyncStandbyNames(node.pg.synchronousStandbyNames);
      if (!node.pg.synchronousStandbyNames || guc.num <= 0) continue;
      const connected = new Map(
        this.nodes
          .filter((other) => other !== node && other.pg.running && other.pg.streaming && other.pg.upstream === node.name)
          .map((other) => [other.name.toLowerCase(), other.pg.lsn] as const),
      );
      const listed = [...guc.members].filter((name) => connected.has(name)).map((name) => connected.get(name)!);
      // ANY n: the n-th best of the listed standbys; FIRST n: the n connected standbys listed first must all have it.
      const acked = guc.quorum ? [...listed].sort((a, b) => b - a)[guc.num - 1] : listed.length >= guc.num ? Math.min(...listed.slice(0, guc.num)) : undefined;
      if (acked === undefined) continue;
      const last = this.#lastSyncAck;
      if (last && last.primary === node.name && last.lsn >= acked) continue;
      this.#syncAcks++;
      this.#lastSyncAck = { lsn: acked, lineage: node.pg.lineage.filter((branch) => branch.start <= acked), primary: node.name };
    }
  }

  /** (f) No acknowledged synchronous commit is lost: whoever becomes primary holds the newest one, on its history. */
  #checkSyncCommitKept(node: SimNode, how: string): void {
    const last = this.#lastSyncAck;
    if (!last) return;
    const pg = node.pg;
    const kept = pg.lsn >= last.lsn && divergencePoint(pg.lineage, last.lineage, last.lsn) === null;
    if (kept) return;
    // A failover the operator forced onto a named member is their decision (as in Patroni): the commits it
    // drops are given up, and later promotions are judged against what the new branch acknowledges.
    const failover = node.view?.failover;
    if (failover?.candidate === node.name && !failover.leader) {
      this.#lastSyncAck = null;
      return;
    }
    this.fail(
      'sync-commit-lost',
      `${node.name} ${how} at lsn ${pg.lsn} (timeline ${pg.timeline ?? '?'}) without the synchronous commit ${last.lsn} acknowledged by ${last.primary} ` +
        `(synchronous_mode ${String(this.dynamic().synchronousMode)})`,
    );
  }

  #checkBecamePrimary(node: SimNode, how: string): void {
    this.log(node.name, `postgres now read-write: ${how}`);
    if (this.standbyActive()) this.fail('standby-never-writable', `${node.name} becomes read-write (${how}) in a standby cluster`);
    for (const [name, slot] of Object.entries(slotSettings(this.#configData()).permanent)) {
      if (slot.type !== 'logical' || node.pg.slots.get(name)?.type === 'logical') continue;
      this.#logicalSlotGaps++;
      this.log(node.name, `no copy of the logical slot ${name} on the new primary: it is created anew`);
    }
    this.#checkSyncCommitKept(node, how);
    if (how.startsWith('promoted')) return;
    const holder = this.store.leader();
    if (holder?.name !== node.name) {
      this.fail('promote-holds-lock', `${node.name} started as primary while ${holder ? `${holder.name} holds the leader lock` : 'nobody holds the leader lock'}`);
    }
  }

  /** (d) While paused (as the member saw the cluster), nothing is promoted, demoted, started or stopped automatically. */
  #checkPausedAction(node: SimNode, action: string): void {
    const data = node.view?.config?.data ?? node.memory.configData;
    if (!data || !resolveDynamicConfig(data).pause) return;
    if (node.view?.failover?.candidate) return; // the operator asked for this switchover
    // Copying permanent logical slots restarts a replica even while paused, as Patroni does (slot upkeep, not HA).
    if (action === 'task restart (copy logical slots)') return;
    this.fail('paused-no-action', `${node.name} acts while the cluster is paused: ${action}`);
  }

  /** (e) After the faults: one leader within ttl + loop_wait + margin, then every member streams from it. */
  #checkElection(): void {
    if (this.#settledAt !== null) return;
    const leader = this.leader();
    const others = this.nodes.filter((node) => node.name !== leader && node.pg.writable());
    if (leader && others.length === 0) {
      this.#settledAt = this.elapsed();
      this.log('CHECK', `settled: ${leader} leads`);
      return;
    }
    const timing = this.dynamic().timing;
    const margin = this.options.electionMarginMs ?? timing.loopWait * 1000 + 15_000;
    const quietAt = this.quietAt;
    const deadline = quietAt + (timing.ttl + timing.loopWait) * 1000 + margin;
    if (this.elapsed() > deadline) {
      this.fail('elected-after-faults', `no single leader ${Math.round((deadline - quietAt) / 1000)} s after the faults stopped: ${this.#describeNodes()}`);
    }
  }

  #checkAtEnd(): void {
    if (this.#quiet) this.#checkElection();
    const leader = this.leader();
    if (!leader) return this.fail('elected-after-faults', `no leader at the end: ${this.#describeNodes()}`);
    const standby = this.standbyActive();
    const leaderPg = this.node(leader).pg;
    // The standby leader streams from the remote primary (leader() already saw it follow there).
    if (standby && !leaderPg.streaming) {
      this.fail('standby-follows-remote', `${this.quietMs / 1000} s after the faults stopped, the standby leader ${leader} does not stream from the remote primary; ${this.#describeNodes()}`);
    }
    const expected = new Map(this.nodes.filter((node) => node.name !== leader).map((node) => [node.name, this.#expectedUpstream(node, leader)] as const));
    // (e) Everyone else streams from the leader, or from the member its replicatefrom tag names.
    const lagging = this.nodes.filter((node) => {
      if (node.name === leader) return false;
      const pg = node.pg;
      return !(pg.running && pg.mode === 'replica' && pg.streaming && (pg.upstream === leader || pg.upstream === expected.get(node.name)));
    });
    if (lagging.length) {
      this.fail('replicas-streaming', `${this.quietMs / 1000} s after the faults stopped, not streaming from ${leader}: ${lagging.map((node) => node.name).join(', ')}; ${this.#describeNodes()}`);
    }
    // (h) A member tagged replicatefrom X streams from X while X is a healthy streaming replica.
    const astray = this.nodes.filter((node) => node.name !== leader && node.pg.upstream !== expected.get(node.name));
    if (astray.length) {
      this.fail('cascade-followed', `${this.quietMs / 1000} s after the faults stopped, ${astray.map((node) => `${node.name} streams from ${node.pg.upstream ?? 'nobody'}, not ${expected.get(node.name) ?? '?'}`).join('; ')}; ${this.#describeNodes()}`);
    }
    // (g) Each member streams through its own physical slot on its upstream, so that server keeps the WAL it needs.
    const unslotted = this.nodes.filter((node) => node.name !== leader && this.node(node.pg.upstream ?? leader).pg.slots.get(slotNameForMember(node.name))?.type !== 'physical');
    if (unslotted.length) {
      const where = (node: SimNode): string => {
        const upstream = this.node(node.pg.upstream ?? leader);
        return `${node.name} on ${upstream.name} (slots: ${[...upstream.pg.slots.keys()].join(', ') || 'none'})`;
      };
      this.fail('member-slots', `${this.quietMs / 1000} s after the faults stopped, no slot for ${unslotted.map(where).join('; ')}`);
    }
    // (j) The permanent logical slots survive every failover: the leader holds them, and each replica a copy.
    if (!standby) {
      const data = this.#configData();
      for (const [name, slot] of Object.entries(slotSettings(data).permanent)) {
        if (slot.type !== 'logical') continue;
        const without = this.nodes.filter((node) => {
          const held = node.pg.slots.get(name);
          return held?.type !== 'logical' || held.plugin !== (slot.plugin ?? null) || held.database !== (slot.database ?? null);
        });
        if (without.length) {
          this.fail('logical-slot-kept', `${this.quietMs / 1000} s after the faults stopped, no logical slot ${name} on ${without.map((node) => `${node.name}${node.name === leader ? ' (leader)' : ''}`).join(', ')}`);
        }
      }
    }
  }

  /** Whom a member should stream from once the cluster settled: the healthy member its replicatefrom names, else the leader. */
  #expectedUpstream(node: SimNode, leader: string, seen: ReadonlySet<string> = new Set()): string {
    const wanted = node.settings.tags['replicatefrom'];
    if (typeof wanted !== 'string' || wanted === node.name || wanted === leader || seen.has(node.name)) return leader;
    const via = this.nodes.find((candidate) => candidate.name === wanted);
    if (!via) return leader;
    const pg = via.pg;
    const healthy = pg.running && pg.accepting && !pg.frozen && pg.mode === 'replica' && pg.streaming && pg.upstream === this.#expectedUpstream(via, leader, new Set([...seen, node.name]));
    return healthy ? via.name : leader;
  }

  #configData(): Record<string, unknown> {
    const raw = this.store.raw('config');
    return raw ? (JSON.parse(raw) as Record<string, unknown>) : this.bootstrapConfig;
  }

  #describeNodes(): string {
    return this.nodes
      .map((node) => {
        const pg = node.pg;
        const state = pg.running ? `${pg.mode}${pg.mode === 'replica' ? ` of ${pg.upstream ?? 'nobody'}${pg.streaming ? ' streaming' : ' not streaming'}` : ''}` : 'stopped';
        return `${node.name}[agent ${node.alive ? 'up' : 'down'}, pg ${state}, data ${pg.dataDirectory}, tl ${pg.timeline ?? '-'}, lsn ${pg.lsn}, last: ${node.last?.decision.reason ?? '-'}]`;
      })
      .join('; ');
  }
}

function formatTime(ms: number | null): string {
  return ms === null ? 'never' : `+${((ms - EPOCH) / 1000).toFixed(3)}s`;
}

export function runSimulation(options: SimulationOptions): SimulationResult {
  return new Simulation(options).run();
}

/** The trace as lines: `+123.456s node2 text`. */
export function formatTrace(trace: readonly TraceEntry[], options: { last?: number } = {}): string[] {
  const entries = options.last === undefined ? trace : trace.slice(-options.last);
  return entries.map((entry) => `+${(entry.t / 1000).toFixed(3).padStart(9)}s ${entry.node.padEnd(8)} ${entry.text}`);
}
