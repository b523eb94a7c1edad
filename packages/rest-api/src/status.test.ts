import { describe, expect, it } from 'vitest';
import { clusterWith, primaryObservation, primarySnapshot, replicaObservation, replicaSnapshot } from '../test/fixtures.js';
import { memberStatusJson } from './status.js';

describe('memberStatusJson', () => {
  it('describes a primary with Patroni fields, in Patroni order', () => {
    const json = memberStatusJson(primarySnapshot());
    expect(json).toEqual({
      state: 'running',
      postmaster_start_time: '2025-01-01 11:00:00.5+00',
      role: 'primary',
      server_version: 150010,
      xlog: { location: 0x5000060 },
      timeline: 3,
      replication: [
        {
          usename: 'replicator',
          application_name: 'node2',
          client_addr: '10.0.0.2',
          state: 'streaming',
          sync_state: 'async',
          sync_priority: 0,
        },
      ],
      dcs_last_seen: 1735732798,
      database_system_identifier: '7300000000000000001',
      patroni: { version: '4.1.4', scope: 'demo', name: 'node1' },
      pgwarden: { version: '0.1.0' },
    });
    expect(Object.keys(json)).toEqual([
      'state',
      'postmaster_start_time',
      'role',
      'server_version',
      'xlog',
      'timeline',
      'replication',
      'dcs_last_seen',
      'database_system_identifier',
      'patroni',
      'pgwarden',
    ]);
  });

  it('describes a replica: received/replayed positions, replay timestamp, pause flag, replication state', () => {
    const json = memberStatusJson(replicaSnapshot({ replayPaused: true }));
    expect(json.role).toBe('replica');
    expect(json.xlog).toEqual({
      received_location: 0x5000000,
      replayed_location: 0x4fff000,
      replayed_timestamp: '2025-01-01 11:59:59.25+00',
      paused: true,
    });
    expect(json.replication_state).toBe('streaming');
    expect(json).not.toHaveProperty('replication');
  });

  it('falls back to the replayed position when nothing was received', () => {
    const json = memberStatusJson(replicaSnapshot({ postgres: replicaObservation({ receiveLsn: null }) }));
    expect(json.xlog).toMatchObject({ received_location: 0x4fff000, replayed_location: 0x4fff000 });
  });

  it('reports only state and role (plus node fields) when PostgreSQL does not answer', () => {
    const stopped = memberStatusJson(
      primarySnapshot({ state: 'stopped', role: 'demoted', postgres: primaryObservation({ running: false, accepting: false, role: null }) }),
    );
    expect(stopped).toEqual({
      state: 'stopped',
      role: 'demoted',
      dcs_last_seen: 1735732798,
      database_system_identifier: '7300000000000000001',
      patroni: { version: '4.1.4', scope: 'demo', name: 'node1' },
      pgwarden: { version: '0.1.0' },
    });
    // Believed running but not answering: unknown, as Patroni says.
    const hung = memberStatusJson(primarySnapshot({ postgres: primaryObservation({ accepting: false, role: null }) }));
    expect(hung.state).toBe('unknown');
    expect(hung).not.toHaveProperty('xlog');
    const never = memberStatusJson(primarySnapshot({ state: 'unknown', role: 'uninitialized', postgres: null }));
    expect(never).toMatchObject({ state: 'unknown', role: 'uninitialized' });
    expect(never).not.toHaveProperty('database_system_identifier');
  });

  it('adds the optional flags only when they are set', () => {
    const json = memberStatusJson(
      primarySnapshot({
        paused: true,
        clusterUnlocked: true,
        failsafeActive: true,
        pendingRestart: true,
        watchdogFailed: true,
        tags: { nofailover: true, zone: 'a' },
        dcsLastSeen: null,
      }),
    );
    expect(json).toMatchObject({
      pause: true,
      cluster_unlocked: true,
      failsafe_mode_is_active: true,
      pending_restart: true,
      watchdog_failed: true,
      tags: { nofailover: true, zone: 'a' },
      dcs_last_seen: 0,
    });
    const plain = memberStatusJson(primarySnapshot());
    for (const field of ['pause', 'cluster_unlocked', 'failsafe_mode_is_active', 'pending_restart', 'watchdog_failed', 'tags']) {
      expect(plain).not.toHaveProperty(field);
    }
  });

  it('explains a pending restart per parameter right after the flag, as Patroni 4 does', () => {
    const reason = { max_connections: { old_value: '100', new_value: '200' } };
    const json = memberStatusJson(
      primarySnapshot({ pendingRestart: true, postgres: primaryObservation({ pendingRestart: true, pendingRestartReason: reason }) }),
    );
    expect(json.pending_restart_reason).toEqual(reason);
    const keys = Object.keys(json);
    expect(keys.indexOf('pending_restart_reason')).toBe(keys.indexOf('pending_restart') + 1);
    // An empty or unknown reason leaves the flag alone.
    const bare = memberStatusJson(
      primarySnapshot({ pendingRestart: true, postgres: primaryObservation({ pendingRestart: true, pendingRestartReason: {} }) }),
    );
    expect(bare.pending_restart).toBe(true);
    expect(bare).not.toHaveProperty('pending_restart_reason');
  });

  it('says cluster_unlocked without any DCS view', () => {
    expect(memberStatusJson(primarySnapshot({ cluster: null })).cluster_unlocked).toBe(true);
  });

  it('marks a synchronous or quorum standby listed in the sync key', () => {
    const sync = { version: 's1', leader: 'node1', syncStandby: ['NODE2'], quorum: 0 };
    const syncCluster = clusterWith({ config: { version: 'c', data: { synchronous_mode: 'on' } }, sync });
    expect(memberStatusJson(replicaSnapshot({ cluster: syncCluster })).sync_standby).toBe(true);
    const quorumCluster = clusterWith({ config: { version: 'c', data: { synchronous_mode: 'quorum' } }, sync });
    const quorum = memberStatusJson(replicaSnapshot({ cluster: quorumCluster }));
    expect(quorum.quorum_standby).toBe(true);
    expect(quorum).not.toHaveProperty('sync_standby');
    const off = clusterWith({ config: { version: 'c', data: {} }, sync });
    expect(memberStatusJson(replicaSnapshot({ cluster: off }))).not.toHaveProperty('sync_standby');
  });

  it('reports the standby leader role of a standby cluster leader running in recovery', () => {
    const json = memberStatusJson(replicaSnapshot({ role: 'standby_leader', isStandbyCluster: true, holdsValidLock: true }));
    expect(json.role).toBe('standby_leader');
    expect(memberStatusJson(replicaSnapshot({ role: 'standby_leader' })).role).toBe('replica');
  });

  it('publishes the last decision under pgwarden, leaving Patroni fields as they are', () => {
    const at = Date.parse('2025-01-01T12:00:00Z');
    const json = memberStatusJson(
      replicaSnapshot({
        lastDecision: { reason: 'not_candidate', message: 'not taking part in the leader race: lag 9000 bytes exceeds maximum_lag_on_failover 100', ineligible: 'lagging', at },
      }),
    );
    expect(json.pgwarden).toEqual({
      version: '0.1.0',
      last_decision: {
        reason: 'not_candidate',
        message: 'not taking part in the leader race: lag 9000 bytes exceeds maximum_lag_on_failover 100',
        at: '2025-01-01T12:00:00.000Z',
        ineligible: 'lagging',
      },
    });
    expect(json.patroni).toEqual({ version: '4.1.4', scope: 'demo', name: 'node2' });
    const plain = memberStatusJson(primarySnapshot({ lastDecision: { reason: 'leader_lock_renewed', message: 'no action', at } }));
    expect(plain.pgwarden.last_decision).toEqual({ reason: 'leader_lock_renewed', message: 'no action', at: '2025-01-01T12:00:00.000Z' });
    expect(memberStatusJson(primarySnapshot({ lastDecision: null })).pgwarden).toEqual({ version: '0.1.0' });
  });

  it('shows a scheduled restart as Patroni does: after patroni, without postmaster_start_time', () => {
    const json = memberStatusJson(
      primarySnapshot({
        watchdogFailed: true,
        scheduledRestart: {
          at: Date.parse('2025-01-01T13:00:00Z'),
          schedule: '2025-01-01T13:00:00.000Z',
          role: 'primary',
          postgresVersionBelow: 160000,
          postgresVersion: '16.0',
          postmasterStartTime: '2025-01-01 11:00:00.5+00',
        },
      }),
    );
    expect(json.scheduled_restart).toEqual({ schedule: '2025-01-01T13:00:00.000Z', role: 'primary', postgres_version: '16.0' });
    const keys = Object.keys(json);
    expect(keys.slice(keys.indexOf('patroni'))).toEqual(['patroni', 'scheduled_restart', 'watchdog_failed', 'pgwarden']);
    expect(memberStatusJson(primarySnapshot({ scheduledRestart: null }))).not.toHaveProperty('scheduled_restart');
  });
});
