import { describe, expect, it } from 'vitest';
import type { Cluster, Member } from '../model.js';
import { emptyCluster } from '../model.js';
import type { PostgresObservation } from '../postgres.js';
import type { CycleInput, HaMemory, HaSettings } from './cycle.js';
import { INITIAL_MEMORY, haCycle } from './cycle.js';
import type { Effect, EffectHandlers, EffectKind, PeerStatus } from './effects.js';
import { interpret } from './effects.js';
import type { FailsafeAck, FailsafeContact } from './failsafe.js';
import {
  answerFailsafePost,
  failsafeActive,
  failsafeKeyOutdated,
  failsafeModeEnabled,
  failsafeTopology,
  parseFailsafePayload,
} from './failsafe.js';

const NOW = 1_700_000_000_000;
const CONFIG = { ttl: 30, loop_wait: 10, retry_timeout: 10, failsafe_mode: true };

const settings: HaSettings = {
  name: 'node1',
  scope: 'demo',
  tags: {},
  connUrl: 'postgres://127.0.0.1:5433/postgres',
  apiUrl: 'http://127.0.0.1:8009/patroni',
  patroniVersion: '4.1.4',
  bootstrapDynamicConfig: { ttl: 30, loop_wait: 10, retry_timeout: 10 },
  enforceTimingMinimums: true,
  removeDataDirectoryOnRewindFailure: false,
};

const TOPOLOGY = {
  node0: 'http://127.0.0.1:8008/patroni',
  node1: 'http://127.0.0.1:8009/patroni',
  node2: 'http://127.0.0.1:8010/patroni',
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
    replayLsn: 4000,
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

const primary = pgObservation({ role: 'primary', controlState: 'in production', standbySignal: false, walPosition: 9000, receiveLsn: null, replayLsn: null, replicationState: null });

function member(name: string, port: number): Member {
  return {
    name,
    version: '1',
    data: { conn_url: `postgres://127.0.0.1:${port}/postgres`, api_url: `http://127.0.0.1:${port + 2576}/patroni`, state: 'running', role: 'replica' },
  };
}

const members = [member('node0', 5432), member('node1', 5433), member('node2', 5434)];

function cluster(overrides: Partial<Omit<Cluster, 'config'>> & { leaderName?: string; configData?: Record<string, unknown> } = {}): Cluster {
  const { leaderName, configData, ...rest } = overrides;
  const base: Cluster = {
    ...emptyCluster(),
    initialize: '7000000000000000001',
    config: { version: '1', data: configData ?? CONFIG },
    members,
    ...rest,
  };
  if (!leaderName) return base;
  return { ...base, leader: { name: leaderName, version: '7', member: base.members.find((m) => m.name === leaderName) ?? null } };
}

type Answers = Partial<{ [K in EffectKind]: (effect: Extract<Effect, { kind: K }>) => unknown }>;

async function run(pg: PostgresObservation, view: Cluster | { unreachable: string }, input: Partial<CycleInput> = {}, answers: Answers = {}) {
  const effects: Effect[] = [];
  const ok = { ok: true, value: true };
  const defaults: Partial<Record<EffectKind, unknown>> = {
    'pg.observe': pg,
    'pg.stop': true,
    'pg.promote': true,
    'pg.follow': { changed: false, restarted: false },
    'pg.timelineHistory': [],
    'dcs.load': 'unreachable' in view ? { ok: false, error: view.unreachable } : { ok: true, value: view },
    'dcs.acquireLeader': ok,
    'dcs.renewLeader': ok,
    'dcs.releaseLeader': ok,
    'dcs.touchMember': ok,
    'dcs.initialize': ok,
    'dcs.setConfig': ok,
    'dcs.clearFailover': ok,
    'dcs.setHistory': ok,
    'dcs.writeStatus': ok,
    'dcs.writeFailsafe': ok,
    'dcs.setSync': { ok: true, value: '50' },
    'dcs.deleteSync': ok,
    'pg.setSyncStandbyNames': true,
    'task.start': true,
    'callback.run': true,
    'pg.prePromote': true,
    'watchdog.activate': true,
    'watchdog.disable': true,
    'watchdog.keepalive': true,
    'peers.probe': [],
    'peers.failsafe': [],
  };
  const handlers = new Proxy({} as EffectHandlers, {
    get: (_target, kind: string) => (effect: Effect) => {
      effects.push(effect);
      const custom = answers[kind as EffectKind] as ((effect: Effect) => unknown) | undefined;
      if (custom) return Promise.resolve(custom(effect));
      if (!(kind in defaults)) return Promise.reject(new Error(`unexpected effect ${kind}`));
      return Promise.resolve(defaults[kind as EffectKind]);
    },
  });
  const result = await interpret(haCycle({ settings, memory: INITIAL_MEMORY, now: NOW, task: null, ...input }), handlers);
  return { result, effects, kinds: effects.map((effect) => effect.kind) };
}

/** What the primary remembers from its last cycle with the store: failsafe on, the key with all three members. */
const leaderMemory: HaMemory = {
  ...INITIAL_MEMORY,
  lockValidUntil: NOW + 5_000,
  lastDcsContact: NOW - 25_000,
  configData: CONFIG,
  failsafeTopology: TOPOLOGY,
};

const accept = (names: string[]): FailsafeAck[] => names.map((name) => ({ name, accepted: true, lsn: 4000 }));

describe('the leader publishes the failsafe key', () => {
  it('writes {name: api_url} of every member, itself included, when the stored value differs', async () => {
    const { effects, result } = await run(primary, cluster({ leaderName: 'node1', members: [member('node0', 5432), member('node2', 5434)] }), {
      memory: { ...INITIAL_MEMORY, lockValidUntil: NOW + 10_000 },
    });
    expect(result.decision.reason).toBe('leader_lock_renewed');
    expect(effects).toContainEqual({
      kind: 'dcs.writeFailsafe',
      members: { node0: 'http://127.0.0.1:8008/patroni', node2: 'http://127.0.0.1:8010/patroni', node1: settings.apiUrl },
    });
    expect(result.memory.failsafeTopology).toEqual({ node0: 'http://127.0.0.1:8008/patroni', node2: 'http://127.0.0.1:8010/patroni', node1: settings.apiUrl });
  });

  it('does not rewrite an unchanged key, and leaves the key alone when failsafe_mode is off', async () => {
    const same = await run(primary, cluster({ leaderName: 'node1', failsafe: TOPOLOGY }), { memory: { ...INITIAL_MEMORY, lockValidUntil: NOW + 10_000 } });
    expect(same.kinds).not.toContain('dcs.writeFailsafe');
    const off = await run(primary, cluster({ leaderName: 'node1', configData: { ...CONFIG, failsafe_mode: false } }), {
      memory: { ...INITIAL_MEMORY, lockValidUntil: NOW + 10_000 },
    });
    expect(off.kinds).not.toContain('dcs.writeFailsafe');
  });

  it('replicas never write it', async () => {
    const { kinds } = await run(pgObservation(), cluster({ leaderName: 'node0' }));
    expect(kinds).not.toContain('dcs.writeFailsafe');
  });

  it('a successful read remembers the key and ends any failsafe confirmation', async () => {
    const { result } = await run(primary, cluster({ leaderName: 'node1', failsafe: TOPOLOGY }), {
      memory: { ...leaderMemory, failsafeActiveSince: NOW - 1000 },
    });
    expect(result.memory.failsafeTopology).toEqual(TOPOLOGY);
    expect(result.memory.failsafeActiveSince).toBeNull();
  });
});

describe('a primary that cannot reach the store', () => {
  it('stays primary while every other failsafe member accepts POST /failsafe, and feeds the watchdog', async () => {
    const { result, effects, kinds } = await run(
      primary,
      { unreachable: 'connect ECONNREFUSED' },
      { memory: leaderMemory, watchdog: { running: true, healthy: true } },
      { 'peers.failsafe': () => accept(['node0', 'node2']) },
    );
    expect(result.decision.reason).toBe('dcs_unreachable_failsafe');
    expect(effects).toContainEqual({
      kind: 'peers.failsafe',
      members: [
        { name: 'node0', apiUrl: TOPOLOGY.node0 },
        { name: 'node2', apiUrl: TOPOLOGY.node2 },
      ],
      payload: { name: 'node1', conn_url: settings.connUrl, api_url: settings.apiUrl, slots: { node1: 9000 } },
    });
    expect(kinds).not.toContain('pg.stop');
    expect(kinds).toContain('watchdog.keepalive');
    expect(kinds).not.toContain('watchdog.disable');
    expect(result.role).toBe('primary');
    expect(result.memory.lockValidUntil).toBe(NOW + 30_000);
    expect(result.memory.failsafeActiveSince).toBe(NOW);
  });

  it('a renewal the store did not answer (read from a cache) is the same case: failsafe keeps the primary', async () => {
    const view = cluster({ leaderName: 'node1', failsafe: TOPOLOGY });
    const unanswered = { 'dcs.renewLeader': () => ({ ok: false, error: 'deadline exceeded' }) };
    const kept = await run(primary, view, { memory: leaderMemory }, { ...unanswered, 'peers.failsafe': () => accept(['node0', 'node2']) });
    expect(kept.result.decision.reason).toBe('dcs_unreachable_failsafe');
    expect(kept.kinds).not.toContain('pg.stop');
    // Refused: the offline demotion of an unreachable store (read-only at once), not the lost-lock one.
    const refused = await run(primary, view, { memory: leaderMemory }, unanswered);
    expect(refused.result.decision.reason).toBe('dcs_unreachable_demoted');
    expect(refused.effects).toContainEqual({ kind: 'pg.stop', mode: 'fast' });
    expect(refused.kinds).toContain('task.start');
    const off = await run(primary, cluster({ leaderName: 'node1', configData: { ...CONFIG, failsafe_mode: false } }), { memory: leaderMemory }, unanswered);
    expect(off.result.decision.reason).toBe('dcs_unreachable_demoted');
    expect(off.kinds).not.toContain('peers.failsafe');
    const lost = await run(primary, view, { memory: leaderMemory }, { 'dcs.renewLeader': () => ({ ok: true, value: false }) });
    expect(lost.result.decision.reason).toBe('lock_lost_demoted');
    expect(lost.kinds).not.toContain('peers.failsafe');
  });

  it('demotes when one member does not accept, naming it', async () => {
    const { result, kinds } = await run(
      primary,
      { unreachable: 'connect ECONNREFUSED' },
      { memory: { ...leaderMemory, failsafeActiveSince: NOW - 10_000 } },
      { 'peers.failsafe': () => [...accept(['node0']), { name: 'node2', accepted: false, lsn: null }] },
    );
    expect(result.decision.reason).toBe('dcs_unreachable_demoted');
    expect(result.decision.message).toContain('node2 did not accept');
    expect(kinds).toContain('pg.stop');
    expect(result.memory.lockValidUntil).toBeNull();
    expect(result.memory.failsafeActiveSince).toBeNull();
  });

  it('demotes when a member gives no answer at all', async () => {
    const { result } = await run(primary, { unreachable: 'timeout' }, { memory: leaderMemory }, { 'peers.failsafe': () => accept(['node0']) });
    expect(result.decision.reason).toBe('dcs_unreachable_demoted');
  });

  it('demotes without asking anyone when it is not listed in the key, or no key is known', async () => {
    for (const failsafeTopology of [{ node0: TOPOLOGY.node0, node2: TOPOLOGY.node2 }, null]) {
      const { result, kinds } = await run(primary, { unreachable: 'timeout' }, { memory: { ...leaderMemory, failsafeTopology } });
      expect(result.decision.reason).toBe('dcs_unreachable_demoted');
      expect(kinds).not.toContain('peers.failsafe');
    }
  });

  it('with failsafe_mode off demotes as before, asking no one', async () => {
    const { result, kinds } = await run(primary, { unreachable: 'timeout' }, { memory: { ...leaderMemory, configData: { ...CONFIG, failsafe_mode: false } } });
    expect(result.decision.reason).toBe('dcs_unreachable_demoted');
    expect(kinds).not.toContain('peers.failsafe');
  });

  it('alone in the key (a single-member cluster) it stays primary without asking', async () => {
    const { result, kinds } = await run(primary, { unreachable: 'timeout' }, { memory: { ...leaderMemory, failsafeTopology: { node1: TOPOLOGY.node1 } } });
    expect(result.decision.reason).toBe('dcs_unreachable_failsafe');
    expect(kinds).not.toContain('peers.failsafe');
  });

  it('a replica keeps following and asks no one', async () => {
    const { result, kinds } = await run(pgObservation(), { unreachable: 'timeout' }, { memory: leaderMemory });
    expect(result.decision.reason).toBe('dcs_unreachable');
    expect(kinds).not.toContain('peers.failsafe');
    expect(kinds).not.toContain('pg.stop');
    expect(kinds).not.toContain('pg.follow');
  });
});

describe('a replica that heard from a primary on failsafe', () => {
  const contact: FailsafeContact = {
    payload: { name: 'node0', conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: TOPOLOGY.node0 },
    receivedAt: NOW - 5_000,
  };

  it('follows that primary instead of racing while the store shows no leader', async () => {
    const { result, effects, kinds } = await run(pgObservation(), cluster({ failsafe: TOPOLOGY }), { failsafeContact: contact });
    expect(result.decision.reason).toBe('following_leader');
    expect(effects).toContainEqual({ kind: 'pg.follow', upstream: { name: 'node0', host: '127.0.0.1', port: 5432 } });
    expect(kinds).not.toContain('dcs.acquireLeader');
  });

  it('races again once the contact is older than ttl', async () => {
    const { kinds } = await run(pgObservation(), cluster({ failsafe: TOPOLOGY }), { failsafeContact: { ...contact, receivedAt: NOW - 31_000 } });
    expect(kinds).toContain('dcs.acquireLeader');
  });

  it('ignores the contact when failsafe_mode is off or the store shows a leader', async () => {
    const off = await run(pgObservation(), cluster({ configData: { ...CONFIG, failsafe_mode: false } }), { failsafeContact: contact });
    expect(off.kinds).toContain('dcs.acquireLeader');
    const led = await run(pgObservation(), cluster({ leaderName: 'node2' }), { failsafeContact: contact });
    expect(led.effects).toContainEqual({ kind: 'pg.follow', upstream: { name: 'node2', host: '127.0.0.1', port: 5434 } });
  });
});

describe('the leader race with failsafe_mode on', () => {
  it('a member missing from a non-empty failsafe key does not race', async () => {
    const { result, kinds } = await run(pgObservation(), cluster({ failsafe: { node0: TOPOLOGY.node0 } }));
    expect(result.decision.reason).toBe('not_candidate');
    expect(result.decision.ineligible).toBe('not_in_failsafe');
    expect(kinds).not.toContain('dcs.acquireLeader');
  });

  it('asks the members listed in the key too, so a primary without a member key is found', async () => {
    const peer: PeerStatus = { name: 'node9', reachable: true, role: 'primary', state: 'running', walPosition: 9000, timeline: 1, tags: {}, watchdogFailed: false };
    const { result, effects } = await run(
      pgObservation(),
      cluster({ failsafe: { ...TOPOLOGY, node9: 'http://127.0.0.1:8099/patroni' } }),
      {},
      { 'peers.probe': () => [peer] },
    );
    const probe = effects.find((effect) => effect.kind === 'peers.probe');
    expect(probe).toMatchObject({ members: expect.arrayContaining([{ name: 'node9', apiUrl: 'http://127.0.0.1:8099/patroni' }]) });
    expect(result.decision.ineligible).toBe('peer_is_primary');
  });
});

describe('failsafe rules', () => {
  it('reads failsafe_mode as Patroni does', () => {
    expect(failsafeModeEnabled({ failsafe_mode: true })).toBe(true);
    expect(failsafeModeEnabled({ failsafe_mode: 'on' })).toBe(true);
    expect(failsafeModeEnabled({ failsafe_mode: false })).toBe(false);
    expect(failsafeModeEnabled({})).toBe(false);
    expect(failsafeModeEnabled(null)).toBe(false);
  });

  it('builds the topology from members with an api_url, and always includes itself', () => {
    const noApi: Member = { name: 'ghost', version: '1', data: {} };
    expect(failsafeTopology([members[0]!, noApi], { name: 'node1', apiUrl: 'http://x/patroni' })).toEqual({ node0: TOPOLOGY.node0, node1: 'http://x/patroni' });
    expect(failsafeKeyOutdated(null, {})).toBe(true);
    expect(failsafeKeyOutdated({ a: '1' }, { a: '1' })).toBe(false);
    expect(failsafeKeyOutdated({ a: '1' }, { a: '2' })).toBe(true);
    expect(failsafeKeyOutdated({ a: '1', b: '2' }, { a: '1' })).toBe(true);
  });

  it('answers POST /failsafe: a running primary refuses, anyone else accepts with its position', () => {
    expect(answerFailsafePost(primary)).toEqual({ accepted: false, message: 'Running as a leader' });
    expect(answerFailsafePost(pgObservation())).toEqual({ accepted: true, lsn: 5000 });
    expect(answerFailsafePost(pgObservation({ running: false, accepting: false, receiveLsn: null, replayLsn: null }))).toEqual({ accepted: true, lsn: null });
    expect(answerFailsafePost(null)).toEqual({ accepted: true, lsn: null });
  });

  it('validates the POST body', () => {
    expect(parseFailsafePayload({ name: 'a', conn_url: 'postgres://h/p', api_url: 'http://h/patroni', slots: { a: 1 } })).toEqual({
      ok: true,
      payload: { name: 'a', conn_url: 'postgres://h/p', api_url: 'http://h/patroni', slots: { a: 1 } },
    });
    expect(parseFailsafePayload({ conn_url: 'x', api_url: 'y' })).toMatchObject({ ok: false, reason: expect.stringContaining('name') });
    expect(parseFailsafePayload({ name: 'a', conn_url: 'x' })).toMatchObject({ ok: false });
    expect(parseFailsafePayload({ name: 'a', conn_url: 'x', api_url: 'y', slots: [] })).toMatchObject({ ok: false });
    expect(parseFailsafePayload({ name: 'a', conn_url: 'x', api_url: 'y', slots: { s: 'z' } })).toMatchObject({ ok: false });
  });

  it('is active for ttl after the last confirmation', () => {
    expect(failsafeActive(null, NOW, 30)).toBe(false);
    expect(failsafeActive(NOW - 29_999, NOW, 30)).toBe(true);
    expect(failsafeActive(NOW - 30_000, NOW, 30)).toBe(false);
  });
});
