/** Switchover and failover through the `failover` key, pause, fencing, crash policy and operator commands. */
import { describe, expect, it } from 'vitest';
import type { Cluster, Failover, Member, MemberData } from '../model.js';
import { emptyCluster } from '../model.js';
import type { PostgresObservation } from '../postgres.js';
import type { Command, CycleInput, HaMemory, HaSettings, ScheduledRestart } from './cycle.js';
import { INITIAL_MEMORY, haCycle } from './cycle.js';
import type { Effect, EffectHandlers, EffectKind, PeerStatus } from './effects.js';
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
const baseConfig = { ttl: 30, loop_wait: 10, retry_timeout: 10, postgresql: { use_pg_rewind: true } };

function pgObservation(overrides: Partial<PostgresObservation> = {}): PostgresObservation {
  return {
    dataDirectory: 'initialized',
    systemId: '1',
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
    postmasterStartTime: '2026-11-21 11:00:00+00',
    serverVersion: 150004,
    replication: [],
    pendingRestart: false,
    synchronousStandbyNames: null,
    ...overrides,
  };
}
const primary = pgObservation({ role: 'primary', controlState: 'in production', standbySignal: false, walPosition: 9000 });

function member(name: string, port: number, data: Partial<MemberData> = {}): Member {
  return {
    name,
    version: '1',
    data: { conn_url: `postgres://127.0.0.1:${port}/postgres`, api_url: `http://127.0.0.1:${port + 3000}/patroni`, state: 'running', role: 'replica', ...data },
  };
}
const members = [member('node0', 5432), member('node1', 5433), member('node2', 5434)];

function cluster(options: { leader?: string; failover?: Omit<Failover, 'version'>; config?: Record<string, unknown> } = {}): Cluster {
  const base: Cluster = {
    ...emptyCluster(),
    initialize: '1',
    members,
    config: { version: '1', data: { ...baseConfig, ...options.config } },
    failover: options.failover ? { version: '42', ...options.failover } : null,
  };
  if (!options.leader) return base;
  return { ...base, leader: { name: options.leader, version: '7', member: members.find((m) => m.name === options.leader) ?? null } };
}

function peer(name: string, walPosition: number, extra: Partial<Extract<PeerStatus, { reachable: true }>> = {}): PeerStatus {
  return { name, reachable: true, role: 'replica', state: 'running', walPosition, timeline: 1, tags: {}, watchdogFailed: false, ...extra };
}

type Answers = Partial<{ [K in EffectKind]: (effect: Extract<Effect, { kind: K }>) => unknown }>;

async function run(pg: PostgresObservation, state: Cluster, input: Partial<CycleInput> = {}, answers: Answers = {}) {
  const effects: Effect[] = [];
  const ok = { ok: true, value: true };
  const defaults: Record<EffectKind, unknown> = {
    'pg.observe': pg,
    'pg.promote': true,
    'pg.stop': true,
    'pg.follow': { changed: false, restarted: false },
    'pg.changeSlots': { failed: [], recopy: [] },
    'pg.timelineHistory': [],
    'dcs.load': { ok: true, value: state },
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
    'peers.probe': [peer('node0', 9000), peer('node2', 9000)],
    'peers.failsafe': [],
    'dcs.writeFailsafe': ok,
    'watchdog.keepalive': true,
  };
  const handlers = Object.fromEntries(
    (Object.keys(defaults) as EffectKind[]).map((kind) => [
      kind,
      (effect: Effect) => {
        effects.push(effect);
        const custom = answers[kind] as ((effect: Effect) => unknown) | undefined;
        return Promise.resolve(custom ? custom(effect) : defaults[kind]);
      },
    ]),
  ) as unknown as EffectHandlers;
  const result = await interpret(haCycle({ settings, memory: INITIAL_MEMORY, now: NOW, task: null, ...input }), handlers);
  return { result, effects, kinds: effects.map((effect) => effect.kind) };
}

const leaderMemory: HaMemory = { ...INITIAL_MEMORY, lockValidUntil: NOW + 10_000, lastDcsContact: NOW - 10_000 };

describe('switchover processed by the leader', () => {
  it('stops postgres, then releases the lock, for a healthy named candidate', async () => {
    const { result, kinds, effects } = await run(primary, cluster({ leader: 'node1', failover: { leader: 'node1', candidate: 'node2', scheduledAt: null } }), { memory: leaderMemory });
    expect(result.decision.reason).toBe('switchover_demoted');
    expect(kinds.indexOf('pg.stop')).toBeLessThan(kinds.indexOf('dcs.releaseLeader'));
    expect(effects).toContainEqual({ kind: 'pg.stop', mode: 'fast' });
    expect(effects).toContainEqual({ kind: 'peers.probe', members: [{ name: 'node2', apiUrl: 'http://127.0.0.1:8434/patroni' }] });
    expect(result.holdsLock).toBe(false);
    expect(result.memory.rewindArmed).toBe(true);
  });

  it('in synchronous mode refuses a candidate the sync key does not list, and bounds the stop by primary_stop_timeout', async () => {
    const sync = { version: '3', leader: 'node1', syncStandby: ['node0'], quorum: 0 };
    const config = { synchronous_mode: true, primary_stop_timeout: 15 };
    const refused = await run(primary, { ...cluster({ leader: 'node1', failover: { leader: 'node1', candidate: 'node2', scheduledAt: null }, config }), sync }, { memory: leaderMemory });
    expect(refused.result.decision.reason).toBe('switchover_no_candidate');
    expect(refused.kinds).not.toContain('pg.stop');
    expect(refused.kinds).not.toContain('peers.probe');

    const accepted = await run(
      primary,
      { ...cluster({ leader: 'node1', failover: { leader: 'node1', candidate: 'node0', scheduledAt: null }, config }), sync },
      { memory: leaderMemory },
      { 'peers.probe': () => [peer('node0', 9000)] },
    );
    expect(accepted.result.decision.reason).toBe('switchover_demoted');
    expect(accepted.effects).toContainEqual({ kind: 'pg.stop', mode: 'fast', killAfter: 15 });
  });

  it('the former leader stops waiting for a candidate that does not take the lock within ttl', async () => {
    const stopped = pgObservation({ running: false, accepting: false, role: null, controlState: 'shut down' });
    const afterSwitchover = cluster({ failover: { leader: 'node1', candidate: 'node2', scheduledAt: null } });
    const memory: HaMemory = { ...INITIAL_MEMORY, rewindArmed: true, lastDcsContact: NOW - 10_000 };
    const waiting = await run(stopped, afterSwitchover, { memory });
    expect(waiting.result.decision.reason).toBe('waiting_for_switchover_candidate');
    const stillWaiting = await run(stopped, afterSwitchover, { memory: waiting.result.memory, now: NOW + 20_000 });
    expect(stillWaiting.result.decision.reason).toBe('waiting_for_switchover_candidate');
    const givenUp = await run(stopped, afterSwitchover, { memory: stillWaiting.result.memory, now: NOW + 31_000 });
    expect(givenUp.result.decision.reason).toBe('switchover_stale_cleared');
    expect(givenUp.effects).toContainEqual({ kind: 'dcs.clearFailover', expected: '42' });
  });

  it('clears the request when the candidate is not fit (lagging, unreachable or nofailover)', async () => {
    for (const probe of [[peer('node2', 100)], [{ name: 'node2', reachable: false, error: 'timeout' }], [peer('node2', 9000, { tags: { nofailover: true } })]]) {
      const { result, effects, kinds } = await run(
        primary,
        cluster({ leader: 'node1', config: { maximum_lag_on_failover: 1000 }, failover: { leader: 'node1', candidate: 'node2', scheduledAt: null } }),
        { memory: leaderMemory },
        { 'peers.probe': () => probe },
      );
      expect(result.decision.reason).toBe('switchover_no_candidate');
      expect(effects).toContainEqual({ kind: 'dcs.clearFailover', expected: '42' });
      expect(kinds).not.toContain('pg.stop');
    }
  });

  it('waits for a scheduled time and asks to be woken then', async () => {
    const scheduledAt = new Date(NOW + 60_000).toISOString();
    const { result, kinds } = await run(primary, cluster({ leader: 'node1', failover: { leader: 'node1', candidate: null, scheduledAt } }), { memory: leaderMemory });
    expect(result.decision.reason).toBe('switchover_scheduled');
    expect(result.wakeAt).toBe(NOW + 60_000);
    expect(kinds).not.toContain('pg.stop');
  });

  it('acts on a scheduled switchover that is due, and drops a stale one', async () => {
    const due = await run(primary, cluster({ leader: 'node1', failover: { leader: 'node1', candidate: null, scheduledAt: new Date(NOW - 1000).toISOString() } }), { memory: leaderMemory });
    expect(due.result.decision.reason).toBe('switchover_demoted');
    const stale = await run(primary, cluster({ leader: 'node1', failover: { leader: 'node1', candidate: null, scheduledAt: new Date(NOW - 60_000).toISOString() } }), { memory: leaderMemory });
    expect(stale.result.decision.reason).toBe('switchover_stale_cleared');
  });

  it('clears requests it cannot honour', async () => {
    const otherLeader = await run(primary, cluster({ leader: 'node1', failover: { leader: 'node0', candidate: 'node2', scheduledAt: null } }), { memory: leaderMemory });
    expect(otherLeader.result.decision.reason).toBe('switchover_invalid_cleared');
    const toMyself = await run(primary, cluster({ leader: 'node1', failover: { leader: null, candidate: 'node1', scheduledAt: null } }), { memory: leaderMemory });
    expect(toMyself.result.decision.reason).toBe('switchover_invalid_cleared');
  });
});

describe('the race after a switchover or a manual failover', () => {
  const unlockedFor = (failover: Omit<Failover, 'version'>) => cluster({ failover });

  it('the named candidate takes the lock without lag or position comparison, then clears the key', async () => {
    const lagging = { ...unlockedFor({ leader: 'node0', candidate: 'node1', scheduledAt: null }), status: { optime: 10 ** 9, slots: {}, retainSlots: [] } };
    const { result, effects } = await run(pgObservation(), lagging, {}, { 'peers.probe': () => [peer('node2', 10 ** 9)] });
    expect(result.decision.reason).toBe('acquired_lock_promoting');
    expect(effects).toContainEqual({ kind: 'dcs.clearFailover', expected: '42' });
  });

  // Seeds 1 and 227: while paused, the named candidate promoted though the old primary was still running.
  it('the named candidate waits while the old primary still runs', async () => {
    const { result, kinds } = await run(pgObservation(), unlockedFor({ leader: 'node0', candidate: 'node1', scheduledAt: null }), {}, {
      'peers.probe': () => [peer('node0', 9000, { role: 'primary' })],
    });
    expect(result.decision.ineligible).toBe('peer_is_primary');
    expect(kinds).not.toContain('dcs.acquireLeader');
  });

  it('other members leave the race to a healthy candidate', async () => {
    const { result } = await run(pgObservation(), unlockedFor({ leader: 'node0', candidate: 'node2', scheduledAt: null }));
    expect(result.decision.ineligible).toBe('switchover_candidate_elsewhere');
  });

  // Seed 1160: a member outside the failsafe key was ahead; it could never race, and the others deferred to it.
  it('with failsafe mode on compares only the members its key lists, but never races a running primary', async () => {
    const listed = {
      ...cluster({ config: { failsafe_mode: true } }),
      failsafe: { node0: 'http://127.0.0.1:8432/patroni', node1: 'http://127.0.0.1:8433/patroni' },
    };
    const ahead = await run(pgObservation(), listed, {}, { 'peers.probe': () => [peer('node0', 5000), peer('node2', 9000)] });
    expect(ahead.result.decision.reason).toBe('acquired_lock_promoting');
    const primaryOutside = await run(pgObservation(), listed, {}, { 'peers.probe': () => [peer('node0', 5000), peer('node2', 9000, { role: 'primary' })] });
    expect(primaryOutside.result.decision.ineligible).toBe('peer_is_primary');
    const listedAhead = await run(pgObservation(), listed, {}, { 'peers.probe': () => [peer('node0', 9000)] });
    expect(listedAhead.result.decision.ineligible).toBe('peer_ahead');
  });

  // Seed 1404: synchronous mode kept the named candidate out of the race, and everyone else waited for it.
  it('race on when synchronous mode keeps the named candidate out of the race', async () => {
    const sync = { version: '3', leader: 'node0', syncStandby: ['node1'], quorum: 0 };
    const state = { ...cluster({ failover: { leader: 'node0', candidate: 'node2', scheduledAt: null }, config: { synchronous_mode: true } }), sync };
    const { result } = await run(pgObservation(), state, {}, { 'peers.probe': () => [peer('node2', 5000)] });
    expect(result.decision.reason).toBe('acquired_lock_promoting');
  });

  it('race on when the candidate is gone, ignoring the former leader', async () => {
    const { result } = await run(
      pgObservation(),
      unlockedFor({ leader: 'node0', candidate: 'node2', scheduledAt: null }),
      {},
      { 'peers.probe': () => [peer('node0', 99_999), { name: 'node2', reachable: false, error: 'down' }] },
    );
    expect(result.decision.reason).toBe('acquired_lock_promoting');
  });

  it('the former leader takes the lock back only when nobody else can', async () => {
    const state = unlockedFor({ leader: 'node1', candidate: null, scheduledAt: null });
    const others = await run(pgObservation(), state);
    expect(others.result.decision.ineligible).toBe('former_leader');
    const alone = await run(pgObservation(), state, {}, { 'peers.probe': () => [] });
    expect(alone.result.decision.reason).toBe('acquired_lock_promoting');
  });

  it('a stopped former primary waits for the candidate instead of starting read-only', async () => {
    const stopped = pgObservation({ running: false, accepting: false, role: null, controlState: 'shut down', standbySignal: false });
    const { result, kinds } = await run(stopped, unlockedFor({ leader: 'node1', candidate: 'node2', scheduledAt: null }));
    expect(result.decision.reason).toBe('waiting_for_switchover_candidate');
    expect(kinds).not.toContain('task.start');
  });
});

describe('pause', () => {
  const paused = { pause: true };

  it('takes no automatic action: no race, no start', async () => {
    const race = await run(pgObservation(), cluster({ config: paused }));
    expect(race.result.decision.ineligible).toBe('paused');
    expect(race.kinds).not.toContain('dcs.acquireLeader');
    const stopped = await run(pgObservation({ running: false, accepting: false, role: null }), cluster({ leader: 'node0', config: paused }));
    expect(stopped.result.decision.reason).toBe('paused_no_action');
    expect(stopped.kinds).not.toContain('task.start');
  });

  it('publishes pause in member data', async () => {
    const { effects } = await run(pgObservation(), cluster({ leader: 'node0', config: paused }));
    expect(effects.find((effect) => effect.kind === 'dcs.touchMember')).toMatchObject({ data: { pause: true } });
  });

  it('the lock holder releases the lock when postgres is down, and keeps running without it', async () => {
    const down = await run(pgObservation({ running: false, accepting: false, role: null }), cluster({ leader: 'node1', config: paused }), { memory: leaderMemory });
    expect(down.result.decision.reason).toBe('paused_released_lock');
    const renewFails = await run(primary, cluster({ leader: 'node1', config: paused }), { memory: leaderMemory }, { 'dcs.renewLeader': () => ({ ok: true, value: false }) });
    expect(renewFails.result.decision.reason).toBe('paused_primary_without_lock');
    expect(renewFails.kinds).not.toContain('pg.stop');
  });

  it('a primary that lost the lock keeps running, and the running primary takes a free lock', async () => {
    const other = await run(primary, cluster({ leader: 'node0', config: paused }));
    expect(other.result.decision.reason).toBe('paused_primary_without_lock');
    const free = await run(primary, cluster({ config: paused }));
    expect(free.result.decision.reason).toBe('acquired_lock_as_primary');
  });

  it('does not demote on a DCS outage, and SIGTERM leaves postgres and the lock alone', async () => {
    const memory = { ...leaderMemory, lastDcsContact: NOW - 60_000, configData: { ...baseConfig, pause: true } };
    const { result, kinds } = await run(primary, cluster(), { memory }, { 'dcs.load': () => ({ ok: false, error: 'down' }) });
    expect(result.decision.reason).toBe('dcs_unreachable');
    expect(kinds).not.toContain('pg.stop');
    const effects: Effect[] = [];
    const stop = await interpret(shutdownSequence({ memory: leaderMemory, now: NOW, paused: true }), {
      'pg.observe': (effect: Effect) => (effects.push(effect), Promise.resolve(primary)),
    } as unknown as EffectHandlers);
    expect(stop.reason).toBe('shutdown_complete');
    expect(effects).toEqual([]);
  });
});

describe('fencing, crash policy and callbacks', () => {
  it('a failing pre_promote releases the lock and keeps the member out for a ttl', async () => {
    const { result, kinds } = await run(pgObservation(), cluster(), {}, { 'pg.prePromote': () => false, 'peers.probe': () => [] });
    expect(result.decision.reason).toBe('pre_promote_failed');
    expect(kinds).toContain('dcs.releaseLeader');
    expect(kinds).not.toContain('pg.promote');
    const again = await run(pgObservation(), cluster(), { memory: result.memory, now: NOW + 5000 }, { 'peers.probe': () => [] });
    expect(again.result.decision.ineligible).toBe('pre_promote_backoff');
  });

  it('fires on_role_change after a promotion', async () => {
    const { effects } = await run(pgObservation(), cluster(), {}, { 'peers.probe': () => [] });
    expect(effects).toContainEqual({ kind: 'callback.run', action: 'on_role_change', role: 'primary' });
  });

  it('fires on_start when a start finished', async () => {
    const { effects } = await run(pgObservation(), cluster({ leader: 'node0' }), { task: { kind: 'start', state: 'succeeded', startedAt: NOW } });
    expect(effects).toContainEqual({ kind: 'callback.run', action: 'on_start', role: 'replica' });
  });

  it('with primary_start_timeout 0 a crashed leader hands over instead of restarting', async () => {
    const crashed = pgObservation({ running: false, accepting: false, role: null, controlState: 'in production', standbySignal: false });
    const { result, kinds } = await run(crashed, cluster({ leader: 'node1', config: { primary_start_timeout: 0 } }), { memory: leaderMemory });
    expect(result.decision.reason).toBe('failover_after_crash');
    expect(kinds).toContain('dcs.releaseLeader');
    expect(kinds).not.toContain('task.start');
  });
});

describe('operator commands', () => {
  const restartAt = (offset: number, extra: Partial<ScheduledRestart> = {}): ScheduledRestart => ({
    at: NOW + offset,
    schedule: new Date(NOW + offset).toISOString(),
    postmasterStartTime: '2026-11-21 11:00:00+00',
    ...extra,
  });

  it('restarts when the conditions hold, refuses otherwise', async () => {
    const ok = await run(pgObservation(), cluster({ leader: 'node0' }), { command: { kind: 'restart', role: 'replica' } });
    expect(ok.result.commandOutcome).toEqual({ accepted: true, message: 'restart started' });
    expect(ok.effects).toContainEqual({
      kind: 'task.start',
      task: { kind: 'restart', role: 'replica', upstream: { name: 'node0', host: '127.0.0.1', port: 5432 }, timeout: 300 },
    });
    for (const command of [
      { kind: 'restart', role: 'primary' },
      { kind: 'restart', postgresVersionBelow: 150000 },
      { kind: 'restart', restartPending: true },
    ] as Command[]) {
      const refused = await run(pgObservation(), cluster({ leader: 'node0' }), { command });
      expect(refused.result.commandOutcome).toEqual({ accepted: false, message: 'restart conditions are not satisfied' });
      expect(refused.kinds).not.toContain('task.start');
    }
  });

  it('schedules a restart, refuses a second one and any while paused, and runs it when due', async () => {
    const scheduled = await run(pgObservation(), cluster({ leader: 'node0' }), { command: { kind: 'scheduleRestart', restart: restartAt(30_000) } });
    expect(scheduled.result.commandOutcome?.accepted).toBe(true);
    expect(scheduled.result.decision.reason).toBe('following_leader');
    expect(scheduled.result.wakeAt).toBe(NOW + 30_000);
    const second = await run(pgObservation(), cluster({ leader: 'node0' }), { memory: scheduled.result.memory, command: { kind: 'scheduleRestart', restart: restartAt(60_000) } });
    expect(second.result.commandOutcome?.accepted).toBe(false);
    const paused = await run(pgObservation(), cluster({ leader: 'node0', config: { pause: true } }), { command: { kind: 'scheduleRestart', restart: restartAt(60_000) } });
    expect(paused.result.commandOutcome).toEqual({ accepted: false, message: "Can't schedule restart in the paused state" });
    const due = await run(pgObservation(), cluster({ leader: 'node0' }), { memory: scheduled.result.memory, now: NOW + 31_000 });
    expect(due.result.decision.reason).toBe('restart_started');
    expect(due.result.memory.scheduledRestart).toBeNull();
  });

  it('cancels a scheduled restart, and drops it when postgres restarted meanwhile', async () => {
    const memory = { ...INITIAL_MEMORY, scheduledRestart: restartAt(30_000) };
    const cancelled = await run(pgObservation(), cluster({ leader: 'node0' }), { memory, command: { kind: 'cancelScheduledRestart' } });
    expect(cancelled.result.memory.scheduledRestart).toBeNull();
    const nothing = await run(pgObservation(), cluster({ leader: 'node0' }), { command: { kind: 'cancelScheduledRestart' } });
    expect(nothing.result.commandOutcome).toEqual({ accepted: false, message: 'no restarts are scheduled' });
    const restartedSince = await run(pgObservation({ postmasterStartTime: 'later' }), cluster({ leader: 'node0' }), { memory, now: NOW + 31_000 });
    expect(restartedSince.kinds).not.toContain('task.start');
    expect(restartedSince.result.memory.scheduledRestart).toBeNull();
  });

  it('reinitializes a replica from the leader, and refuses on the leader or without one', async () => {
    const ok = await run(pgObservation(), cluster({ leader: 'node0' }), { command: { kind: 'reinitialize', fromLeader: true } });
    expect(ok.result.commandOutcome).toEqual({ accepted: true, message: 'reinitialize started' });
    expect(ok.effects).toContainEqual({ kind: 'task.start', task: { kind: 'reinitialize', source: { name: 'node0', host: '127.0.0.1', port: 5432 } } });
    const onLeader = await run(primary, cluster({ leader: 'node1' }), { memory: leaderMemory, command: { kind: 'reinitialize', fromLeader: false } });
    expect(onLeader.result.commandOutcome).toEqual({ accepted: false, message: 'I am the leader, can not reinitialize' });
    const noLeader = await run(pgObservation(), cluster(), { command: { kind: 'reinitialize', fromLeader: false } });
    expect(noLeader.result.commandOutcome).toEqual({ accepted: false, message: 'Cluster has no leader, can not reinitialize' });
    const busy = await run(pgObservation(), cluster({ leader: 'node0' }), { task: { kind: 'clone', state: 'running', startedAt: NOW }, command: { kind: 'reinitialize', fromLeader: false } });
    expect(busy.result.commandOutcome).toEqual({ accepted: false, message: 'replica creation already in progress' });
  });
});

describe('watchdog', () => {
  const armed = { running: true, healthy: true };
  const idle = { running: false, healthy: true };

  it('is armed before a promotion, and a failed arming gives the lock back instead', async () => {
    const ok = await run(pgObservation(), cluster(), { watchdog: idle }, { 'peers.probe': () => [] });
    expect(ok.kinds.indexOf('watchdog.activate')).toBeLessThan(ok.kinds.indexOf('pg.promote'));
    const refused = await run(pgObservation(), cluster(), { watchdog: idle }, { 'peers.probe': () => [], 'watchdog.activate': () => false });
    expect(refused.result.decision.reason).toBe('watchdog_unavailable');
    expect(refused.kinds).toContain('dcs.releaseLeader');
    expect(refused.kinds).not.toContain('pg.promote');
  });

  it('a primary whose watchdog cannot be armed demotes', async () => {
    const { result, effects } = await run(primary, cluster({ leader: 'node1' }), { memory: leaderMemory, watchdog: idle }, { 'watchdog.activate': () => false });
    expect(result.decision.reason).toBe('watchdog_unavailable');
    expect(effects).toContainEqual({ kind: 'pg.stop', mode: 'immediate' });
  });

  it('keeps a member whose required watchdog is unusable out of the race', async () => {
    const { result } = await run(pgObservation(), cluster(), { watchdog: { running: false, healthy: false } }, { 'peers.probe': () => [] });
    expect(result.decision.ineligible).toBe('watchdog_failed');
  });

  it('stops the countdown when the lock is lost and when paused', async () => {
    const lost = await run(primary, cluster({ leader: 'node1' }), { memory: leaderMemory, watchdog: armed }, { 'dcs.renewLeader': () => ({ ok: true, value: false }) });
    expect(lost.kinds).toContain('watchdog.disable');
    const paused = await run(primary, cluster({ leader: 'node1', config: { pause: true } }), { memory: leaderMemory, watchdog: armed });
    expect(paused.kinds).toContain('watchdog.disable');
    const steady = await run(primary, cluster({ leader: 'node1' }), { memory: leaderMemory, watchdog: armed });
    expect(steady.kinds).not.toContain('watchdog.disable');
    expect(steady.kinds).not.toContain('watchdog.activate');
  });

  it('cancels a bootstrap whose watchdog cannot be armed', async () => {
    const { result, kinds } = await run(primary, { ...emptyCluster(), initialize: '' }, { task: { kind: 'bootstrap', state: 'succeeded', startedAt: NOW }, watchdog: idle }, { 'watchdog.activate': () => false });
    expect(result.decision.reason).toBe('watchdog_unavailable');
    expect(kinds).toContain('dcs.cancelInitialization');
    expect(kinds).not.toContain('dcs.acquireLeader');
  });

  it('is disabled at shutdown only once postgres stopped', async () => {
    const kinds: string[] = [];
    const handlers = {
      'pg.observe': () => Promise.resolve(primary),
      'pg.stop': () => Promise.resolve(false),
      'callback.run': () => Promise.resolve(true),
      'watchdog.disable': () => (kinds.push('watchdog.disable'), Promise.resolve(true)),
      'dcs.releaseLeader': () => Promise.resolve({ ok: true, value: true }),
    } as unknown as EffectHandlers;
    await interpret(shutdownSequence({ memory: leaderMemory, now: NOW, paused: false, watchdogRunning: true }), handlers);
    expect(kinds).toEqual([]);
  });
});
