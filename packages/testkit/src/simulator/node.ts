/**
 * One simulated member: the agent's loop (cycle, then wait loop_wait, less on wakeSoon/wakeAt, or until the
 * leader key changes or a task ends) running the core's `haCycle` and `shutdownSequence` unchanged, with
 * every effect carried out against the models in virtual time.
 */
import {
  INITIAL_MEMORY,
  answerFailsafePost,
  haCycle,
  parseSyncStandbyNames,
  remoteUpstream,
  resolveDynamicConfig,
  shutdownSequence,
  slotNameForMember,
  standbyClusterOf,
} from '@pgwarden/core';
import type {
  Cluster,
  CycleResult,
  Decision,
  Effect,
  EffectHandlers,
  EffectKind,
  EffectOf,
  EffectResult,
  FailsafeContact,
  FailsafePayload,
  HaMemory,
  HaSettings,
  PeerStatus,
  ReplicationRow,
  ReplicationSlot,
  TaskSpec,
  TaskState,
  Timing,
} from '@pgwarden/core';
import type { Rng } from './prng.js';
import type { Scheduler } from './scheduler.js';
import type { SimStore } from './store.js';
import { SimPostgres, canStream, rewind } from './postgres.js';

/** The effect handlers the simulator runs: the same contract as the agent's, answered synchronously. */
export type SyncEffectHandlers = { [K in EffectKind]: (effect: EffectOf<K>) => EffectResult<K> };

/** The same handlers in the agent's async shape, for `interpret`. */
export function asEffectHandlers(handlers: SyncEffectHandlers): EffectHandlers {
  const wrapped: Partial<Record<EffectKind, (effect: Effect) => Promise<unknown>>> = {};
  for (const kind of Object.keys(handlers) as EffectKind[]) {
    const handler = handlers[kind] as (effect: Effect) => unknown;
    wrapped[kind] = (effect) => Promise.resolve(handler(effect));
  }
  return wrapped as EffectHandlers;
}

/** What a node needs from the simulation around it. */
export interface World {
  readonly scheduler: Scheduler;
  readonly store: SimStore;
  readonly rng: Rng;
  node(name: string): SimNode | undefined;
  nodes(): readonly SimNode[];
  dcsReachable(node: SimNode): boolean;
  peersConnected(a: SimNode, b: SimNode): boolean;
  nextBranchId(): number;
  trace(node: string, text: string): void;
  /** Hooks for the invariants, called at the instant an action reaches PostgreSQL. */
  beforePromote(node: SimNode): void;
  afterBecamePrimary(node: SimNode, how: string): void;
  onAction(node: SimNode, action: string): void;
  /** The remote primary of a standby cluster (no member: reached as REMOTE_UPSTREAM_NAME), or null. */
  remote(): SimPostgres | null;
  /** The promote handler plants the history files the core asks for (off: PostgreSQL as Patroni leaves it). */
  readonly timelineReservation: boolean;
}

/** A server a member can read WAL or files from: another member's PostgreSQL, or the standby cluster's remote primary. */
interface Endpoint {
  readonly pg: SimPostgres;
  readonly node: SimNode | null;
}

interface RunningTask {
  readonly spec: TaskSpec;
  readonly startedAt: number;
  readonly endsAt: number;
}

/** The name the core gives the remote primary of a standby cluster in its upstreams (what `pg.follow` receives). */
export const REMOTE_UPSTREAM_NAME = remoteUpstream(standbyClusterOf({ standby_cluster: { host: 'remote' } })!).name;

/** Patroni's probe timeout (the agent's PEER_TIMEOUT_MS): an unreachable peer costs that long. */
const PEER_TIMEOUT_MS = 2000;

export class SimNode {
  readonly pg = new SimPostgres();
  /** The agent process runs. */
  alive = false;
  /** The watchdog is armed (reset on every agent start: a new process starts without it). */
  watchdogArmed = false;
  /** Bumped on every kill and start: callbacks of a dead agent find a different epoch and do nothing. */
  epoch = 0;
  memory: HaMemory = INITIAL_MEMORY;
  last: CycleResult | null = null;
  /** The cluster as this node loaded it in its current or last cycle. */
  view: Cluster | null = null;
  #failsafeContact: FailsafeContact | null = null;
  timing: Timing;
  /** Added to virtual time for this node's clock (a clock jump). */
  clockOffset = 0;
  /** The agent process is stopped (SIGSTOP, GC pause) until then. */
  agentPausedUntil = 0;
  /** A SIGTERM arrived: shut down at the end of the current cycle. */
  stopping = false;
  inCycle = false;
  task: RunningTask | null = null;
  finishedTask: TaskState | null = null;
  cycles = 0;
  #waitToken = 0;
  #unwatch: (() => void) | null = null;
  #generator: Generator<Effect, unknown, unknown> | null = null;
  #onDone: ((value: unknown) => void) | null = null;
  #inShutdown = false;
  #lastLogged = '';
  readonly handlers: SyncEffectHandlers;

  constructor(
    readonly settings: HaSettings,
    private readonly world: World,
    private readonly rng: Rng,
  ) {
    this.timing = resolveDynamicConfig(settings.bootstrapDynamicConfig, { enforceMinimums: settings.enforceTimingMinimums }).timing;
    this.handlers = this.#makeHandlers();
  }

  get name(): string {
    return this.settings.name;
  }

  localNow(): number {
    return this.world.scheduler.now() + this.clockOffset;
  }

  /** The agent cannot run now: paused, or the whole node is frozen. */
  blockedUntil(): number {
    const now = this.world.scheduler.now();
    if (this.pg.frozen) return Infinity;
    return this.agentPausedUntil > now ? this.agentPausedUntil : 0;
  }

  /** The REST API answers (the agent runs and is not stopped). */
  apiAnswers(): boolean {
    return this.alive && this.blockedUntil() === 0;
  }

  startAgent(delayMs: number): void {
    this.alive = true;
    this.epoch++;
    this.watchdogArmed = false;
    this.memory = INITIAL_MEMORY;
    this.#failsafeContact = null;
    this.last = null;
    this.view = null;
    this.stopping = false;
    this.inCycle = false;
    this.#inShutdown = false;
    this.#generator = null;
    this.#lastLogged = '';
    this.world.trace(this.name, 'agent started');
    this.#later(delayMs, () => this.#startCycle());
  }

  /** SIGKILL of the agent and the postmaster (a machine crash). */
  kill(): void {
    if (!this.alive && !this.pg.running) return;
    this.alive = false;
    this.epoch++;
    this.#stopWaiting();
    this.#abortTask('killed');
    this.pg.crash();
    this.inCycle = false;
    this.#generator = null;
  }

  /** SIGTERM: the agent finishes its cycle, then runs the graceful shutdown sequence. */
  terminate(): void {
    if (!this.alive || this.stopping) return;
    this.stopping = true;
    if (!this.inCycle && !this.#inShutdown) {
      this.#stopWaiting();
      this.#when(() => this.#shutdown());
    }
  }

  /** Called when the task finishes or the leader key changes: ends the current wait. */
  wake(): void {
    if (this.#waitToken > 0) this.#endWait(this.#waitToken);
  }

  /** Runs `run` now or, if the agent is stopped or frozen, as soon as it runs again; nothing if it died. */
  #when(run: () => void): void {
    const epoch = this.epoch;
    const attempt = (): void => {
      if (epoch !== this.epoch) return;
      const blocked = this.blockedUntil();
      if (blocked === Infinity) return void this.world.scheduler.after(1000, attempt);
      if (blocked > 0) return void this.world.scheduler.at(blocked, attempt);
      run();
    };
    attempt();
  }

  #later(ms: number, run: () => void): void {
    const epoch = this.epoch;
    this.world.scheduler.after(ms, () => {
      if (epoch === this.epoch) this.#when(run);
    });
  }

  #startCycle(): void {
    if (!this.alive) return;
    if (this.stopping) return this.#shutdown();
    this.inCycle = true;
    const task = this.#takeTask();
    const generator = haCycle({
      settings: this.settings,
      memory: this.memory,
      now: this.localNow(),
      task,
      command: null,
      watchdog: { running: this.watchdogArmed, healthy: true },
      failsafeContact: this.#failsafeContact,
    });
    this.#drive(generator, (value) => this.#cycleDone(value as CycleResult));
  }

  #cycleDone(result: CycleResult): void {
    this.inCycle = false;
    this.cycles++;
    this.memory = result.memory;
    this.last = result;
    this.timing = result.dynamic.timing;
    this.#log(result.decision);
    if (this.stopping) return this.#shutdown();
    if (result.wakeSoon) return this.#later(0, () => this.#startCycle());
    this.#wait(result);
  }

  #log(decision: Decision): void {
    const line = `${decision.reason}: ${decision.message}`;
    if (line === this.#lastLogged) return;
    this.#lastLogged = line;
    this.world.trace(this.name, line);
  }

  #wait(result: CycleResult): void {
    const token = ++this.#waitToken;
    const untilDue = result.wakeAt !== null ? Math.max(0, result.wakeAt - this.localNow()) : Infinity;
    const sleepMs = Math.min(this.timing.loopWait * 1000, untilDue);
    this.#later(sleepMs, () => this.#endWait(token));
    const leader = result.cluster?.leader;
    if (leader && !result.holdsLock && this.world.dcsReachable(this)) {
      // The agent's watch on the leader key: any change (write, delete, expiry) ends the wait.
      if (this.world.store.leaderVersion() !== leader.version) return void this.#later(0, () => this.#endWait(token));
      this.#unwatch = this.world.store.onLeaderChange(() => {
        if (this.world.dcsReachable(this)) this.#later(0, () => this.#endWait(token));
      });
    }
  }

  #endWait(token: number): void {
    if (token !== this.#waitToken) return;
    this.#waitToken = 0;
    this.#unwatch?.();
    this.#unwatch = null;
    this.#when(() => this.#startCycle());
  }

  #stopWaiting(): void {
    this.#waitToken = 0;
    this.#unwatch?.();
    this.#unwatch = null;
  }

  #shutdown(): void {
    if (this.#inShutdown) return;
    this.#inShutdown = true;
    this.#abortTask('cancelled by shutdown');
    const paused = this.last?.dynamic.pause ?? false;
    this.#drive(shutdownSequence({ memory: this.memory, now: this.localNow(), paused }), (value) => {
      this.world.trace(this.name, `shutdown: ${(value as Decision).message}`);
      this.alive = false;
      this.epoch++;
      this.#inShutdown = false;
      this.stopping = false;
    });
  }

  /** Steps a generator of effects: each effect reaches the world after a latency, its answer comes back after another. */
  #drive(generator: Generator<Effect, unknown, unknown>, onDone: (value: unknown) => void): void {
    this.#generator = generator;
    this.#onDone = onDone;
    this.#advance(undefined);
  }

  #advance(value: unknown): void {
    const generator = this.#generator;
    if (!generator) return;
    const step = generator.next(value);
    if (step.done) {
      this.#generator = null;
      this.#onDone?.(step.value);
      return;
    }
    const effect = step.value;
    const deadline = this.world.scheduler.now() + this.timing.retryTimeout * 1000;
    this.#later(this.#requestLatency(effect), () => this.#apply(effect, deadline));
  }

  #apply(effect: Effect, deadline: number): void {
    if (effect.kind.startsWith('dcs.') && !this.world.dcsReachable(this)) {
      // The plugins retry within retry_timeout before reporting the store unreachable.
      const now = this.world.scheduler.now();
      if (now < deadline) return this.#later(Math.min(1000, deadline - now), () => this.#apply(effect, deadline));
      return this.#later(0, () => this.#advance({ ok: false, error: 'simulated: DCS unreachable' }));
    }
    const handler = this.handlers[effect.kind] as (effect: Effect) => unknown;
    const result = handler(effect);
    this.#later(this.#responseLatency(effect, result), () => this.#advance(result));
  }

  #requestLatency(effect: Effect): number {
    if (effect.kind.startsWith('dcs.')) return this.rng.int(1, 10);
    if (effect.kind === 'pg.promote') return this.rng.int(20, 200);
    if (effect.kind === 'pg.stop') return effect.mode === 'immediate' ? this.rng.int(1, 20) : this.rng.int(5, 50);
    return this.rng.int(0, 3);
  }

  #responseLatency(effect: Effect, result: unknown): number {
    if (effect.kind === 'peers.probe') {
      const statuses = result as PeerStatus[];
      return statuses.some((status) => !status.reachable) ? PEER_TIMEOUT_MS : this.rng.int(2, 20);
    }
    if (effect.kind === 'pg.stop') return effect.mode === 'immediate' ? this.rng.int(10, 100) : this.rng.int(100, 1500);
    if (effect.kind.startsWith('dcs.')) return this.rng.int(1, 10);
    return this.rng.int(0, 3);
  }

  #ttlMs(): number {
    return this.timing.ttl * 1000;
  }

  #makeHandlers(): SyncEffectHandlers {
    const store = this.world.store;
    const ok = <T>(value: T) => ({ ok: true as const, value });
    return {
      'pg.observe': () => ({ ...this.pg.observe(), replication: this.replicationRows(), ...(this.pg.running && this.pg.accepting ? { replicationSlots: this.replicationSlots() } : {}) }),
      'pg.promote': ({ reserveTimelines }) => {
        if (!this.#inShutdown) this.world.onAction(this, 'promote');
        this.world.beforePromote(this);
        const wasPrimary = this.pg.mode === 'primary' && this.pg.running;
        if (this.world.timelineReservation && this.pg.running && this.pg.mode === 'replica') {
          const planted = this.pg.plantHistoryFiles(reserveTimelines.map((reserved) => reserved.timeline));
          if (planted.length) this.world.trace(this.name, `reserved timelines ${planted.join(', ')}`);
        }
        const promoted = this.pg.promote(this.world.nextBranchId());
        if (promoted && !wasPrimary) this.world.afterBecamePrimary(this, `promoted to timeline ${this.pg.timeline ?? '?'} at ${this.pg.lsn}`);
        return promoted;
      },
      'pg.stop': ({ mode }) => {
        if (!this.#inShutdown && this.pg.running) this.world.onAction(this, `stop (${mode})`);
        if (this.pg.running) this.world.trace(this.name, `postgres stopped (${mode}) as ${this.pg.mode}`);
        if (mode !== 'immediate') this.#flushToStandbys();
        this.pg.stop(mode);
        return true;
      },
      'pg.follow': ({ upstream }) => {
        const target = upstream?.name ?? null;
        if (this.pg.running && this.pg.mode === 'primary') return null;
        if (this.pg.upstream === target) return { changed: false, restarted: false };
        this.pg.upstream = target;
        this.pg.streaming = false;
        if (this.pg.running) this.world.trace(this.name, `now following ${target ?? 'nobody'}`);
        return { changed: true, restarted: false };
      },
      'pg.changeSlots': ({ changes }) => {
        const pg = this.pg;
        if (!pg.running || !pg.accepting) return null;
        for (const name of changes.drop) pg.slots.delete(name);
        // The driver reserves WAL at once (pg_create_physical_replication_slot(name, true)): restart_lsn is set.
        for (const name of changes.createPhysical) if (!pg.slots.has(name)) pg.slots.set(name, { type: 'physical', restartLsn: pg.lsn, database: null, plugin: null });
        // No logical decoding here: a logical slot is created only on a primary, as PostgreSQL 15 allows.
        const failed: string[] = [];
        for (const spec of changes.createLogical) {
          if (pg.mode !== 'primary') failed.push(spec.name);
          else if (!pg.slots.has(spec.name)) pg.slots.set(spec.name, { type: 'logical', restartLsn: pg.lsn, database: spec.database, plugin: spec.plugin });
        }
        for (const { name, lsn } of changes.advance) {
          const slot = pg.slots.get(name);
          if (slot) slot.restartLsn = Math.min(lsn, pg.lsn);
        }
        return { failed, recopy: [] };
      },
      'pg.timelineHistory': ({ timeline }) => this.pg.history(timeline),
      'pg.prePromote': () => true,
      // The watchdog is armed and disarmed as the rules ask, but never fires: the simulator shows what the HA
      // rules alone guarantee.
      'watchdog.activate': () => {
        this.watchdogArmed = true;
        return true;
      },
      'watchdog.disable': () => {
        this.watchdogArmed = false;
        return true;
      },
      'dcs.setSync': ({ value, expected }) => ok(store.setSync(value, expected)),
      'dcs.deleteSync': ({ expected }) => ok(store.deleteSync(expected)),
      'pg.setSyncStandbyNames': ({ value }) => {
        if (value !== this.pg.synchronousStandbyNames) this.world.trace(this.name, `synchronous_standby_names = ${value ?? '(none)'}`);
        this.pg.synchronousStandbyNames = value;
        return true;
      },
      'callback.run': () => true,
      'task.start': ({ task }) => this.#startTask(task),
      'peers.probe': ({ members }) => members.map(({ name }) => this.#probe(name)),
      // POST /failsafe: a peer that can be reached answers as the agent does, and remembers the primary.
      'peers.failsafe': ({ members, payload }) =>
        members.map(({ name }) => {
          const peer = this.world.node(name);
          if (!peer || !peer.apiAnswers() || !this.world.peersConnected(this, peer)) return { name, accepted: false, lsn: null };
          return { name, ...peer.receiveFailsafe(payload) };
        }),
      'dcs.writeFailsafe': ({ members }) => ok(store.writeFailsafe(members)),
      'watchdog.keepalive': () => true,
      'dcs.load': () => {
        this.view = store.loadCluster();
        return ok(this.view);
      },
      'dcs.acquireLeader': () => {
        const won = store.acquireLeader(this.name, this.#ttlMs());
        if (won) this.world.trace(this.name, 'took the leader lock');
        return ok(won);
      },
      'dcs.renewLeader': () => ok(store.renewLeader(this.name, this.#ttlMs())),
      'dcs.releaseLeader': () => {
        const released = store.releaseLeader(this.name);
        if (released) this.world.trace(this.name, 'released the leader lock');
        return ok(released);
      },
      'dcs.touchMember': ({ data }) => ok(store.touchMember(this.name, this.#ttlMs(), data)),
      'dcs.initialize': ({ create, sysid }) => ok(store.initialize(create, sysid)),
      'dcs.cancelInitialization': () => ok(store.cancelInitialization()),
      'dcs.setConfig': ({ data, expected }) => ok(store.setConfig(data, expected)),
      'dcs.clearFailover': ({ expected }) => ok(store.setFailover(null, expected)),
      'dcs.setHistory': ({ lines }) => ok(store.setHistory(lines)),
      'dcs.writeStatus': ({ status }) => ok(store.writeStatus(status)),
    };
  }

  #probe(name: string): PeerStatus {
    const peer = this.world.node(name);
    if (!peer || !peer.apiAnswers() || !this.world.peersConnected(this, peer)) {
      return { name, reachable: false, error: 'simulated: no answer' };
    }
    return peer.status();
  }

  /** `POST /failsafe` from a primary running without the DCS: remembered for this node's cycles, answered. */
  receiveFailsafe(payload: FailsafePayload): { accepted: boolean; lsn: number | null } {
    const answer = answerFailsafePost(this.pg.running ? this.pg.observe() : null);
    if (answer.accepted) this.#failsafeContact = { payload, receivedAt: this.localNow() };
    return answer.accepted ? { accepted: true, lsn: answer.lsn } : { accepted: false, lsn: null };
  }

  /** What `GET /patroni` of this node answers. */
  status(): PeerStatus {
    const pg = this.pg;
    const up = pg.running && pg.accepting;
    return {
      name: this.name,
      reachable: true,
      role: up ? pg.mode : (this.last?.role ?? 'uninitialized'),
      state: up ? 'running' : this.task ? 'starting' : (this.last?.state ?? 'stopped'),
      walPosition: up ? pg.lsn : 0,
      timeline: up ? pg.timeline : null,
      tags: this.settings.tags,
      watchdogFailed: false,
    };
  }

  #takeTask(): TaskState | null {
    if (this.task) return { kind: this.task.spec.kind, state: 'running', startedAt: this.task.startedAt };
    const finished = this.finishedTask;
    this.finishedTask = null;
    return finished;
  }

  #startTask(spec: TaskSpec): boolean {
    if (this.task) return false;
    if (!this.#inShutdown && spec.kind !== 'clone' && spec.kind !== 'bootstrap') {
      this.world.onAction(this, spec.kind === 'restart' && spec.installSlots ? 'task restart (copy logical slots)' : `task ${spec.kind}`);
    }
    const duration = this.#taskDuration(spec);
    const startedAt = this.localNow();
    this.task = { spec, startedAt, endsAt: this.world.scheduler.now() + duration };
    this.finishedTask = null;
    const source = 'source' in spec ? ` from ${spec.source.name}` : '';
    this.world.trace(this.name, `task ${spec.kind}${source} started (${duration} ms)`);
    // Work done at the start of the task, as the agent's runTask does it.
    if (spec.kind === 'reinitialize') {
      this.pg.stop('immediate');
      this.pg.wipe();
    } else if (spec.kind === 'restart' && !spec.installSlots) {
      // A slot copy stops postgres only once it has read the primary's slots (at the end, in #installSlots).
      this.pg.stop('fast');
    }
    const epoch = this.epoch;
    const task = this.task;
    this.world.scheduler.after(duration, () => {
      if (epoch !== this.epoch || this.task !== task) return;
      this.#finishTask(task);
    });
    return true;
  }

  #taskDuration(spec: TaskSpec): number {
    switch (spec.kind) {
      case 'bootstrap':
        return this.rng.int(3000, 8000);
      case 'clone':
      case 'reinitialize':
        return this.rng.int(5000, 20000);
      case 'rewind':
        return this.rng.int(1000, 4000);
      case 'start':
      case 'restart':
        return this.rng.int(500, 4000);
    }
  }

  #finishTask(task: RunningTask): void {
    const error = this.#completeTask(task.spec);
    this.task = null;
    this.finishedTask = error
      ? { kind: task.spec.kind, state: 'failed', startedAt: task.startedAt, error }
      : { kind: task.spec.kind, state: 'succeeded', startedAt: task.startedAt };
    this.world.trace(this.name, `task ${task.spec.kind} ${error ? `failed: ${error}` : 'succeeded'}`);
    this.wake();
  }

  /** Carries out the end of a task; returns an error message when it failed. */
  #completeTask(spec: TaskSpec): string | null {
    const pg = this.pg;
    const source = 'source' in spec ? this.#endpoint(spec.source.name) : null;
    const sourceReady = (): boolean => source !== null && this.#reachable(source);
    const startAs = (role: 'primary' | 'replica', upstream: string | null, bootstrap = false): string | null => {
      if (!pg.start(role, upstream)) return 'postgres did not start';
      // A bootstrap starts its primary before taking the lock (the initialize key is its claim).
      if (role === 'primary' && !bootstrap) this.world.afterBecamePrimary(this, 'started as primary');
      return null;
    };
    switch (spec.kind) {
      case 'bootstrap':
        pg.initdb(`7${String(this.world.nextBranchId()).padStart(18, '0')}`, this.world.nextBranchId());
        return startAs('primary', null, true);
      case 'clone':
      case 'reinitialize':
        if (!sourceReady() || !source) {
          pg.wipe();
          return `pg_basebackup from ${spec.source.name} failed: source not reachable`;
        }
        pg.wipe();
        pg.copyFrom(source.pg);
        return startAs('replica', spec.source.name);
      case 'rewind': {
        if (!sourceReady() || !source) return `could not connect to ${spec.source.name}`;
        if (pg.running) return 'target server must be shut down cleanly';
        const outcome = rewind(pg, source.pg);
        if (!outcome.ok) return outcome.error;
        this.world.trace(this.name, `pg_rewind: ${outcome.detail}`);
        return startAs('replica', spec.source.name);
      }
      case 'start':
      case 'restart':
        if (spec.kind === 'restart' && spec.installSlots) return this.#installSlots(spec.installSlots, spec.upstream?.name ?? null);
        if (pg.dataDirectory !== 'initialized') return 'no data directory';
        if (pg.running) return null;
        return startAs(spec.role, spec.upstream?.name ?? null);
    }
  }

  #abortTask(why: string): void {
    const task = this.task;
    if (!task) return;
    this.task = null;
    this.finishedTask = null;
    // An interrupted initdb or basebackup leaves nothing usable behind.
    if (task.spec.kind === 'bootstrap' || task.spec.kind === 'clone' || task.spec.kind === 'reinitialize') this.pg.wipe();
    this.world.trace(this.name, `task ${task.spec.kind} aborted (${why})`);
  }

  /** A clean shutdown of a primary waits until its walsenders sent all WAL to the standbys streaming from it. */
  #flushToStandbys(): void {
    const pg = this.pg;
    if (!pg.running || pg.mode !== 'primary' || pg.frozen) return;
    for (const node of this.world.nodes()) {
      const replica = node.pg;
      if (node === this || !replica.running || !replica.streaming || replica.frozen || replica.upstream !== this.name) continue;
      if (!this.world.peersConnected(this, node) || !canStream(replica, pg)) continue;
      const fromTimeline = replica.timeline ?? 0;
      replica.lsn = pg.lsn;
      replica.lineage = [...pg.lineage];
      replica.fetchHistoryFiles(pg, fromTimeline);
    }
  }

  /** A member's PostgreSQL or, by the name the core gives it, the standby cluster's remote primary. */
  #endpoint(name: string): Endpoint | null {
    if (name === REMOTE_UPSTREAM_NAME) {
      const remote = this.world.remote();
      return remote ? { pg: remote, node: null } : null;
    }
    const node = this.world.node(name);
    return node ? { pg: node.pg, node } : null;
  }

  /** The endpoint answers: its PostgreSQL runs and takes connections, and no partition lies between (the remote primary is always reachable). */
  #reachable(endpoint: Endpoint): boolean {
    const { pg, node } = endpoint;
    return pg.running && pg.accepting && !pg.frozen && (node === null || this.world.peersConnected(this, node));
  }

  /**
   * The agent's slot copy (`restart` with `installSlots`): read the permanent logical slots on the primary, then,
   * if it has any of them, stop, install them as they stand there (pg_replslot files) and start as a replica.
   */
  #installSlots(install: { readonly source: { readonly name: string }; readonly slots: readonly { readonly name: string }[] }, upstream: string | null): string | null {
    const pg = this.pg;
    const source = this.#endpoint(install.source.name);
    if (!source || !this.#reachable(source)) return `reading logical slots on ${install.source.name} failed: not reachable`;
    // The agent reads them only from a server out of recovery: a standby answers with none.
    const onPrimary = source.pg.mode === 'primary';
    const found = install.slots.map((spec) => [spec.name, source.pg.slots.get(spec.name)] as const).filter(([, slot]) => onPrimary && slot?.type === 'logical');
    if (!found.length) return null;
    if (pg.dataDirectory !== 'initialized') return 'no data directory';
    pg.stop('fast');
    for (const [name, slot] of found) if (slot) pg.slots.set(name, { ...slot });
    this.world.trace(this.name, `copied logical slots ${found.map(([name]) => name).join(', ')} from ${install.source.name}`);
    return pg.start('replica', upstream) ? null : 'postgres did not start';
  }

  /** pg_stat_replication on this node: the replicas streaming from it now, with the sync_state PostgreSQL reports. */
  /** pg_replication_slots: a physical slot is active while the member it is named after streams from here. */
  replicationSlots(): ReplicationSlot[] {
    const streamingHere = new Set(
      this.world
        .nodes()
        .filter((node) => node !== this && node.pg.running && node.pg.streaming && node.pg.upstream === this.name)
        .map((node) => slotNameForMember(node.name)),
    );
    return [...this.pg.slots].map(([name, slot]) => ({
      name,
      type: slot.type,
      database: slot.database,
      plugin: slot.plugin,
      active: slot.type === 'physical' && streamingHere.has(name),
      xmin: null,
      catalogXmin: null,
      restartLsn: slot.restartLsn,
      confirmedFlushLsn: slot.type === 'logical' ? slot.restartLsn : null,
      walStatus: 'reserved',
    }));
  }

  replicationRows(): ReplicationRow[] {
    const pg = this.pg;
    if (!pg.running || !pg.accepting || pg.mode !== 'primary') return [];
    const guc = parseSyncStandbyNames(pg.synchronousStandbyNames);
    return this.world
      .nodes()
      .filter((node) => node !== this && node.pg.streaming && node.pg.upstream === this.name && node.pg.running)
      .map((node) => ({
        usename: 'replicator',
        application_name: node.name,
        client_addr: null,
        state: 'streaming',
        sync_state: guc.members.has(node.name.toLowerCase()) ? (guc.quorum ? 'quorum' : 'sync') : 'async',
        sync_priority: 0,
        write_lsn: node.pg.lsn,
        flush_lsn: node.pg.lsn,
        replay_lsn: node.pg.lsn,
      }));
  }

  /** One replication step: a connected replica receives up to `bytes` from its upstream. */
  replicate(bytes: number): void {
    const pg = this.pg;
    if (!pg.running || !pg.accepting || pg.mode !== 'replica' || pg.frozen || !pg.upstream) {
      pg.streaming = false;
      return;
    }
    const upstream = this.#endpoint(pg.upstream);
    const connected = upstream !== null && upstream.node !== this && this.#reachable(upstream) && canStream(pg, upstream.pg);
    if (!connected || !upstream) {
      pg.streaming = false;
      return;
    }
    pg.streaming = true;
    const fromTimeline = pg.timeline ?? 0;
    pg.lsn = Math.min(upstream.pg.lsn, pg.lsn + bytes);
    pg.lineage = upstream.pg.lineage.filter((branch) => branch.start <= pg.lsn);
    pg.fetchHistoryFiles(upstream.pg, fromTimeline);
    // Streaming through its slot there: the walsender moves the slot's restart_lsn with the replica's feedback.
    const slot = upstream.pg.slots.get(slotNameForMember(this.name));
    if (slot?.type === 'physical') slot.restartLsn = pg.lsn;
  }
}
