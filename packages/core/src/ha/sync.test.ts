import { describe, expect, it } from 'vitest';
import type { Cluster, Member } from '../model.js';
import { emptyCluster } from '../model.js';
import type { PostgresObservation, ReplicationRow } from '../postgres.js';
import { resolveDynamicConfig } from '../dynamic-config.js';
import type { CycleInput, HaMemory, HaSettings } from './cycle.js';
import { INITIAL_MEMORY, haCycle } from './cycle.js';
import type { Effect, EffectHandlers, EffectKind } from './effects.js';
import { interpret } from './effects.js';
import { SYNC_STRICT_PLACEHOLDER, confirmedSyncStandbys, formatSyncStandbyNames, parseSyncStandbyNames, syncCandidates } from './sync.js';

const NOW = 1_700_000_000_000;

function row(name: string, flush: number, extra: Partial<ReplicationRow> = {}): ReplicationRow {
  return { usename: 'replicator', application_name: name, client_addr: '127.0.0.1', state: 'streaming', sync_state: 'async', sync_priority: 0, write_lsn: flush, flush_lsn: flush, replay_lsn: flush, ...extra };
}
function member(name: string, tags: Record<string, unknown> = {}): Member {
  return { name, version: '1', data: { conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: `http://127.0.0.1:8008/${name}`, state: 'running', tags } };
}
function primary(rows: ReplicationRow[], names: string | null, walPosition = 10_000): PostgresObservation {
  return {
    dataDirectory: 'initialized', systemId: '1', controlState: 'in production', running: true, accepting: true, role: 'primary', timeline: 1,
    walPosition, receiveLsn: null, replayLsn: null, replicationState: null, upstream: null, standbySignal: false, postmasterStartTime: 't',
    serverVersion: 150000, replication: rows, pendingRestart: false, synchronousStandbyNames: names,
  };
}

describe('synchronous_standby_names', () => {
  it('is written as Patroni writes it', () => {
    expect(formatSyncStandbyNames(['b'], { quorum: false, strict: false })).toBe('b');
    expect(formatSyncStandbyNames(['node-2', 'a'], { quorum: false, strict: false })).toBe('2 (a,"node-2")');
    expect(formatSyncStandbyNames(['a', 'b', 'c'], { quorum: true, strict: false, num: 2 })).toBe('ANY 2 (a,b,c)');
    expect(formatSyncStandbyNames(['first'], { quorum: false, strict: false })).toBe('"first"');
    expect(formatSyncStandbyNames([], { quorum: false, strict: false })).toBeNull();
    expect(formatSyncStandbyNames([], { quorum: false, strict: true })).toBe(SYNC_STRICT_PLACEHOLDER);
  });

  it('is read back, ignoring the placeholder', () => {
    expect([...parseSyncStandbyNames('2 (a,"Node-2")').members]).toEqual(['a', 'node-2']);
    expect(parseSyncStandbyNames('ANY 1 (x)')).toMatchObject({ quorum: true, num: 1 });
    expect(parseSyncStandbyNames('b').members.has('b')).toBe(true);
    expect(parseSyncStandbyNames(SYNC_STRICT_PLACEHOLDER).members.size).toBe(0);
    expect(parseSyncStandbyNames('').members.size).toBe(0);
  });
});

describe('choosing synchronous standbys', () => {
  const cluster = { ...emptyCluster(), members: [member('a'), member('b', { sync_priority: 5 }), member('c', { nosync: true }), member('d', { nofailover: true })] };
  const dynamic = resolveDynamicConfig({ synchronous_mode: true, maximum_lag_on_syncnode: 5000 });

  it('prefers sync_priority, then promotable members, drops nosync and the lagging', () => {
    const pg = primary([row('a', 9000), row('b', 8000), row('c', 10_000), row('d', 10_000), row('zz', 10_000)], null);
    expect(syncCandidates(cluster, pg, dynamic, new Set())).toEqual(['b', 'a', 'd']);
    const lagging = primary([row('a', 1000), row('b', 8000)], null);
    expect(syncCandidates(cluster, lagging, dynamic, new Set())).toEqual(['b']);
  });

  it('confirms only standbys PostgreSQL waits for and that passed the change point', () => {
    const pg = primary([row('a', 9000, { sync_state: 'sync' }), row('b', 7000, { sync_state: 'sync' }), row('d', 9000, { sync_state: 'async' })], '2 (a,b)');
    expect(confirmedSyncStandbys(pg, 8000, cluster)).toEqual(['a']);
  });
});

const settings: HaSettings = {
  name: 'p', scope: 'demo', tags: {}, connUrl: 'postgres://127.0.0.1:5432/postgres', apiUrl: 'http://127.0.0.1:8008/patroni',
  patroniVersion: '4.1.4', bootstrapDynamicConfig: {}, enforceTimingMinimums: true, removeDataDirectoryOnRewindFailure: false,
};
const leaderMemory: HaMemory = { ...INITIAL_MEMORY, lockValidUntil: NOW + 10_000 };

function syncCluster(config: Record<string, unknown>, sync: Cluster['sync'], leader = 'p'): Cluster {
  const members = [member('p'), member('a'), member('b')];
  return {
    ...emptyCluster(), initialize: '1', members, sync,
    config: { version: '1', data: { ttl: 30, loop_wait: 10, retry_timeout: 10, ...config } },
    leader: { name: leader, version: '7', member: members.find((m) => m.name === leader) ?? null },
  };
}

async function run(pg: PostgresObservation, cluster: Cluster, input: Partial<CycleInput> = {}, extra: Partial<Record<EffectKind, unknown>> = {}) {
  const effects: Effect[] = [];
  const ok = { ok: true, value: true };
  const answers: Partial<Record<EffectKind, unknown>> = {
    'pg.observe': pg, 'dcs.load': { ok: true, value: cluster }, 'dcs.setSync': { ok: true, value: '51' }, 'peers.probe': [],
    'pg.follow': { changed: false, restarted: false }, 'pg.timelineHistory': [], 'pg.promote': true, 'pg.prePromote': true, 'watchdog.activate': true,
    ...extra,
  };
  const handlers = new Proxy({}, {
    get: (_target, kind: string) => (effect: Effect) => {
      effects.push(effect);
      return Promise.resolve(kind in answers ? answers[kind as EffectKind] : kind.startsWith('dcs.') ? ok : true);
    },
  }) as EffectHandlers;
  const result = await interpret(haCycle({ settings, memory: leaderMemory, now: NOW, task: null, ...input }), handlers);
  return { result, effects };
}

describe('the primary in synchronous mode', () => {
  it('takes the sync key, then names the best standby in PostgreSQL before recording it', async () => {
    const { effects, result } = await run(primary([row('a', 9000), row('b', 9500)], ''), syncCluster({ synchronous_mode: true }, null));
    expect(effects).toContainEqual({ kind: 'dcs.setSync', value: { leader: 'p', syncStandby: [], quorum: 0 }, expected: null });
    expect(effects).toContainEqual({ kind: 'pg.setSyncStandbyNames', value: 'b' });
    expect(effects.filter((effect) => effect.kind === 'dcs.setSync')).toHaveLength(1);
    expect(result.memory.syncChangedAtLsn).toBe(10_000);
    expect(result.wakeAt).toBe(NOW + 2000);
  });

  it('records a standby once PostgreSQL confirms it', async () => {
    const sync = { version: '9', leader: 'p', syncStandby: [], quorum: 0 };
    const pg = primary([row('a', 9000), row('b', 10_500, { sync_state: 'sync' })], 'b');
    const { effects } = await run(pg, syncCluster({ synchronous_mode: true }, sync), { memory: { ...leaderMemory, syncChangedAtLsn: 10_000 } });
    expect(effects).toContainEqual({ kind: 'dcs.setSync', value: { leader: 'p', syncStandby: ['b'], quorum: 0 }, expected: '9' });
    expect(effects.map((effect) => effect.kind)).not.toContain('pg.setSyncStandbyNames');
  });

  it('takes a standby that stopped out of the key before changing PostgreSQL', async () => {
    const sync = { version: '9', leader: 'p', syncStandby: ['b'], quorum: 0 };
    const { effects } = await run(primary([row('a', 9000)], 'b'), syncCluster({ synchronous_mode: true }, sync));
    const order = effects.filter((effect) => effect.kind === 'dcs.setSync' || effect.kind === 'pg.setSyncStandbyNames');
    expect(order[0]).toEqual({ kind: 'dcs.setSync', value: { leader: 'p', syncStandby: [], quorum: 0 }, expected: '9' });
    expect(order[1]).toEqual({ kind: 'pg.setSyncStandbyNames', value: 'a' });
  });

  it('in strict mode keeps commits waiting when no standby is left', async () => {
    const sync = { version: '9', leader: 'p', syncStandby: [], quorum: 0 };
    const { effects } = await run(primary([], ''), syncCluster({ synchronous_mode: true, synchronous_mode_strict: true }, sync));
    expect(effects).toContainEqual({ kind: 'pg.setSyncStandbyNames', value: SYNC_STRICT_PLACEHOLDER });
  });

  it('gives the setting back and drops the key when synchronous mode is switched off', async () => {
    const sync = { version: '9', leader: 'p', syncStandby: ['a'], quorum: 0 };
    const { effects } = await run(primary([row('a', 9000)], 'a'), syncCluster({}, sync), { memory: { ...leaderMemory, syncChangedAtLsn: 5 } });
    expect(effects).toContainEqual({ kind: 'dcs.deleteSync', expected: '9' });
    expect(effects).toContainEqual({ kind: 'pg.setSyncStandbyNames', value: null });
  });
});

describe('failover in synchronous mode', () => {
  const replica: PostgresObservation = { ...primary([], null), role: 'replica', controlState: 'in archive recovery', standbySignal: true, replicationState: 'streaming', walPosition: 9000, receiveLsn: 9000, replayLsn: 9000 };
  const unlocked = (sync: Cluster['sync']) => ({ ...syncCluster({ synchronous_mode: true }, sync), leader: null });

  it('only a synchronous standby may take the lock', async () => {
    const asA = { settings: { ...settings, name: 'a' }, memory: INITIAL_MEMORY };
    const notSync = await run(replica, unlocked({ version: '9', leader: 'p', syncStandby: ['b'], quorum: 0 }), asA);
    expect(notSync.result.decision.ineligible).toBe('not_synchronous');
    const isSync = await run(replica, unlocked({ version: '9', leader: 'p', syncStandby: ['a'], quorum: 0 }), asA);
    expect(isSync.result.decision.reason).toBe('acquired_lock_promoting');
    const kinds = isSync.effects.map((effect) => effect.kind);
    expect(kinds.indexOf('dcs.setSync')).toBeLessThan(kinds.indexOf('pg.promote'));
    expect(isSync.effects).toContainEqual({ kind: 'dcs.setSync', value: { leader: 'a', syncStandby: [], quorum: 0 }, expected: '9' });
  });
});

describe('quorum commit (synchronous_mode: quorum)', () => {
  const quorumConfig = { synchronous_mode: 'quorum' };
  const syncWrites = (effects: Effect[]) => effects.filter((effect) => effect.kind === 'dcs.setSync' || effect.kind === 'pg.setSyncStandbyNames');

  it('takes the key, then sets ANY 1 over every streaming standby; voters follow once they confirmed', async () => {
    const first = await run(primary([row('a', 9000), row('b', 9500)], ''), syncCluster(quorumConfig, null));
    expect(syncWrites(first.effects)).toEqual([
      { kind: 'dcs.setSync', value: { leader: 'p', syncStandby: [], quorum: 0 }, expected: null },
      { kind: 'pg.setSyncStandbyNames', value: 'ANY 1 (a,b)' },
    ]);
    expect(first.result.memory.syncChangedAtLsn).toBe(10_000);
    const sync = { version: '9', leader: 'p', syncStandby: [], quorum: 0 };
    const confirmed = primary([row('a', 10_000, { sync_state: 'quorum' }), row('b', 10_000, { sync_state: 'quorum' })], 'ANY 1 (a,b)');
    const second = await run(confirmed, syncCluster(quorumConfig, sync), { memory: { ...leaderMemory, syncChangedAtLsn: 10_000 } });
    expect(syncWrites(second.effects)).toEqual([{ kind: 'dcs.setSync', value: { leader: 'p', syncStandby: ['a', 'b'], quorum: 1 }, expected: '9' }]);
  });

  it('synchronous_node_count 2 over three standbys: ANY 2 and quorum 1', async () => {
    const members = [member('p'), member('a'), member('b'), member('c')];
    const cluster = { ...syncCluster({ ...quorumConfig, synchronous_node_count: 2 }, { version: '9', leader: 'p', syncStandby: [], quorum: 0 }), members };
    const rows = ['a', 'b', 'c'].map((name) => row(name, 10_000, { sync_state: 'quorum' }));
    const { effects } = await run(primary(rows, 'ANY 2 (a,b,c)'), cluster, { memory: { ...leaderMemory, syncChangedAtLsn: 10_000 } });
    expect(syncWrites(effects)).toEqual([{ kind: 'dcs.setSync', value: { leader: 'p', syncStandby: ['a', 'b', 'c'], quorum: 1 }, expected: '9' }]);
  });

  const replica: PostgresObservation = { ...primary([], null), role: 'replica', controlState: 'in archive recovery', standbySignal: true, replicationState: 'streaming', walPosition: 9000, receiveLsn: 9000, replayLsn: 9000 };
  const unlocked = (sync: Cluster['sync']) => ({ ...syncCluster(quorumConfig, sync), leader: null });
  const peer = (name: string, walPosition: number) => ({ name, reachable: true, role: 'replica', state: 'running', walPosition, timeline: 1, tags: {}, watchdogFailed: false });
  const asA = { settings: { ...settings, name: 'a' }, memory: INITIAL_MEMORY };

  it('a candidate needs quorum votes from the key’s members that are not ahead of it', async () => {
    const sync = { version: '9', leader: 'p', syncStandby: ['a', 'b'], quorum: 1 };
    const alone = await run(replica, unlocked(sync), asA, { 'peers.probe': [{ name: 'b', reachable: false, error: 'down' }] });
    expect(alone.result.decision.ineligible).toBe('quorum_not_reached');
    const voted = await run(replica, unlocked(sync), asA, { 'peers.probe': [peer('b', 9000)] });
    expect(voted.result.decision.reason).toBe('acquired_lock_promoting');
    // Before promoting: ANY 1 over the other voter and the old leader, so the key's quorum still meets our commits.
    expect(voted.effects).toContainEqual({ kind: 'pg.setSyncStandbyNames', value: 'ANY 1 (b,p)' });
    expect(voted.effects.map((effect) => effect.kind)).not.toContain('dcs.setSync');
    expect(voted.result.memory.syncChangedAtLsn).toBe(9000);
    const behind = await run(replica, unlocked(sync), asA, { 'peers.probe': [peer('b', 9500)] });
    expect(behind.result.decision.ineligible).toBe('peer_ahead');
  });

  it('a switchover candidate whose leader never handed over still needs the quorum; a forced failover does not', async () => {
    const sync = { version: '9', leader: 'p', syncStandby: ['a', 'b'], quorum: 1 };
    const switchover = { ...unlocked(sync), failover: { version: '5', leader: 'p', candidate: 'a', scheduledAt: null } };
    const down = { 'peers.probe': [{ name: 'b', reachable: false, error: 'down' }] };
    expect((await run(replica, switchover, asA, down)).result.decision.ineligible).toBe('quorum_not_reached');
    expect((await run(replica, switchover, asA, { 'peers.probe': [peer('b', 9500)] })).result.decision.ineligible).toBe('peer_ahead');
    expect((await run(replica, switchover, asA, { 'peers.probe': [peer('b', 9000)] })).result.decision.reason).toBe('acquired_lock_promoting');
    const forced = { ...unlocked(sync), failover: { version: '5', leader: null, candidate: 'a', scheduledAt: null } };
    expect((await run(replica, forced, asA, down)).result.decision.reason).toBe('acquired_lock_promoting');
  });

  it('a member outside the voters may win with quorum + 1 votes', async () => {
    const members = [member('p'), member('a'), member('b'), member('c')];
    const sync = { version: '9', leader: 'p', syncStandby: ['b', 'c'], quorum: 1 };
    const cluster = { ...unlocked(sync), members };
    const one = await run(replica, cluster, asA, { 'peers.probe': [peer('b', 9000), { name: 'c', reachable: false, error: 'down' }] });
    expect(one.result.decision.ineligible).toBe('quorum_not_reached');
    const two = await run(replica, cluster, asA, { 'peers.probe': [peer('b', 9000), peer('c', 8000)] });
    expect(two.result.decision.reason).toBe('acquired_lock_promoting');
    expect(two.effects).toContainEqual({ kind: 'pg.setSyncStandbyNames', value: 'ANY 2 (b,c,p)' });
  });

  it('the new primary puts the old leader among the voters in its place', async () => {
    const sync = { version: '9', leader: 'p', syncStandby: ['a', 'b'], quorum: 1 };
    const pg = primary([row('b', 10_000, { sync_state: 'quorum' })], 'ANY 1 (b,p)');
    const { effects } = await run(pg, syncCluster(quorumConfig, sync, 'a'), { settings: { ...settings, name: 'a' }, memory: { ...leaderMemory, syncChangedAtLsn: 9000 } });
    expect(syncWrites(effects)[0]).toEqual({ kind: 'dcs.setSync', value: { leader: 'a', syncStandby: ['b', 'p'], quorum: 1 }, expected: '9' });
  });
});
