import { describe, expect, it } from 'vitest';
import { decodeStatus, encodeStatus } from '../codec.js';
import { INITIAL_MEMORY } from './cycle.js';
import type { HaMemory } from './cycle.js';
import { EMPTY_PAUSED_LEADER_MEMORY, observePausedLeader } from './paused-leader.js';
import type { PausedLeaderMemory } from './paused-leader.js';
import { cluster, leaderMemory, member, peer, pgObservation, runCycle, runningPrimary } from './test-support.js';

const replica = pgObservation();
const NODE0_API = 'http://127.0.0.1:8432/patroni';
const markedStatus = { optime: 5000, slots: {}, retainSlots: [], pausedLeader: { name: 'node0', apiUrl: NODE0_API } };
/** After the resume: nobody holds the lock, node0 left its mark in `status`, and its member key expired. */
const resumedWithoutLeader = cluster({ members: [member('node1'), member('node2')], overrides: { status: markedStatus } });

function view(overrides: Partial<Parameters<typeof observePausedLeader>[1]> = {}): Parameters<typeof observePausedLeader>[1] {
  return { leader: null, members: [member('node0', { role: 'primary' })], failover: null, ...overrides };
}
const pausedNode0 = [member('node0', { role: 'primary', pause: true })];

describe('observePausedLeader', () => {
  it('a lock holder whose member key last said paused becomes a suspect when its lock vanishes', () => {
    const seen = observePausedLeader(EMPTY_PAUSED_LEADER_MEMORY, view({ leader: 'node0', members: pausedNode0 }));
    expect(seen.lastLeader).toEqual({ name: 'node0', apiUrl: NODE0_API, paused: true });
    // Its member key expires with the lock: what was seen last counts.
    const vanished = observePausedLeader(seen, view({ members: [] }));
    expect(vanished.suspect).toEqual({ name: 'node0', apiUrl: NODE0_API });
    // The suspect stays while nobody leads, and goes when a leader appears.
    expect(observePausedLeader(vanished, view()).suspect).toEqual({ name: 'node0', apiUrl: NODE0_API });
    expect(observePausedLeader(vanished, view({ leader: 'node2' })).suspect).toBeNull();
  });

  it('a holder that had seen the resume (no pause in its member key) makes no suspect', () => {
    const paused = observePausedLeader(EMPTY_PAUSED_LEADER_MEMORY, view({ leader: 'node0', members: pausedNode0 }));
    const resumed = observePausedLeader(paused, view({ leader: 'node0' }));
    expect(observePausedLeader(resumed, view()).suspect).toBeNull();
  });

  it('remembers the failover key seen while a leader held the lock', () => {
    const failover = { version: '42', leader: null, candidate: 'node2', scheduledAt: null };
    expect(observePausedLeader(EMPTY_PAUSED_LEADER_MEMORY, view({ leader: 'node0', failover })).failoverWithLeader).toBe('42');
  });
});

describe('the status mark', () => {
  it('round-trips as paused_leader and is ignored when malformed', () => {
    const encoded = encodeStatus(markedStatus);
    expect(JSON.parse(encoded)).toEqual({ optime: 5000, paused_leader: { name: 'node0', api_url: NODE0_API } });
    expect(decodeStatus({ value: encoded, version: '1' })).toEqual(markedStatus);
    expect(decodeStatus({ value: '{"optime": 1, "paused_leader": 7}', version: '1' })).toEqual({ optime: 1, slots: {}, retainSlots: [] });
    expect(encodeStatus({ optime: 1, slots: {}, retainSlots: [] })).toBe('{"optime":1}');
  });

  it('a paused lock holder publishes itself in status, and removes the mark once resumed', async () => {
    const paused = await runCycle({ pg: runningPrimary, cluster: cluster({ leader: 'node1', config: { pause: true } }) }, { memory: leaderMemory });
    expect(paused.of('dcs.writeStatus')[0]?.status.pausedLeader).toEqual({ name: 'node1', apiUrl: 'http://127.0.0.1:8009/patroni' });

    // Same optime as already published: only the mark changed, and that alone is worth a write.
    const marked = { optime: 9000, slots: {}, retainSlots: [], pausedLeader: { name: 'node1', apiUrl: 'http://127.0.0.1:8009/patroni' } };
    const resumed = await runCycle(
      { pg: runningPrimary, cluster: cluster({ leader: 'node1', overrides: { status: marked } }) },
      { memory: { ...leaderMemory, lastPublishedOptime: 9000 } },
    );
    const [write] = resumed.of('dcs.writeStatus');
    expect(write).toBeDefined();
    expect(write?.status.pausedLeader).toBeUndefined();
  });
});

describe('the leader race after a resume', () => {
  it('paused_leader_unconfirmed: the former paused leader does not answer, so nobody races', async () => {
    const { result, kinds, of } = await runCycle({ pg: replica, cluster: resumedWithoutLeader, answers: { 'peers.probe': () => [peer('node2', 5000)] } });
    expect(result.decision).toMatchObject({ reason: 'not_candidate', ineligible: 'paused_leader_unconfirmed' });
    expect(result.decision.message).toContain('node0 held the lock while the cluster was paused and does not answer');
    expect(kinds).not.toContain('dcs.acquireLeader');
    // Its member key is gone: it is asked at the address its mark gave.
    expect(of('peers.probe')[0]?.members).toContainEqual({ name: 'node0', apiUrl: NODE0_API });
  });

  it('races once the former leader answers as a replica, or with postgres stopped', async () => {
    for (const answer of [peer('node0', 4000), peer('node0', 4000, { role: 'primary', state: 'stopped' })]) {
      const { result } = await runCycle({
        pg: replica,
        cluster: resumedWithoutLeader,
        answers: { 'peers.probe': () => [answer, { name: 'node2', reachable: false, error: 'down' }] },
      });
      // A stopped primary still counts as a primary in the comparison (peer_is_primary); only a replica lets the race go on.
      if (answer.reachable && answer.role === 'replica') expect(result.decision.reason).toBe('acquired_lock_promoting');
      else expect(result.decision.ineligible).not.toBe('paused_leader_unconfirmed');
    }
  });

  it('without a mark (a Patroni leader), the member remembering the paused holder waits too', async () => {
    const memory: HaMemory = {
      ...INITIAL_MEMORY,
      knownMembers: [{ name: 'node0', apiUrl: NODE0_API }],
      pausedLeader: { lastLeader: { name: 'node0', apiUrl: NODE0_API, paused: true }, suspect: null, failoverWithLeader: null },
    };
    const { result } = await runCycle({ pg: replica, cluster: cluster({ members: [member('node1'), member('node2')] }) }, { memory });
    expect(result.decision.ineligible).toBe('paused_leader_unconfirmed');
    expect(result.memory.pausedLeader?.suspect?.name).toBe('node0');
  });

  it('a failover to a named candidate asked for after the lock was gone lifts the wait; one asked for before does not', async () => {
    const failover = { leader: null, candidate: 'node1', scheduledAt: null };
    const withFailover = cluster({ members: [member('node1'), member('node2')], failover, overrides: { status: markedStatus } });
    const forced = await runCycle({ pg: replica, cluster: withFailover });
    expect(forced.result.decision.reason).toBe('acquired_lock_promoting');

    const before: PausedLeaderMemory = { ...EMPTY_PAUSED_LEADER_MEMORY, failoverWithLeader: '42' };
    const stale = await runCycle({ pg: replica, cluster: withFailover }, { memory: { ...INITIAL_MEMORY, pausedLeader: before } });
    expect(stale.result.decision.ineligible).toBe('paused_leader_unconfirmed');
  });

  it('the former leader itself is not held back by its own mark', async () => {
    const { result } = await runCycle({ pg: runningPrimary, cluster: cluster({ overrides: { status: { ...markedStatus, pausedLeader: { name: 'node1', apiUrl: null } } } }) });
    expect(result.decision.reason).toBe('acquired_lock_as_primary');
  });

  it('while still paused, nobody races anyway', async () => {
    const { result } = await runCycle({ pg: replica, cluster: cluster({ config: { pause: true }, overrides: { status: markedStatus } }) });
    expect(result.decision).toMatchObject({ reason: 'not_candidate', ineligible: 'paused' });
  });
});

describe('synchronous mode compares only members the sync key lists', () => {
  it('a member outside the sync key with more WAL does not hold back a synchronous standby', async () => {
    const sync = { version: '5', leader: 'node0', syncStandby: ['node1'], quorum: 0 };
    const { result } = await runCycle({
      pg: replica,
      cluster: cluster({ config: { synchronous_mode: true }, overrides: { sync } }),
      answers: { 'peers.probe': () => [peer('node2', 9999)] },
    });
    expect(result.decision.reason).toBe('acquired_lock_promoting');
  });
});
