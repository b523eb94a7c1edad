/**
 * Which callback fires for which event, with which role: the table in ha/callbacks.ts (Patroni 4.x), one
 * event per test, driven through whole cycles so the branches and the callback rules are tested together.
 */
import { describe, expect, it } from 'vitest';
import type { Cluster, Failover, Member } from '../model.js';
import { emptyCluster } from '../model.js';
import type { PostgresObservation } from '../postgres.js';
import type { Command, CycleResult, HaMemory, HaSettings } from './cycle.js';
import { INITIAL_MEMORY, haCycle } from './cycle.js';
import type { Effect, EffectHandlers, EffectKind, TaskState } from './effects.js';
import { interpret } from './effects.js';
import { shutdownSequence } from './shutdown.js';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const settings: HaSettings = {
  name: 'node1',
  scope: 'demo',
  tags: {},
  connUrl: 'postgres://127.0.0.1:5433/postgres',
  apiUrl: 'http://127.0.0.1:8009/patroni',
  patroniVersion: '4.1.4',
  bootstrapDynamicConfig: {},
  enforceTimingMinimums: true,
  removeDataDirectoryOnRewindFailure: false,
};

function pgObservation(overrides: Partial<PostgresObservation> = {}): PostgresObservation {
  return {
    dataDirectory: 'initialized',
    systemId: '1',
    controlState: 'in archive recovery',
    running: true,
    accepting: true,
    role: 'replica',
    timeline: 1,
    walPosition: 9000,
    receiveLsn: 9000,
    replayLsn: 9000,
    replicationState: 'streaming',
    upstream: null,
    standbySignal: true,
    postmasterStartTime: '2026-11-21 11:00:00+00',
    serverVersion: 150004,
    replication: [],
    pendingRestart: false,
    synchronousStandbyNames: null,
    ...overrides,
  };
}
const replica = pgObservation();
const primary = pgObservation({ role: 'primary', controlState: 'in production', standbySignal: false });
const stopped = pgObservation({ running: false, accepting: false, role: null, controlState: 'shut down in recovery' });
const stoppedPrimary = pgObservation({ running: false, accepting: false, role: null, controlState: 'shut down', standbySignal: false });
const empty = pgObservation({ dataDirectory: 'empty', systemId: null, running: false, accepting: false, role: null, controlState: null });

function member(name: string, port: number): Member {
  return { name, version: '1', data: { conn_url: `postgres://127.0.0.1:${port}/postgres`, api_url: `http://127.0.0.1:${port + 3000}/patroni`, state: 'running', role: 'replica', timeline: 1 } };
}
const members = [member('node0', 5432), member('node1', 5433), member('node2', 5434)];

function cluster(options: { leader?: string; failover?: Omit<Failover, 'version'>; initialize?: string | null; config?: Record<string, unknown> } = {}): Cluster {
  const base: Cluster = {
    ...emptyCluster(),
    initialize: options.initialize === undefined ? '1' : options.initialize,
    members,
    config: { version: '1', data: { ttl: 30, loop_wait: 10, retry_timeout: 10, postgresql: { use_pg_rewind: true }, ...options.config } },
    failover: options.failover ? { version: '42', ...options.failover } : null,
  };
  if (!options.leader) return base;
  return { ...base, leader: { name: options.leader, version: '7', member: members.find((m) => m.name === options.leader) ?? null } };
}

type Answers = Partial<{ [K in EffectKind]: (effect: Extract<Effect, { kind: K }>) => unknown }>;

function handlers(pg: PostgresObservation, state: Cluster | null, effects: Effect[], answers: Answers): EffectHandlers {
  const ok = { ok: true, value: true };
  const defaults: Record<EffectKind, unknown> = {
    'pg.observe': pg,
    'pg.promote': true,
    'pg.stop': true,
    'pg.follow': { changed: false, restarted: false },
    'pg.changeSlots': { failed: [], recopy: [] },
    'pg.timelineHistory': [],
    'dcs.load': state ? { ok: true, value: state } : { ok: false, error: 'etcd is down' },
    'dcs.acquireLeader': ok,
    'dcs.renewLeader': ok,
    'dcs.releaseLeader': ok,
    'dcs.touchMember': ok,
    'dcs.initialize': ok,
    'dcs.cancelInitialization': ok,
    'dcs.setConfig': ok,
    'dcs.clearFailover': ok,
    'dcs.setHistory': ok,
    'dcs.writeStatus': ok,
    'task.start': true,
    'callback.run': true,
    'pg.prePromote': true,
    'watchdog.activate': true,
    'dcs.setSync': { ok: true, value: '50' },
    'dcs.deleteSync': ok,
    'pg.setSyncStandbyNames': true,
    'watchdog.disable': true,
    'peers.probe': [],
    'peers.failsafe': [],
    'dcs.writeFailsafe': ok,
    'watchdog.keepalive': true,
  };
  return Object.fromEntries(
    (Object.keys(defaults) as EffectKind[]).map((kind) => [
      kind,
      (effect: Effect) => {
        effects.push(effect);
        const custom = answers[kind] as ((effect: Effect) => unknown) | undefined;
        return Promise.resolve(custom ? custom(effect) : defaults[kind]);
      },
    ]),
  ) as unknown as EffectHandlers;
}

function fired(effects: readonly Effect[]): string[] {
  return effects.flatMap((effect) => (effect.kind === 'callback.run' ? [`${effect.action} ${effect.role}`] : []));
}

/** One member over several cycles: memory carries over, each cycle reports the callbacks it fired. */
class Member1 {
  memory: HaMemory;
  now = NOW;
  last: CycleResult | null = null;
  constructor(memory: Partial<HaMemory> = {}) {
    this.memory = { ...INITIAL_MEMORY, lastDcsContact: NOW - 10_000, ...memory };
  }
  async cycle(
    pg: PostgresObservation,
    state: Cluster | null,
    options: { task?: TaskState | null; command?: Command; answers?: Answers } = {},
  ): Promise<{ callbacks: string[]; effects: Effect[]; result: CycleResult }> {
    const effects: Effect[] = [];
    const result = await interpret(
      haCycle({ settings, memory: this.memory, now: this.now, task: options.task ?? null, command: options.command ?? null }),
      handlers(pg, state, effects, options.answers ?? {}),
    );
    this.memory = result.memory;
    this.last = result;
    this.now += 10_000;
    return { callbacks: fired(effects), effects, result };
  }
}

/** A member that already announced itself (its first cycle is behind it). */
const settledMemory: Partial<HaMemory> = { callbacks: { fired: true, roleChangePending: false, task: null } };
const leading = (now: number): Partial<HaMemory> => ({ ...settledMemory, lockValidUntil: now + 10_000, lastRole: 'primary' });
const succeeded = (kind: TaskState['kind']): TaskState => ({ kind, state: 'succeeded', startedAt: NOW });
const failed = (kind: TaskState['kind']): TaskState => ({ kind, state: 'failed', startedAt: NOW, error: 'boom' });

describe('callbacks: start', () => {
  it('the first cycle with postgres already running announces on_start once', async () => {
    const node = new Member1();
    expect((await node.cycle(replica, cluster({ leader: 'node0' }))).callbacks).toEqual(['on_start replica']);
    expect((await node.cycle(replica, cluster({ leader: 'node0' }))).callbacks).toEqual([]);
  });

  it('no first-cycle on_start while the store cannot be read', async () => {
    const node = new Member1();
    expect((await node.cycle(replica, null)).callbacks).toEqual([]);
  });

  it('a bootstrap announces on_start primary once the new cluster holds the lock, nothing while it runs or when it fails', async () => {
    const node = new Member1();
    const started = await node.cycle(empty, cluster({ initialize: null }));
    expect(started.result.decision.reason).toBe('bootstrap_started');
    expect(started.callbacks).toEqual([]);
    expect((await node.cycle(empty, cluster({ initialize: '' }), { task: { kind: 'bootstrap', state: 'running', startedAt: NOW } })).callbacks).toEqual([]);
    const done = await node.cycle(primary, cluster({ initialize: '' }), { task: succeeded('bootstrap') });
    expect(done.result.decision.reason).toBe('bootstrap_succeeded');
    expect(done.callbacks).toEqual(['on_start primary']);
    expect((await node.cycle(primary, cluster({ leader: 'node1' }))).callbacks).toEqual([]);

    const other = new Member1();
    await other.cycle(empty, cluster({ initialize: null }));
    expect((await other.cycle(empty, cluster({ initialize: '' }), { task: failed('bootstrap') })).callbacks).toEqual([]);
  });

  it('a new replica (clone) announces on_start replica when it runs', async () => {
    const node = new Member1();
    expect((await node.cycle(empty, cluster({ leader: 'node0' }))).result.decision.reason).toBe('clone_started');
    expect((await node.cycle(replica, cluster({ leader: 'node0' }), { task: succeeded('clone') })).callbacks).toEqual(['on_start replica']);
  });

  it('a replica started after a crash announces on_start replica', async () => {
    const node = new Member1({ ...settledMemory, lastRole: 'replica' });
    const start = await node.cycle(stopped, cluster({ leader: 'node0' }));
    expect(start.result.decision.reason).toBe('starting_replica');
    expect(start.callbacks).toEqual([]);
    expect((await node.cycle(replica, cluster({ leader: 'node0' }), { task: succeeded('start') })).callbacks).toEqual(['on_start replica']);
  });

  it('a crashed primary restarted under its lock announces on_start primary', async () => {
    const node = new Member1(leading(NOW));
    const start = await node.cycle(stoppedPrimary, cluster({ leader: 'node1' }));
    expect(start.result.decision.reason).toBe('starting_primary');
    expect(start.callbacks).toEqual([]);
    expect((await node.cycle(primary, cluster({ leader: 'node1' }), { task: succeeded('start') })).callbacks).toEqual(['on_start primary']);
  });

  it('a lock holder whose primary does not start gives the role up: on_role_change demoted, later on_role_change replica', async () => {
    const node = new Member1(leading(NOW));
    await node.cycle(stoppedPrimary, cluster({ leader: 'node1' }));
    const failedStart = await node.cycle(stoppedPrimary, cluster({ leader: 'node1' }), { task: failed('start') });
    expect(failedStart.result.decision.reason).toBe('start_failed_released_lock');
    expect(failedStart.callbacks).toEqual(['on_role_change demoted']);
    await node.cycle(stoppedPrimary, cluster({ leader: 'node0' }));
    expect((await node.cycle(replica, cluster({ leader: 'node0' }), { task: succeeded('rewind') })).callbacks).toEqual(['on_role_change replica']);
  });
});

describe('callbacks: promotion and demotion', () => {
  it('promotion announces on_role_change primary only (no first-cycle on_start after it)', async () => {
    const node = new Member1();
    const race = await node.cycle(replica, cluster());
    expect(race.result.decision.reason).toBe('acquired_lock_promoting');
    expect(race.callbacks).toEqual(['on_role_change primary']);
    expect((await node.cycle(primary, cluster({ leader: 'node1' }))).callbacks).toEqual([]);
  });

  it('lock lost: on_stop primary at the stop, then on_role_change replica (not on_start) once it runs again after the rewind', async () => {
    const node = new Member1(leading(NOW));
    const lost = await node.cycle(primary, cluster({ leader: 'node1' }), { answers: { 'dcs.renewLeader': () => ({ ok: true, value: false }) } });
    expect(lost.result.decision.reason).toBe('lock_lost_demoted');
    expect(lost.callbacks).toEqual(['on_stop primary']);
    const rewind = await node.cycle(stoppedPrimary, cluster({ leader: 'node0' }));
    expect(rewind.result.decision.reason).toBe('rewind_started');
    expect(rewind.callbacks).toEqual([]);
    expect((await node.cycle(stoppedPrimary, cluster({ leader: 'node0' }), { task: { kind: 'rewind', state: 'running', startedAt: NOW } })).callbacks).toEqual([]);
    expect((await node.cycle(replica, cluster({ leader: 'node0' }), { task: succeeded('rewind') })).callbacks).toEqual(['on_role_change replica']);
    expect((await node.cycle(replica, cluster({ leader: 'node0' }))).callbacks).toEqual([]);
  });

  it('another member holds the lock while I run as primary: on_stop primary, later on_role_change replica', async () => {
    const node = new Member1({ ...settledMemory, lastRole: 'primary' });
    const demoted = await node.cycle(primary, cluster({ leader: 'node0' }));
    expect(demoted.result.decision.reason).toBe('demoted_other_leader');
    expect(demoted.callbacks).toEqual(['on_stop primary']);
    await node.cycle(stoppedPrimary, cluster({ leader: 'node0' }));
    expect((await node.cycle(replica, cluster({ leader: 'node0' }), { task: succeeded('rewind') })).callbacks).toEqual(['on_role_change replica']);
  });

  it('switchover: on_stop primary when the old primary stops, nothing while it waits, on_role_change replica once it follows', async () => {
    const node = new Member1(leading(NOW));
    const request = { leader: 'node1', candidate: 'node2', scheduledAt: null };
    const peers = { 'peers.probe': () => [{ name: 'node2', reachable: true, role: 'replica', state: 'running', walPosition: 9000, timeline: 1, tags: {}, watchdogFailed: false }] };
    const handover = await node.cycle(primary, cluster({ leader: 'node1', failover: request }), { answers: peers });
    expect(handover.result.decision.reason).toBe('switchover_demoted');
    expect(handover.callbacks).toEqual(['on_stop primary']);
    const wait = await node.cycle(stoppedPrimary, cluster({ failover: request }));
    expect(wait.result.decision.reason).toBe('waiting_for_switchover_candidate');
    expect(wait.callbacks).toEqual([]);
    await node.cycle(stoppedPrimary, cluster({ leader: 'node2' }));
    expect((await node.cycle(replica, cluster({ leader: 'node2' }), { task: succeeded('rewind') })).callbacks).toEqual(['on_role_change replica']);
  });

  it('demote-cluster: on_stop primary, on_role_change standby_leader, and nothing more when the standby leader runs', async () => {
    const node = new Member1(leading(NOW));
    const standby = cluster({ leader: 'node1', config: { standby_cluster: { host: '10.0.0.5', port: 5432 }, postgresql: { use_pg_rewind: false } } });
    const demote = await node.cycle(primary, standby);
    expect(demote.result.decision.reason).toBe('demoting_to_standby_cluster');
    expect(demote.callbacks).toEqual(['on_stop primary', 'on_role_change standby_leader']);
    expect((await node.cycle(replica, standby, { task: succeeded('start') })).callbacks).toEqual([]);
    expect((await node.cycle(replica, standby)).callbacks).toEqual([]);
  });

  it('a former primary whose start as replica fails still announces on_role_change replica', async () => {
    const node = new Member1({ ...settledMemory, lastRole: 'demoted', callbacks: { fired: true, roleChangePending: true, task: { action: 'on_start', role: 'replica' } } });
    expect((await node.cycle(stopped, cluster({ leader: 'node0' }), { task: failed('start') })).callbacks).toEqual(['on_role_change replica']);
    expect(node.memory.callbacks?.roleChangePending).toBe(false);
  });

  it('the store unreachable: offline demotion announces on_stop primary, then on_role_change replica when read-only postgres runs', async () => {
    const node = new Member1(leading(NOW));
    const offline = await node.cycle(primary, null);
    expect(offline.result.decision.reason).toBe('dcs_unreachable_demoted');
    expect(offline.callbacks).toEqual(['on_stop primary']);
    expect((await node.cycle(replica, null, { task: succeeded('start') })).callbacks).toEqual(['on_role_change replica']);
  });
});

describe('callbacks: restart, follow and reinitialize', () => {
  it('a restart announces on_restart only, when postgres runs again', async () => {
    const node = new Member1({ ...settledMemory, lastRole: 'replica' });
    const restart = await node.cycle(replica, cluster({ leader: 'node0' }), { command: { kind: 'restart' } });
    expect(restart.result.decision.reason).toBe('restart_started');
    expect(restart.callbacks).toEqual([]);
    expect((await node.cycle(replica, cluster({ leader: 'node0' }), { task: succeeded('restart') })).callbacks).toEqual(['on_restart replica']);
  });

  it('a primary restart announces on_restart primary; a failed one gives the role up', async () => {
    const node = new Member1(leading(NOW));
    await node.cycle(primary, cluster({ leader: 'node1' }), { command: { kind: 'restart' } });
    expect((await node.cycle(primary, cluster({ leader: 'node1' }), { task: succeeded('restart') })).callbacks).toEqual(['on_restart primary']);
    await node.cycle(primary, cluster({ leader: 'node1' }), { command: { kind: 'restart' } });
    expect((await node.cycle(stoppedPrimary, cluster({ leader: 'node1' }), { task: failed('restart') })).callbacks).toEqual(['on_role_change demoted']);
  });

  it('following a new leader: on_reload when the configuration was reloaded, on_restart when postgres restarted', async () => {
    const node = new Member1({ ...settledMemory, lastRole: 'replica' });
    const reload = await node.cycle(replica, cluster({ leader: 'node2' }), { answers: { 'pg.follow': () => ({ changed: true, restarted: false }) } });
    expect(reload.result.decision.reason).toBe('following_new_leader');
    expect(reload.callbacks).toEqual(['on_reload replica']);
    const restart = await node.cycle(replica, cluster({ leader: 'node2' }), { answers: { 'pg.follow': () => ({ changed: true, restarted: true }) } });
    expect(restart.callbacks).toEqual(['on_restart replica']);
    expect((await node.cycle(replica, cluster({ leader: 'node2' }))).callbacks).toEqual([]);
  });

  it('a replica stopped to rewind announces on_stop replica, then on_start replica', async () => {
    const node = new Member1({ ...settledMemory, lastRole: 'replica', rewindArmed: true });
    const leaderOnTl2: Cluster = { ...cluster({ leader: 'node0' }) };
    const withTimeline = { ...leaderOnTl2, leader: { ...leaderOnTl2.leader!, member: { ...members[0]!, data: { ...members[0]!.data, timeline: 2 } } } };
    const stop = await node.cycle(pgObservation({ replicationState: null }), withTimeline);
    expect(stop.result.decision.reason).toBe('stopping_for_rewind');
    expect(stop.callbacks).toEqual(['on_stop replica']);
    await node.cycle(stopped, withTimeline);
    expect((await node.cycle(replica, withTimeline, { task: succeeded('rewind') })).callbacks).toEqual(['on_start replica']);
  });

  it('a reinitialize announces on_stop replica when it starts and on_start replica when the new copy runs', async () => {
    const node = new Member1({ ...settledMemory, lastRole: 'replica' });
    const reinit = await node.cycle(replica, cluster({ leader: 'node0' }), { command: { kind: 'reinitialize', fromLeader: true } });
    expect(reinit.result.decision.reason).toBe('reinitialize_started');
    expect(reinit.callbacks).toEqual(['on_stop replica']);
    expect((await node.cycle(replica, cluster({ leader: 'node0' }), { task: succeeded('reinitialize') })).callbacks).toEqual(['on_start replica']);
  });

  it('a stop that failed announces nothing', async () => {
    const node = new Member1(leading(NOW));
    const lost = await node.cycle(primary, cluster({ leader: 'node1' }), {
      answers: { 'dcs.renewLeader': () => ({ ok: true, value: false }), 'pg.stop': () => false },
    });
    expect(lost.callbacks).toEqual([]);
  });
});

describe('callbacks: shutdown', () => {
  async function shutdown(pg: PostgresObservation, options: { paused?: boolean; memory?: Partial<HaMemory>; stop?: boolean } = {}) {
    const effects: Effect[] = [];
    await interpret(
      shutdownSequence({ memory: { ...INITIAL_MEMORY, ...options.memory }, now: NOW, paused: options.paused ?? false }),
      handlers(pg, cluster(), effects, { 'pg.stop': () => options.stop ?? true }),
    );
    return fired(effects);
  }

  it('announces on_stop with the role postgres had', async () => {
    expect(await shutdown(primary)).toEqual(['on_stop primary']);
    expect(await shutdown(replica)).toEqual(['on_stop replica']);
    expect(await shutdown(replica, { memory: { lastRole: 'standby_leader' } })).toEqual(['on_stop standby_leader']);
  });

  it('announces nothing when postgres was not running, did not stop, or the cluster is paused', async () => {
    expect(await shutdown(stopped)).toEqual([]);
    expect(await shutdown(primary, { stop: false })).toEqual([]);
    expect(await shutdown(primary, { paused: true })).toEqual([]);
  });
});
