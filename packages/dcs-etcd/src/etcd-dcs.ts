/**
 * `Dcs` on etcd v3, laid out and locked as Patroni's `etcd3` plugin does: one lease per member, refreshed by
 * the agent each cycle (no background keep-alive, so a hung agent loses its lock), transactions for every
 * compare-and-set and lock operation.
 *
 * Reads come from a cache of the cluster's keys fed by one long-lived watch on the whole prefix (as Patroni's
 * etcd3 client does), so a steady cycle costs etcd a keep-alive and the lock transaction, not a range read and a
 * watch per cycle. The cache is re-seeded by a range read when it starts, after the watch breaks, after a failed
 * compare-and-set, and when etcd has not been heard from for a ttl; loadCluster then reads as before.
 */
import {
  ClientClosedError,
  Etcd3,
  EtcdLeaseInvalidError,
  GRPCDeadlineExceededError,
  GRPCInvalidArgumentError,
  castGrpcError,
  isRecoverableError,
} from 'etcd3';
import type { ICompare, IDuplexStream, IRequestOp, ITxnResponse, IWatchRequest, IWatchResponse } from 'etcd3';
import { noop } from 'cockatiel';
import {
  DcsUnreachableError,
  PgwardenError,
  buildCluster,
  clusterPrefix,
  encodeConfig,
  encodeFailover,
  encodeFailsafe,
  encodeHistory,
  encodeMember,
  encodeStatus,
  encodeSync,
  silentLogger,
} from '@pgwarden/core';
import type {
  Cluster,
  Dcs,
  DcsIdentity,
  Logger,
  RawCluster,
  RawMember,
  RawValue,
  ValueVersion,
} from '@pgwarden/core';
import { KvCache } from './kv-cache.js';
import type { CachedKv } from './kv-cache.js';
import { forgetFutureWrites, noteWrite, sessionKey, writtenUpTo } from './session-writes.js';

const COMPONENT = 'dcs-etcd';

export interface EtcdDcsOptions extends DcsIdentity {
  /** `host:port` of the etcd members; ignored when `client` is given. */
  readonly hosts?: readonly string[];
  /** An existing client (custom TLS, tests); it is not closed by `close()`. */
  readonly client?: Etcd3;
  /** Default `http`. */
  readonly protocol?: 'http' | 'https';
  readonly username?: string;
  readonly password?: string;
  readonly logger?: Logger;
}

/** The call options every request gets: one absolute deadline for the whole operation. */
interface CallOptions {
  readonly deadline: number;
}

const CLUSTER_KEYS = ['initialize', 'config', 'leader', 'status', 'failover', 'sync', 'history', 'failsafe'] as const;
type ClusterKey = (typeof CLUSTER_KEYS)[number];

function isClusterKey(key: string): key is ClusterKey {
  return (CLUSTER_KEYS as readonly string[]).includes(key);
}

const bytes = (text: string): Buffer => Buffer.from(text, 'utf8');

/** The end of a prefix range: the prefix with its last byte incremented. */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let index = end.length - 1; index >= 0; index--) {
    if (end[index]! < 0xff) {
      end[index] = end[index]! + 1;
      return end.subarray(0, index + 1);
    }
  }
  return Buffer.from([0]);
}

function isRevision(version: string): boolean {
  return /^\d+$/.test(version);
}

function createClient(options: EtcdDcsOptions): Etcd3 {
  const hosts = options.hosts ?? [];
  if (hosts.length === 0) {
    throw new PgwardenError(COMPONENT, 'CONFIG_INVALID', 'either hosts or client is required');
  }
  const protocol = options.protocol ?? 'http';
  return new Etcd3({
    hosts: hosts.map((host) => (/^https?:\/\//.test(host) ? host : `${protocol}://${host}`)),
    ...(options.username !== undefined
      ? { auth: { username: options.username, password: options.password ?? '' } }
      : {}),
    // Retries and their deadline are ours (bounded by retry_timeout); the client must not add its own
    // retries or open a circuit breaker that outlives an outage.
    faultHandling: { host: () => noop, global: noop },
    dialTimeout: Math.max(1, options.retryTimeout) * 1_000,
  });
}

/** How long a read waits for the watch to deliver a write this process made before it reads etcd instead. */
const FRESH_WAIT_MS = 1_000;
/** Back-off between attempts to re-establish the watch while a leader watch is waiting. */
const REWATCH_BACKOFF_MS = 1_000;

export function createEtcdDcs(options: EtcdDcsOptions): Dcs {
  const ownsClient = options.client === undefined;
  const client = options.client ?? createClient(options);
  const logger = options.logger ?? silentLogger;
  const name = options.name;
  const prefix = clusterPrefix(options);
  const prefixBytes = bytes(prefix);
  const leaderKey = bytes(`${prefix}leader`);
  const leaderKeyText = `${prefix}leader`;
  const keyOf = (relative: string): Buffer => bytes(prefix + relative);
  const memberKey = (member: string): Buffer => keyOf(`members/${member}`);
  const ownMemberKeyText = `${prefix}members/${name}`;
  const session = sessionKey(
    options.client ? { client: options.client } : { hosts: (options.hosts ?? []).map((host) => host.replace(/^https?:\/\//, '')) },
    prefix,
  );

  let ttl = options.ttl;
  let retryTimeoutMs = options.retryTimeout * 1_000;
  let lease: { readonly id: string; readonly ttl: number } | null = null;
  /** The last keep-alive that succeeded (or the grant), timed from when it was sent. */
  /** The last keep-alive (or grant) of this member's lease, with the store revision etcd reported in its answer. */
  let lastKeepalive: { readonly id: string; readonly at: number; readonly revision: bigint } | null = null;
  let refreshing: Promise<string> | null = null;
  let closed = false;
  /** Aborted by close(): every wait in progress ends. */
  const lifetime = new AbortController();

  // The cache and the watch that feeds it.
  const cache = new KvCache();
  let watchStream: IDuplexStream<IWatchRequest, IWatchResponse> | null = null;
  let watchState: 'none' | 'opening' | 'live' = 'none';
  /** Bumped whenever the stream is replaced: callbacks of an older stream are ignored. */
  let watchGeneration = 0;
  /** Set when the cache may miss changes (watch broken, failed compare-and-set); cleared by a full read. */
  let needsReseed = true;
  let staleEpoch = 0;
  /** When etcd last answered anything (a request or a watch message). */
  let lastContact = 0;
  /** Reads so far: a one-shot reader (pgwardenctl) gets its answer without opening a watch. */
  let reads = 0;
  /** When a waiting watchLeader last re-seeded after a broken watch (paces retries when the watch keeps failing). */
  let lastRecovery = 0;
  const watchStateListeners = new Set<() => void>();

  function closedError(operation: string, cause?: unknown): PgwardenError {
    return new PgwardenError(COMPONENT, 'DCS_CLOSED', `${operation} after close`, { cause });
  }

  function translate(operation: string, error: unknown): PgwardenError {
    if (error instanceof PgwardenError) return error;
    if (closed || error instanceof ClientClosedError) return closedError(operation, error);
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof GRPCInvalidArgumentError) {
      return new PgwardenError(COMPONENT, 'DCS_PROTOCOL', `${operation}: ${message}`, { cause: error });
    }
    return new DcsUnreachableError(COMPONENT, `${operation}: ${message}`, { cause: error });
  }

  /**
   * Runs one operation against etcd within retry_timeout (or the given deadline): transient failures (no
   * connection, no leader) are retried with a short backoff; what is left at the deadline is
   * `DcsUnreachableError`, and the cache stops being trusted until a read succeeds again.
   */
  async function call<T>(
    operation: string,
    run: (callOptions: CallOptions, attempt: number) => Promise<T>,
    deadline = Date.now() + retryTimeoutMs,
  ): Promise<T> {
    if (closed) throw closedError(operation);
    for (let attempt = 0; ; attempt++) {
      try {
        const result = await run({ deadline }, attempt);
        lastContact = Date.now();
        return result;
      } catch (raw) {
        const error = raw instanceof Error && !(raw instanceof PgwardenError) ? castGrpcError(raw) : raw;
        if (error instanceof EtcdLeaseInvalidError && !closed && Date.now() < deadline) {
          // Our lease vanished between its last keep-alive and this write (revoked): take a new one and redo.
          logger.log('info', 'lease no longer exists, granting a new one', { operation, lease: lease?.id });
          lease = null;
          lastKeepalive = null;
          continue;
        }
        const backoff = Math.min(1_000, 50 * 2 ** attempt);
        const retriable =
          !closed &&
          error instanceof Error &&
          isRecoverableError(error) &&
          !(error instanceof GRPCDeadlineExceededError) &&
          Date.now() + backoff < deadline;
        if (!retriable) {
          const translated = translate(operation, error);
          if (translated instanceof DcsUnreachableError) dropWatch();
          throw translated;
        }
        logger.log('debug', 'etcd request failed, retrying', { operation, attempt, error: error.message });
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  }

  async function txn(
    compare: ICompare[],
    success: IRequestOp[],
    failure: IRequestOp[],
    callOptions: CallOptions,
  ): Promise<ITxnResponse> {
    return client.kv.txn({ compare, success, failure }, callOptions);
  }

  /** Remembers a committed write so that reads through this process see it. */
  function wrote(revision: string): void {
    noteWrite(session, revision);
  }

  /** After a failed compare-and-set the caller's view was stale: the next read goes to etcd. */
  function markStale(): void {
    needsReseed = true;
    staleEpoch++;
  }

  // ---- the prefix watch ----

  function notifyWatchState(): void {
    for (const listener of [...watchStateListeners]) listener();
  }

  function onWatchState(listener: () => void): () => void {
    watchStateListeners.add(listener);
    return () => watchStateListeners.delete(listener);
  }

  /** Opens the prefix watch from just after what the cache holds (it must have been seeded). */
  function openWatch(): void {
    if (watchState !== 'none' || closed || !cache.seeded) return;
    watchState = 'opening';
    const generation = ++watchGeneration;
    const startRevision = (cache.revision + 1n).toString();
    client.watchClient.watch().then(
      (stream) => {
        stream.on('error', (error: Error) => watchBroken(generation, error.message));
        if (generation !== watchGeneration || closed) {
          stream.cancel();
          return;
        }
        watchStream = stream;
        stream.on('data', (response: IWatchResponse) => onWatchResponse(generation, response));
        stream.on('end', () => watchBroken(generation, 'watch stream ended'));
        stream.write({
          create_request: { key: prefixBytes, range_end: prefixEnd(prefixBytes), start_revision: startRevision },
        });
      },
      (error: unknown) => watchBroken(generation, error instanceof Error ? error.message : String(error)),
    );
  }

  function onWatchResponse(generation: number, response: IWatchResponse): void {
    if (generation !== watchGeneration) return;
    lastContact = Date.now();
    if (response.canceled || (response.compact_revision && response.compact_revision !== '0')) {
      const reason = response.cancel_reason || `compacted at revision ${response.compact_revision}`;
      watchBroken(generation, `watch canceled: ${reason}`);
      return;
    }
    if (response.created) {
      watchState = 'live';
      logger.log('debug', 'prefix watch established', { prefix });
      notifyWatchState();
      return;
    }
    // Empty responses (progress notifications) carry no events; their revision is not relied on.
    if (response.events.length > 0) cache.applyEvents(response.events);
  }

  function watchBroken(generation: number, reason: string): void {
    if (generation !== watchGeneration) return;
    if (!closed) logger.log('debug', 'prefix watch broken, the next read goes to etcd', { reason });
    dropWatch();
  }

  /** Stops trusting the cache: closes the stream (if any) and asks for a full read. */
  function dropWatch(): void {
    watchGeneration++;
    const stream = watchStream;
    watchStream = null;
    watchState = 'none';
    markStale();
    if (stream) {
      try {
        stream.cancel();
      } catch {
        // already finished
      }
    }
    notifyWatchState();
  }

  /** The cache can answer reads: its watch is live, nothing made it doubtful, and etcd was heard from lately. */
  function cacheUsable(): boolean {
    return watchState === 'live' && !needsReseed && cache.seeded && Date.now() - lastContact < ttl * 1_000;
  }

  /** A full read of the prefix, merged into the cache; (re)opens the watch behind it unless told not to. */
  async function seed(operation: string, deadline: number, watchAfter = true): Promise<void> {
    const epoch = staleEpoch;
    const known = writtenUpTo(session);
    const response = await call(
      operation,
      (callOptions) => client.kv.range({ key: prefixBytes, range_end: prefixEnd(prefixBytes) }, callOptions),
      deadline,
    );
    const revision = BigInt(response.header.revision);
    cache.applySnapshot(response.kvs, revision);
    forgetFutureWrites(session, known, revision);
    if (staleEpoch === epoch) needsReseed = false;
    if (watchAfter) openWatch();
  }

  /**
   * Waits (briefly) until the cache holds every write this process made under the prefix. False when it did not
   * get there: the caller reads etcd instead.
   */
  function awaitOwnWrites(deadline: number): Promise<boolean> {
    const target = writtenUpTo(session);
    if (cache.revision >= target) return Promise.resolve(true);
    const until = Math.min(deadline, Date.now() + FRESH_WAIT_MS);
    return new Promise<boolean>((resolve) => {
      let done = false;
      const finish = (fresh: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        stopChanges();
        stopState();
        lifetime.signal.removeEventListener('abort', onClose);
        resolve(fresh);
      };
      const check = (): void => {
        if (cache.revision >= target) finish(true);
        else if (!cacheUsable()) finish(false);
      };
      const onClose = (): void => finish(false);
      const stopChanges = cache.onChange(check);
      const stopState = onWatchState(check);
      const timer = setTimeout(() => finish(cache.revision >= target), Math.max(0, until - Date.now()));
      lifetime.signal.addEventListener('abort', onClose, { once: true });
    });
  }

  /** Makes the cache current: from the watch when it can be trusted, else by a full read (which may throw). */
  async function freshCache(operation: string, deadline: number, watchAfter = true): Promise<void> {
    if (cacheUsable() && (await awaitOwnWrites(deadline)) && cacheUsable()) return;
    await seed(operation, deadline, watchAfter);
  }

  // ---- the lease ----

  /** Sends one keep-alive for `id`; the store's revision at that moment, or null when etcd no longer knows the lease. */
  async function keepaliveOnce(id: string, callOptions: CallOptions): Promise<bigint | null> {
    const stream = await client.leaseClient.leaseKeepAlive(callOptions);
    try {
      return await new Promise<bigint | null>((resolve, reject) => {
        stream.on('data', (response) => resolve(Number(response.TTL) > 0 ? BigInt(response.header.revision) : null));
        stream.on('error', (error: Error) => reject(castGrpcError(error)));
        stream.on('end', () => reject(new DcsUnreachableError(COMPONENT, 'lease keep-alive stream ended')));
        stream.write({ ID: id });
      });
    } catch (error) {
      if (error instanceof EtcdLeaseInvalidError) return null;
      throw error;
    } finally {
      stream.end();
    }
  }

  /** This member's lease, kept alive; a new one when it expired or the ttl changed. */
  function refreshLease(callOptions: CallOptions): Promise<string> {
    // Concurrent callers share one refresh, so they never grant two leases.
    refreshing ??= refreshLeaseNow(callOptions).finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  /**
   * A keep-alive sent this recently already gave the lease (nearly) its whole ttl: touchMember and renewLeader
   * in one cycle share it.
   */
  function keptAliveJustNow(id: string): boolean {
    return lastKeepalive?.id === id && Date.now() - lastKeepalive.at < Math.min(1_000, (ttl * 1_000) / 4);
  }

  async function refreshLeaseNow(callOptions: CallOptions): Promise<string> {
    if (lease && lease.ttl === ttl) {
      if (keptAliveJustNow(lease.id)) return lease.id;
      const sentAt = Date.now();
      const revision = await keepaliveOnce(lease.id, callOptions);
      if (revision !== null) {
        lastKeepalive = { id: lease.id, at: sentAt, revision };
        return lease.id;
      }
    }
    if (lease) logger.log('info', 'lease expired or ttl changed, granting a new one', { lease: lease.id, ttl });
    const sentAt = Date.now();
    const granted = await client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 }, callOptions);
    lease = { id: granted.ID, ttl };
    lastKeepalive = { id: granted.ID, at: sentAt, revision: BigInt(granted.header.revision) };
    logger.log('debug', 'granted a lease', { lease: granted.ID, ttl });
    return granted.ID;
  }

  /**
   * The keep-alive just sent answered with the store's revision; a live watch-fed cache that has reached that
   * revision is as good as a read made at the keep-alive. When it shows the leader key ours and bound to the lease
   * just kept alive, the lock is renewed without a transaction (one request per cycle fewer than reading it back).
   */
  function cacheVouchesForLeader(leaseId: string): boolean {
    if (!lastKeepalive || lastKeepalive.id !== leaseId || !cacheUsable()) return false;
    if (cache.revision < lastKeepalive.revision || cache.revision < writtenUpTo(session)) return false;
    const stored = cache.get(leaderKeyText);
    return stored !== undefined && stored.lease === leaseId && stored.value.toString('utf8') === name;
  }

  // ---- writes ----

  function put(key: Buffer, value: string, leaseId?: string): IRequestOp {
    return { request_put: { key, value: bytes(value), ...(leaseId !== undefined ? { lease: leaseId } : {}) } };
  }

  const created = (key: Buffer): ICompare => ({ key, target: 'Create', result: 'Equal', create_revision: 0 });
  const modifiedAt = (key: Buffer, version: string): ICompare => ({
    key,
    target: 'Mod',
    result: 'Equal',
    mod_revision: version,
  });
  const holds = (key: Buffer, value: string): ICompare => ({ key, target: 'Value', result: 'Equal', value: bytes(value) });

  /** Compare-and-set put: `expected` undefined = unconditional, null = create only, else mod_revision. */
  async function casPut(
    operation: string,
    key: Buffer,
    value: string,
    expected: ValueVersion | null | undefined,
  ): Promise<ValueVersion | false> {
    if (typeof expected === 'string' && !isRevision(expected)) return false;
    return call(operation, async (callOptions) => {
      const compare = expected === undefined ? [] : expected === null ? [created(key)] : [modifiedAt(key, expected)];
      const response = await txn(compare, [put(key, value)], [], callOptions);
      if (!response.succeeded) {
        markStale();
        return false;
      }
      // A txn with one write bumps the revision once: the header revision is the key's new mod_revision.
      wrote(response.header.revision);
      return response.header.revision;
    });
  }

  /** Deletes one key unconditionally; notes the write only when something was deleted. */
  async function deleteKey(operation: string, key: Buffer): Promise<boolean> {
    return call(operation, async (callOptions) => {
      const response = await client.kv.deleteRange({ key }, callOptions);
      if (Number(response.deleted) > 0) wrote(response.header.revision);
      return true;
    });
  }

  function toRaw(kvs: readonly CachedKv[]): RawCluster {
    const raw: Partial<Record<ClusterKey, RawValue>> = {};
    const members: RawMember[] = [];
    for (const kv of kvs) {
      const relative = kv.key.toString('utf8').slice(prefix.length);
      const value: RawValue = { value: kv.value.toString('utf8'), version: kv.mod_revision };
      if (relative.startsWith('members/')) {
        const member = relative.slice('members/'.length);
        if (member !== '' && !member.includes('/')) members.push({ ...value, name: member });
      } else if (isClusterKey(relative)) {
        raw[relative] = value;
      }
    }
    return { ...raw, members };
  }

  function abortable<T>(operation: string, signal: AbortSignal | undefined, work: Promise<T>): Promise<T> {
    if (!signal) return work;
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(new PgwardenError(COMPONENT, 'DCS_ABORTED', `${operation} aborted`));
      if (signal.aborted) onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      void work.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  const cachedLeaderVersion = (): string | null => cache.get(leaderKeyText)?.mod_revision ?? null;

  /**
   * Waits on the cache for the leader key to differ from `version`, the timeout, an abort, or close. When the
   * watch breaks meanwhile it is re-established (with a full read) in the background; while etcd is unreachable
   * this is a plain wait.
   */
  function waitForLeaderChange(version: string | null, timeoutMs: number, signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      let done = false;
      let recovering = false;
      const finish = (woken: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        stopChanges();
        stopState();
        signal?.removeEventListener('abort', stop);
        lifetime.signal.removeEventListener('abort', stop);
        resolve(woken);
      };
      const stop = (): void => finish(false);
      const check = (): void => {
        if (cachedLeaderVersion() !== version) finish(true);
      };
      const recover = async (): Promise<void> => {
        if (recovering) return;
        recovering = true;
        while (!done && watchState === 'none') {
          const pause = lastRecovery + REWATCH_BACKOFF_MS - Date.now();
          if (pause > 0) await new Promise((wake) => setTimeout(wake, Math.min(pause, Math.max(0, deadline - Date.now()))));
          if (done || watchState !== 'none') break;
          lastRecovery = Date.now();
          try {
            await seed('watchLeader', Math.min(deadline, Date.now() + retryTimeoutMs));
            check();
          } catch (error) {
            if (closed) return;
            logger.log('debug', 'leader watch waits for etcd', { error: error instanceof Error ? error.message : String(error) });
            await new Promise((wake) => setTimeout(wake, Math.min(REWATCH_BACKOFF_MS, Math.max(0, deadline - Date.now()))));
          }
        }
        recovering = false;
      };
      const deadline = Date.now() + Math.max(0, timeoutMs);
      const timer = setTimeout(stop, Math.max(0, timeoutMs));
      const stopChanges = cache.onChange((keys) => {
        if (keys.includes(leaderKeyText)) check();
      });
      const stopState = onWatchState(() => {
        if (watchState === 'none' && !closed) void recover();
      });
      signal?.addEventListener('abort', stop, { once: true });
      lifetime.signal.addEventListener('abort', stop, { once: true });
      check();
      if (!done && watchState === 'none') void recover();
    });
  }

  const dcs: Dcs = {
    kind: 'etcd3',
    clusterPrefix: prefix,

    async loadCluster(loadOptions): Promise<Cluster> {
      const signal = loadOptions?.signal;
      if (closed) throw closedError('loadCluster');
      if (signal?.aborted) throw new PgwardenError(COMPONENT, 'DCS_ABORTED', 'loadCluster aborted');
      const deadline = Date.now() + retryTimeoutMs;
      // The watch starts with the second read: a one-shot reader needs none.
      await abortable('loadCluster', signal, freshCache('loadCluster', deadline, reads++ > 0));
      if (closed) throw closedError('loadCluster');
      return buildCluster(toRaw(cache.values()), options.onMalformed);
    },

    acquireLeader() {
      return call('acquireLeader', async (callOptions, attempt) => {
        const leaseId = await refreshLease(callOptions);
        const response = await txn(
          [created(leaderKey)],
          [put(leaderKey, name, leaseId)],
          [{ request_range: { key: leaderKey } }],
          callOptions,
        );
        if (response.succeeded) {
          wrote(response.header.revision);
          return true;
        }
        // A retry after a lost answer finds its own earlier write: that is a win, not a lost race.
        const holder = response.responses[0]?.response_range?.kvs[0];
        if (attempt > 0 && holder?.value.toString('utf8') === name && holder.lease === leaseId) {
          wrote(holder.mod_revision);
          return true;
        }
        markStale();
        return false;
      });
    },

    renewLeader() {
      return call('renewLeader', async (callOptions) => {
        const leaseId = await refreshLease(callOptions);
        if (cacheVouchesForLeader(leaseId)) return true;
        const response = await txn([holds(leaderKey, name)], [{ request_range: { key: leaderKey } }], [], callOptions);
        const current = response.succeeded ? response.responses[0]?.response_range?.kvs[0] : undefined;
        if (!current) {
          markStale();
          return false;
        }
        if (current.lease === leaseId) return true;
        // Still ours but bound to an older lease: re-bind it, unless someone changed it meanwhile.
        const rebind = await txn(
          [holds(leaderKey, name), modifiedAt(leaderKey, current.mod_revision)],
          [put(leaderKey, name, leaseId)],
          [],
          callOptions,
        );
        if (!rebind.succeeded) {
          markStale();
          return false;
        }
        wrote(rebind.header.revision);
        return true;
      });
    },

    releaseLeader() {
      return call('releaseLeader', async (callOptions) => {
        const response = await txn(
          [holds(leaderKey, name)],
          [{ request_delete_range: { key: leaderKey } }],
          [],
          callOptions,
        );
        if (response.succeeded) wrote(response.header.revision);
        else markStale();
        return response.succeeded;
      });
    },

    touchMember(data) {
      return call('touchMember', async (callOptions) => {
        const leaseId = await refreshLease(callOptions);
        const value = encodeMember(data);
        // An unchanged value already bound to the live lease needs no write (the keep-alive above kept it).
        const stored = cache.get(ownMemberKeyText);
        if (
          cacheUsable() &&
          cache.revision >= writtenUpTo(session) &&
          stored?.lease === leaseId &&
          stored.value.toString('utf8') === value
        ) {
          return true;
        }
        const response = await client.kv.put({ key: memberKey(name), value: bytes(value), lease: leaseId }, callOptions);
        wrote(response.header.revision);
        return true;
      });
    },

    deleteMember(member) {
      return deleteKey('deleteMember', memberKey(member ?? name));
    },

    async initialize({ create, sysid }) {
      return (await casPut('initialize', keyOf('initialize'), sysid, create ? null : undefined)) !== false;
    },

    cancelInitialization() {
      return deleteKey('cancelInitialization', keyOf('initialize'));
    },

    async setConfig(data, expected) {
      return (await casPut('setConfig', keyOf('config'), encodeConfig(data), expected)) !== false;
    },

    async setFailover(value, expected) {
      return (await casPut('setFailover', keyOf('failover'), encodeFailover(value), expected)) !== false;
    },

    setSync(value, expected) {
      return casPut('setSync', keyOf('sync'), encodeSync(value), expected);
    },

    async deleteSync(expected) {
      // A null version carries no condition for a delete: Patroni deletes unconditionally then.
      if (typeof expected === 'string' && !isRevision(expected)) return false;
      const key = keyOf('sync');
      return call('deleteSync', async (callOptions) => {
        const compare = typeof expected === 'string' ? [modifiedAt(key, expected)] : [];
        const response = await txn(compare, [{ request_delete_range: { key } }], [], callOptions);
        if (!response.succeeded) markStale();
        else if (Number(response.responses[0]?.response_delete_range?.deleted ?? 0) > 0) wrote(response.header.revision);
        return response.succeeded;
      });
    },

    async setHistory(lines) {
      return (await casPut('setHistory', keyOf('history'), encodeHistory(lines), undefined)) !== false;
    },

    async writeStatus(status) {
      return (await casPut('writeStatus', keyOf('status'), encodeStatus(status), undefined)) !== false;
    },

    async writeFailsafe(members) {
      return (await casPut('writeFailsafe', keyOf('failsafe'), encodeFailsafe(members), undefined)) !== false;
    },

    async watchLeader(leaderVersion, timeoutMs, signal) {
      if (closed) throw closedError('watchLeader');
      if (signal?.aborted) return false;
      const started = Date.now();
      try {
        await abortable('watchLeader', signal, freshCache('watchLeader', started + retryTimeoutMs));
      } catch (error) {
        // A watch cut short by an abort or by close() was simply not woken.
        if (closed || (error instanceof PgwardenError && error.code === 'DCS_ABORTED')) return false;
        throw error;
      }
      if (closed || signal?.aborted) return false;
      // Changes after the view just made current arrive as watch events, even one made before this call.
      return waitForLeaderChange(leaderVersion, started + Math.max(0, timeoutMs) - Date.now(), signal);
    },

    setTiming(timing) {
      ttl = timing.ttl;
      retryTimeoutMs = timing.retryTimeout * 1_000;
    },

    deleteCluster() {
      return call('deleteCluster', async (callOptions) => {
        const response = await client.kv.deleteRange({ key: prefixBytes, range_end: prefixEnd(prefixBytes) }, callOptions);
        if (Number(response.deleted) > 0) wrote(response.header.revision);
        return true;
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      lifetime.abort();
      dropWatch();
      // The lease is left to expire: the member's keys vanish after ttl unless it released them first.
      if (ownsClient) client.close();
    },

    async [Symbol.asyncDispose]() {
      await dcs.close();
    },
  };
  return dcs;
}
