import { describe, expect, it } from 'vitest';
import { clusterWith, primaryObservation, primarySnapshot, replicaSnapshot } from '../test/fixtures.js';
import { epochSeconds, metricsText, paddedVersion } from './metrics.js';

function values(text: string): Map<string, string> {
  const map = new Map<string, string>();
  for (const line of text.split('\n')) {
    const match = /^(\w+)\{scope="demo",name="node\d"\} (\S+)$/.exec(line);
    if (match) map.set(match[1]!, match[2]!);
  }
  return map;
}

describe('metricsText', () => {
  it('exposes a primary', () => {
    const text = metricsText(primarySnapshot());
    expect(text.endsWith('\n')).toBe(true);
    const series = values(text);
    expect(Object.fromEntries(series)).toEqual({
      patroni_version: '040104',
      patroni_postgres_running: '1',
      patroni_postmaster_start_time: String(Date.UTC(2025, 0, 1, 11, 0, 0, 500) / 1000),
      patroni_primary: '1',
      patroni_xlog_location: String(0x5000060),
      patroni_standby_leader: '0',
      patroni_replica: '0',
      patroni_sync_standby: '0',
      patroni_quorum_standby: '0',
      patroni_xlog_received_location: '0',
      patroni_xlog_replayed_location: '0',
      patroni_xlog_replayed_timestamp: '0',
      patroni_xlog_paused: '0',
      patroni_postgres_streaming: '0',
      patroni_postgres_in_archive_recovery: '0',
      patroni_postgres_server_version: '150010',
      patroni_cluster_unlocked: '0',
      patroni_failsafe_mode_is_active: '0',
      patroni_failsafe_mode_enabled: '0',
      patroni_failsafe_member: '0',
      patroni_postgres_timeline: '3',
      patroni_dcs_last_seen: '1735732798',
      patroni_pending_restart: '0',
      patroni_is_paused: '0',
      patroni_postgres_state: '5',
      patroni_failover_priority: '1',
    });
    expect(text).toContain('# TYPE patroni_xlog_location counter');
    expect(text).toContain('# Values: 0=initdb, 1=initdb_failed,');
    expect(text).toContain('14=crashed\n# TYPE patroni_postgres_state gauge');
  });

  it('exposes a replica and a stopped node', () => {
    const replica = values(metricsText(replicaSnapshot({ replayPaused: true })));
    expect(replica.get('patroni_replica')).toBe('1');
    expect(replica.get('patroni_xlog_received_location')).toBe(String(0x5000000));
    expect(replica.get('patroni_xlog_replayed_location')).toBe(String(0x4fff000));
    expect(replica.get('patroni_xlog_replayed_timestamp')).toBe('1735732799.25');
    expect(replica.get('patroni_xlog_paused')).toBe('1');
    expect(replica.get('patroni_postgres_streaming')).toBe('1');

    const stopped = metricsText(
      primarySnapshot({ state: 'stopped', postgres: primaryObservation({ running: false, accepting: false, role: null }), paused: true }),
    );
    const series = values(stopped);
    expect(series.get('patroni_postgres_running')).toBe('0');
    expect(series.get('patroni_postgres_state')).toBe('12');
    expect(series.get('patroni_is_paused')).toBe('1');
    expect(series.get('patroni_postgres_server_version')).toBe('0');
    // Streaming series need a known server version.
    expect(series.has('patroni_postgres_streaming')).toBe(false);
    const hung = values(metricsText(primarySnapshot({ postgres: primaryObservation({ accepting: false, role: null }) })));
    expect(hung.get('patroni_postgres_state')).toBe('-1');
  });

  it('reports failsafe membership and the failover priority', () => {
    const cluster = clusterWith({
      config: { version: 'c2', data: { failsafe_mode: true } },
      failsafe: { node1: 'http://10.0.0.1:8008/patroni' },
    });
    const series = values(metricsText(primarySnapshot({ cluster, tags: { failover_priority: 3 } })));
    expect(series.get('patroni_failsafe_mode_enabled')).toBe('1');
    expect(series.get('patroni_failsafe_member')).toBe('1');
    expect(series.get('patroni_failover_priority')).toBe('3');
    expect(values(metricsText(primarySnapshot({ tags: { nofailover: true } }))).get('patroni_failover_priority')).toBe('0');
  });

  it('escapes label values', () => {
    const text = metricsText(primarySnapshot({ scope: 'a"b\\c' }));
    expect(text).toContain('{scope="a\\"b\\\\c",name="node1"}');
  });
});

describe('helpers', () => {
  it('pads versions and reads PostgreSQL timestamps', () => {
    expect(paddedVersion('4.1.4')).toBe('040104');
    expect(paddedVersion('10.0.12')).toBe('100012');
    expect(epochSeconds('2025-01-01 00:00:00+00')).toBe(1735689600);
    expect(epochSeconds('2025-01-01 02:00:00.5+02')).toBe(1735689600.5);
    expect(epochSeconds('2025-01-01 00:00:00+05:30')).toBe(1735689600 - 19800);
    expect(epochSeconds(null)).toBe(0);
    expect(epochSeconds('garbage')).toBe(0);
  });
});
