/**
 * primary_start_timeout: a lock holder whose start as primary outlives its timeout hands the lock over only when a
 * replica is fit to take it (Patroni's handle_starting_instance / is_failover_possible); otherwise it keeps waiting.
 */
import { describe, expect, it } from 'vitest';
import type { HaMemory } from './cycle.js';
import type { TaskState } from './effects.js';
import { NOW, cluster, leaderMemory, member, peer, pgObservation, runCycle } from './test-support.js';

const members = [member('node0'), member('node1', { role: 'primary' }), member('node2')];
const led = cluster({ leader: 'node1', members });
/** The postmaster is up but still in crash recovery: no connections yet. */
const starting = pgObservation({ accepting: false, role: null, walPosition: null, receiveLsn: null, replayLsn: null, controlState: 'in crash recovery', standbySignal: false });
const timedOut: TaskState = { kind: 'start', state: 'failed', startedAt: NOW - 60_000, error: 'postgres did not start, or did not accept connections within 60s' };
const fit = () => [peer('node0', 5000), peer('node2', 4000)];
const nobody = () => [{ name: 'node0', reachable: false as const, error: 'refused' }, peer('node2', 5000, { tags: { nofailover: true } })];

describe('primary_start_timeout', () => {
  it('past the timeout with a healthy replica: stops the starting primary and releases the lock', async () => {
    const { result, kinds, of } = await runCycle({ pg: starting, cluster: led, answers: { 'peers.probe': fit } }, { memory: leaderMemory, task: timedOut });
    expect(result.decision.reason).toBe('start_failed_released_lock');
    expect(result.decision.message).toContain('for node0');
    expect(of('pg.stop')).toEqual([{ kind: 'pg.stop', mode: 'immediate' }]);
    expect(kinds.indexOf('pg.stop')).toBeLessThan(kinds.indexOf('dcs.releaseLeader'));
    expect(result.holdsLock).toBe(false);
    expect(result.role).toBe('demoted');
    expect(result.memory.rewindArmed).toBe(true);
  });

  it('past the timeout without a fit replica: keeps the lock and waits, as Patroni does', async () => {
    const { result, kinds } = await runCycle({ pg: starting, cluster: led, answers: { 'peers.probe': nobody } }, { memory: leaderMemory, task: timedOut });
    expect(result.decision.reason).toBe('primary_start_timed_out');
    expect(kinds).toContain('dcs.renewLeader');
    expect(kinds).not.toContain('dcs.releaseLeader');
    expect(kinds).not.toContain('pg.stop');
    expect(result.holdsLock).toBe(true);
    expect(result.memory.primaryStartTimedOutAt).toBe(NOW);
  });

  it('a replica lagging past maximum_lag_on_failover is not fit', async () => {
    const lagging = cluster({ leader: 'node1', members, overrides: { status: { optime: 50_000_000, slots: {}, retainSlots: [] } } });
    const { result } = await runCycle({ pg: starting, cluster: lagging, answers: { 'peers.probe': () => [peer('node0', 1000)] } }, { memory: leaderMemory, task: timedOut });
    expect(result.decision.reason).toBe('primary_start_timed_out');
  });

  it('while it keeps waiting, every cycle looks again and hands over once a replica is fit', async () => {
    const waiting: HaMemory = { ...leaderMemory, primaryStartTimedOutAt: NOW - 30_000 };
    const still = await runCycle({ pg: starting, cluster: led, answers: { 'peers.probe': nobody } }, { memory: waiting });
    expect(still.result.decision.reason).toBe('primary_start_timed_out');
    expect(still.result.memory.primaryStartTimedOutAt).toBe(NOW - 30_000);
    const handed = await runCycle({ pg: starting, cluster: led, answers: { 'peers.probe': fit } }, { memory: waiting });
    expect(handed.result.decision.reason).toBe('start_failed_released_lock');
    expect(handed.kinds).toContain('dcs.releaseLeader');
    expect(handed.result.memory.primaryStartTimedOutAt).toBeNull();
  });

  it('once postgres accepts connections the wait is over and forgotten', async () => {
    const up = pgObservation({ role: 'primary', controlState: 'in production', standbySignal: false, walPosition: 9000 });
    const { result, kinds } = await runCycle({ pg: up, cluster: led, answers: { 'peers.probe': fit } }, { memory: { ...leaderMemory, primaryStartTimedOutAt: NOW - 30_000 } });
    expect(result.decision.reason).toBe('leader_lock_renewed');
    expect(kinds).not.toContain('dcs.releaseLeader');
    expect(result.memory.primaryStartTimedOutAt).toBeNull();
  });

  it('a start that failed outright (postgres not running) releases the lock at once, as before', async () => {
    const down = pgObservation({ running: false, accepting: false, role: null, controlState: 'in production', standbySignal: false });
    const { result, kinds } = await runCycle({ pg: down, cluster: led, answers: { 'peers.probe': nobody } }, { memory: leaderMemory, task: timedOut });
    expect(result.decision.reason).toBe('start_failed_released_lock');
    expect(kinds).toContain('dcs.releaseLeader');
    expect(kinds).not.toContain('peers.probe');
  });
});
