import { describe, expect, it } from 'vitest';
import type { Cluster, Member, MemberData } from '../model.js';
import { emptyCluster } from '../model.js';
import type { PostgresObservation } from '../postgres.js';
import type { CycleResult, HaMemory, HaSettings } from './cycle.js';
import { INITIAL_MEMORY, haCycle } from './cycle.js';
import type { Effect } from './effects.js';
import { cascadingReplicasOf, nodeToFollow, remoteUpstream, standbyClusterOf } from './standby-cluster.js';

const NOW = 1_700_000_000_000;
const TIMING = { ttl: 30, loop_wait: 10, retry_timeout: 10 };
const STANDBY = { host: '10.0.0.5', port: 5433, restore_command: 'cp /archive/%f %p', recovery_min_apply_delay: '5min' };

const settings: HaSettings = {
  name: 'b1',
  scope: 'b',
  tags: {},
  connUrl: 'postgres://127.0.0.1:6001/postgres',
  apiUrl: 'http://127.0.0.1:9001/patroni',
  patroniVersion: '4.1.4',
  bootstrapDynamicConfig: { ...TIMING },
  enforceTimingMinimums: true,
  removeDataDirectoryOnRewindFailure: false,
};

function pg(overrides: Partial<PostgresObservation> = {}): PostgresObservation {
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

function member(name: string, port: number, data: Partial<MemberData> = {}): Member {
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

function cluster(config: Record<string, unknown>, members: Member[], leaderName: string | null, initialize: string | null = '7000000000000000001'): Cluster {
  const base: Cluster = { ...emptyCluster(), initialize, config: { version: '3', data: { ...TIMING, ...config } }, members };
  if (!leaderName) return base;
  return { ...base, leader: { name: leaderName, version: '9', member: members.find((m) => m.name === leaderName) ?? null } };
}

/** Runs one cycle with scripted answers; every effect not answered gets a plain success. */
function run(options: {
  pg: PostgresObservation;
  pgAfter?: PostgresObservation;
  cluster: Cluster;
  memory?: Partial<HaMemory>;
  tags?: Record<string, string>;
  follow?: { changed: boolean; restarted: boolean };
}): { result: CycleResult; effects: Effect[] } {
  const effects: Effect[] = [];
  const cycle = haCycle({
    settings: { ...settings, tags: options.tags ?? {} },
    memory: { ...INITIAL_MEMORY, ...options.memory },
    now: NOW,
    task: null,
  });
  let observed = 0;
  let step = cycle.next();
  while (!step.done) {
    const effect = step.value;
    effects.push(effect);
    let answer: unknown;
    switch (effect.kind) {
      case 'pg.observe':
        answer = observed++ === 0 ? options.pg : (options.pgAfter ?? options.pg);
        break;
      case 'dcs.load':
        answer = { ok: true, value: options.cluster };
        break;
      case 'pg.follow':
        answer = options.follow ?? { changed: false, restarted: false };
        break;
      case 'peers.probe':
        answer = [];
        break;
      case 'pg.timelineHistory':
        answer = [];
        break;
      case 'dcs.setSync':
        answer = { ok: true, value: '1' };
        break;
      default:
        answer = effect.kind.startsWith('dcs.') ? { ok: true, value: true } : true;
    }
    step = cycle.next(answer);
  }
  return { result: step.value, effects };
}

function only<K extends Effect['kind']>(effects: Effect[], kind: K): Array<Extract<Effect, { kind: K }>> {
  return effects.filter((effect): effect is Extract<Effect, { kind: K }> => effect.kind === kind);
}

describe('standbyClusterOf', () => {
  it('reads the section, and needs a host, a port or a restore_command', () => {
    expect(standbyClusterOf({ standby_cluster: { ...STANDBY, primary_slot_name: 'b_slot', create_replica_methods: ['basebackup'] } })).toEqual({
      host: '10.0.0.5',
      port: 5433,
      primarySlotName: 'b_slot',
      restoreCommand: 'cp /archive/%f %p',
      archiveCleanupCommand: null,
      recoveryMinApplyDelay: '5min',
      createReplicaMethods: ['basebackup'],
    });
    expect(standbyClusterOf({ standby_cluster: { primary_slot_name: 'x' } })).toBeNull();
    expect(standbyClusterOf({ standby_cluster: null })).toBeNull();
    expect(standbyClusterOf({})).toBeNull();
    expect(standbyClusterOf({ standby_cluster: { port: '5433' } })?.port).toBe(5433);
  });

  it('gives the remote primary no slot unless primary_slot_name is set', () => {
    expect(remoteUpstream(standbyClusterOf({ standby_cluster: { host: 'a' } })!)).toEqual({ name: 'remote_member', host: 'a', port: 5432, slotName: null });
    expect(remoteUpstream(standbyClusterOf({ standby_cluster: { host: 'a', primary_slot_name: 's' } })!).slotName).toBe('s');
  });
});

describe('nodeToFollow', () => {
  const leader = member('a1', 6001, { role: 'primary' });
  const r1 = member('a2', 6002, { replication_state: 'streaming' });
  const base = { name: 'a3', paused: false, standby: null };

  it('follows the replicatefrom member while it runs and streams', () => {
    const target = nodeToFollow({ ...base, cluster: cluster({}, [leader, r1], 'a1'), tags: { replicatefrom: 'a2' } });
    expect(target).toEqual({ kind: 'upstream', upstream: { name: 'a2', host: '127.0.0.1', port: 6002 }, why: 'replicatefrom' });
  });

  it('falls back to the leader when the replicatefrom member is missing, stopped or not streaming', () => {
    for (const members of [[leader], [leader, member('a2', 6002, { state: 'stopped' })], [leader, member('a2', 6002, { replication_state: 'in archive recovery' })]]) {
      const target = nodeToFollow({ ...base, cluster: cluster({}, members, 'a1'), tags: { replicatefrom: 'a2' } });
      expect(target).toMatchObject({ kind: 'upstream', upstream: { name: 'a1' }, why: 'replicatefrom_fallback' });
    }
  });

  it('does not stream at all with nostream', () => {
    expect(nodeToFollow({ ...base, cluster: cluster({}, [leader], 'a1'), tags: { nostream: 'true', replicatefrom: 'a1' } })).toEqual({
      kind: 'upstream',
      upstream: null,
      why: 'nostream',
    });
  });

  it('points the standby leader at the remote primary and the other members at the standby leader with the recovery settings', () => {
    const standby = standbyClusterOf({ standby_cluster: STANDBY });
    const b = cluster({ standby_cluster: STANDBY }, [member('b1', 6001), member('b2', 6002)], 'b1');
    expect(nodeToFollow({ cluster: b, name: 'b1', tags: {}, standby, paused: false })).toMatchObject({
      upstream: { host: '10.0.0.5', port: 5433, slotName: null, restoreCommand: 'cp /archive/%f %p', recoveryMinApplyDelay: '5min' },
      why: 'remote_primary',
    });
    expect(nodeToFollow({ cluster: b, name: 'b2', tags: {}, standby, paused: false })).toMatchObject({
      upstream: { name: 'b1', port: 6001, restoreCommand: 'cp /archive/%f %p', recoveryMinApplyDelay: '5min' },
      why: 'leader',
    });
  });

  it('names the members that stream from a cascading replica', () => {
    const c = cluster({}, [leader, r1, member('a3', 6003, { tags: { replicatefrom: 'a2' } }), member('a4', 6004, { tags: { replicatefrom: 'a2', nostream: true } })], 'a1');
    expect(cascadingReplicasOf(c, 'a2')).toEqual(['a3']);
    expect(cascadingReplicasOf(c, 'a1')).toEqual([]);
  });
});

describe('the HA cycle in a standby cluster', () => {
  const standbyConfig = { standby_cluster: STANDBY };

  it('the lock holder follows the remote primary, never promotes, and publishes itself as standby_leader', () => {
    const b = cluster(standbyConfig, [member('b1', 6001), member('b2', 6002)], 'b1');
    const { result, effects } = run({ pg: pg(), cluster: b, memory: { lastRole: 'standby_leader' } });
    expect(result.decision.reason).toBe('standby_leader_lock_renewed');
    expect(only(effects, 'pg.promote')).toEqual([]);
    expect(only(effects, 'pg.follow')[0]?.upstream).toMatchObject({ host: '10.0.0.5', port: 5433, slotName: null });
    expect(only(effects, 'dcs.touchMember')[0]?.data.role).toBe('standby_leader');
    expect(result.role).toBe('standby_leader');
    // It keeps its replicas' slots and the status key like a primary.
    expect(only(effects, 'dcs.writeStatus')).toHaveLength(1);
  });

  it('acquires the free lock as standby leader instead of promoting', () => {
    const b = cluster(standbyConfig, [member('b1', 6001)], null);
    const { result, effects } = run({ pg: pg(), cluster: b });
    expect(only(effects, 'dcs.acquireLeader')).toHaveLength(1);
    expect(only(effects, 'pg.promote')).toEqual([]);
    expect(result.decision.reason).toBe('standby_leader_following_remote');
    expect(only(effects, 'callback.run')).toEqual([{ kind: 'callback.run', action: 'on_role_change', role: 'standby_leader' }]);
    expect(result.role).toBe('standby_leader');
  });

  it('demotes a running primary into a standby leader, keeping the lock (demote-cluster)', () => {
    const a = cluster(standbyConfig, [member('b1', 6001, { role: 'primary' })], 'b1');
    const primary = pg({ role: 'primary', controlState: 'in production', standbySignal: false, replicationState: null });
    const { result, effects } = run({ pg: primary, pgAfter: pg({ running: false, accepting: false, role: null }), cluster: a, memory: { lastRole: 'primary' } });
    expect(result.decision.reason).toBe('demoting_to_standby_cluster');
    expect(only(effects, 'pg.stop')).toEqual([{ kind: 'pg.stop', mode: 'fast' }]);
    expect(only(effects, 'task.start')[0]?.task).toMatchObject({ kind: 'start', role: 'replica', upstream: { host: '10.0.0.5', port: 5433 } });
    expect(only(effects, 'dcs.releaseLeader')).toEqual([]);
    expect(result.holdsLock).toBe(true);
  });

  it('with use_pg_rewind, rewinds a demoted primary onto the remote primary before following it', () => {
    const a = cluster({ ...standbyConfig, postgresql: { use_pg_rewind: true } }, [member('b1', 6001, { role: 'primary' })], 'b1');
    const primary = pg({ role: 'primary', controlState: 'in production', standbySignal: false, replicationState: null });
    const { result, effects } = run({ pg: primary, pgAfter: pg({ running: false, accepting: false, role: null }), cluster: a, memory: { lastRole: 'primary' } });
    expect(result.decision.reason).toBe('demoting_to_standby_cluster');
    expect(only(effects, 'pg.stop')).toEqual([{ kind: 'pg.stop', mode: 'fast' }]);
    expect(only(effects, 'task.start').map((effect) => effect.task)).toEqual([
      { kind: 'rewind', source: expect.objectContaining({ name: 'remote_member', host: '10.0.0.5', port: 5433, slotName: null }) },
    ]);
    expect(result.memory.rewindArmed).toBe(true);
    expect(result.holdsLock).toBe(true);
  });

  it('a stopped former primary leading the standby cluster rewinds from the remote primary before it starts', () => {
    const a = cluster({ ...standbyConfig, postgresql: { use_pg_rewind: true } }, [member('b1', 6001)], 'b1');
    const down = pg({ running: false, accepting: false, role: null, controlState: 'shut down', standbySignal: false });
    const { result, effects } = run({ pg: down, cluster: a, memory: { lastRole: 'standby_leader' } });
    expect(result.decision.reason).toBe('rewind_started');
    expect(only(effects, 'task.start')[0]?.task).toMatchObject({ kind: 'rewind', source: { name: 'remote_member', host: '10.0.0.5' } });
    expect(only(effects, 'dcs.releaseLeader')).toEqual([]);
    expect(result.holdsLock).toBe(true);
  });

  it('a standby leader whose rewind failed never reinitializes from itself', () => {
    const a = cluster({ ...standbyConfig, postgresql: { use_pg_rewind: true } }, [member('b1', 6001)], 'b1');
    const down = pg({ running: false, accepting: false, role: null, controlState: 'shut down', standbySignal: false });
    const effects: Effect[] = [];
    const cycle = haCycle({
      settings: { ...settings, removeDataDirectoryOnRewindFailure: true },
      memory: { ...INITIAL_MEMORY, lastRole: 'standby_leader', lockValidUntil: NOW + 30_000 },
      now: NOW,
      task: { kind: 'rewind', state: 'failed', startedAt: NOW - 5_000, error: 'could not connect to the source server' },
    });
    let step = cycle.next();
    while (!step.done) {
      effects.push(step.value);
      const kind = step.value.kind;
      const answer = kind === 'pg.observe' ? down : kind === 'dcs.load' ? { ok: true, value: a } : kind === 'peers.probe' ? [] : kind.startsWith('dcs.') ? { ok: true, value: true } : true;
      step = cycle.next(answer);
    }
    expect(step.value.decision.reason).toBe('rewind_failed');
    expect(only(effects, 'task.start')).toEqual([]);
    expect(step.value.memory.rewindArmed).toBe(true);
  });

  it('promotes when standby_cluster is removed from the config', () => {
    const b = cluster({ standby_cluster: null }, [member('b1', 6001, { role: 'standby_leader' })], 'b1');
    const { result, effects } = run({ pg: pg(), pgAfter: pg({ role: 'primary' }), cluster: b, memory: { lastRole: 'standby_leader' } });
    expect(result.decision.reason).toBe('standby_cluster_promoted');
    expect(only(effects, 'pg.promote')).toHaveLength(1);
  });

  it('a stopped standby leader starts in recovery following the remote primary, never as primary', () => {
    const b = cluster(standbyConfig, [member('b1', 6001)], 'b1');
    const down = pg({ running: false, accepting: false, role: null, controlState: 'in production', standbySignal: false });
    const { effects } = run({ pg: down, cluster: b, memory: { lastRole: 'standby_leader' } });
    expect(only(effects, 'task.start')[0]?.task).toMatchObject({ kind: 'start', role: 'replica', upstream: { host: '10.0.0.5' } });
  });

  it('the initialize race winner clones the remote primary instead of running initdb', () => {
    const empty = cluster(standbyConfig, [], null, null);
    const { result, effects } = run({ pg: pg({ dataDirectory: 'empty', running: false, accepting: false, role: null, systemId: null }), cluster: empty });
    expect(result.decision.reason).toBe('standby_bootstrap_started');
    expect(only(effects, 'task.start')[0]?.task).toMatchObject({ kind: 'clone', source: { name: 'remote_member', host: '10.0.0.5', port: 5433 } });
  });

  it('clones with the standby cluster’s own create_replica_methods when it lists them', () => {
    const empty = cluster({ standby_cluster: { ...STANDBY, create_replica_methods: ['pgbackrest', 'basebackup'] } }, [], null, null);
    const { effects } = run({ pg: pg({ dataDirectory: 'empty', running: false, accepting: false, role: null, systemId: null }), cluster: empty });
    expect(only(effects, 'task.start')[0]?.task).toMatchObject({ kind: 'clone', methods: ['pgbackrest', 'basebackup'] });
  });

  it('a replica of the standby cluster follows the standby leader with the restore_command', () => {
    const b = cluster(standbyConfig, [member('b2', 6002, { role: 'standby_leader' }), member('b1', 6001)], 'b2');
    const { result, effects } = run({ pg: pg(), cluster: b });
    expect(result.decision.reason).toBe('following_leader');
    expect(result.decision.message).toContain('standby leader');
    expect(only(effects, 'pg.follow')[0]?.upstream).toMatchObject({ name: 'b2', port: 6002, restoreCommand: 'cp /archive/%f %p' });
    expect(only(effects, 'dcs.touchMember')[0]?.data.role).toBe('replica');
  });
});

describe('the HA cycle with cascading tags', () => {
  const a = cluster({}, [member('a1', 6001, { role: 'primary' }), member('a2', 6002, { replication_state: 'streaming' })], 'a1');

  it('a replica tagged replicatefrom streams from that member', () => {
    const { result, effects } = run({ pg: pg(), cluster: a, tags: { replicatefrom: 'a2' }, follow: { changed: true, restarted: false } });
    expect(only(effects, 'pg.follow')[0]?.upstream).toEqual({ name: 'a2', host: '127.0.0.1', port: 6002 });
    expect(result.decision.reason).toBe('following_new_leader');
    expect(result.decision.message).toContain('replicatefrom');
  });

  it('a nostream replica gets no upstream', () => {
    const { effects } = run({ pg: pg(), cluster: a, tags: { nostream: 'on' } });
    expect(only(effects, 'pg.follow')[0]?.upstream).toBeNull();
  });

  it('a stopped replica tagged replicatefrom starts following that member', () => {
    const { effects } = run({ pg: pg({ running: false, accepting: false, role: null }), cluster: a, tags: { replicatefrom: 'a2' } });
    expect(only(effects, 'task.start')[0]?.task).toMatchObject({ kind: 'start', role: 'replica', upstream: { name: 'a2' } });
  });
});
