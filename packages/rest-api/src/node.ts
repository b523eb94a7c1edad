import type {
  Cluster,
  Command,
  CommandOutcome,
  Decision,
  Dcs,
  FailsafeAnswer,
  FailsafePayload,
  MemberRole,
  PeerStatus,
  PostgresObservation,
  PostgresState,
  ScheduledRestart,
  Tags,
  TaskState,
} from '@pgwarden/core';

/** The port the agent implements so the REST API can answer: a cheap snapshot plus a fresh DCS read. */
export interface RestApiNode {
  /** A snapshot of this node, updated by the agent after each HA cycle and each PostgreSQL observation; must be cheap. */
  snapshot(): NodeSnapshot;
  /** A fresh read of the cluster from the DCS (for /cluster, and /history, /config before the first cycle). Throws core's DcsUnreachableError when the store is down. */
  loadCluster(): Promise<Cluster>;
  /**
   * The operations behind the mutating endpoints. Optional so that a read-only embedding mounts the API without
   * them; a route whose operation is missing answers 501.
   */
  readonly operations?: NodeOperations | undefined;
  /**
   * A snapshot with PostgreSQL observed afresh, for `GET /patroni`: members compare each other's WAL positions in
   * the leader race, so the answer must not be a cycle old. Health checks keep using `snapshot()`.
   */
  freshSnapshot?(): Promise<NodeSnapshot>;
}

/** What the agent offers the mutating endpoints. Every rule stays in core; these only carry requests to it. */
export interface NodeOperations {
  /** The store, for writes that are plain compare-and-set (`failover`, `config`). */
  readonly dcs: Pick<Dcs, 'loadCluster' | 'setFailover' | 'setConfig'>;
  /** Runs an operator command in a cycle of its own, serialized with the HA loop, and says what became of it. */
  submit(command: Command): Promise<CommandOutcome>;
  /** Resolves with the background task's final state once it ends, or null when none runs or the timeout passes first. */
  waitForTask(timeoutMs: number): Promise<TaskState | null>;
  /** Aborts the running background task (reinitialize with `force`). */
  cancelTask(): Promise<void>;
  /** Asks members for their status (`GET /patroni`), as the HA loop does. */
  probeMembers(members: ReadonlyArray<{ name: string; apiUrl: string }>): Promise<PeerStatus[]>;
  /** Re-reads the local configuration and applies it (SIGHUP). */
  reload(): Promise<void>;
  /** Runs the next HA cycle now instead of after loop_wait. */
  wakeUp(): void;
  /** Milliseconds since the epoch, from the agent's clock (schedules are judged against it). */
  now(): number;
  /** `failsafe_mode` as this node last knew it (the store may be down): `POST /failsafe` answers 502 when off. */
  failsafeModeEnabled?(): boolean;
  /** A primary without the store asks us to accept it (`POST /failsafe`); core's `answerFailsafePost` says how. */
  acceptFailsafe?(payload: FailsafePayload): FailsafeAnswer;
}

export interface NodeSnapshot {
  readonly name: string;
  readonly scope: string;
  /** Patroni version this node reports for compatibility (the agent passes '4.1.4'). */
  readonly patroniVersion: string;
  readonly pgwardenVersion: string;
  /** core's PostgresState strings; `unknown` before the first observation. */
  readonly state: PostgresState | 'unknown';
  /** The HA role (Patroni's `postgresql.role`): primary, replica, standby_leader, demoted, uninitialized... */
  readonly role: MemberRole;
  /** null before the first observation. */
  readonly postgres: PostgresObservation | null;
  /** The node holds the leader lock and its view of it is still valid (renewed less than ttl ago, or failsafe active). */
  readonly holdsValidLock: boolean;
  readonly isStandbyCluster: boolean;
  readonly clusterUnlocked: boolean;
  readonly paused: boolean;
  readonly failsafeActive: boolean;
  /** Epoch seconds of the last successful DCS read. */
  readonly dcsLastSeen: number | null;
  /**
   * Epoch ms of the last completed HA cycle. While null, /liveness answers 503 (unless paused): an agent that wants
   * Patroni's start-up grace seeds it with its start time.
   */
  readonly lastCycleAt: number | null;
  /** Epoch ms, from the injected clock. */
  readonly now: number;
  /** Seconds, as in the dynamic configuration. */
  readonly ttl: number;
  readonly loopWait: number;
  /** Bytes. */
  readonly maximumLagOnFailover: number;
  /** Effective tags (configured plus dynamic ones). */
  readonly tags: Tags;
  /** The last cluster view loaded by the HA cycle (status optime, sync, leader, members); null when there is none. */
  readonly cluster: Cluster | null;
  readonly pendingRestart: boolean;
  readonly watchdogFailed: boolean;
  /** The restart scheduled through `POST /restart`, published as `scheduled_restart`; absent or null when none. */
  readonly scheduledRestart?: ScheduledRestart | null;
  /** What the last HA cycle decided and why, with its time (epoch ms): `pgwarden.last_decision`. Absent before the first cycle. */
  readonly lastDecision?: (Decision & { readonly at: number }) | null;

  // Replica details core's PostgresObservation does not carry yet; absent means unknown.
  /** `latest_end_lsn` of the WAL receiver, bytes: the primary's position as last reported to this replica. */
  readonly walReceiverLatestEndLsn?: number | null;
  /** `pg_last_xact_replay_timestamp()`, as text. */
  readonly replayedTimestamp?: string | null;
  /** `pg_is_wal_replay_paused()`. */
  readonly replayPaused?: boolean;
}
