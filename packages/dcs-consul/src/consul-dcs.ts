/**
 * `Dcs` on Consul, laid out and locked as Patroni's `consul` plugin does: one session per member
 * (`<scope>-<name>`, TTL = ttl/2 because Consul may wait up to twice the TTL before invalidating it,
 * behavior `delete`, a negligible lock-delay), renewed by the agent on each cycle (no background renewal,
 * so a hung agent loses its lock); `leader` and `members/<name>` are KV keys acquired by that session;
 * every compare-and-set uses `cas=<ModifyIndex>`; the leader watch is a blocking query.
 */
import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import Consul from 'consul';
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
  MemberData,
  RawCluster,
  RawMember,
  RawValue,
  ValueVersion,
} from '@pgwarden/core';

const COMPONENT = 'dcs-consul';
/** Patroni's lock-delay: effectively none, so a new leader can take an expired lock at once. */
const LOCK_DELAY = '1ms';
/** How much longer than its `wait` a blocking query may take before the client gives up on it. */
const BLOCKING_MARGIN_MS = 2_000;

export type ConsulConsistency = 'default' | 'consistent' | 'stale';

export interface ConsulDcsOptions extends DcsIdentity {
  /** `host` or `host:port` of the Consul agent; default `127.0.0.1`. Ignored when `url` or `client` is given. */
  readonly host?: string;
  /** Default 8500 (or the port in `host`). */
  readonly port?: number;
  /** Default `http`. */
  readonly scheme?: 'http' | 'https';
  /** `http(s)://host:port` of the agent; takes precedence over host/port/scheme. */
  readonly url?: string;
  /** An existing client (custom TLS agent, tests); it is not destroyed by `close()`. */
  readonly client?: Consul;
  /** ACL token, sent as `X-Consul-Token`. */
  readonly token?: string;
  /** Datacenter; default the agent's. */
  readonly dc?: string;
  /** Read consistency mode; default `default`. */
  readonly consistency?: ConsulConsistency;
  /** Health checks the session depends on; default none (the session lives by its TTL only). */
  readonly checks?: readonly string[];
  /** Register the member as a service `<scope>` with role tags and an HTTP check on its REST API. */
  readonly registerService?: boolean;
  /** Tags added to the service besides the role tags. */
  readonly serviceTags?: readonly string[];
  /** Interval of the service's HTTP check, a Go duration; default `5s`. */
  readonly serviceCheckInterval?: string;
  /** TLS server name for the service check when the REST API is on https. */
  readonly serviceCheckTlsServerName?: string;
  readonly logger?: Logger;
}

/** One KV entry as Consul returns it (the client has already decoded `Value` from base64). */
interface KvItem {
  readonly Key: string;
  readonly Value: string | null;
  readonly ModifyIndex: number;
  readonly CreateIndex: number;
  readonly LockIndex: number;
  readonly Session?: string;
}

/** The options the client's request functions accept beyond what its type declarations list. */
interface RequestOptions {
  readonly timeout: number;
  readonly ctx?: EventEmitter;
  readonly consistent?: boolean;
  readonly stale?: boolean;
  readonly index?: string;
  readonly wait?: string;
}

/** A client error as thrown by `consul` (papi): an HTTP status, or a transport failure. */
interface ClientError extends Error {
  readonly statusCode?: number;
  readonly code?: string;
  readonly isAbort?: boolean;
  readonly isTimeout?: boolean;
}

/** What each request of one operation shares: the deadline, and a way to cancel. */
interface CallContext {
  readonly deadline: number;
  readonly ctx: EventEmitter;
}

const CLUSTER_KEYS = ['initialize', 'config', 'leader', 'status', 'failover', 'sync', 'history', 'failsafe'] as const;
type ClusterKey = (typeof CLUSTER_KEYS)[number];

function isClusterKey(key: string): key is ClusterKey {
  return (CLUSTER_KEYS as readonly string[]).includes(key);
}

function isIndex(version: string): boolean {
  return /^\d+$/.test(version);
}

/** A context the client treats as "cancellable" and "give me the response too" (for X-Consul-Index). */
function newContext(): EventEmitter {
  const ctx = new EventEmitter() as EventEmitter & { includeResponse?: boolean };
  ctx.includeResponse = true;
  return ctx;
}

/** Patroni takes `host` as `host` or `host:port`, and `url` as `scheme://host:port`. */
function connection(options: ConsulDcsOptions): { host: string; port: number; secure: boolean } {
  if (options.url !== undefined) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (error) {
      throw new PgwardenError(COMPONENT, 'CONFIG_INVALID', `url ${JSON.stringify(options.url)} is not a URL`, { cause: error });
    }
    const secure = url.protocol === 'https:';
    return { host: url.hostname.replace(/^\[|\]$/g, ''), port: url.port ? Number(url.port) : secure ? 443 : 80, secure };
  }
  const raw = options.host ?? '127.0.0.1';
  const match = /^(\[[^\]]+\]|[^:]+):(\d+)$/.exec(raw);
  const host = (match ? match[1]! : raw).replace(/^\[|\]$/g, '');
  const port = options.port ?? (match ? Number(match[2]) : 8500);
  if (!Number.isInteger(port) || port <= 0 || port > 65_535) {
    throw new PgwardenError(COMPONENT, 'CONFIG_INVALID', `port ${String(port)} is not a TCP port`);
  }
  return { host, port, secure: options.scheme === 'https' };
}

function roleTags(role: string): string[] {
  const tag = role.replace(/_/g, '-');
  // Patroni tags the primary with both names, so older service queries on `master` keep working.
  return role === 'primary' ? [tag, 'master'] : [tag];
}

/** The roles Patroni registers in the catalogue; others (demoted, uninitialized, ...) are left as they are. */
const REGISTERED_ROLES = new Set(['primary', 'replica', 'standby_leader']);

/**
 * The service name Patroni derives from the scope, usable in DNS: lower case, `.`, ` ` and `_` become `-`,
 * any other character outside [a-z0-9-] becomes `u` and its code point in four digits, cut at 230
 * characters (253 minus `replica.` and `.service.consul`).
 */
export function serviceNameFromScope(scope: string): string {
  const name = scope.toLowerCase().replace(/[^a-z0-9-]/gu, (char) => ('. _'.includes(char) ? '-' : `u${String(char.codePointAt(0)).padStart(4, '0')}`));
  return name.slice(0, 230);
}

/**
 * The parts of `consul` 2.0's internals used to register a service with `EnableTagOverride`, which its
 * `agent.service.register` drops (its body builder knows no such field). Same request otherwise.
 */
interface ConsulUtils {
  normalizeKeys(options: Record<string, unknown>): Record<string, unknown>;
  defaults(options: Record<string, unknown>, defaults: unknown): Record<string, unknown>;
  createService(options: Record<string, unknown>): Record<string, unknown>;
  options(request: Record<string, unknown>, options: Record<string, unknown>): void;
  empty: unknown;
}
const consulUtils = createRequire(import.meta.url)('consul/lib/utils.js') as ConsulUtils;

export function createConsulDcs(options: ConsulDcsOptions): Dcs {
  const ownsClient = options.client === undefined;
  const client =
    options.client ??
    (() => {
      const { host, port, secure } = connection(options);
      return new Consul({
        host,
        port,
        secure,
        defaults: {
          ...(options.token !== undefined ? { token: options.token } : {}),
          ...(options.dc !== undefined ? { dc: options.dc } : {}),
        },
      });
    })();
  const logger = options.logger ?? silentLogger;
  const name = options.name;
  const scope = options.scope;
  // Consul keys have no leading slash: `/service/batman/` is stored as `service/batman/`.
  const prefix = clusterPrefix(options).replace(/^\/+/, '');
  const leaderKey = `${prefix}leader`;
  const keyOf = (relative: string): string => prefix + relative;
  const memberKey = (member: string): string => keyOf(`members/${member}`);
  const consistency: Pick<RequestOptions, 'consistent' | 'stale'> =
    options.consistency === 'consistent' ? { consistent: true } : options.consistency === 'stale' ? { stale: true } : {};
  const serviceId = `${scope}/${name}`;
  const serviceName = serviceNameFromScope(scope);

  let ttl = options.ttl;
  let retryTimeoutMs = options.retryTimeout * 1_000;
  let session: { readonly id: string; readonly ttl: number } | null = null;
  let refreshing: Promise<string> | null = null;
  /** What the service was last registered with (JSON), `deregistered`, or null when this process has not touched it. */
  let registered: string | null = null;
  let closed = false;
  /** Aborted by close(): every request and watch in progress ends. */
  const lifetime = new AbortController();

  function closedError(operation: string, cause?: unknown): PgwardenError {
    return new PgwardenError(COMPONENT, 'DCS_CLOSED', `${operation} after close`, { cause });
  }

  function describe(error: unknown): string {
    if (!(error instanceof Error)) return String(error);
    const clientError = error as ClientError;
    return clientError.statusCode !== undefined ? `HTTP ${clientError.statusCode}: ${error.message}` : error.message;
  }

  /** Consul answers 500 "invalid session" when a lock is asked for a session it no longer knows. */
  function isInvalidSession(error: unknown): boolean {
    const clientError = error as ClientError;
    return clientError instanceof Error && clientError.statusCode === 500 && /invalid session/i.test(clientError.message);
  }

  function isRetriable(error: unknown): boolean {
    if (!(error instanceof Error) || error instanceof PgwardenError) return false;
    const clientError = error as ClientError;
    if (clientError.isAbort) return false;
    if (clientError.statusCode === undefined) return true; // connection refused, reset, timeout
    if (isInvalidSession(error)) return false;
    return clientError.statusCode === 429 || clientError.statusCode >= 500;
  }

  function translate(operation: string, error: unknown): PgwardenError {
    if (error instanceof PgwardenError) return error;
    if (closed) return closedError(operation, error);
    const clientError = error as ClientError;
    if (clientError instanceof Error && clientError.isAbort) {
      return new PgwardenError(COMPONENT, 'DCS_ABORTED', `${operation} aborted`, { cause: error });
    }
    const status = clientError instanceof Error ? clientError.statusCode : undefined;
    if (status !== undefined && status < 500 && status !== 429) {
      return new PgwardenError(COMPONENT, 'DCS_PROTOCOL', `${operation}: ${describe(error)}`, { cause: error });
    }
    return new DcsUnreachableError(COMPONENT, `${operation}: ${describe(error)}`, { cause: error });
  }

  /**
   * Runs one operation within retry_timeout: transport failures and 5xx answers are retried with a short
   * backoff; what is left at the deadline is `DcsUnreachableError`. The signal (and close()) cancel it.
   */
  async function call<T>(
    operation: string,
    run: (context: CallContext) => Promise<T>,
    signal?: AbortSignal,
  ): Promise<T> {
    if (closed) throw closedError(operation);
    if (signal?.aborted) throw new PgwardenError(COMPONENT, 'DCS_ABORTED', `${operation} aborted`);
    const deadline = Date.now() + retryTimeoutMs;
    const ctx = newContext();
    const cancel = (): void => {
      ctx.emit('cancel');
    };
    signal?.addEventListener('abort', cancel, { once: true });
    lifetime.signal.addEventListener('abort', cancel, { once: true });
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          return await run({ deadline, ctx });
        } catch (error) {
          const backoff = Math.min(1_000, 50 * 2 ** attempt);
          if (closed || signal?.aborted || !isRetriable(error) || Date.now() + backoff >= deadline) {
            if (signal?.aborted && !closed) {
              throw new PgwardenError(COMPONENT, 'DCS_ABORTED', `${operation} aborted`, { cause: error });
            }
            throw translate(operation, error);
          }
          logger.log('debug', 'consul request failed, retrying', { operation, attempt, error: describe(error) });
          await new Promise((resolve) => setTimeout(resolve, backoff));
        }
      }
    } finally {
      signal?.removeEventListener('abort', cancel);
      lifetime.signal.removeEventListener('abort', cancel);
    }
  }

  /** Per-request options: the time left before the operation's deadline, and its cancel context. */
  function requestOptions(context: CallContext, extra: Partial<RequestOptions> = {}): RequestOptions {
    return { timeout: Math.max(1, context.deadline - Date.now()), ctx: context.ctx, ...extra };
  }

  /** The `consul` client's typings omit the common request options; this is the one place that widens them. */
  const kv = client.kv as unknown as {
    get(options: Record<string, unknown>): Promise<[{ headers: Record<string, string | undefined> }, unknown]>;
    set(options: Record<string, unknown>): Promise<[unknown, unknown]>;
    del(options: Record<string, unknown>): Promise<[unknown, unknown]>;
  };
  const sessions = client.session as unknown as {
    create(options: Record<string, unknown>): Promise<[unknown, { ID: string }]>;
    renew(options: Record<string, unknown>): Promise<[unknown, unknown]>;
  };
  const services = client.agent.service as unknown as {
    deregister(options: Record<string, unknown>): Promise<unknown>;
  };
  /** PUT /v1/agent/service/register as `agent.service.register` sends it, plus `EnableTagOverride`. */
  function registerService(registration: Record<string, unknown>): Promise<unknown> {
    const internals = client as unknown as { _defaults?: unknown; _put(request: Record<string, unknown>, next: unknown): Promise<unknown> };
    const normalized = consulUtils.defaults(consulUtils.normalizeKeys(registration), internals._defaults);
    const request: Record<string, unknown> = {
      name: 'agent.service.register',
      path: '/agent/service/register',
      type: 'json',
      body: { ...consulUtils.createService(normalized), EnableTagOverride: registration['enabletagoverride'] === true },
    };
    consulUtils.options(request, normalized);
    return internals._put(request, consulUtils.empty);
  }

  async function getKey(
    key: string,
    context: CallContext,
    extra: Partial<RequestOptions> = {},
  ): Promise<{ index: string; item: KvItem | undefined }> {
    const [response, item] = await kv.get({ key, ...consistency, ...requestOptions(context, extra) });
    return { index: response.headers['x-consul-index'] ?? '0', item: item as KvItem | undefined };
  }

  async function putKey(
    key: string,
    value: string,
    context: CallContext,
    condition: { cas?: number; acquire?: string } = {},
  ): Promise<boolean> {
    const [, result] = await kv.set({ key, value, ...condition, ...requestOptions(context) });
    return result === true;
  }

  async function deleteKey(key: string, context: CallContext, condition: { cas?: number; recurse?: boolean } = {}): Promise<boolean> {
    const [, result] = await kv.del({ key, ...condition, ...requestOptions(context) });
    return result === true;
  }

  /** This member's session, renewed; a new one when it expired or the ttl changed. */
  function refreshSession(context: CallContext): Promise<string> {
    // Concurrent callers share one refresh, so they never create two sessions.
    refreshing ??= refreshSessionNow(context).finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  async function refreshSessionNow(context: CallContext): Promise<string> {
    if (session && session.ttl === ttl) {
      try {
        await sessions.renew({ id: session.id, ...requestOptions(context) });
        return session.id;
      } catch (error) {
        if ((error as ClientError).statusCode !== 404) throw error;
        logger.log('info', 'session expired, creating a new one', { session: session.id });
      }
    } else if (session) {
      // Consul cannot change a session's TTL; the keys move onto the new session as they are written.
      logger.log('info', 'ttl changed, creating a new session', { session: session.id, ttl });
    }
    const [, created] = await sessions.create({
      name: `${scope}-${name}`,
      ttl: `${ttl / 2}s`,
      behavior: 'delete',
      lockdelay: LOCK_DELAY,
      checks: [...(options.checks ?? [])],
      ...requestOptions(context),
    });
    session = { id: created.ID, ttl };
    logger.log('debug', 'created a session', { session: created.ID, ttl: `${ttl / 2}s` });
    return created.ID;
  }

  /** Writes `key` holding the session's lock; a session Consul no longer knows is replaced once. */
  async function acquire(key: string, value: string, context: CallContext): Promise<{ ok: boolean; session: string }> {
    let id = await refreshSession(context);
    try {
      return { ok: await putKey(key, value, context, { acquire: id }), session: id };
    } catch (error) {
      if (!isInvalidSession(error)) throw error;
      session = null;
      id = await refreshSession(context);
      return { ok: await putKey(key, value, context, { acquire: id }), session: id };
    }
  }

  /** Compare-and-set put: `expected` undefined = unconditional, null = create only, else ModifyIndex. */
  function casPut(operation: string, key: string, value: string, expected: ValueVersion | null | undefined): Promise<boolean> {
    if (typeof expected === 'string' && !isIndex(expected)) return Promise.resolve(false);
    return call(operation, (context) =>
      putKey(key, value, context, expected === undefined ? {} : { cas: expected === null ? 0 : Number(expected) }),
    );
  }

  function toRaw(items: readonly KvItem[]): RawCluster {
    const raw: Partial<Record<ClusterKey, RawValue>> = {};
    const members: RawMember[] = [];
    for (const item of items) {
      if (!item.Key.startsWith(prefix)) continue;
      const relative = item.Key.slice(prefix.length);
      // Consul returns an empty value as null.
      const value: RawValue = { value: item.Value ?? '', version: String(item.ModifyIndex) };
      if (relative.startsWith('members/')) {
        const member = relative.slice('members/'.length);
        if (member !== '' && !member.includes('/')) members.push({ ...value, name: member });
      } else if (isClusterKey(relative)) {
        raw[relative] = value;
      }
    }
    return { ...raw, members };
  }

  /** Keeps the service `<scope>` in step with this member's role; failures are logged, never thrown. */
  async function updateService(data: MemberData): Promise<void> {
    if (!options.registerService) return;
    const role = typeof data.role === 'string' ? data.role : 'unknown';
    const state = typeof data.state === 'string' ? data.state : 'unknown';
    try {
      if (state === 'stopped') {
        // Also after a restart of this agent, when the registration is an earlier process's.
        if (registered !== 'deregistered') {
          // Once: an unknown service (404, nothing registered) is as good as deregistered.
          await call('deregisterService', (context) => services.deregister({ id: serviceId, ...requestOptions(context) })).catch((error: unknown) => {
            const cause = (error as { cause?: unknown }).cause ?? error;
            if ((cause as ClientError).statusCode !== 404) throw error;
          });
          registered = 'deregistered';
        }
        return;
      }
      if (!REGISTERED_ROLES.has(role)) {
        logger.log('warn', 'not registering the service: a role Patroni does not register', { role });
        return;
      }
      if (state !== 'running') return;
      const apiUrl = new URL(String(data.api_url));
      const connUrl = new URL(String(data.conn_url));
      const tags = [...(options.serviceTags ?? []), ...roleTags(role)];
      const check: Record<string, unknown> = {
        http: `${apiUrl.origin}/${role.replace(/_/g, '-')}`,
        interval: options.serviceCheckInterval ?? '5s',
        // Patroni: ten times its Consul session ttl, which is half the ttl.
        deregistercriticalserviceafter: `${ttl * 5}s`,
        ...(options.serviceCheckTlsServerName !== undefined ? { tlsservername: options.serviceCheckTlsServerName } : {}),
      };
      const registration = {
        name: serviceName,
        id: serviceId,
        address: connUrl.hostname,
        port: connUrl.port ? Number(connUrl.port) : 5432,
        tags,
        check,
        enabletagoverride: true,
      };
      const fingerprint = JSON.stringify(registration);
      if (fingerprint === registered) return;
      await call('registerService', (context) => registerService({ ...registration, ...requestOptions(context) }));
      registered = fingerprint;
      logger.log('info', 'registered the service', { service: serviceName, id: serviceId, tags });
    } catch (error) {
      logger.log('warn', 'could not update the Consul service registration', { error: describe(error) });
    }
  }

  async function sleep(ms: number, signal: AbortSignal): Promise<void> {
    if (signal.aborted || ms <= 0) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  /**
   * Blocking queries on the leader key until its version differs from `leaderVersion`, the deadline, or
   * `stop` aborts. An absent key's index is the whole KV store's, so such a query also wakes on unrelated
   * writes: each answer is compared, and the wait resumes from its index.
   */
  async function watchFrom(index: string, leaderVersion: ValueVersion | null, deadline: number, stop: AbortSignal): Promise<boolean> {
    let lastIndex = index;
    while (!stop.aborted) {
      const remaining = deadline - Date.now();
      if (remaining <= 0) return false;
      const ctx = newContext();
      const cancel = (): void => {
        ctx.emit('cancel');
      };
      stop.addEventListener('abort', cancel, { once: true });
      const timer = setTimeout(cancel, remaining);
      try {
        const { index: next, item } = await getKey(
          leaderKey,
          { deadline: deadline + BLOCKING_MARGIN_MS, ctx },
          { index: lastIndex, wait: `${remaining}ms` },
        );
        if ((item ? String(item.ModifyIndex) : null) !== leaderVersion) return true;
        // An index that went backwards (a restored server) starts over, as Consul's clients do.
        lastIndex = BigInt(next) >= BigInt(lastIndex) ? next : '0';
      } catch (error) {
        if (stop.aborted || Date.now() >= deadline) return false;
        logger.log('debug', 'leader watch failed', { error: describe(error) });
        await sleep(Math.min(1_000, deadline - Date.now()), stop);
      } finally {
        clearTimeout(timer);
        stop.removeEventListener('abort', cancel);
      }
    }
    return false;
  }

  const dcs: Dcs = {
    kind: 'consul',
    clusterPrefix: clusterPrefix(options),

    async loadCluster(loadOptions): Promise<Cluster> {
      const signal = loadOptions?.signal;
      const items = await call(
        'loadCluster',
        async (context) => {
          const [, body] = await kv.get({ key: prefix, recurse: true, ...consistency, ...requestOptions(context) });
          return Array.isArray(body) ? (body as KvItem[]) : [];
        },
        signal,
      );
      return buildCluster(toRaw(items), options.onMalformed);
    },

    acquireLeader() {
      return call('acquireLeader', async (context) => (await acquire(leaderKey, name, context)).ok);
    },

    renewLeader() {
      return call('renewLeader', async (context) => {
        const id = await refreshSession(context);
        const { item } = await getKey(leaderKey, context, { consistent: true });
        if (!item || item.Value !== name) return false;
        if (item.Session === id) return true;
        // Still ours but held by an older session (ttl changed, session expired and the key outlived it
        // under behavior=release, or a previous process): delete it unless changed meanwhile, re-acquire.
        logger.log('info', 'moving the leader key onto the current session', { from: item.Session, to: id });
        if (!(await deleteKey(leaderKey, context, { cas: item.ModifyIndex }))) return false;
        return (await acquire(leaderKey, name, context)).ok;
      });
    },

    releaseLeader() {
      return call('releaseLeader', async (context) => {
        const { item } = await getKey(leaderKey, context, { consistent: true });
        if (!item || item.Value !== name) return false;
        return deleteKey(leaderKey, context, { cas: item.ModifyIndex });
      });
    },

    async touchMember(data) {
      const key = memberKey(name);
      const value = encodeMember(data);
      const written = await call('touchMember', async (context) => {
        const first = await acquire(key, value, context);
        if (first.ok) return true;
        // Held by an older session of this member: drop it and take it with the current one.
        const { item } = await getKey(key, context, { consistent: true });
        if (item && item.Session !== first.session) await deleteKey(key, context, { cas: item.ModifyIndex });
        return (await acquire(key, value, context)).ok;
      });
      if (written) await updateService(data);
      return written;
    },

    deleteMember(member) {
      return call('deleteMember', (context) => deleteKey(memberKey(member ?? name), context));
    },

    initialize({ create, sysid }) {
      return casPut('initialize', keyOf('initialize'), sysid, create ? null : undefined);
    },

    cancelInitialization() {
      return call('cancelInitialization', (context) => deleteKey(keyOf('initialize'), context));
    },

    setConfig(data, expected) {
      return casPut('setConfig', keyOf('config'), encodeConfig(data), expected);
    },

    setFailover(value, expected) {
      return casPut('setFailover', keyOf('failover'), encodeFailover(value), expected);
    },

    async setSync(value, expected) {
      const key = keyOf('sync');
      const encoded = encodeSync(value);
      if (!(await casPut('setSync', key, encoded, expected))) return false;
      // Consul's PUT answers only true/false: read the new ModifyIndex back.
      return call('setSync', async (context) => {
        const { item } = await getKey(key, context, { consistent: true });
        // Someone wrote after us: a version that matches nothing forces the caller to re-read.
        return item && item.Value === encoded ? String(item.ModifyIndex) : '0';
      });
    },

    deleteSync(expected) {
      // A null version carries no condition for a delete: Patroni deletes unconditionally then.
      if (typeof expected === 'string' && !isIndex(expected)) return Promise.resolve(false);
      return call('deleteSync', (context) =>
        deleteKey(keyOf('sync'), context, typeof expected === 'string' ? { cas: Number(expected) } : {}),
      );
    },

    setHistory(lines) {
      return casPut('setHistory', keyOf('history'), encodeHistory(lines), undefined);
    },

    writeStatus(status) {
      return casPut('writeStatus', keyOf('status'), encodeStatus(status), undefined);
    },

    writeFailsafe(members) {
      return casPut('writeFailsafe', keyOf('failsafe'), encodeFailsafe(members), undefined);
    },

    async watchLeader(leaderVersion, timeoutMs, signal) {
      if (closed) throw closedError('watchLeader');
      if (signal?.aborted) return false;
      const deadline = Date.now() + Math.max(0, timeoutMs);
      let current: { index: string; item: KvItem | undefined };
      try {
        current = await call('watchLeader', (context) => getKey(leaderKey, context), signal);
      } catch (error) {
        // A watch cut short by an abort or by close() was simply not woken.
        if (closed || (error instanceof PgwardenError && error.code === 'DCS_ABORTED')) return false;
        throw error;
      }
      if ((current.item ? String(current.item.ModifyIndex) : null) !== leaderVersion) return true;
      const stop = signal ? AbortSignal.any([signal, lifetime.signal]) : lifetime.signal;
      return watchFrom(current.index, leaderVersion, deadline, stop);
    },

    setTiming(timing) {
      ttl = timing.ttl;
      retryTimeoutMs = timing.retryTimeout * 1_000;
    },

    deleteCluster() {
      return call('deleteCluster', (context) => deleteKey(prefix, context, { recurse: true }));
    },

    async close() {
      if (closed) return;
      if (registered !== null && registered !== 'deregistered') {
        // Best effort: a member that stops leaves the service catalogue.
        await call('deregisterService', (context) => services.deregister({ id: serviceId, ...requestOptions(context) })).catch(
          (error: unknown) => logger.log('warn', 'could not deregister the service', { error: describe(error) }),
        );
        registered = null;
      }
      closed = true;
      lifetime.abort();
      // The session is left to expire: the member's keys vanish after ttl unless it released them first.
      if (ownsClient) client.destroy();
    },

    async [Symbol.asyncDispose]() {
      await dcs.close();
    },
  };
  return dcs;
}
