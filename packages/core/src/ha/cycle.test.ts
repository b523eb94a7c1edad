import { describe, expect, it } from 'vitest';
import type { Cluster, Member, MemberData } from '../model.js';
import { emptyCluster } from '../model.js';
import type { PostgresObservation } from '../postgres.js';
import type { CycleInput, HaMemory, HaSettings } from './cycle.js';
import { INITIAL_MEMORY, haCycle, upstreamOf } from './cycle.js';
import type { Effect, EffectHandlers, EffectKind, PeerStatus, TaskState } from './effects.js';
import { interpret } from './effects.js';
import { shutdownSequence } from './shutdown.js';

const NOW = 1_700_000_000_000;

const settings: HaSettings = {
  name: 'node1',
  scope: 'demo',
  tags: {},
  connUrl: 'postgres://127.0.0.1:5433/postgres',
  apiUrl: 'http://127.0.0.1:8009/patroni',
  patroniVersion: '4.1.4',
  bootstrapDynamicConfig: { ttl: 30, loop_wait: 10, retry_timeout: 10, postgresql: { use_pg_rewind: true } },
  enforceTimingMinimums: true,
  removeDataDirectoryOnRewindFailure: false,
};

function pgObservation(overrides: Partial<PostgresObservation> = {}): PostgresObservation {
  return {
    dataDirectory: 'initialized',
    systemId: '7000000000000000001',
    controlState: 'in archive recovery',
    running: true,
    accepting: true,
    role: 'replica',
    timeline: 1,
    walPosition: 5000,
    receiveLsn: 5000,
    replayLsn: 5000,
    replicationState: 'streaming',
    upstream: null,
    standbySignal: true,
    postmasterStartTime: null,
    serverVersion: 150000,
    replication: [],
    pendingRestart: false,
    synchronousStandbyNames: null,
    ...overrides,
  };
}

function member(name: string, data: Partial<MemberData> = {}, port = 5432): Member {
  return {
    name,
    version: '1',
    data: {
      conn_url: `postgres://127.0.0.1:${port}/postgres`,
      api_url: `http://127.0.0.1:${port + 3000}/patroni`,
      state: 'running',
      role: 'replica',
      version: '4.1.4',
      ...data,
    },
  };
}

function clusterWith(overrides: Partial<Cluster> & { leaderName?: string } = {}): Cluster {
  const { leaderName, ...rest } = overrides;
  const base: Cluster = {
    ...emptyCluster(),
    initialize: '7000000000000000001',
    config: { version: '1', data: { ttl: 30, loop_wait: 10, retry_timeout: 10, postgresql: { use_pg_rewind: true } } },
    ...rest,
  };
  if (leaderName) {
    const leaderMember = base.members.find((candidate) => candidate.name === leaderName) ?? null;
    return { ...base, leader: { name: leaderName, version: '7', member: leaderMember } };
  }
  return base;
}

interface World {
  pg: PostgresObservation;
  /** Observation after PostgreSQL was acted on (stop, promote...). */
  pgAfter?: PostgresObservation;
  cluster: Cluster | { unreachable: string };
  answers?: Partial<{ [K in EffectKind]: (effect: Extract<Effect, { kind: K }>) => unknown }>;
}

function handlersFor(world: World, effects: Effect[]): EffectHandlers {
  let observations = 0;
  const answer = (effect: Effect, fallback: unknown): Promise<unknown> => {
    effects.push(effect);
    const custom = world.answers?.[effect.kind] as ((effect: Effect) => unknown) | undefined;
    return Promise.resolve(custom ? custom(effect) : fallback);
  };
  const ok = { ok: true, value: true };
  return {
    'pg.observe': (effect) => answer(effect, observations++ === 0 ? world.pg : (world.pgAfter ?? world.pg)),
    'pg.promote': (effect) => answer(effect, true),
    'pg.stop': (effect) => answer(effect, true),
    'pg.follow': (effect) => answer(effect, { changed: false, restarted: false }),
    'pg.changeSlots': (effect) => answer(effect, { failed: [], recopy: [] }),
    'pg.timelineHistory': (effect) => answer(effect, []),
    'dcs.load': (effect) =>
      answer(effect, 'unreachable' in world.cluster ? { ok: false, error: world.cluster.unreachable } : { ok: true, value: world.cluster }),
    'dcs.acquireLeader': (effect) => answer(effect, ok),
    'dcs.renewLeader': (effect) => answer(effect, ok),
    'dcs.releaseLeader': (effect) => answer(effect, ok),
    'dcs.touchMember': (effect) => answer(effect, ok),
    'dcs.initialize': (effect) => answer(effect, ok),
    'dcs.cancelInitialization': (effect) => answer(effect, ok),
    'dcs.setConfig': (effect) => answer(effect, ok),
    'dcs.clearFailover': (effect) => answer(effect, ok),
    'dcs.setHistory': (effect) => answer(effect, ok),
    'dcs.writeStatus': (effect) => answer(effect, ok),
    'task.start': (effect) => answer(effect, true),
    'callback.run': (effect) => answer(effect, true),
    'pg.prePromote': (effect) => answer(effect, true),
    'watchdog.activate': (effect) => answer(effect, true),
    'dcs.setSync': (effect) => answer(effect, { ok: true, value: '50' }),
    'dcs.deleteSync': (effect) => answer(effect, ok),
    'pg.setSyncStandbyNames': (effect) => answer(effect, true),
    'watchdog.disable': (effect) => answer(effect, true),
    'peers.probe': (effect) => answer(effect, []),
  } as EffectHandlers;
}

async function runCycle(world: World, input: Partial<CycleInput> = {}) {
  const effects: Effect[] = [];
  const result = await interpret(
    haCycle({ settings, memory: INITIAL_MEMORY, now: NOW, task: null, ...input }),
    handlersFor(world, effects),
  );
  return { result, effects, kinds: effects.map((effect) => effect.kind) };
}

function peer(name: string, walPosition: number, extra: Partial<Extract<PeerStatus, { reachable: true }>> = {}): PeerStatus {
  return { name, reachable: true, role: 'replica', state: 'running', walPosition, timeline: 1, tags: {}, watchdogFailed: false, ...extra };
}

const leaderMemory: HaMemory = { ...INITIAL_MEMORY, lockValidUntil: NOW + 10_000, lastDcsContact: NOW - 10_000 };

describe('bootstrap', () => {
  const empty = pgObservation({ dataDirectory: 'empty', systemId: null, controlState: null, running: false, accepting: false, role: null });

  it('wins the initialize race and starts a bootstrap task', async () => {
    const { result, effects } = await runCycle({ pg: empty, cluster: emptyCluster() });
    expect(result.decision.reason).toBe('bootstrap_started');
    expect(effects).toContainEqual({ kind: 'dcs.initialize', create: true, sysid: '' });
    expect(effects).toContainEqual({ kind: 'task.start', task: { kind: 'bootstrap' } });
  });

  it('waits when another member wins the initialize race', async () => {
    const { result, kinds } = await runCycle({
      pg: empty,
      cluster: emptyCluster(),
      answers: { 'dcs.initialize': () => ({ ok: true, value: false }) },
    });
    expect(result.decision.reason).toBe('bootstrap_lost_race');
    expect(kinds).not.toContain('task.start');
  });

  it('never bootstraps a nofailover member; it waits for a leader instead', async () => {
    const effects: Effect[] = [];
    const result = await interpret(
      haCycle({ settings: { ...settings, tags: { nofailover: true } }, memory: INITIAL_MEMORY, now: NOW, task: null }),
      handlersFor({ pg: empty, cluster: emptyCluster() }, effects),
    );
    expect(result.decision.reason).toBe('waiting_for_leader_to_bootstrap');
  });

  it('clones from the leader, or from a running clonefrom member when there is one', async () => {
    const leader = member('node0', { role: 'primary' }, 5432);
    const plain = await runCycle({ pg: empty, cluster: clusterWith({ members: [leader], leaderName: 'node0' }) });
    expect(plain.result.decision.reason).toBe('clone_started');
    expect(plain.effects).toContainEqual({ kind: 'task.start', task: { kind: 'clone', source: { name: 'node0', host: '127.0.0.1', port: 5432 } } });

    const donor = member('node2', { tags: { clonefrom: true } }, 5434);
    const preferred = await runCycle({ pg: empty, cluster: clusterWith({ members: [leader, donor], leaderName: 'node0' }) });
    expect(preferred.effects).toContainEqual({ kind: 'task.start', task: { kind: 'clone', source: { name: 'node2', host: '127.0.0.1', port: 5434 } } });
  });

  it('after a successful bootstrap records the system identifier, the config and takes the lock', async () => {
    const task: TaskState = { kind: 'bootstrap', state: 'succeeded', startedAt: NOW - 5000 };
    const primary = pgObservation({ role: 'primary', controlState: 'in production', standbySignal: false });
    const { result, effects } = await runCycle(
      { pg: primary, cluster: { ...emptyCluster(), initialize: '' } },
      { task },
    );
    expect(result.decision.reason).toBe('bootstrap_succeeded');
    expect(effects).toContainEqual({ kind: 'dcs.initialize', create: false, sysid: '7000000000000000001' });
    expect(effects.find((effect) => effect.kind === 'dcs.setConfig')).toMatchObject({ data: settings.bootstrapDynamicConfig, expected: null });
    expect(result.holdsLock).toBe(true);
  });

  it('a failed bootstrap gives the initialize key back', async () => {
    const task: TaskState = { kind: 'bootstrap', state: 'failed', startedAt: NOW, error: 'initdb: exit 1' };
    const { result, kinds } = await runCycle({ pg: pgObservation({ dataDirectory: 'empty', running: false }), cluster: { ...emptyCluster(), initialize: '' } }, { task });
    expect(result.decision.reason).toBe('bootstrap_failed');
    expect(kinds).toContain('dcs.cancelInitialization');
  });
});

describe('leader race', () => {
  const members = [member('node1', {}, 5433), member('node2', {}, 5434)];
  const unlocked = clusterWith({ members, status: { optime: 5000, slots: {}, retainSlots: [] } });

  it('a healthy replica that nobody is ahead of takes the lock and promotes', async () => {
    const { result, effects, kinds } = await runCycle({
      pg: pgObservation(),
      pgAfter: pgObservation({ role: 'primary', timeline: 2 }),
      cluster: unlocked,
      answers: { 'peers.probe': () => [peer('node2', 5000)] },
    });
    expect(result.decision.reason).toBe('acquired_lock_promoting');
    expect(effects).toContainEqual({ kind: 'peers.probe', members: [{ name: 'node2', apiUrl: 'http://127.0.0.1:8434/patroni' }] });
    expect(kinds.indexOf('dcs.acquireLeader')).toBeLessThan(kinds.indexOf('pg.promote'));
    expect(result.role).toBe('primary');
  });

  it.each([
    ['peer_ahead', [peer('node2', 6000)]],
    ['peer_is_primary', [peer('node2', 1000, { role: 'primary' })]],
    ['peer_preferred', [peer('node2', 5000, { tags: { failover_priority: 5 } })]],
  ] as const)('stays out when %s', async (reason, peers) => {
    const { result, kinds } = await runCycle({ pg: pgObservation(), cluster: unlocked, answers: { 'peers.probe': () => peers } });
    expect(result.decision.reason).toBe('not_candidate');
    expect(result.decision.ineligible).toBe(reason);
    expect(kinds).not.toContain('dcs.acquireLeader');
  });

  it('ignores unreachable and nofailover peers', async () => {
    const { result } = await runCycle({
      pg: pgObservation(),
      cluster: unlocked,
      answers: {
        'peers.probe': () => [
          { name: 'node2', reachable: false, error: 'timeout' },
          peer('node3', 9000, { tags: { nofailover: true } }),
        ],
      },
    });
    expect(result.decision.reason).toBe('acquired_lock_promoting');
  });

  it('stays out when lagging past maximum_lag_on_failover', async () => {
    const lagging = clusterWith({ members, status: { optime: 5000 + 2 * 1048576, slots: {}, retainSlots: [] } });
    const { result, kinds } = await runCycle({ pg: pgObservation(), cluster: lagging });
    expect(result.decision.ineligible).toBe('lagging');
    expect(kinds).not.toContain('peers.probe');
  });

  it('a nofailover member never races', async () => {
    const effects: Effect[] = [];
    const result = await interpret(
      haCycle({ settings: { ...settings, tags: { nofailover: 'true' } }, memory: INITIAL_MEMORY, now: NOW, task: null }),
      handlersFor({ pg: pgObservation(), cluster: unlocked }, effects),
    );
    expect(result.decision.ineligible).toBe('nofailover');
    expect(effects.map((effect) => effect.kind)).not.toContain('dcs.acquireLeader');
  });

  it('follows nobody after losing the race, and does not promote', async () => {
    const { result, kinds } = await runCycle({
      pg: pgObservation(),
      cluster: unlocked,
      answers: { 'dcs.acquireLeader': () => ({ ok: true, value: false }) },
    });
    expect(result.decision.reason).toBe('race_lost');
    expect(kinds).not.toContain('pg.promote');
  });

  it('a running primary takes the free lock without promoting, and clears a stale failover key', async () => {
    const cluster = { ...unlocked, failover: { version: '9', leader: 'node0', candidate: null, scheduledAt: null } };
    const { result, effects, kinds } = await runCycle({ pg: pgObservation({ role: 'primary' }), cluster });
    expect(result.decision.reason).toBe('acquired_lock_as_primary');
    expect(kinds).not.toContain('pg.promote');
    expect(effects).toContainEqual({ kind: 'dcs.clearFailover', expected: '9' });
  });
});

describe('holding the lock', () => {
  const members = [member('node1', { role: 'primary' }, 5433), member('node2', {}, 5434), member('node3', { tags: { nostream: true } }, 5435)];
  const locked = clusterWith({ members, leaderName: 'node1' });
  const primary = pgObservation({ role: 'primary', walPosition: 9000, controlState: 'in production', standbySignal: false, serverVersion: 150000, replicationSlots: [] });

  it('renews the lock, publishes the optime and keeps slots for streaming members', async () => {
    const { result, effects } = await runCycle({ pg: primary, cluster: locked }, { memory: leaderMemory });
    expect(result.decision.reason).toBe('leader_lock_renewed');
    expect(result.decision.message).toContain('the leader with the lock');
    // member_slots_ttl defaults to 30min: the leader publishes its own slot position and lists member slots to retain.
    expect(effects).toContainEqual({ kind: 'dcs.writeStatus', status: { optime: 9000, slots: { node1: 9000 }, retainSlots: ['node1'] } });
    expect(effects).toContainEqual({ kind: 'pg.changeSlots', changes: { drop: [], createPhysical: ['node2'], createLogical: [], advance: [] } });
    expect(result.holdsLock).toBe(true);
    expect(result.memory.lockValidUntil).toBe(NOW + 30_000);
  });

  it('demotes at once when the lock cannot be renewed', async () => {
    const { result, effects } = await runCycle(
      { pg: primary, cluster: locked, answers: { 'dcs.renewLeader': () => ({ ok: true, value: false }) } },
      { memory: leaderMemory },
    );
    expect(result.decision.reason).toBe('lock_lost_demoted');
    expect(effects).toContainEqual({ kind: 'pg.stop', mode: 'immediate' });
    expect(result.holdsLock).toBe(false);
    expect(result.memory.rewindArmed).toBe(true);
  });

  it('promotes a replica that holds the lock', async () => {
    const { result, kinds } = await runCycle({ pg: pgObservation(), cluster: locked }, { memory: leaderMemory });
    expect(result.decision.reason).toBe('promoted_holding_lock');
    expect(kinds).toContain('pg.promote');
  });

  it('records the timeline history after a promotion', async () => {
    const { effects } = await runCycle(
      {
        pg: { ...primary, timeline: 2 },
        cluster: locked,
        answers: { 'pg.timelineHistory': () => [[1, 50331808, 'no recovery target specified']] },
      },
      { memory: leaderMemory },
    );
    expect(effects).toContainEqual({
      kind: 'dcs.setHistory',
      lines: [[1, 50331808, 'no recovery target specified', new Date(NOW).toISOString(), 'node1']],
    });
  });

  it('restarts a crashed primary as primary while the lock holds', async () => {
    const crashed = pgObservation({ running: false, accepting: false, role: null, controlState: 'in production', standbySignal: false });
    const { result, effects } = await runCycle({ pg: crashed, cluster: locked }, { memory: leaderMemory });
    expect(result.decision.reason).toBe('starting_primary');
    expect(effects).toContainEqual({ kind: 'task.start', task: { kind: 'start', role: 'primary', upstream: null, timeout: 300 } });
  });

  it('keeps renewing during a long task', async () => {
    const task: TaskState = { kind: 'start', state: 'running', startedAt: NOW };
    const { result, kinds } = await runCycle({ pg: pgObservation({ running: false }), cluster: locked }, { memory: leaderMemory, task });
    expect(result.decision.reason).toBe('task_running_lock_renewed');
    expect(kinds).toContain('dcs.renewLeader');
    expect(result.state).toBe('starting');
  });

  it('releases the lock when a start as leader failed', async () => {
    const task: TaskState = { kind: 'start', state: 'failed', startedAt: NOW, error: 'timeout' };
    const { result, kinds } = await runCycle({ pg: pgObservation({ running: false }), cluster: locked }, { memory: leaderMemory, task });
    expect(result.decision.reason).toBe('start_failed_released_lock');
    expect(kinds).toContain('dcs.releaseLeader');
  });
});

describe('following', () => {
  const leader = member('node0', { role: 'primary', timeline: 2 }, 5432);
  const locked = clusterWith({ members: [leader, member('node1', {}, 5433)], leaderName: 'node0' });

  it('points a replica at the leader', async () => {
    const { result, effects } = await runCycle({
      pg: pgObservation(),
      cluster: locked,
      answers: { 'pg.follow': () => ({ changed: true, restarted: false }) },
    });
    expect(result.decision.reason).toBe('following_new_leader');
    expect(effects).toContainEqual({ kind: 'pg.follow', upstream: { name: 'node0', host: '127.0.0.1', port: 5432 } });
  });

  it('says it is following when nothing changes', async () => {
    const { result } = await runCycle({ pg: pgObservation({ timeline: 2 }), cluster: locked });
    expect(result.decision.reason).toBe('following_leader');
  });

  it('demotes a primary that does not hold the lock', async () => {
    const { result, effects } = await runCycle({ pg: pgObservation({ role: 'primary' }), cluster: locked });
    expect(result.decision.reason).toBe('demoted_other_leader');
    expect(effects).toContainEqual({ kind: 'pg.stop', mode: 'immediate' });
    expect(result.memory.rewindArmed).toBe(true);
  });

  it('rewinds a stopped former primary before following; without use_pg_rewind it starts following (diverged.test.ts)', async () => {
    const stopped = pgObservation({ running: false, accepting: false, role: null, controlState: 'in production', standbySignal: false });
    const rewind = await runCycle({ pg: stopped, cluster: locked });
    expect(rewind.result.decision.reason).toBe('rewind_started');
    expect(rewind.effects).toContainEqual({ kind: 'task.start', task: { kind: 'rewind', source: { name: 'node0', host: '127.0.0.1', port: 5432 } } });

    const noRewind = { ...locked, config: { version: '1', data: { postgresql: { use_pg_rewind: false } } } };
    const reinit = await runCycle({ pg: stopped, cluster: noRewind });
    expect(reinit.result.decision.reason).toBe('starting_replica');
  });

  it('starts a stopped replica following the leader', async () => {
    const stopped = pgObservation({ running: false, accepting: false, role: null, controlState: 'shut down in recovery' });
    const { result, effects } = await runCycle({ pg: stopped, cluster: locked });
    expect(result.decision.reason).toBe('starting_replica');
    expect(effects).toContainEqual({
      kind: 'task.start',
      task: { kind: 'start', role: 'replica', upstream: { name: 'node0', host: '127.0.0.1', port: 5432 }, timeout: 30 },
    });
  });

  it('stops a read-only former primary to rewind once the leader is on a newer timeline', async () => {
    const { result, effects } = await runCycle(
      { pg: pgObservation({ timeline: 1, replicationState: null }), cluster: locked },
      { memory: { ...INITIAL_MEMORY, rewindArmed: true } },
    );
    expect(result.decision.reason).toBe('stopping_for_rewind');
    expect(effects).toContainEqual({ kind: 'pg.stop', mode: 'fast' });
  });

  it('disarms the rewind check once streaming on the leader timeline', async () => {
    const { result } = await runCycle(
      { pg: pgObservation({ timeline: 2 }), cluster: locked },
      { memory: { ...INITIAL_MEMORY, rewindArmed: true } },
    );
    expect(result.memory.rewindArmed).toBe(false);
  });
});

describe('regressions found by the simulator', () => {
  const leader = member('node0', { role: 'primary', timeline: 2 }, 5432);
  const withHistory = (switchLsn: number) =>
    clusterWith({
      members: [leader, member('node1', {}, 5433)],
      leaderName: 'node0',
      history: { version: '3', lines: [[1, switchLsn, 'no recovery target specified']] },
    });

  // Seeds 104 and 114: a replica that replayed past the new leader's switch point followed forever.
  it('stops a replica that replayed past the switch point, to rewind it, once seen on two cycles in a row', async () => {
    const diverged = pgObservation({ timeline: 1, replayLsn: 6000, replicationState: null });
    const first = await runCycle({ pg: diverged, cluster: withHistory(5500) });
    // A replica reconnecting to the new leader looks the same for a moment: the first sighting only follows.
    expect(first.result.decision.reason).not.toBe('stopping_for_rewind');
    expect(first.effects).not.toContainEqual({ kind: 'pg.stop', mode: 'fast' });
    expect(first.result.memory.divergenceSuspectedOn).toBe(2);
    const { result, effects } = await runCycle({ pg: diverged, cluster: withHistory(5500) }, { memory: first.result.memory });
    expect(result.decision.reason).toBe('stopping_for_rewind');
    expect(effects).toContainEqual({ kind: 'pg.stop', mode: 'fast' });
    expect(result.memory.rewindArmed).toBe(true);
  });

  it('leaves a replica alone that was only reconnecting: streaming on the next cycle clears the suspicion', async () => {
    const reconnecting = pgObservation({ timeline: 1, replayLsn: 6000, replicationState: null });
    const first = await runCycle({ pg: reconnecting, cluster: withHistory(5500) });
    expect(first.result.memory.divergenceSuspectedOn).toBe(2);
    const streaming = pgObservation({ timeline: 2, replayLsn: 6100, replicationState: 'streaming' });
    const second = await runCycle({ pg: streaming, cluster: withHistory(5500) }, { memory: first.result.memory });
    expect(second.result.decision.reason).toBe('following_leader');
    expect(second.effects).not.toContainEqual({ kind: 'pg.stop', mode: 'fast' });
    expect(second.result.memory.divergenceSuspectedOn).toBeNull();
  });

  it('does not count WAL received but not replayed past the switch point', async () => {
    const { result } = await runCycle({ pg: pgObservation({ timeline: 1, receiveLsn: 6000, walPosition: 6000, replayLsn: 5500, replicationState: null }), cluster: withHistory(5500) });
    expect(result.decision.reason).toBe('following_leader');
  });

  it('lets a replica behind the switch point catch up by streaming', async () => {
    const { result } = await runCycle({ pg: pgObservation({ timeline: 1, walPosition: 4000, receiveLsn: 4000, replayLsn: 4000, replicationState: null }), cluster: withHistory(5500) });
    expect(result.decision.reason).toBe('following_leader');
  });

  // Seeds 68, 76, 152, 167: a primary cut off from the DCS while paused lost its member key; after resume a
  // replica promoted without asking it. The race also asks the members seen while the cluster had a leader.
  it('asks members remembered from the last leader, not only those with a key', async () => {
    const memory = { ...INITIAL_MEMORY, knownMembers: [{ name: 'node2', apiUrl: 'http://127.0.0.1:8434/patroni' }] };
    const { result, effects } = await runCycle(
      { pg: pgObservation(), cluster: clusterWith({ members: [member('node1', {}, 5433)] }), answers: { 'peers.probe': () => [peer('node2', 100, { role: 'primary' })] } },
      { memory },
    );
    expect(effects).toContainEqual({ kind: 'peers.probe', members: [{ name: 'node2', apiUrl: 'http://127.0.0.1:8434/patroni' }] });
    expect(result.decision.ineligible).toBe('peer_is_primary');
  });

  it('remembers the members while a leader exists', async () => {
    const leader = member('node0', { role: 'primary' }, 5432);
    const { result } = await runCycle({ pg: pgObservation(), cluster: clusterWith({ members: [leader, member('node1', {}, 5433)], leaderName: 'node0' }) });
    expect(result.memory.knownMembers.map((known) => known.name)).toEqual(['node0', 'node1']);
  });

  // Seed 6: an open switchover (no candidate) promoted a replica 12.5 MB behind.
  it('keeps the lag check in the race after an open switchover', async () => {
    const lagging = {
      ...clusterWith({ members: [member('node1', {}, 5433), member('node2', {}, 5434)], status: { optime: 5000 + 2 * 1048576, slots: {}, retainSlots: [] } }),
      failover: { version: '9', leader: 'node0', candidate: null, scheduledAt: null },
    };
    const { result, kinds } = await runCycle({ pg: pgObservation(), cluster: lagging });
    expect(result.decision.ineligible).toBe('lagging');
    expect(kinds).not.toContain('dcs.acquireLeader');
  });
});

describe('the store is unreachable', () => {
  const primary = pgObservation({ role: 'primary' });

  // Regression (simulator seed 137): the failed read itself takes retry_timeout, so waiting for a second
  // failure left the primary writable past its lease while a replica took the lock.
  it('a primary demotes to read-only on the first failed read, however recent the last answer', async () => {
    const { result, kinds } = await runCycle(
      { pg: primary, cluster: { unreachable: 'connect ECONNREFUSED' } },
      { memory: { ...leaderMemory, lastDcsContact: NOW - 2_000 } },
    );
    expect(result.decision.reason).toBe('dcs_unreachable_demoted');
    expect(kinds).toContain('pg.stop');
    expect(kinds).not.toContain('dcs.touchMember');
  });

  it('a primary demotes to read-only past retry_timeout', async () => {
    const { result, effects } = await runCycle(
      { pg: primary, cluster: { unreachable: 'deadline exceeded' } },
      { memory: { ...leaderMemory, lastDcsContact: NOW - 11_000 } },
    );
    expect(result.decision.reason).toBe('dcs_unreachable_demoted');
    expect(effects).toContainEqual({ kind: 'pg.stop', mode: 'fast' });
    expect(effects).toContainEqual({ kind: 'task.start', task: { kind: 'start', role: 'replica', upstream: null, timeout: 30 } });
    expect(result.holdsLock).toBe(false);
  });

  it('a replica only reports', async () => {
    const { result, kinds } = await runCycle({ pg: pgObservation(), cluster: { unreachable: 'timeout' } });
    expect(result.decision.reason).toBe('dcs_unreachable');
    expect(kinds).toEqual(['pg.observe', 'dcs.load']);
  });
});

describe('member data and sanity checks', () => {
  it('publishes Patroni member fields', async () => {
    const leader = member('node0', { role: 'primary' }, 5432);
    const { effects } = await runCycle({
      pg: pgObservation({ receiveLsn: 7000, replayLsn: 6000 }),
      cluster: clusterWith({ members: [leader], leaderName: 'node0' }),
    });
    const touch = effects.find((effect) => effect.kind === 'dcs.touchMember');
    expect(touch).toEqual({
      kind: 'dcs.touchMember',
      data: {
        conn_url: 'postgres://127.0.0.1:5433/postgres',
        api_url: 'http://127.0.0.1:8009/patroni',
        state: 'running',
        role: 'replica',
        version: '4.1.4',
        xlog_location: 7000,
        receive_lsn: 7000,
        replay_lsn: 6000,
        replication_state: 'streaming',
        timeline: 1,
      },
    });
  });

  it('refuses to act on a data directory of another cluster', async () => {
    const { result, kinds } = await runCycle({ pg: pgObservation({ systemId: '42' }), cluster: clusterWith() });
    expect(result.decision.reason).toBe('system_id_mismatch');
    expect(kinds).not.toContain('dcs.acquireLeader');
  });

  it('adopts a running primary of a cluster without initialize key', async () => {
    const { effects } = await runCycle({ pg: pgObservation({ role: 'primary' }), cluster: { ...emptyCluster() } });
    expect(effects).toContainEqual({ kind: 'dcs.initialize', create: true, sysid: '7000000000000000001' });
  });

  it('parses upstreams from conn_url', () => {
    expect(upstreamOf(member('a', { conn_url: 'postgres://[::1]:6432/postgres' }))).toEqual({ name: 'a', host: '::1', port: 6432 });
    expect(upstreamOf(member('a', { conn_url: 'not a url' }))).toBeNull();
  });
});

describe('graceful stop', () => {
  it('stops postgres before releasing the lock', async () => {
    const effects: Effect[] = [];
    const result = await interpret(
      shutdownSequence({ memory: leaderMemory, now: NOW, paused: false }),
      handlersFor({ pg: pgObservation({ role: 'primary' }), cluster: clusterWith() }, effects),
    );
    expect(effects.map((effect) => effect.kind)).toEqual(['pg.observe', 'pg.stop', 'callback.run', 'dcs.releaseLeader']);
    expect(result.reason).toBe('shutdown_released_lock');
  });

  it('keeps the lock when postgres does not stop', async () => {
    const effects: Effect[] = [];
    const result = await interpret(
      shutdownSequence({ memory: leaderMemory, now: NOW, paused: false }),
      handlersFor({ pg: pgObservation({ role: 'primary' }), cluster: clusterWith(), answers: { 'pg.stop': () => false } }, effects),
    );
    expect(effects.map((effect) => effect.kind)).not.toContain('dcs.releaseLeader');
    expect(result.reason).toBe('shutdown_kept_lock');
  });
});
