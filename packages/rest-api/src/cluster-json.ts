import { formatLsn } from '@pgwarden/core';
import type { Cluster, Member } from '@pgwarden/core';
import {
  isPausedConfig,
  isQuorumCommitMode,
  isStandbyClusterConfig,
  isSynchronousMode,
  syncStateMatches,
} from './dynamic-config.js';

export type ClusterMemberRole = 'leader' | 'standby_leader' | 'sync_standby' | 'quorum_standby' | 'replica';

export interface ClusterMemberJson {
  name: string;
  role: ClusterMemberRole;
  state: string;
  api_url: string | null;
  host?: string;
  port?: number;
  timeline?: unknown;
  pending_restart?: unknown;
  pending_restart_reason?: unknown;
  scheduled_restart?: unknown;
  tags?: unknown;
  receive_lsn?: string;
  receive_lag?: number | 'unknown';
  replay_lsn?: string;
  replay_lag?: number | 'unknown';
  lsn?: string;
  lag?: number | 'unknown';
}

/** The JSON of `GET /cluster` (what `patronictl list` shows). */
export interface ClusterJson {
  members: ClusterMemberJson[];
  scope: string;
  pause?: true;
  scheduled_switchover?: { at: string; from?: string; to?: string };
}

const COPIED_FIELDS = ['timeline', 'pending_restart', 'pending_restart_reason', 'scheduled_restart', 'tags'] as const;
const POSITIONS = [
  ['receive_lsn', 'receive_lag', 'receive_lsn'],
  ['replay_lsn', 'replay_lag', 'replay_lsn'],
  ['lsn', 'lag', 'xlog_location'],
] as const;

/** A WAL position as members publish it (number, or numeric text from older writers); null when absent or zero. */
function position(value: unknown): number | null {
  const number = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  return typeof number === 'number' && Number.isFinite(number) && number > 0 ? Math.trunc(number) : null;
}

/** PostgreSQL host and port from `conn_kwargs` or `conn_url`, as clients would connect. */
function connectionAddress(member: Member): { host?: string; port?: number } {
  const kwargs = member.data['conn_kwargs'];
  let host: unknown;
  let port: unknown;
  if (typeof kwargs === 'object' && kwargs !== null && !Array.isArray(kwargs)) {
    ({ host, port } = kwargs as Record<string, unknown>);
  } else if (typeof member.data.conn_url === 'string') {
    try {
      const url = new URL(member.data.conn_url);
      host = url.hostname.replace(/^\[(.*)\]$/, '$1');
      port = url.port;
    } catch {
      return {};
    }
  }
  if (typeof host !== 'string' || host === '') return {};
  const portNumber = typeof port === 'number' ? port : typeof port === 'string' && port !== '' ? Number(port) : NaN;
  return Number.isInteger(portNumber) ? { host, port: portNumber } : { host };
}

/** The cluster as `GET /cluster` shows it: members sorted by name, lags measured against the `status` optime. */
export function clusterJson(cluster: Cluster, scope: string): ClusterJson {
  const leaderName = cluster.leader?.name ?? null;
  const standbyCluster = isStandbyClusterConfig(cluster);
  const synchronous = isSynchronousMode(cluster, standbyCluster);
  const syncRole: ClusterMemberRole = isQuorumCommitMode(cluster) ? 'quorum_standby' : 'sync_standby';
  const optime = cluster.status.optime;

  const members = cluster.members.map((member): ClusterMemberJson => {
    const data = member.data;
    let role: ClusterMemberRole;
    if (member.name === leaderName) role = standbyCluster ? 'standby_leader' : 'leader';
    else if (synchronous && syncStateMatches(cluster.sync, member.name)) role = syncRole;
    else role = 'replica';

    const replicationState = role === 'leader' ? '' : (data.replication_state ?? '');
    const json: ClusterMemberJson = {
      name: member.name,
      role,
      state: replicationState || (data.state ?? ''),
      api_url: data.api_url ?? null,
      ...connectionAddress(member),
    };
    for (const field of COPIED_FIELDS) {
      if (field in data) json[field] = data[field];
    }
    if (member.name !== leaderName) {
      for (const [lsnField, lagField, source] of POSITIONS) {
        const lsn = position(data[source]);
        if (lsn === null) {
          json[lsnField] = 'unknown';
          json[lagField] = 'unknown';
        } else {
          json[lsnField] = formatLsn(lsn);
          json[lagField] = optime >= lsn ? optime - lsn : 0;
        }
      }
    }
    return json;
  });
  members.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const result: ClusterJson = { members, scope };
  if (isPausedConfig(cluster)) result.pause = true;
  const failover = cluster.failover;
  if (failover?.scheduledAt) {
    const scheduled: { at: string; from?: string; to?: string } = { at: failover.scheduledAt };
    if (failover.leader) scheduled.from = failover.leader;
    if (failover.candidate) scheduled.to = failover.candidate;
    result.scheduled_switchover = scheduled;
  }
  return result;
}
