/**
 * An in-memory `Dcs`: several members (several `Dcs` instances) share one `MemoryStore`. It behaves like
 * etcd v3 as pgwarden uses it: one session (lease) per member, the `leader` and `members/<name>` keys bound to
 * it, a store-wide revision as the compare-and-set token. Expiry is judged from the injected clock only.
 */
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
  Clock,
  Cluster,
  Dcs,
  DcsIdentity,
  Logger,
  RawCluster,
  RawMember,
  RawValue,
  ValueVersion,
} from '@pgwarden/core';

const COMPONENT = 'dcs-memory';

interface StoredValue {
  readonly value: string;
  readonly createRevision: number;
  readonly modRevision: number;
  /** Session the key is bound to (deleted when it expires), or null for a plain key. */
  readonly session: number | null;
}

interface Session {
  readonly id: number;
  readonly ttlMs: number;
  expiresAt: number;
}

/** The shared store behind every member's `Dcs`. */
export interface MemoryStore {
  readonly clock: Clock;
  /** While false, every operation of every `Dcs` on this store throws `DcsUnreachableError`. */
  setReachable(reachable: boolean): void;
  isReachable(): boolean;
  /** Writes a value as it is, bypassing every codec (e.g. a malformed member). `key` is the full path. */
  writeRaw(key: string, value: string): void;
  /** Reads a value as stored (after expiring what is due), or null. `key` is the full path. */
  readRaw(key: string): string | null;
  /** Every live key, sorted. */
  keys(): string[];
  /** The current store-wide revision. */
  revision(): number;
}

export interface MemoryStoreOptions {
  readonly clock: Clock;
}

/** What the Dcs instances use; not part of the public `MemoryStore` surface. */
interface StoreInternals extends MemoryStore {
  expire(): void;
  get(key: string): StoredValue | undefined;
  put(key: string, value: string, session: number | null): StoredValue;
  delete(key: string): boolean;
  deletePrefix(prefix: string): void;
  range(prefix: string): [string, StoredValue][];
  grant(ttlMs: number): Session;
  /** Extends the session; false when it is gone. */
  keepalive(id: number): boolean;
  sessionExpiry(id: number): number | undefined;
  /** Resolves at the next change of `key`; the returned function stops listening. */
  onChange(key: string, listener: () => void): () => void;
}

const internals = new WeakMap<MemoryStore, StoreInternals>();

export function createMemoryStore(options: MemoryStoreOptions): MemoryStore {
  const { clock } = options;
  const data = new Map<string, StoredValue>();
  const sessions = new Map<number, Session>();
  const listeners = new Map<string, Set<() => void>>();
  let revision = 1;
  let nextSession = 1;
  let reachable = true;

  function notify(key: string): void {
    for (const listener of [...(listeners.get(key) ?? [])]) listener();
  }

  function remove(key: string): boolean {
    if (!data.delete(key)) return false;
    revision++;
    notify(key);
    return true;
  }

  function expire(): void {
    const now = clock.now();
    for (const session of [...sessions.values()]) {
      if (session.expiresAt > now) continue;
      sessions.delete(session.id);
      for (const [key, stored] of [...data]) if (stored.session === session.id) remove(key);
    }
  }

  const store: StoreInternals = {
    clock,
    setReachable(value) {
      reachable = value;
    },
    isReachable: () => reachable,
    writeRaw(key, value) {
      expire();
      store.put(key, value, null);
    },
    readRaw(key) {
      expire();
      return data.get(key)?.value ?? null;
    },
    keys() {
      expire();
      return [...data.keys()].sort();
    },
    revision: () => revision,
    expire,
    get: (key) => data.get(key),
    put(key, value, session) {
      revision++;
      const stored: StoredValue = {
        value,
        createRevision: data.get(key)?.createRevision ?? revision,
        modRevision: revision,
        session,
      };
      data.set(key, stored);
      notify(key);
      return stored;
    },
    delete: remove,
    deletePrefix(prefix) {
      for (const key of [...data.keys()]) if (key.startsWith(prefix)) remove(key);
    },
    range(prefix) {
      return [...data].filter(([key]) => key.startsWith(prefix)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    },
    grant(ttlMs) {
      const session: Session = { id: nextSession++, ttlMs, expiresAt: clock.now() + ttlMs };
      sessions.set(session.id, session);
      return session;
    },
    keepalive(id) {
      const session = sessions.get(id);
      if (!session) return false;
      session.expiresAt = clock.now() + session.ttlMs;
      return true;
    },
    sessionExpiry: (id) => sessions.get(id)?.expiresAt,
    onChange(key, listener) {
      let set = listeners.get(key);
      if (!set) listeners.set(key, (set = new Set()));
      set.add(listener);
      return () => {
        set.delete(listener);
        if (set.size === 0) listeners.delete(key);
      };
    },
  };
  internals.set(store, store);
  return store;
}

export interface MemoryDcsOptions extends DcsIdentity {
  readonly store: MemoryStore;
  readonly logger?: Logger;
}

const CLUSTER_KEYS = ['initialize', 'config', 'leader', 'status', 'failover', 'sync', 'history', 'failsafe'] as const;
type ClusterKey = (typeof CLUSTER_KEYS)[number];

function isClusterKey(key: string): key is ClusterKey {
  return (CLUSTER_KEYS as readonly string[]).includes(key);
}

function storeInternals(store: MemoryStore): StoreInternals {
  const found = internals.get(store);
  if (!found) throw new TypeError('[dcs-memory] store was not made by createMemoryStore');
  return found;
}

export function createMemoryDcs(options: MemoryDcsOptions): Dcs {
  const store = storeInternals(options.store);
  const { clock } = store;
  const name = options.name;
  const prefix = clusterPrefix(options);
  const logger = options.logger ?? silentLogger;
  let ttl = options.ttl;
  let session: { readonly id: number; readonly ttl: number } | null = null;
  let closed = false;
  /** Aborted by close(): a watch in progress then ends as not woken. */
  const lifetime = new AbortController();

  const keyOf = (relative: string): string => prefix + relative;
  const leaderKey = keyOf('leader');
  const memberKey = (member: string): string => keyOf(`members/${member}`);

  /** Every operation starts here: closed and unreachable are failures, then due expiries happen. */
  function enter(operation: string): void {
    if (closed) throw new PgwardenError(COMPONENT, 'DCS_CLOSED', `${operation} after close`);
    if (!store.isReachable()) throw new DcsUnreachableError(COMPONENT, `${operation}: store unreachable`);
    store.expire();
  }

  /** Keeps this member's session alive; a new one when it expired (its keys are gone) or the ttl changed. */
  function refreshSession(): number {
    if (session && session.ttl === ttl && store.keepalive(session.id)) return session.id;
    session = { id: store.grant(ttl * 1000).id, ttl };
    logger.log('debug', 'granted a new session', { session: session.id, ttl });
    return session.id;
  }

  function versionMatches(key: string, expected: ValueVersion | null | undefined): boolean {
    if (expected === undefined) return true;
    const current = store.get(key);
    if (expected === null) return current === undefined;
    return current !== undefined && String(current.modRevision) === expected;
  }

  function casPut(key: string, value: string, expected: ValueVersion | null | undefined): StoredValue | false {
    if (!versionMatches(key, expected)) return false;
    return store.put(key, value, null);
  }

  function read(): RawCluster {
    const raw: Partial<Record<ClusterKey, RawValue>> = {};
    const members: RawMember[] = [];
    for (const [key, stored] of store.range(prefix)) {
      const relative = key.slice(prefix.length);
      const value: RawValue = { value: stored.value, version: String(stored.modRevision) };
      if (relative.startsWith('members/')) {
        const member = relative.slice('members/'.length);
        if (member !== '' && !member.includes('/')) members.push({ ...value, name: member });
      } else if (isClusterKey(relative)) {
        raw[relative] = value;
      }
    }
    return { ...raw, members };
  }

  async function waitForLeaderChange(
    leaderVersion: ValueVersion | null,
    deadline: number,
    signal: AbortSignal | undefined,
  ): Promise<boolean> {
    for (;;) {
      if (closed) return false;
      enter('watchLeader');
      const current = store.get(leaderKey);
      if ((current ? String(current.modRevision) : null) !== leaderVersion) return true;
      const now = clock.now();
      if (now >= deadline || signal?.aborted) return false;
      // Wake at the deadline, or when the holder's session would expire, whichever comes first.
      const expiry = current?.session != null ? store.sessionExpiry(current.session) : undefined;
      const wakeAt = Math.min(deadline, expiry ?? deadline);
      const stop = new AbortController();
      const woken = new Promise<void>((resolve) => {
        const unsubscribe = store.onChange(leaderKey, () => resolve());
        const onAbort = (): void => resolve();
        signal?.addEventListener('abort', onAbort, { once: true });
        lifetime.signal.addEventListener('abort', onAbort, { once: true });
        stop.signal.addEventListener('abort', () => {
          unsubscribe();
          signal?.removeEventListener('abort', onAbort);
          lifetime.signal.removeEventListener('abort', onAbort);
        });
        void clock.sleep(Math.max(0, wakeAt - now), stop.signal).then(resolve, () => {});
      });
      try {
        await woken;
      } finally {
        stop.abort();
      }
    }
  }

  const dcs: Dcs = {
    kind: 'memory',
    clusterPrefix: prefix,

    async loadCluster(loadOptions): Promise<Cluster> {
      if (loadOptions?.signal?.aborted) throw new PgwardenError(COMPONENT, 'DCS_ABORTED', 'loadCluster aborted');
      enter('loadCluster');
      return buildCluster(read(), options.onMalformed);
    },

    async acquireLeader() {
      enter('acquireLeader');
      const own = refreshSession();
      if (store.get(leaderKey)) return false;
      store.put(leaderKey, name, own);
      return true;
    },

    async renewLeader() {
      enter('renewLeader');
      const own = refreshSession();
      const current = store.get(leaderKey);
      if (!current || current.value !== name) return false;
      if (current.session !== own) store.put(leaderKey, name, own);
      return true;
    },

    async releaseLeader() {
      enter('releaseLeader');
      if (store.get(leaderKey)?.value !== name) return false;
      return store.delete(leaderKey);
    },

    async touchMember(memberData) {
      enter('touchMember');
      store.put(memberKey(name), encodeMember(memberData), refreshSession());
      return true;
    },

    async deleteMember(member) {
      enter('deleteMember');
      store.delete(memberKey(member ?? name));
      return true;
    },

    async initialize({ create, sysid }) {
      enter('initialize');
      return casPut(keyOf('initialize'), sysid, create ? null : undefined) !== false;
    },

    async cancelInitialization() {
      enter('cancelInitialization');
      store.delete(keyOf('initialize'));
      return true;
    },

    async setConfig(configData, expected) {
      enter('setConfig');
      return casPut(keyOf('config'), encodeConfig(configData), expected) !== false;
    },

    async setFailover(value, expected) {
      enter('setFailover');
      return casPut(keyOf('failover'), encodeFailover(value), expected) !== false;
    },

    async setSync(value, expected) {
      enter('setSync');
      const stored = casPut(keyOf('sync'), encodeSync(value), expected);
      return stored === false ? false : String(stored.modRevision);
    },

    async deleteSync(expected) {
      enter('deleteSync');
      // A null version carries no condition for a delete: Patroni deletes unconditionally then.
      if (!versionMatches(keyOf('sync'), expected ?? undefined)) return false;
      store.delete(keyOf('sync'));
      return true;
    },

    async setHistory(lines) {
      enter('setHistory');
      store.put(keyOf('history'), encodeHistory(lines), null);
      return true;
    },

    async writeStatus(status) {
      enter('writeStatus');
      store.put(keyOf('status'), encodeStatus(status), null);
      return true;
    },

    async writeFailsafe(members) {
      enter('writeFailsafe');
      store.put(keyOf('failsafe'), encodeFailsafe(members), null);
      return true;
    },

    async watchLeader(leaderVersion, timeoutMs, signal) {
      enter('watchLeader');
      return waitForLeaderChange(leaderVersion, clock.now() + Math.max(0, timeoutMs), signal);
    },

    setTiming(timing) {
      ttl = timing.ttl;
    },

    async deleteCluster() {
      enter('deleteCluster');
      store.deletePrefix(prefix);
      return true;
    },

    async close() {
      closed = true;
      lifetime.abort();
    },

    async [Symbol.asyncDispose]() {
      await dcs.close();
    },
  };
  return dcs;
}
