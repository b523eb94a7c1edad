/** primary_race_backoff: the leader race waits while the vanished primary may only have frozen for a moment. */
import { describe, expect, it } from 'vitest';
import type { HaMemory } from './cycle.js';
import { INITIAL_MEMORY } from './cycle.js';
import type { RaceBackoffInput } from './race-backoff.js';
import { primaryRaceBackoff, raceBackoffVerdict } from './race-backoff.js';
import { BASE_CONFIG, NOW, cluster, peer, pgObservation, runCycle } from './test-support.js';

const base: RaceBackoffInput = {
  now: NOW,
  backoff: 60,
  loopWait: 10,
  paused: false,
  standbyCluster: false,
  failoverCandidate: false,
  since: null,
  previousWalPosition: 4000,
  walPosition: 5000,
  streaming: true,
};

describe('raceBackoffVerdict', () => {
  it('opens the window on the first unlocked cycle and waits', () => {
    expect(raceBackoffVerdict({ ...base, walPosition: 4000, streaming: false })).toEqual({ postpone: true, since: NOW, secondsLeft: 60, why: 'first_loop' });
  });

  it('after the first loop_wait waits only while WAL keeps arriving', () => {
    const since = NOW - 20_000;
    expect(raceBackoffVerdict({ ...base, since })).toEqual({ postpone: true, since, secondsLeft: 40, why: 'wal_advancing' });
    expect(raceBackoffVerdict({ ...base, since, walPosition: 4000 })).toEqual({ postpone: false, since });
    expect(raceBackoffVerdict({ ...base, since, streaming: false })).toEqual({ postpone: false, since });
  });

  it('races once the window is over, WAL or not', () => {
    const since = NOW - 60_000;
    expect(raceBackoffVerdict({ ...base, since })).toEqual({ postpone: false, since });
  });

  it('does not apply when off, paused, in a standby cluster, with a failover candidate, or on the first cycle', () => {
    for (const input of [
      { ...base, backoff: 0 },
      { ...base, paused: true },
      { ...base, standbyCluster: true },
      { ...base, failoverCandidate: true },
      { ...base, previousWalPosition: null },
    ]) {
      expect(raceBackoffVerdict(input)).toEqual({ postpone: false, since: null });
    }
  });

  it('reads primary_race_backoff from the dynamic configuration', () => {
    expect(primaryRaceBackoff({ primary_race_backoff: 30 })).toBe(30);
    expect(primaryRaceBackoff({ primary_race_backoff: '15' })).toBe(15);
    expect(primaryRaceBackoff({})).toBe(0);
    expect(primaryRaceBackoff({ primary_race_backoff: 'soon' })).toBe(0);
  });
});

describe('primary_race_backoff in the HA cycle', () => {
  const config = { ...BASE_CONFIG, primary_race_backoff: 60 };
  const unlocked = cluster({ config });
  const seen: HaMemory = { ...INITIAL_MEMORY, configData: config, lastWalPosition: 4000 };
  const healthiest = { 'peers.probe': () => [peer('node0', 1000), peer('node2', 1000)] };

  it('postpones the race on the first unlocked cycle, wakes at the end of the window', async () => {
    const { result, kinds } = await runCycle({ pg: pgObservation(), cluster: unlocked, answers: healthiest }, { memory: seen });
    expect(result.decision.reason).toBe('race_postponed');
    expect(kinds).not.toContain('dcs.acquireLeader');
    expect(kinds).not.toContain('peers.probe');
    expect(result.memory.raceBackoffSince).toBe(NOW);
    expect(result.wakeAt).toBe(NOW + 60_000);
    expect(result.memory.lastWalPosition).toBe(5000);
  });

  it('keeps waiting while WAL arrives, races when it stops', async () => {
    const waiting: HaMemory = { ...seen, raceBackoffSince: NOW - 30_000 };
    const moving = await runCycle({ pg: pgObservation({ walPosition: 6000 }), cluster: unlocked, answers: healthiest }, { memory: { ...waiting, lastWalPosition: 5000 } });
    expect(moving.result.decision.reason).toBe('race_postponed');
    expect(moving.result.decision.message).toContain('30 s until the race');
    const still = await runCycle({ pg: pgObservation({ walPosition: 5000 }), cluster: unlocked, answers: healthiest }, { memory: { ...waiting, lastWalPosition: 5000 } });
    expect(still.result.decision.reason).toBe('acquired_lock_promoting');
  });

  it('races at once with a failover candidate named', async () => {
    const withCandidate = cluster({ config, failover: { leader: null, candidate: 'node1', scheduledAt: null } });
    const { result } = await runCycle({ pg: pgObservation(), cluster: withCandidate, answers: healthiest }, { memory: seen });
    expect(result.decision.reason).toBe('acquired_lock_promoting');
  });

  it('is off by default: the race runs on the first unlocked cycle', async () => {
    const { result } = await runCycle({ pg: pgObservation(), cluster: cluster(), answers: healthiest }, { memory: { ...INITIAL_MEMORY, lastWalPosition: 4000 } });
    expect(result.decision.reason).toBe('acquired_lock_promoting');
    expect(result.memory.raceBackoffSince ?? null).toBeNull();
  });

  it('forgets the window once a leader appears', async () => {
    const led = cluster({ config, leader: 'node0' });
    const { result } = await runCycle({ pg: pgObservation(), cluster: led }, { memory: { ...seen, raceBackoffSince: NOW - 30_000 } });
    expect(result.decision.reason).toBe('following_leader');
    expect(result.memory.raceBackoffSince).toBeNull();
  });
});
