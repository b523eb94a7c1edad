import { describe, expect, it } from 'vitest';
import { clusterWith, member } from '../test/fixtures.js';
import { clusterJson } from './cluster-json.js';

const node1 = member('node1', {
  conn_url: 'postgres://10.0.0.1:5432/postgres',
  api_url: 'http://10.0.0.1:8008/patroni',
  state: 'running',
  role: 'primary',
  timeline: 3,
  xlog_location: 0x5000060,
});
const node2 = member('node2', {
  conn_url: 'postgres://10.0.0.2:5433/postgres',
  api_url: 'http://10.0.0.2:8008/patroni',
  state: 'running',
  role: 'replica',
  replication_state: 'streaming',
  timeline: 3,
  xlog_location: 0x5000000,
  receive_lsn: 0x5000000,
  replay_lsn: 0x4fff000,
  tags: { zone: 'a' },
  pending_restart: true,
});
const node0 = member('node0', {
  conn_url: 'postgres://[fd00::3]:5432/postgres',
  api_url: 'http://[fd00::3]:8008/patroni',
  state: 'stopped',
  role: 'replica',
});

describe('clusterJson', () => {
  it('lists members by name with roles, addresses and lags against the status optime', () => {
    const json = clusterJson(clusterWith({ members: [node2, node1, node0] }), 'demo');
    expect(json).toEqual({
      scope: 'demo',
      members: [
        {
          name: 'node0',
          role: 'replica',
          state: 'stopped',
          api_url: 'http://[fd00::3]:8008/patroni',
          host: 'fd00::3',
          port: 5432,
          receive_lsn: 'unknown',
          receive_lag: 'unknown',
          replay_lsn: 'unknown',
          replay_lag: 'unknown',
          lsn: 'unknown',
          lag: 'unknown',
        },
        {
          name: 'node1',
          role: 'leader',
          state: 'running',
          api_url: 'http://10.0.0.1:8008/patroni',
          host: '10.0.0.1',
          port: 5432,
          timeline: 3,
        },
        {
          name: 'node2',
          role: 'replica',
          state: 'streaming',
          api_url: 'http://10.0.0.2:8008/patroni',
          host: '10.0.0.2',
          port: 5433,
          timeline: 3,
          pending_restart: true,
          tags: { zone: 'a' },
          receive_lsn: '0/5000000',
          receive_lag: 0x60,
          replay_lsn: '0/4FFF000',
          replay_lag: 0x1060,
          lsn: '0/5000000',
          lag: 0x60,
        },
      ],
    });
  });

  it('names sync and quorum standbys, the standby leader, pause and a scheduled switchover', () => {
    const sync = { version: 's', leader: 'node1', syncStandby: ['node2'], quorum: 0 };
    const failover = { version: 'f', leader: 'node1', candidate: 'node2', scheduledAt: '2025-01-01T13:00:00+00:00' };
    const json = clusterJson(
      clusterWith({ members: [node1, node2], sync, failover, config: { version: 'c', data: { synchronous_mode: true, pause: true } } }),
      'demo',
    );
    expect(json.members.map((m) => m.role)).toEqual(['leader', 'sync_standby']);
    expect(json.pause).toBe(true);
    expect(json.scheduled_switchover).toEqual({ at: '2025-01-01T13:00:00+00:00', from: 'node1', to: 'node2' });

    const quorum = clusterJson(clusterWith({ members: [node1, node2], sync, config: { version: 'c', data: { synchronous_mode: 'quorum' } } }), 'demo');
    expect(quorum.members.map((m) => m.role)).toEqual(['leader', 'quorum_standby']);
    expect(quorum).not.toHaveProperty('pause');
    expect(quorum).not.toHaveProperty('scheduled_switchover');

    const standby = clusterJson(
      clusterWith({ members: [node1, node2], sync, config: { version: 'c', data: { synchronous_mode: true, standby_cluster: { host: 'remote' } } } }),
      'demo',
    );
    expect(standby.members.map((m) => m.role)).toEqual(['standby_leader', 'replica']);
  });

  it('reports lag 0 for a member ahead of the published optime and reads numeric text positions', () => {
    const ahead = member('node3', { api_url: 'http://x/patroni', state: 'running', xlog_location: '83886176' as unknown as number });
    const json = clusterJson(clusterWith({ members: [ahead], status: { optime: 0x5000000, slots: {}, retainSlots: [] } }), 'demo');
    expect(json.members[0]).toMatchObject({ lsn: '0/5000060', lag: 0, api_url: 'http://x/patroni' });
    expect(json.members[0]).not.toHaveProperty('host');
  });
});
