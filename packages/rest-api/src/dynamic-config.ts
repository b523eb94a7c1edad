import type { Cluster, SyncState } from '@pgwarden/core';

/** Patroni's boolean reading of config values and tags: on/true/yes/1 (any case); everything else is not true. */
export function isTrue(value: unknown): boolean {
  if (value === null || value === undefined) return false;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value === 1;
  if (typeof value !== 'string') return false;
  const text = value.toLowerCase();
  return text === 'on' || text === 'true' || text === 'yes' || text === '1';
}

function configData(cluster: Cluster | null): Record<string, unknown> {
  return cluster?.config?.data ?? {};
}

export function isPausedConfig(cluster: Cluster | null): boolean {
  return isTrue(configData(cluster)['pause']);
}

export function isStandbyClusterConfig(cluster: Cluster | null): boolean {
  const standby = configData(cluster)['standby_cluster'];
  if (typeof standby !== 'object' || standby === null || Array.isArray(standby)) return false;
  const fields = standby as Record<string, unknown>;
  return Boolean(fields['host']) || Boolean(fields['port']) || Boolean(fields['restore_command']);
}

export function isQuorumCommitMode(cluster: Cluster | null): boolean {
  return String(configData(cluster)['synchronous_mode']).toLowerCase() === 'quorum';
}

/** Synchronous replication (priority or quorum) is on; never in a standby cluster. */
export function isSynchronousMode(cluster: Cluster | null, isStandbyCluster: boolean): boolean {
  const mode = configData(cluster)['synchronous_mode'];
  return (isTrue(mode) || isQuorumCommitMode(cluster)) && !isStandbyCluster;
}

/** `name` is listed in the `sync` key (names compare case-insensitively, as PostgreSQL does); the leader is not. */
export function syncStateMatches(sync: SyncState | null, name: string): boolean {
  if (!sync?.leader) return false;
  const wanted = name.toLowerCase();
  return sync.syncStandby.some((standby) => standby.toLowerCase() === wanted);
}
