/**
 * `Dcs` on etcd v3, laid out and locked as Patroni's `etcd3` plugin does: one lease per member, refreshed by
 * the agent each cycle (no background keep-alive, so a hung agent loses its lock), transactions for every
 * compare-and-set, and an etcd watch on the leader key.
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
import type { IKeyValue, IRequestOp, ICompare, ITxnResponse } from 'etcd3';
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

export function createEtcdDcs(options: EtcdDcsOptions): Dcs {
  const ownsClient = options.client === undefined;
  const client = options.client ?? createClient(options);
  const logger = options.logger ?? silentLogger;
  const name = options.name;
  const prefix = clusterPrefix(options);
  const prefixBytes = bytes(prefix);
  const leaderKey = bytes(`${prefix}leader`);
  const keyOf = (relative: string): Buffer => bytes(prefix + relative);
  const memberKey = (member: string): Buffer => keyOf(`members/${member}`);

  let ttl = options.ttl;
  let retryTimeoutMs = options.retryTimeout * 1_000;
  let lease: { readonly id: string; readonly ttl: number } | null = null;
  let refreshing: Promise<string> | null = null;
  let closed = false;
  /** Aborted by close(): every watch in progress ends. */
  const lifetime = new AbortController();

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
   * Runs one operation against etcd within retry_timeout: transient failures (no connection, no leader)
   * are retried with a short backoff; what is left at the deadline is `DcsUnreachableError`.
   */
  async function call<T>(operation: string, run: (callOptions: CallOptions, attempt: number) => Promise<T>): Promise<T> {
    if (closed) throw closedError(operation);
    const deadline = Date.now() + retryTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        return await run({ deadline }, attempt);
      } catch (raw) {
        const error = raw instanceof Error && !(raw instanceof PgwardenError) ? castGrpcError(raw) : raw;
        const backoff = Math.min(1_000, 50 * 2 ** attempt);
        const retriable =
          !closed &&
          error instanceof Error &&
          isRecoverableError(error) &&
          !(error instanceof GRPCDeadlineExceededError) &&
          Date.now() + backoff < deadline;
        if (!retriable) throw translate(operation, error);
        logger.log('debug', 'etcd request failed, retrying', { operation, attempt, error: (error as Error).message });
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

  async function getKey(key: Buffer, callOptions: CallOptions): Promise<{ kv: IKeyValue | undefined; revision: string }> {
    const response = await client.kv.range({ key }, callOptions);
    return { kv: response.kvs[0], revision: response.header.revision };
  }

  /** Sends one keep-alive for `id`; false when etcd no longer knows the lease. */
  async function keepaliveOnce(id: string, callOptions: CallOptions): Promise<boolean> {
    const stream = await client.leaseClient.leaseKeepAlive(callOptions);
    try {
      return await new Promise<boolean>((resolve, reject) => {
        stream.on('data', (response) => resolve(Number(response.TTL) > 0));
        stream.on('error', (error: Error) => reject(castGrpcError(error)));
        stream.on('end', () => reject(new DcsUnreachableError(COMPONENT, 'lease keep-alive stream ended')));
        stream.write({ ID: id });
      });
    } catch (error) {
      if (error instanceof EtcdLeaseInvalidError) return false;
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

  async function refreshLeaseNow(callOptions: CallOptions): Promise<string> {
    if (lease && lease.ttl === ttl && (await keepaliveOnce(lease.id, callOptions))) return lease.id;
    if (lease) logger.log('info', 'lease expired or ttl changed, granting a new one', { lease: lease.id, ttl });
    const granted = await client.leaseClient.leaseGrant({ TTL: ttl, ID: 0 }, callOptions);
    lease = { id: granted.ID, ttl };
    logger.log('debug', 'granted a lease', { lease: granted.ID, ttl });
    return granted.ID;
  }

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
      // A txn with one write bumps the revision once: the header revision is the key's new mod_revision.
      return response.succeeded ? response.header.revision : false;
    });
  }

  function toRaw(kvs: readonly IKeyValue[]): RawCluster {
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

  /** Waits for any event on the leader key after `revision`, the timeout, an abort, or close. */
  function watchAfter(revision: string, timeoutMs: number, signal: AbortSignal | undefined): Promise<boolean> {
    return new Promise<boolean>((resolve) => {
      const watcher = client.watch().key(leaderKey).startRevision(revision).watcher();
      let done = false;
      const finish = (woken: boolean): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        signal?.removeEventListener('abort', stop);
        lifetime.signal.removeEventListener('abort', stop);
        watcher.removeAllListeners('put').removeAllListeners('delete');
        void watcher.cancel().catch(() => {});
        resolve(woken);
      };
      const stop = (): void => finish(false);
      const timer = setTimeout(stop, Math.max(0, timeoutMs));
      watcher.on('put', () => finish(true));
      watcher.on('delete', () => finish(true));
      // A broken watch stream is re-established by the client; until then this is a plain wait.
      watcher.on('error', (error) => logger.log('debug', 'leader watch failed', { error: error.message }));
      signal?.addEventListener('abort', stop, { once: true });
      lifetime.signal.addEventListener('abort', stop, { once: true });
    });
  }

  const dcs: Dcs = {
    kind: 'etcd3',
    clusterPrefix: prefix,

    async loadCluster(loadOptions): Promise<Cluster> {
      const signal = loadOptions?.signal;
      if (signal?.aborted) throw new PgwardenError(COMPONENT, 'DCS_ABORTED', 'loadCluster aborted');
      const response = await abortable(
        'loadCluster',
        signal,
        call('loadCluster', (callOptions) =>
          client.kv.range({ key: prefixBytes, range_end: prefixEnd(prefixBytes) }, callOptions),
        ),
      );
      return buildCluster(toRaw(response.kvs), options.onMalformed);
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
        if (response.succeeded) return true;
        // A retry after a lost answer finds its own earlier write: that is a win, not a lost race.
        const holder = response.responses[0]?.response_range?.kvs[0];
        return attempt > 0 && holder?.value.toString('utf8') === name && holder.lease === leaseId;
      });
    },

    renewLeader() {
      return call('renewLeader', async (callOptions) => {
        const leaseId = await refreshLease(callOptions);
        const response = await txn([holds(leaderKey, name)], [{ request_range: { key: leaderKey } }], [], callOptions);
        if (!response.succeeded) return false;
        const current = response.responses[0]?.response_range?.kvs[0];
        if (!current) return false;
        if (current.lease === leaseId) return true;
        // Still ours but bound to an older lease: re-bind it, unless someone changed it meanwhile.
        const rebind = await txn(
          [holds(leaderKey, name), modifiedAt(leaderKey, current.mod_revision)],
          [put(leaderKey, name, leaseId)],
          [],
          callOptions,
        );
        return rebind.succeeded;
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
        return response.succeeded;
      });
    },

    touchMember(data) {
      return call('touchMember', async (callOptions) => {
        const leaseId = await refreshLease(callOptions);
        await client.kv.put({ key: memberKey(name), value: bytes(encodeMember(data)), lease: leaseId }, callOptions);
        return true;
      });
    },

    deleteMember(member) {
      return call('deleteMember', async (callOptions) => {
        await client.kv.deleteRange({ key: memberKey(member ?? name) }, callOptions);
        return true;
      });
    },

    async initialize({ create, sysid }) {
      return (await casPut('initialize', keyOf('initialize'), sysid, create ? null : undefined)) !== false;
    },

    cancelInitialization() {
      return call('cancelInitialization', async (callOptions) => {
        await client.kv.deleteRange({ key: keyOf('initialize') }, callOptions);
        return true;
      });
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
      const deadline = Date.now() + Math.max(0, timeoutMs);
      let current: Awaited<ReturnType<typeof getKey>>;
      try {
        current = await abortable('watchLeader', signal, call('watchLeader', (callOptions) => getKey(leaderKey, callOptions)));
      } catch (error) {
        // A watch cut short by an abort or by close() was simply not woken.
        if (closed || (error instanceof PgwardenError && error.code === 'DCS_ABORTED')) return false;
        throw error;
      }
      if ((current.kv?.mod_revision ?? null) !== leaderVersion) return true;
      if (closed || signal?.aborted) return false;
      // Every change after the revision we read is delivered, even one made before the watch was set up.
      return watchAfter((BigInt(current.revision) + 1n).toString(), deadline - Date.now(), signal);
    },

    setTiming(timing) {
      ttl = timing.ttl;
      retryTimeoutMs = timing.retryTimeout * 1_000;
    },

    deleteCluster() {
      return call('deleteCluster', async (callOptions) => {
        await client.kv.deleteRange({ key: prefixBytes, range_end: prefixEnd(prefixBytes) }, callOptions);
        return true;
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      lifetime.abort();
      // The lease is left to expire: the member's keys vanish after ttl unless it released them first.
      if (ownsClient) client.close();
    },

    async [Symbol.asyncDispose]() {
      await dcs.close();
    },
  };
  return dcs;
}
