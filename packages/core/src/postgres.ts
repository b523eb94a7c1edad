/**
 * What the HA rules know about the local PostgreSQL, and the port through which the agent acts on it.
 * `@pgwarden/postgres-driver` implements `PostgresController`; the simulator implements a model of it.
 */
import type { ReservedTimeline } from './ha/timeline-reservation.js';

export type DataDirectoryState = 'missing' | 'empty' | 'initialized' | 'inaccessible';

/** "Database cluster state" of pg_controldata, as printed. */
export type ControlState =
  | 'starting up'
  | 'shut down'
  | 'shut down in recovery'
  | 'shutting down'
  | 'in crash recovery'
  | 'in archive recovery'
  | 'in production'
  // Other (localized or future) states pass through as printed.
  | (string & {});

export interface Upstream {
  /** Member name of the upstream, when it is a member. */
  readonly name: string;
  readonly host: string;
  readonly port: number;
  /**
   * Slot to stream through: absent for this member's own slot (when slots are used), null for none. A standby
   * leader uses `standby_cluster.primary_slot_name` on the remote primary, or none.
   */
  readonly slotName?: string | null;
  /** Recovery settings of a standby cluster (`standby_cluster` section), written beside primary_conninfo. */
  readonly restoreCommand?: string;
  readonly archiveCleanupCommand?: string;
  readonly recoveryMinApplyDelay?: string | number;
}

export interface ReplicationRow {
  readonly usename: string | null;
  readonly application_name: string;
  readonly client_addr: string | null;
  readonly state: string | null;
  readonly sync_state: string | null;
  readonly sync_priority: number | null;
  readonly write_lsn: number | null;
  readonly flush_lsn: number | null;
  readonly replay_lsn: number | null;
}

/** A row of pg_replication_slots (temporary slots left out). LSNs in bytes. */
export interface ReplicationSlot {
  readonly name: string;
  readonly type: 'physical' | 'logical';
  readonly database: string | null;
  readonly plugin: string | null;
  readonly active: boolean;
  /** The slot holds back the xmin horizon (physical slots fed by hot_standby_feedback). */
  readonly xmin: string | null;
  readonly catalogXmin: string | null;
  readonly restartLsn: number | null;
  readonly confirmedFlushLsn: number | null;
  /** PG13+: reserved, extended, unreserved or lost. */
  readonly walStatus: string | null;
}

/** Patroni's `pending_restart_reason`: parameter name -> values as text (units as PostgreSQL shows them). */
export type PendingRestartReason = Readonly<Record<string, { readonly old_value: string; readonly new_value: string }>>;

export interface PostgresObservation {
  readonly dataDirectory: DataDirectoryState;
  /** Database system identifier from pg_controldata, null without a valid data directory. */
  readonly systemId: string | null;
  /** Cluster state from pg_controldata, null without a data directory. */
  readonly controlState: ControlState | null;
  /** A postmaster of this data directory is alive. */
  readonly running: boolean;
  /** It answers queries. */
  readonly accepting: boolean;
  /** `pg_is_in_recovery()`: null when it does not answer. */
  readonly role: 'primary' | 'replica' | null;
  readonly timeline: number | null;
  /** Primary: pg_current_wal_lsn; replica: max(receive, replay). Bytes. */
  readonly walPosition: number | null;
  readonly receiveLsn: number | null;
  readonly replayLsn: number | null;
  readonly replicationState: 'streaming' | 'in archive recovery' | null;
  /** Whom the standby configuration points at, when it has one. */
  readonly upstream: { readonly host: string; readonly port: number; readonly applicationName: string | null } | null;
  readonly standbySignal: boolean;
  readonly postmasterStartTime: string | null;
  readonly serverVersion: number | null;
  readonly replication: readonly ReplicationRow[];
  readonly pendingRestart: boolean;
  /** Why a restart is pending: per parameter, the running value and the one a restart would take. Absent: unknown. */
  readonly pendingRestartReason?: PendingRestartReason;
  /** `synchronous_standby_names` as the server runs with it; null when it does not answer. */
  readonly synchronousStandbyNames: string | null;
  /** Replication slots of this server; absent or null when not observed (the HA rules then leave slots alone). */
  readonly replicationSlots?: readonly ReplicationSlot[] | null;
}

export type StopMode = 'smart' | 'fast' | 'immediate';

export interface StartOptions {
  /** `replica` writes standby.signal and primary_conninfo for `upstream`; `primary` removes them. */
  readonly role: 'primary' | 'replica';
  readonly upstream?: Upstream | null;
  /** Seconds to wait for the server to accept connections. */
  readonly timeout?: number;
  readonly signal?: AbortSignal;
}

export type Progress = (message: string, fields?: Record<string, unknown>) => void;

/** Replication user credentials and the dynamic parameters, everything the controller needs per call. */
export interface PostgresController extends AsyncDisposable {
  observe(): Promise<PostgresObservation>;

  /** initdb, start as primary, create the roles; reports progress. */
  bootstrap(options: { progress?: Progress; signal?: AbortSignal }): Promise<void>;
  /** pg_basebackup from `source`, then the standby configuration for it. */
  /** `methods`: replica methods by name, in order, instead of the configured list (a standby cluster's own). */
  /** `source` null: no member to copy; only methods that need none (`no_leader`) can succeed. */
  cloneFrom(source: Upstream | null, options: { progress?: Progress; signal?: AbortSignal; methods?: readonly string[] }): Promise<void>;
  /** Single-user crash recovery when the last shutdown was not clean, then pg_rewind against `source`. */
  rewindFrom(source: Upstream, options: { progress?: Progress; signal?: AbortSignal }): Promise<{ rewound: boolean }>;
  removeDataDirectory(): Promise<void>;

  start(options: StartOptions): Promise<boolean>;
  /** `killAfterTimeout`: SIGKILL the postmaster when it has not stopped within `timeout` seconds. */
  stop(options: { mode: StopMode; timeout?: number; killAfterTimeout?: boolean }): Promise<boolean>;
  restart(options: StartOptions): Promise<boolean>;
  /** `reserveTimelines`: history files written into pg_wal first where absent (ha/timeline-reservation.ts). */
  promote(options: { timeout?: number; reserveTimelines?: readonly ReservedTimeline[] }): Promise<boolean>;
  /**
   * Points a running or stopped replica at `upstream` (null: no upstream). Rewrites the standby configuration
   * and reloads or restarts as the change requires.
   */
  follow(upstream: Upstream | null): Promise<{ changed: boolean; restarted: boolean }>;
  reload(): Promise<void>;
  checkpoint(): Promise<void>;

  /** Physical slots this instance must have (members' slots on the primary); extra member slots are dropped. */
  syncReplicationSlots(names: readonly string[]): Promise<void>;
  /** Sets `synchronous_standby_names` (null: back to the user's value) and reloads. */
  setSynchronousStandbyNames(value: string | null): Promise<boolean>;
  /** The timeline history a promotion produced, for the `history` key: [timeline, switch lsn, reason]. */
  readTimelineHistory(timeline: number): Promise<Array<[number, number, string]>>;
}

/** Patroni's slot name for a member: lower-case, `-` and `.` become `_`, other characters `uNNNN`, 63 at most. */
export function slotNameForMember(name: string): string {
  let slot = '';
  for (const char of name.toLowerCase()) {
    if (/[a-z0-9_]/.test(char)) slot += char;
    else if (char === '-' || char === '.') slot += '_';
    else slot += `u${char.codePointAt(0)!.toString(16).padStart(4, '0')}`;
  }
  return slot.slice(0, 63);
}
