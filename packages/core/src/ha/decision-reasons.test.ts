/** One focused case per decision reason the older suites left unreached; fixtures from test-support.ts. */
import { describe, expect, it } from 'vitest';
import type { TaskState } from './effects.js';
import { NOW, cluster, leaderMemory, pgObservation, runCycle, runningPrimary, settings } from './test-support.js';

const replica = pgObservation();
const led = cluster({ leader: 'node0' });

function failed(kind: TaskState['kind'], error = 'boom'): TaskState {
  return { kind, state: 'failed', startedAt: NOW - 5000, error };
}

describe('long tasks', () => {
  it('task_running: a replica creation in progress is left alone, no lock is touched', async () => {
    const { result, kinds } = await runCycle({ pg: replica, cluster: led }, { task: { kind: 'clone', state: 'running', startedAt: NOW - 1000 } });
    expect(result.decision).toEqual({ reason: 'task_running', message: 'replica creation in progress' });
    expect(kinds).not.toContain('dcs.renewLeader');
    expect(kinds).not.toContain('task.start');
  });

  it('task_failed: a failed task is reported and the next cycle comes at once', async () => {
    const { result } = await runCycle({ pg: replica, cluster: led }, { task: failed('clone', 'pg_basebackup exited with 1') });
    expect(result.decision).toEqual({ reason: 'task_failed', message: 'replica creation failed: pg_basebackup exited with 1' });
    expect(result.wakeSoon).toBe(true);
  });

  it('rewind_failed: without remove_data_directory_on_rewind_failure the member waits for an operator, armed to rewind again', async () => {
    const stopped = pgObservation({ running: false, accepting: false, role: null });
    const { result, kinds } = await runCycle({ pg: stopped, cluster: led }, { task: failed('rewind', 'could not find common ancestor') });
    expect(result.decision.reason).toBe('rewind_failed');
    expect(result.memory.rewindArmed).toBe(true);
    expect(kinds).not.toContain('task.start');
  });

  it('rewind_failed_reinitializing: with remove_data_directory_on_rewind_failure it clones again from the leader', async () => {
    const stopped = pgObservation({ running: false, accepting: false, role: null });
    const { result, of } = await runCycle(
      { pg: stopped, cluster: led },
      { task: failed('rewind'), settings: { ...settings, removeDataDirectoryOnRewindFailure: true } },
    );
    expect(result.decision.reason).toBe('rewind_failed_reinitializing');
    expect(of('task.start')).toEqual([{ kind: 'task.start', task: { kind: 'reinitialize', source: { name: 'node0', host: '127.0.0.1', port: 5432 } } }]);
  });
});

describe('data directory', () => {
  it('data_directory_inaccessible: nothing is attempted', async () => {
    const { result, kinds } = await runCycle({ pg: pgObservation({ dataDirectory: 'inaccessible', running: false, accepting: false, role: null }), cluster: led });
    expect(result.decision.reason).toBe('data_directory_inaccessible');
    expect(kinds).not.toContain('task.start');
    expect(kinds).not.toContain('dcs.initialize');
  });

  it('released_lock_without_data: a lock holder whose data directory is empty gives the lock up', async () => {
    const empty = pgObservation({ dataDirectory: 'empty', systemId: null, running: false, accepting: false, role: null, controlState: null });
    const { result, kinds } = await runCycle({ pg: empty, cluster: cluster({ leader: 'node1' }) }, { memory: leaderMemory });
    expect(result.decision.reason).toBe('released_lock_without_data');
    expect(kinds).toContain('dcs.releaseLeader');
    expect(result.holdsLock).toBe(false);
    expect(result.role).toBe('uninitialized');
  });

  it('replica_without_initialize: a running replica never writes the initialize key itself', async () => {
    const fresh = cluster({ overrides: { initialize: null } });
    const { result, kinds } = await runCycle({ pg: replica, cluster: fresh });
    expect(result.decision.reason).toBe('replica_without_initialize');
    expect(kinds).not.toContain('dcs.initialize');
    expect(kinds).not.toContain('dcs.acquireLeader');
  });

  it('postgres_not_ready: a replica still starting up is waited for', async () => {
    const starting = pgObservation({ accepting: false, role: null });
    const { result, kinds } = await runCycle({ pg: starting, cluster: led });
    expect(result.decision.reason).toBe('postgres_not_ready');
    expect(kinds).not.toContain('pg.follow');
  });

  it('postgres_not_ready: a lock holder still starting up renews its lock and counts it valid for another ttl', async () => {
    const starting = pgObservation({ accepting: false, role: null });
    const { result, kinds } = await runCycle({ pg: starting, cluster: cluster({ leader: 'node1' }) }, { memory: leaderMemory, now: NOW + 5_000 });
    expect(result.decision.reason).toBe('postgres_not_ready');
    expect(kinds).toContain('dcs.renewLeader');
    expect(result.memory.lockValidUntil).toBe(NOW + 5_000 + 30_000);
    expect(result.holdsLock).toBe(true);
  });

  it('lock_lost_not_primary: a lock holder whose postgres is not ready and whose renewal fails', async () => {
    const starting = pgObservation({ accepting: false, role: null });
    const { result } = await runCycle(
      { pg: starting, cluster: cluster({ leader: 'node1' }), answers: { 'dcs.renewLeader': () => ({ ok: true, value: false }) } },
      { memory: leaderMemory },
    );
    expect(result.decision.reason).toBe('lock_lost_not_primary');
    expect(result.memory.lockValidUntil).toBeNull();
  });
});

describe('race and following', () => {
  it('promotion_failed: the lock is kept and promotion is tried again next cycle', async () => {
    const { result, kinds } = await runCycle({ pg: replica, cluster: cluster(), answers: { 'pg.promote': () => false } });
    expect(result.decision.reason).toBe('promotion_failed');
    expect(kinds).toContain('dcs.acquireLeader');
    expect(kinds).not.toContain('dcs.releaseLeader');
    expect(result.holdsLock).toBe(true);
  });

  it('sync_state_not_written: in synchronous mode a new leader does not promote before it owns the sync key', async () => {
    const sync = cluster({ config: { synchronous_mode: true }, overrides: { sync: { version: '9', leader: 'node0', syncStandby: ['node1'], quorum: 0 } } });
    const { result, kinds } = await runCycle({ pg: replica, cluster: sync, answers: { 'dcs.setSync': () => ({ ok: true, value: false }) } });
    expect(result.decision.reason).toBe('sync_state_not_written');
    expect(kinds).toContain('dcs.setSync');
    expect(kinds).not.toContain('pg.promote');
  });

  it('follow_failed: pointing postgres at the leader did not work', async () => {
    const { result } = await runCycle({ pg: replica, cluster: led, answers: { 'pg.follow': () => null } });
    expect(result.decision).toEqual({ reason: 'follow_failed', message: 'failed to point postgres at node0' });
  });

  it('copying_logical_slots: a replica missing a permanent logical slot the primary reported restarts to copy it', async () => {
    const withSlot = cluster({
      leader: 'node0',
      config: { slots: { cdc: { type: 'logical', database: 'postgres', plugin: 'test_decoding' } } },
      overrides: { status: { optime: 5000, slots: { cdc: 800 }, retainSlots: [] } },
    });
    const { result, of } = await runCycle({ pg: pgObservation({ replicationSlots: [] }), cluster: withSlot });
    expect(result.decision.reason).toBe('copying_logical_slots');
    const [start] = of('task.start');
    expect(start?.task).toMatchObject({ kind: 'restart', role: 'replica', installSlots: { slots: [{ name: 'cdc', database: 'postgres', plugin: 'test_decoding' }] } });
  });
});

describe('ineligible reasons', () => {
  it('timeline_behind (check_timeline): a replica on an older timeline than the cluster stays out of the race', async () => {
    const history = { version: '3', lines: [[1, 4000, 'no recovery target specified'] as [number, number, string]] };
    const { result, kinds } = await runCycle({ pg: replica, cluster: cluster({ config: { check_timeline: true }, overrides: { history } }) });
    expect(result.decision).toMatchObject({ reason: 'not_candidate', ineligible: 'timeline_behind' });
    expect(result.decision.message).toContain("timeline 1 is behind the cluster's 2");
    expect(kinds).not.toContain('dcs.acquireLeader');
  });

  it('timeline_behind is not checked without check_timeline', async () => {
    const history = { version: '3', lines: [[1, 4000, 'no recovery target specified'] as [number, number, string]] };
    const { result } = await runCycle({ pg: replica, cluster: cluster({ overrides: { history } }) });
    expect(result.decision.reason).toBe('acquired_lock_promoting');
  });

  it('timeline_behind: a running primary behind the cluster timeline is demoted instead of taking the free lock', async () => {
    const history = { version: '3', lines: [[1, 4000, 'a'] as [number, number, string], [2, 8000, 'b'] as [number, number, string]] };
    const { result, kinds } = await runCycle({ pg: pgObservation({ ...runningPrimary, timeline: 2 }), cluster: cluster({ overrides: { history } }) });
    expect(result.decision.reason).toBe('demoted_other_leader');
    expect(result.decision.message).toContain("timeline 2 is behind the cluster's 3");
    expect(kinds).not.toContain('dcs.acquireLeader');
  });

  it('postgres_not_running is never the outcome of the race: a member whose postgres is down or not ready never gets there', async () => {
    // Finding: checkEligibility's postgres_not_running branch is unreachable, decide() handles both cases first.
    const down = await runCycle({ pg: pgObservation({ running: false, accepting: false, role: null }), cluster: cluster() });
    expect(down.result.decision.reason).toBe('starting_replica');
    const notReady = await runCycle({ pg: pgObservation({ accepting: false, role: null }), cluster: cluster() });
    expect(notReady.result.decision.reason).toBe('postgres_not_ready');
  });
});

describe('operator commands', () => {
  it('restart_refused: a role filter that does not match', async () => {
    const { result, kinds } = await runCycle({ pg: replica, cluster: led }, { command: { kind: 'restart', role: 'primary' } });
    expect(result.decision).toEqual({ reason: 'restart_refused', message: 'restart refused: role is replica, not primary' });
    expect(result.commandOutcome).toEqual({ accepted: false, message: 'restart conditions are not satisfied' });
    expect(kinds).not.toContain('task.start');
  });

  it('restart_refused: deleting a scheduled restart when none is scheduled', async () => {
    const { result } = await runCycle({ pg: replica, cluster: led }, { command: { kind: 'cancelScheduledRestart' } });
    expect(result.decision.reason).toBe('restart_refused');
    expect(result.commandOutcome).toEqual({ accepted: false, message: 'no restarts are scheduled' });
  });

  it('reinitialize_refused: the leader cannot reinitialize itself, nor anyone without a leader', async () => {
    const self = await runCycle({ pg: runningPrimary, cluster: cluster({ leader: 'node1' }) }, { memory: leaderMemory, command: { kind: 'reinitialize', fromLeader: false } });
    expect(self.result.decision.reason).toBe('reinitialize_refused');
    expect(self.result.commandOutcome).toEqual({ accepted: false, message: 'I am the leader, can not reinitialize' });
    const leaderless = await runCycle({ pg: replica, cluster: cluster() }, { command: { kind: 'reinitialize', fromLeader: false } });
    expect(leaderless.result.commandOutcome).toEqual({ accepted: false, message: 'Cluster has no leader, can not reinitialize' });
    expect(leaderless.kinds).not.toContain('task.start');
  });

  it('reinitialize_refused while another task runs', async () => {
    const { result } = await runCycle(
      { pg: replica, cluster: led },
      { command: { kind: 'reinitialize', fromLeader: true }, task: { kind: 'rewind', state: 'running', startedAt: NOW } },
    );
    expect(result.commandOutcome).toEqual({ accepted: false, message: 'pg_rewind already in progress' });
  });
});
