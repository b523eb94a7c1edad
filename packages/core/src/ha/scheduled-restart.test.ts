/** A restart scheduled through POST /restart is published in member data, and its role filter uses Patroni's roles. */
import { describe, expect, it } from 'vitest';
import type { MemberData } from '../model.js';
import type { HaMemory, ScheduledRestart } from './cycle.js';
import { INITIAL_MEMORY } from './cycle.js';
import { restartFilterRole, scheduledRestartData, scheduledRestartStatus } from './scheduled-restart.js';
import { NOW, cluster, leaderMemory, member, pgObservation, runCycle } from './test-support.js';

const replica = pgObservation();
const led = cluster({ leader: 'node0' });
const restart: ScheduledRestart = {
  at: NOW + 3_600_000,
  schedule: '2026-11-21T13:00:00.000Z',
  role: 'replica',
  postgresVersionBelow: 160000,
  postgresVersion: '16.0',
  timeout: 120,
  postmasterStartTime: '2026-11-21 11:00:00+00',
};

function published(touched: ReadonlyArray<{ data: MemberData }>): MemberData | undefined {
  return touched.at(-1)?.data;
}

describe('scheduled restart in member data', () => {
  it('is published by the cycle that accepts it, in the shape patronictl reads', async () => {
    const { result, of } = await runCycle({ pg: replica, cluster: led }, { command: { kind: 'scheduleRestart', restart } });
    expect(result.commandOutcome).toEqual({ accepted: true, message: 'restart scheduled at 2026-11-21T13:00:00.000Z' });
    expect(published(of('dcs.touchMember'))?.scheduled_restart).toEqual({
      schedule: '2026-11-21T13:00:00.000Z',
      role: 'replica',
      postgres_version: '16.0',
      timeout: 120,
      postmaster_start_time: '2026-11-21 11:00:00+00',
    });
  });

  it('stays published until it runs or is deleted', async () => {
    const memory: HaMemory = { ...INITIAL_MEMORY, scheduledRestart: restart };
    const waiting = await runCycle({ pg: replica, cluster: led }, { memory });
    expect(published(waiting.of('dcs.touchMember'))?.scheduled_restart).toMatchObject({ schedule: restart.schedule });
    const deleted = await runCycle({ pg: replica, cluster: led }, { memory, command: { kind: 'cancelScheduledRestart' } });
    expect(deleted.result.commandOutcome).toEqual({ accepted: true, message: 'scheduled restart deleted' });
    expect(published(deleted.of('dcs.touchMember'))).not.toHaveProperty('scheduled_restart');
    const ran = await runCycle({ pg: replica, cluster: led }, { memory, now: restart.at + 1000 });
    expect(ran.result.decision.reason).toBe('restart_started');
    expect(published(ran.of('dcs.touchMember'))).not.toHaveProperty('scheduled_restart');
  });

  it('GET /patroni shows it without postmaster_start_time; a missing version text is derived from the number', () => {
    expect(scheduledRestartStatus(restart)).toEqual({ schedule: restart.schedule, role: 'replica', postgres_version: '16.0', timeout: 120 });
    const { postgresVersion: _, ...numeric } = restart;
    expect(scheduledRestartData({ ...numeric, postgresVersionBelow: 90603, restartPending: true })).toMatchObject({ postgres_version: '9.6.3', restart_pending: true });
  });
});

describe('the role filter', () => {
  const standby = cluster({ leader: 'node1', members: [member('node0'), member('node1', { role: 'standby_leader' })], config: { standby_cluster: { host: '10.0.0.9', port: 5432 } } });
  const standbyMemory: HaMemory = { ...leaderMemory, lastRole: 'standby_leader' };

  it('compares with the member role: the leader of a standby cluster is standby_leader, not replica', async () => {
    const matched = await runCycle({ pg: replica, cluster: standby }, { memory: standbyMemory, command: { kind: 'restart', role: 'standby_leader' } });
    expect(matched.result.decision.reason).toBe('restart_started');
    expect(matched.of('task.start')[0]?.task).toMatchObject({ kind: 'restart', role: 'replica', upstream: { host: '10.0.0.9', port: 5432 } });
    const refused = await runCycle({ pg: replica, cluster: standby }, { memory: standbyMemory, command: { kind: 'restart', role: 'replica' } });
    expect(refused.result.decision).toEqual({ reason: 'restart_refused', message: 'restart refused: role is standby_leader, not replica' });
  });

  it('a restart scheduled for the standby leader falls due on it', async () => {
    const scheduled: ScheduledRestart = { at: NOW - 1000, schedule: '2026-11-21T11:59:59.000Z', role: 'standby_leader', postmasterStartTime: replica.postmasterStartTime };
    const { result, kinds } = await runCycle({ pg: replica, cluster: standby }, { memory: { ...standbyMemory, scheduledRestart: scheduled } });
    expect(result.decision.reason).toBe('restart_started');
    expect(kinds).toContain('task.start');
    expect(result.memory.scheduledRestart).toBeNull();
  });

  it('restartFilterRole', () => {
    expect(restartFilterRole(replica, false, 'replica')).toBe('replica');
    expect(restartFilterRole(replica, true, 'standby_leader')).toBe('standby_leader');
    expect(restartFilterRole(pgObservation({ role: 'primary' }), true, null)).toBe('primary');
    expect(restartFilterRole(pgObservation({ running: false, accepting: false, role: null }), false, 'demoted')).toBe('demoted');
  });
});
