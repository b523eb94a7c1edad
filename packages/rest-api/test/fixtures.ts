import { emptyCluster } from '@pgwarden/core';
import type { Cluster, Member, MemberData, PostgresObservation } from '@pgwarden/core';
import type { NodeSnapshot } from '../src/node.js';

/** Test data shared by the unit and integration tests of this package. */

export const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);

export function primaryObservation(overrides: Partial<PostgresObservation> = {}): PostgresObservation {
  return {
    dataDirectory: 'initialized',
    systemId: '7300000000000000001',
    controlState: 'in production',
    running: true,
    accepting: true,
    role: 'primary',
    timeline: 3,
    walPosition: 0x5000060,
    receiveLsn: null,
    replayLsn: null,
    replicationState: null,
    upstream: null,
    standbySignal: false,
    postmasterStartTime: '2025-01-01 11:00:00.5+00',
    serverVersion: 150010,
    replication: [
      {
        usename: 'replicator',
        application_name: 'node2',
        client_addr: '10.0.0.2',
        state: 'streaming',
        sync_state: 'async',
        sync_priority: 0,
        write_lsn: 0x5000060,
        flush_lsn: 0x5000060,
        replay_lsn: 0x5000060,
      },
    ],
    pendingRestart: false,
    synchronousStandbyNames: null,
    ...overrides,
  };
}

export function replicaObservation(overrides: Partial<PostgresObservation> = {}): PostgresObservation {
  return primaryObservation({
    controlState: 'in archive recovery',
    role: 'replica',
    walPosition: 0x5000000,
    receiveLsn: 0x5000000,
    replayLsn: 0x4fff000,
    replicationState: 'streaming',
    upstream: { host: '10.0.0.1', port: 5432, applicationName: 'node2' },
    standbySignal: true,
    replication: [],
    ...overrides,
  });
}

export function member(name: string, data: MemberData): Member {
  return { name, version: `${name}-1`, data };
}

export function clusterWith(overrides: Partial<Cluster> = {}): Cluster {
  return {
    ...emptyCluster(),
    initialize: '7300000000000000001',
    config: { version: 'c1', data: { ttl: 30, loop_wait: 10 } },
    leader: { name: 'node1', version: 'l1', member: null },
    status: { optime: 0x5000060, slots: {}, retainSlots: [] },
    ...overrides,
  };
}

export function primarySnapshot(overrides: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return {
    name: 'node1',
    scope: 'demo',
    patroniVersion: '4.1.4',
    pgwardenVersion: '0.1.0',
    state: 'running',
    role: 'primary',
    postgres: primaryObservation(),
    holdsValidLock: true,
    isStandbyCluster: false,
    clusterUnlocked: false,
    paused: false,
    failsafeActive: false,
    dcsLastSeen: NOW / 1000 - 2,
    lastCycleAt: NOW - 1000,
    now: NOW,
    ttl: 30,
    loopWait: 10,
    maximumLagOnFailover: 1048576,
    tags: {},
    cluster: clusterWith(),
    pendingRestart: false,
    watchdogFailed: false,
    ...overrides,
  };
}

export function replicaSnapshot(overrides: Partial<NodeSnapshot> = {}): NodeSnapshot {
  return primarySnapshot({
    name: 'node2',
    role: 'replica',
    postgres: replicaObservation(),
    holdsValidLock: false,
    walReceiverLatestEndLsn: 0x5000060,
    replayedTimestamp: '2025-01-01 11:59:59.25+00',
    replayPaused: false,
    ...overrides,
  });
}
