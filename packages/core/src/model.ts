/**
 * The cluster as the DCS holds it, in Patroni's key layout and JSON values.
 * Values keep their unknown fields so that a mixed pgwarden/Patroni cluster round-trips them.
 */

/** Opaque compare-and-set token of one stored value (etcd mod_revision, znode version, ModifyIndex, resourceVersion). */
export type ValueVersion = string;

export type MemberRole =
  | 'primary'
  | 'replica'
  | 'standby_leader'
  | 'demoted'
  | 'uninitialized'
  | 'promoted'
  | 'master';

/** PostgreSQL states as Patroni names them; the index is the value of the `patroni_postgres_state` metric. */
export const POSTGRES_STATES = [
  'initializing new cluster',
  'initdb failed',
  'running custom bootstrap script',
  'custom bootstrap failed',
  'creating replica',
  'running',
  'starting',
  'starting after custom bootstrap',
  'start failed',
  'restarting',
  'restart failed',
  'stopping',
  'stopped',
  'stop failed',
  'crashed',
] as const;
export type PostgresState = (typeof POSTGRES_STATES)[number];

export type Tags = Record<string, unknown>;

/** The JSON of `members/<name>`. */
export interface MemberData {
  conn_url?: string;
  api_url?: string;
  state?: string;
  role?: string;
  version?: string;
  proxy_url?: string;
  tags?: Tags;
  xlog_location?: number;
  receive_lsn?: number;
  replay_lsn?: number;
  replication_state?: string;
  timeline?: number;
  pending_restart?: boolean;
  pending_restart_reason?: Record<string, { old_value: string; new_value: string }>;
  pause?: boolean;
  [field: string]: unknown;
}

export interface Member {
  readonly name: string;
  readonly version: ValueVersion;
  readonly data: MemberData;
}

export interface Leader {
  /** Name of the member holding the lock (the value of the `leader` key). */
  readonly name: string;
  readonly version: ValueVersion;
  /** The member record of the holder, when it has one. */
  readonly member: Member | null;
}

export interface ClusterConfig {
  readonly version: ValueVersion;
  readonly data: Record<string, unknown>;
}

export interface Failover {
  readonly version: ValueVersion;
  readonly leader: string | null;
  readonly candidate: string | null;
  /** ISO-8601 with a time zone, as written by the REST API. */
  readonly scheduledAt: string | null;
}

export interface SyncState {
  readonly version: ValueVersion;
  readonly leader: string | null;
  readonly syncStandby: readonly string[];
  readonly quorum: number;
}

/** One row of the `history` key: [timeline, switch_lsn, reason, timestamp, new_leader]. */
export type TimelineHistoryEntry = [number, number, string, string?, string?];

export interface TimelineHistory {
  readonly version: ValueVersion;
  readonly lines: readonly TimelineHistoryEntry[];
}

export interface ClusterStatus {
  /** Leader's last published WAL position, in bytes; 0 when unknown. */
  readonly optime: number;
  readonly slots: Readonly<Record<string, number>>;
  readonly retainSlots: readonly string[];
  /** pgwarden only (`paused_leader`): the lock holder that wrote this believed the cluster paused (ha/paused-leader.ts). */
  readonly pausedLeader?: PausedLeader | null;
}

/** A lock holder that believed the cluster paused, and where its REST API answers. */
export interface PausedLeader {
  readonly name: string;
  readonly apiUrl: string | null;
}

export interface Cluster {
  /** System identifier of the cluster; `''` while a bootstrap race is on; null when absent. */
  readonly initialize: string | null;
  readonly config: ClusterConfig | null;
  readonly leader: Leader | null;
  readonly status: ClusterStatus;
  readonly members: readonly Member[];
  readonly failover: Failover | null;
  readonly sync: SyncState | null;
  readonly history: TimelineHistory | null;
  readonly failsafe: Readonly<Record<string, string>> | null;
}

export const EMPTY_STATUS: ClusterStatus = { optime: 0, slots: {}, retainSlots: [] };

export function emptyCluster(): Cluster {
  return {
    initialize: null,
    config: null,
    leader: null,
    status: EMPTY_STATUS,
    members: [],
    failover: null,
    sync: null,
    history: null,
    failsafe: null,
  };
}

export function findMember(cluster: Cluster, name: string): Member | undefined {
  return cluster.members.find((member) => member.name === name);
}

/** Patroni treats tag values loosely: `true`, `"true"`, `"on"`, `1` all count. */
export function tagIsTrue(tags: Tags | undefined, tag: string): boolean {
  const value = tags?.[tag];
  if (typeof value === 'boolean') return value;
  if (typeof value === 'number') return value !== 0;
  if (typeof value === 'string') return ['true', 'on', 'yes', '1', 'y'].includes(value.toLowerCase());
  return false;
}

export function memberTags(member: Member): Tags {
  const tags = member.data.tags;
  return tags && typeof tags === 'object' ? tags : {};
}

/** `failover_priority` defaults to 1; `nofailover` wins over it and means 0. */
export function failoverPriority(tags: Tags | undefined): number {
  if (tagIsTrue(tags, 'nofailover')) return 0;
  const raw = tags?.['failover_priority'];
  const value = typeof raw === 'string' ? Number(raw) : raw;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 1;
}

export function isNoFailover(tags: Tags | undefined): boolean {
  return failoverPriority(tags) <= 0;
}

/** Member's WAL position as it published it (xlog_location), 0 when unknown. */
export function memberWalPosition(member: Member): number {
  const value = member.data.xlog_location;
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/** Highest timeline the cluster reached, from the `history` key (last switch + 1), or null. */
export function clusterTimeline(cluster: Cluster): number | null {
  const last = cluster.history?.lines.at(-1);
  return last ? last[0] + 1 : null;
}
