import { describe, expect, it } from 'vitest';
import { NOW, clusterWith, primaryObservation, primarySnapshot, replicaObservation, replicaSnapshot } from '../test/fixtures.js';
import type { NodeSnapshot } from './node.js';
import { healthCheckStatus, livenessStatus, readinessStatus, replicaCheck, replicationLag } from './health.js';

const q = (params: Record<string, string>): Map<string, string> => new Map(Object.entries(params));
const LEADER_PATHS = ['/', '/primary', '/read-write', '/master', '/leader', '/standby-leader', '/standby_leader'];

function statuses(snapshot: NodeSnapshot, paths: readonly string[]): Record<string, number> {
  return Object.fromEntries(paths.map((path) => [path, healthCheckStatus(snapshot, path)]));
}

describe('leader checks', () => {
  it('a primary holding a valid lock answers /, /primary, /read-write, /leader, /read-only but not the standby leader', () => {
    expect(statuses(primarySnapshot(), [...LEADER_PATHS, '/read-only', '/replica', '/health'])).toEqual({
      '/': 200,
      '/primary': 200,
      '/read-write': 200,
      '/master': 200,
      '/leader': 200,
      '/standby-leader': 503,
      '/standby_leader': 503,
      '/read-only': 200,
      '/replica': 503,
      '/health': 200,
    });
  });

  it('a primary whose lock view expired is no leader anywhere', () => {
    const snapshot = primarySnapshot({ holdsValidLock: false });
    expect(statuses(snapshot, [...LEADER_PATHS, '/read-only'])).toEqual(
      Object.fromEntries([...LEADER_PATHS, '/read-only'].map((path) => [path, 503])),
    );
    expect(healthCheckStatus(snapshot, '/health')).toBe(200);
  });

  it('the lock holder of a standby cluster is leader and standby leader, never primary or replica', () => {
    const snapshot = replicaSnapshot({ role: 'standby_leader', isStandbyCluster: true, holdsValidLock: true });
    expect(statuses(snapshot, [...LEADER_PATHS, '/replica', '/read-only'])).toEqual({
      '/': 503,
      '/primary': 503,
      '/read-write': 503,
      '/master': 503,
      '/leader': 200,
      '/standby-leader': 200,
      '/standby_leader': 200,
      '/replica': 503,
      '/read-only': 200,
    });
  });

  it('paused without any DCS view, PostgreSQL role decides', () => {
    const primary = primarySnapshot({ cluster: null, paused: true, holdsValidLock: false });
    expect(statuses(primary, ['/primary', '/leader', '/standby-leader'])).toEqual({
      '/primary': 200,
      '/leader': 200,
      '/standby-leader': 503,
    });
    const standbyLeader = replicaSnapshot({
      cluster: null,
      paused: true,
      isStandbyCluster: true,
      role: 'standby_leader',
    });
    expect(statuses(standbyLeader, ['/primary', '/leader', '/standby-leader'])).toEqual({
      '/primary': 503,
      '/leader': 200,
      '/standby-leader': 200,
    });
    // Not paused: the lock view rules even without a DCS view.
    expect(healthCheckStatus(primarySnapshot({ cluster: null, holdsValidLock: false }), '/primary')).toBe(503);
  });

  it('ignores tag filters on leader paths', () => {
    expect(healthCheckStatus(primarySnapshot(), '/primary', q({ tag_zone: 'nowhere' }))).toBe(200);
    expect(healthCheckStatus(primarySnapshot(), '/leader', q({ tag_zone: 'nowhere' }))).toBe(200);
  });
});

describe('replica check', () => {
  it('a streaming replica within reach answers /replica, /read-only, /health but no leader path', () => {
    expect(statuses(replicaSnapshot(), [...LEADER_PATHS, '/replica', '/read-only', '/health'])).toEqual({
      ...Object.fromEntries(LEADER_PATHS.map((path) => [path, 503])),
      '/replica': 200,
      '/read-only': 200,
      '/health': 200,
    });
  });

  it('matches paths by substring, as Patroni does', () => {
    expect(healthCheckStatus(replicaSnapshot(), '/replica/anything')).toBe(200);
    expect(healthCheckStatus(replicaSnapshot(), '/nothing-known')).toBe(503);
    expect(healthCheckStatus(primarySnapshot(), '/something/primary')).toBe(200);
  });

  it('requires PostgreSQL running and answering as a replica', () => {
    expect(replicaCheck(replicaSnapshot({ state: 'starting' }))).toBe(503);
    expect(replicaCheck(replicaSnapshot({ postgres: replicaObservation({ accepting: false, role: null }) }))).toBe(503);
    expect(replicaCheck(replicaSnapshot({ postgres: null }))).toBe(503);
    expect(replicaCheck(primarySnapshot({ holdsValidLock: false }))).toBe(503);
  });

  it('refuses a noloadbalance member, however the tag is written', () => {
    for (const value of [true, 'true', 'on', 'YES', 1]) {
      expect(replicaCheck(replicaSnapshot({ tags: { noloadbalance: value } }))).toBe(503);
    }
    expect(replicaCheck(replicaSnapshot({ tags: { noloadbalance: false } }))).toBe(200);
  });

  it('applies lag= against max(status optime, WAL receiver latest_end_lsn) minus the replayed position', () => {
    // replayed 0x4fff000, leader at 0x5000060: 4192 bytes behind.
    const snapshot = replicaSnapshot();
    expect(replicationLag(snapshot)).toBe(4192);
    expect(replicaCheck(snapshot, q({ lag: '4192' }))).toBe(200);
    expect(replicaCheck(snapshot, q({ lag: '4191' }))).toBe(503);
    expect(replicaCheck(snapshot, q({ lag: '4kB' }))).toBe(503);
    expect(replicaCheck(snapshot, q({ lag: '5kB' }))).toBe(200);
    expect(replicaCheck(snapshot, q({ lag: '1MB' }))).toBe(200);
    // The WAL receiver heard of a newer position than the status key: it counts.
    const ahead = replicaSnapshot({ walReceiverLatestEndLsn: 0x5100000 });
    expect(replicaCheck(ahead, q({ lag: '16kB' }))).toBe(503);
    expect(replicaCheck(ahead, q({ lag: '2MB' }))).toBe(200);
  });

  it('ignores an unreadable lag=, and never counts lag while the leader position is unknown', () => {
    expect(replicaCheck(replicaSnapshot(), q({ lag: 'abc' }))).toBe(200);
    expect(replicaCheck(replicaSnapshot(), q({ lag: '10mb' }))).toBe(200);
    const unknown = replicaSnapshot({ cluster: clusterWith({ status: { optime: 0, slots: {}, retainSlots: [] } }), walReceiverLatestEndLsn: null });
    expect(replicaCheck(unknown, q({ lag: '0' }))).toBe(200);
  });

  it('filters on replication_state=', () => {
    expect(replicaCheck(replicaSnapshot(), q({ replication_state: 'streaming' }))).toBe(200);
    expect(replicaCheck(replicaSnapshot(), q({ replication_state: 'in archive recovery' }))).toBe(503);
    const archive = replicaSnapshot({ postgres: replicaObservation({ replicationState: 'in archive recovery' }) });
    expect(replicaCheck(archive, q({ replication_state: 'streaming' }))).toBe(503);
    expect(replicaCheck(archive)).toBe(200);
  });

  it('filters on tag_<name>= on replica, read-only and health paths', () => {
    const snapshot = replicaSnapshot({ tags: { zone: 'eu-1', nosync: true, priority: 3 } });
    expect(healthCheckStatus(snapshot, '/replica', q({ tag_zone: 'eu-1' }))).toBe(200);
    expect(healthCheckStatus(snapshot, '/replica', q({ tag_zone: 'eu-2' }))).toBe(503);
    expect(healthCheckStatus(snapshot, '/replica', q({ tag_missing: 'x' }))).toBe(503);
    expect(healthCheckStatus(snapshot, '/replica', q({ tag_nosync: 'true', tag_priority: '3' }))).toBe(200);
    expect(healthCheckStatus(snapshot, '/replica', q({ tag_nosync: 'True' }))).toBe(503);
    expect(healthCheckStatus(snapshot, '/read-only', q({ tag_zone: 'eu-2' }))).toBe(503);
    expect(healthCheckStatus(snapshot, '/health', q({ tag_zone: 'eu-2' }))).toBe(503);
    // Only tag_ parameters filter.
    expect(healthCheckStatus(snapshot, '/replica', q({ zone: 'eu-2' }))).toBe(200);
  });
});

describe('/health', () => {
  it('is 200 only while PostgreSQL runs and answers, whatever the role', () => {
    expect(healthCheckStatus(replicaSnapshot({ tags: { noloadbalance: true } }), '/health')).toBe(200);
    expect(healthCheckStatus(primarySnapshot({ state: 'stopped', postgres: primaryObservation({ running: false, accepting: false, role: null }) }), '/health')).toBe(503);
    expect(healthCheckStatus(primarySnapshot({ postgres: primaryObservation({ accepting: false, role: null }) }), '/health')).toBe(503);
  });
});

describe('synchronous and quorum paths', () => {
  const sync = { version: 's1', leader: 'node1', syncStandby: ['node2'], quorum: 1 };
  const syncCluster = clusterWith({ config: { version: 'c', data: { synchronous_mode: true } }, sync });
  const quorumCluster = clusterWith({ config: { version: 'c', data: { synchronous_mode: 'quorum' } }, sync });
  const paths = ['/sync', '/synchronous', '/async', '/asynchronous', '/quorum', '/read-only-sync', '/read-only-synchronous', '/read-only-quorum'];

  it('a sync standby answers /sync and /read-only-sync, not /async or /quorum', () => {
    expect(statuses(replicaSnapshot({ cluster: syncCluster }), paths)).toEqual({
      '/sync': 200,
      '/synchronous': 200,
      '/async': 503,
      '/asynchronous': 503,
      '/quorum': 503,
      '/read-only-sync': 200,
      '/read-only-synchronous': 200,
      '/read-only-quorum': 503,
    });
  });

  it('a quorum standby answers /quorum and /read-only-quorum', () => {
    expect(statuses(replicaSnapshot({ cluster: quorumCluster }), paths)).toMatchObject({
      '/sync': 503,
      '/async': 503,
      '/quorum': 200,
      '/read-only-quorum': 200,
      '/read-only-sync': 503,
    });
  });

  it('an asynchronous replica answers /async only', () => {
    expect(statuses(replicaSnapshot({ cluster: clusterWith() }), paths)).toMatchObject({
      '/sync': 503,
      '/async': 200,
      '/quorum': 503,
      '/read-only-sync': 503,
    });
  });

  it('the primary answers the read-only variants', () => {
    expect(statuses(primarySnapshot({ cluster: syncCluster }), paths)).toMatchObject({
      '/read-only-sync': 200,
      '/read-only-quorum': 200,
      '/sync': 503,
      '/async': 503,
    });
  });

  it('needs a DCS view', () => {
    expect(statuses(replicaSnapshot({ cluster: null }), ['/sync', '/async', '/read-only-sync'])).toEqual({
      '/sync': 503,
      '/async': 503,
      '/read-only-sync': 503,
    });
  });
});

describe('livenessStatus', () => {
  it('a primary is live until its next cycle is overdue by ttl', () => {
    // next cycle due at lastCycleAt + loop_wait (10 s); ttl 30 s.
    expect(livenessStatus(primarySnapshot({ lastCycleAt: NOW - 39_000 }))).toBe(200);
    expect(livenessStatus(primarySnapshot({ lastCycleAt: NOW - 40_000 }))).toBe(503);
  });

  it('a replica gets twice the ttl', () => {
    expect(livenessStatus(replicaSnapshot({ lastCycleAt: NOW - 69_000 }))).toBe(200);
    expect(livenessStatus(replicaSnapshot({ lastCycleAt: NOW - 70_000 }))).toBe(503);
    // A primary whose PostgreSQL is down is judged like a replica.
    const down = primarySnapshot({ lastCycleAt: NOW - 50_000, postgres: primaryObservation({ running: false }) });
    expect(livenessStatus(down)).toBe(200);
  });

  it('paused is always live; no cycle yet is not', () => {
    expect(livenessStatus(primarySnapshot({ lastCycleAt: NOW - 3_600_000, paused: true }))).toBe(200);
    expect(livenessStatus(primarySnapshot({ lastCycleAt: null }))).toBe(503);
    expect(livenessStatus(primarySnapshot({ lastCycleAt: null, paused: true }))).toBe(200);
  });
});

describe('readinessStatus', () => {
  it('the lock holder is ready whatever else', () => {
    expect(readinessStatus(primarySnapshot({ state: 'stopped' }))).toEqual({ status: 200, reason: null });
  });

  it('a replica must run and stream', () => {
    expect(readinessStatus(replicaSnapshot({ state: 'starting' }))).toEqual({ status: 503, reason: 'PostgreSQL is not running' });
    const archive = replicaSnapshot({ postgres: replicaObservation({ replicationState: 'in archive recovery' }) });
    expect(readinessStatus(archive).status).toBe(503);
    expect(readinessStatus(archive).reason).toMatch(/not streaming/);
    expect(readinessStatus(primarySnapshot({ holdsValidLock: false })).status).toBe(503);
  });

  it('measures lag on replayed WAL by default, received WAL with mode=write, against maximum_lag_on_failover', () => {
    // replayed lag 4192, received lag 96.
    expect(readinessStatus(replicaSnapshot()).status).toBe(200);
    expect(readinessStatus(replicaSnapshot({ maximumLagOnFailover: 4000 }))).toEqual({
      status: 503,
      reason: 'Replication apply lag 4192 exceeds maximum allowable 4000',
    });
    expect(readinessStatus(replicaSnapshot({ maximumLagOnFailover: 4000 }), q({ mode: 'write' })).status).toBe(200);
    expect(readinessStatus(replicaSnapshot(), q({ lag: '1kB' })).status).toBe(503);
    expect(readinessStatus(replicaSnapshot(), q({ lag: '1kB', mode: 'write' })).status).toBe(200);
    // An unreadable lag= falls back to maximum_lag_on_failover.
    expect(readinessStatus(replicaSnapshot({ maximumLagOnFailover: 4000 }), q({ lag: 'lots' })).status).toBe(503);
  });

  it('without a DCS view, needs the WAL receiver position or active failsafe', () => {
    expect(readinessStatus(replicaSnapshot({ cluster: null })).status).toBe(200);
    const blind = replicaSnapshot({ cluster: null, walReceiverLatestEndLsn: null });
    expect(readinessStatus(blind)).toEqual({ status: 503, reason: 'DCS is not accessible' });
    expect(readinessStatus({ ...blind, failsafeActive: true }).status).toBe(200);
  });
});
