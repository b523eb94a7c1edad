/**
 * The contract every store plugin implements. One Dcs instance speaks for one member of one cluster:
 * it owns that member's session/lease, to which the `leader` and `members/<name>` keys are bound.
 *
 * Expected outcomes are values: losing a race or a compare-and-set returns `false`.
 * The store being unreachable throws `DcsUnreachableError` (code `DCS_UNREACHABLE`).
 * The exact semantics are pinned by `describeDcsContract` in `@pgwarden/testkit`.
 */
import type { MalformedReporter } from './codec.js';
import type {
  Cluster,
  ClusterStatus,
  Failover,
  MemberData,
  SyncState,
  TimelineHistoryEntry,
  ValueVersion,
} from './model.js';

/** Where a cluster lives and who is speaking: what every plugin factory takes besides connection details. */
export interface DcsIdentity {
  /** Cluster name (`scope`). */
  readonly scope: string;
  /** Key prefix, default `/service`. */
  readonly namespace?: string;
  /** This member's name. */
  readonly name: string;
  /** Lifetime of the leader lock and of the member key, in seconds. */
  readonly ttl: number;
  /** How long one store operation may retry before it is reported unreachable, in seconds. */
  readonly retryTimeout: number;
  /**
   * The HA loop's period (`loop_wait`), in seconds, when the caller runs one: a plugin may size connection
   * liveness checks by it (ZooKeeper drops a connection silent for max(loop_wait - 2, 2) s, as Patroni).
   */
  readonly loopWait?: number;
  /** Called for each stored value that does not parse; the value is then skipped. */
  readonly onMalformed?: MalformedReporter;
}

/** The timing a plugin is told about, in seconds. */
export interface DcsTiming {
  readonly ttl: number;
  readonly retryTimeout: number;
  readonly loopWait?: number;
}

export interface Dcs extends AsyncDisposable {
  /** Section name in the configuration: `etcd3`, `zookeeper`, `consul`, `kubernetes`, or a plugin's own. */
  readonly kind: string;
  /** The prefix all keys of this cluster live under, ending in `/`: `/<namespace>/<scope>/`. */
  readonly clusterPrefix: string;

  /** Reads the whole cluster view in one consistent read. */
  loadCluster(options?: { signal?: AbortSignal }): Promise<Cluster>;

  /** Creates the `leader` key with this member's name, bound to its lease; false when someone holds it. */
  acquireLeader(): Promise<boolean>;
  /**
   * Keeps the lock: refreshes the lease and re-binds the key if needed; succeeds only while the key names
   * this member. False means the lock is lost.
   */
  renewLeader(): Promise<boolean>;
  /** Deletes the `leader` key if and only if it names this member. */
  releaseLeader(): Promise<boolean>;

  /** Writes `members/<name>` bound to this member's lease (refreshing the lease). */
  touchMember(data: MemberData): Promise<boolean>;
  /** Deletes this member's key (used on shutdown and by `remove`). */
  deleteMember(name?: string): Promise<boolean>;

  /**
   * The bootstrap race and its result. With `create: true` the key is created only when absent (the race);
   * with `create: false` it is overwritten (recording the real system identifier).
   */
  initialize(options: { create: boolean; sysid: string }): Promise<boolean>;
  /** Deletes `initialize` after a failed bootstrap. */
  cancelInitialization(): Promise<boolean>;

  /** Compare-and-set of `config`; `expected` null means create only if absent. */
  setConfig(data: Record<string, unknown>, expected: ValueVersion | null): Promise<boolean>;
  /** Compare-and-set of `failover`; `value` null writes the empty value `{}`; `expected` undefined writes unconditionally. */
  setFailover(
    value: Pick<Failover, 'leader' | 'candidate' | 'scheduledAt'> | null,
    expected?: ValueVersion | null,
  ): Promise<boolean>;
  /** Compare-and-set of `sync`; returns the new version, or false on conflict. */
  setSync(value: Pick<SyncState, 'leader' | 'syncStandby' | 'quorum'>, expected: ValueVersion | null): Promise<ValueVersion | false>;
  deleteSync(expected?: ValueVersion | null): Promise<boolean>;
  setHistory(lines: readonly TimelineHistoryEntry[]): Promise<boolean>;
  /** Writes `status` (optime and slots); only the lock holder calls it. */
  writeStatus(status: ClusterStatus): Promise<boolean>;
  writeFailsafe(members: Readonly<Record<string, string>>): Promise<boolean>;

  /**
   * Waits until the `leader` key changes from `leaderVersion` (null: absent), the timeout passes, or the
   * signal aborts. Resolves true when woken by a change, false on timeout.
   */
  watchLeader(leaderVersion: ValueVersion | null, timeoutMs: number, signal?: AbortSignal): Promise<boolean>;

  /**
   * New ttl / retry_timeout (and loop_wait, when the caller has one) from the dynamic configuration;
   * applied to the next lease or session. Plugins that have no use for `loopWait` ignore it.
   */
  setTiming(timing: DcsTiming): void;

  /** Removes every key of the cluster (`pgwardenctl remove`). */
  deleteCluster(): Promise<boolean>;

  /** Stops watches and closes connections; the lease is left to expire unless released first. */
  close(): Promise<void>;
}

export function clusterPrefix(identity: Pick<DcsIdentity, 'namespace' | 'scope'>): string {
  const namespace = (identity.namespace ?? '/service').replace(/^\/*/, '/').replace(/\/+$/, '');
  return `${namespace}/${identity.scope}/`;
}
