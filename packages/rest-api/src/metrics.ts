import { POSTGRES_STATES, failoverPriority } from '@pgwarden/core';
import { isTrue } from './dynamic-config.js';
import type { NodeSnapshot } from './node.js';
import { memberStatusJson } from './status.js';
import type { ReplicaXlog } from './status.js';

/** Identifiers of the PostgreSQL states in the `# Values:` comment of `patroni_postgres_state`, index order. */
const STATE_IDENTIFIERS = [
  'initdb',
  'initdb_failed',
  'custom_bootstrap',
  'custom_bootstrap_failed',
  'creating_replica',
  'running',
  'starting',
  'bootstrap_starting',
  'start_failed',
  'restarting',
  'restart_failed',
  'stopping',
  'stopped',
  'stop_failed',
  'crashed',
] as const;

const STATE_VALUES_COMMENT = `# Values: ${STATE_IDENTIFIERS.map((name, index) => `${index}=${name}`).join(', ')}`;

function escapeLabel(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** `4.1.4` -> `040104`, the value of `patroni_version`. */
export function paddedVersion(version: string): string {
  return version
    .split('.')
    .map((part) => part.padStart(2, '0'))
    .join('');
}

/** Epoch seconds of a PostgreSQL timestamp text (`2024-05-01 10:00:00.5+00`), 0 when absent or unreadable. */
export function epochSeconds(timestamp: string | null | undefined): number {
  if (!timestamp) return 0;
  const iso = timestamp.trim().replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00');
  const ms = Date.parse(iso);
  return Number.isFinite(ms) ? ms / 1000 : 0;
}

/** `GET /metrics`: Patroni's Prometheus series, every one labelled with scope and name. */
export function metricsText(snapshot: NodeSnapshot): string {
  const status = memberStatusJson(snapshot);
  const labels = `{scope="${escapeLabel(snapshot.scope)}",name="${escapeLabel(snapshot.name)}"}`;
  const lines: string[] = [];
  const series = (name: string, type: 'gauge' | 'counter', help: string, value: number | string): void => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`, `${name}${labels} ${value}`);
  };
  const xlog = status.xlog;
  const replica: Partial<ReplicaXlog> = xlog && 'replayed_location' in xlog ? xlog : {};
  const primaryLocation = xlog && 'location' in xlog ? (xlog.location ?? 0) : 0;
  const flag = (value: unknown): number => (value === true ? 1 : 0);

  series('patroni_version', 'gauge', 'Patroni version, semver digits zero-padded.', paddedVersion(snapshot.patroniVersion));
  series('patroni_postgres_running', 'gauge', '1 if PostgreSQL is running, else 0.', flag(status.state === 'running'));
  series(
    'patroni_postmaster_start_time',
    'gauge',
    'Epoch seconds when the postmaster started.',
    epochSeconds(status.postmaster_start_time),
  );
  series('patroni_primary', 'gauge', '1 if this node runs as primary, else 0.', flag(status.role === 'primary'));
  series('patroni_xlog_location', 'counter', 'Current WAL position on the primary, 0 elsewhere.', primaryLocation);
  series('patroni_standby_leader', 'gauge', '1 if this node is the standby leader, else 0.', flag(status.role === 'standby_leader'));
  series('patroni_replica', 'gauge', '1 if this node is a replica, else 0.', flag(status.role === 'replica'));
  series('patroni_sync_standby', 'gauge', '1 if this node is a synchronous standby, else 0.', flag(status.sync_standby));
  series('patroni_quorum_standby', 'gauge', '1 if this node is a quorum standby, else 0.', flag(status.quorum_standby));
  series('patroni_xlog_received_location', 'counter', 'Received WAL position on a replica, 0 elsewhere.', replica.received_location ?? 0);
  series('patroni_xlog_replayed_location', 'counter', 'Replayed WAL position on a replica, 0 elsewhere.', replica.replayed_location ?? 0);
  series(
    'patroni_xlog_replayed_timestamp',
    'gauge',
    'Epoch seconds of the last replayed transaction, 0 if none.',
    epochSeconds(replica.replayed_timestamp),
  );
  series('patroni_xlog_paused', 'gauge', '1 if WAL replay is paused, else 0.', flag(replica.paused));
  if ((status.server_version ?? 0) >= 90600) {
    series('patroni_postgres_streaming', 'gauge', '1 if streaming from upstream, else 0.', flag(status.replication_state === 'streaming'));
    series(
      'patroni_postgres_in_archive_recovery',
      'gauge',
      '1 if replicating from the WAL archive, else 0.',
      flag(status.replication_state === 'in archive recovery'),
    );
  }
  series('patroni_postgres_server_version', 'gauge', 'PostgreSQL version number when running, else 0.', status.server_version ?? 0);
  series('patroni_cluster_unlocked', 'gauge', '1 if no member holds the leader lock, else 0.', flag(status.cluster_unlocked));
  series('patroni_failsafe_mode_is_active', 'gauge', '1 if failsafe mode is active, else 0.', flag(status.failsafe_mode_is_active));
  const failsafe = snapshot.cluster?.failsafe ?? null;
  series(
    'patroni_failsafe_mode_enabled',
    'gauge',
    '1 if failsafe_mode is enabled, else 0.',
    flag(isTrue(snapshot.cluster?.config?.data['failsafe_mode'])),
  );
  series(
    'patroni_failsafe_member',
    'gauge',
    '1 if this node is a member of the failsafe topology, else 0.',
    flag(failsafe !== null && Object.hasOwn(failsafe, snapshot.name)),
  );
  series('patroni_postgres_timeline', 'gauge', 'PostgreSQL timeline when running, else 0.', status.timeline ?? 0);
  series('patroni_dcs_last_seen', 'gauge', 'Epoch seconds of the last successful DCS read.', status.dcs_last_seen);
  series('patroni_pending_restart', 'gauge', '1 if PostgreSQL needs a restart, else 0.', flag(snapshot.pendingRestart));
  series('patroni_is_paused', 'gauge', '1 if the cluster is in maintenance mode, else 0.', flag(status.pause));
  const stateIndex = (POSTGRES_STATES as readonly string[]).indexOf(status.state);
  lines.push(
    '# HELP patroni_postgres_state PostgreSQL state as a number.',
    STATE_VALUES_COMMENT,
    '# TYPE patroni_postgres_state gauge',
    `patroni_postgres_state${labels} ${stateIndex}`,
  );
  series('patroni_failover_priority', 'gauge', 'Failover priority of this node (0 with nofailover).', failoverPriority(snapshot.tags));
  return `${lines.join('\n')}\n`;
}
