/**
 * A Consul HTTP API emulator for tests: the subset a DCS plugin uses (sessions, KV with cas/acquire/release,
 * blocking queries, agent service registration, ACL token check), written to Consul's documented semantics,
 * served by node:http on 127.0.0.1. No Consul server can be installed here; this keeps the plugin honest.
 *
 * Semantics chosen where Consul leaves room (see the dcs-consul README for the full list):
 * - a session with TTL t is invalidated exactly 2 x t after its creation or last renewal (Consul's session
 *   timer is TTL times its `SessionTTLMultiplier`, 2; the documentation says "up to" 2 x TTL);
 * - blocking queries hold until the result's index is greater than `index` or `wait` elapses, with no jitter;
 * - one datacenter (`dc1` by default), one server: `consistent` and `stale` reads answer alike.
 */
import { randomUUID } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Clock } from '@pgwarden/core';

/** Consul's session timer runs for TTL times this after each renewal. */
export const SESSION_TTL_MULTIPLIER = 2;
const DEFAULT_LOCK_DELAY_MS = 15_000;
const MAX_SESSION_TTL_MS = 24 * 3_600_000;
const MAX_VALUE_BYTES = 512 * 1024;
const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;
/** How often the server looks for expired sessions (Consul uses one timer per session). */
const REAP_INTERVAL_MS = 50;

export interface ConsulEmulatorOptions {
  /** When set, every request must carry it (`X-Consul-Token` header or `?token=`), else 403. */
  readonly token?: string;
  /** Time source for session expiry and lock delays; default the real clock. */
  readonly clock?: Clock;
  /** Consul's `session_ttl_min` server setting, in ms; default 10 000 (Consul's default). */
  readonly sessionTtlMinMs?: number;
  /** The datacenter name; a request for another `dc` fails as Consul does when it has no path there. */
  readonly datacenter?: string;
  /** The agent's node name; default `emulator`. */
  readonly nodeName?: string;
  /** Listen on this port; default a free one. */
  readonly port?: number;
}

export interface KvEntry {
  readonly key: string;
  readonly value: Buffer;
  readonly flags: number;
  readonly createIndex: number;
  readonly modifyIndex: number;
  readonly lockIndex: number;
  readonly session: string | undefined;
}

export interface EmulatedSession {
  readonly id: string;
  readonly name: string;
  readonly node: string;
  /** As sent, e.g. `15s`; empty when the session has no TTL. */
  readonly ttl: string;
  readonly ttlMs: number;
  readonly behavior: 'release' | 'delete';
  readonly lockDelayMs: number;
  readonly checks: readonly string[];
  readonly createIndex: number;
  /** When the session is invalidated unless renewed (ms since the epoch); null without a TTL. */
  readonly expiresAt: number | null;
}

export interface EmulatedService {
  readonly id: string;
  readonly name: string;
  readonly tags: readonly string[];
  readonly address: string;
  readonly port: number;
  readonly meta: Readonly<Record<string, string>>;
  /** Checks as registered (the emulator does not run them). */
  readonly checks: readonly Readonly<Record<string, unknown>>[];
  /** `EnableTagOverride`: whether external agents may change the tags (anti-entropy keeps them). */
  readonly enableTagOverride: boolean;
}

/** One request as the emulator received it, for tests that check what a client sent. */
export interface ConsulRequest {
  readonly method: string;
  /** The path, decoded as Consul routes it (`/v1/kv/service/batman/leader`). */
  readonly path: string;
  /** The query parameters (`consistent`, `stale`, `dc`, `index`, `wait`, `recurse`, ...), values as sent. */
  readonly query: Readonly<Record<string, string>>;
}

/** A Consul error with the HTTP status Consul answers it with. */
export class ConsulApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ConsulApiError';
  }
}

const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason as Error);
        return;
      }
      const onAbort = (): void => {
        clearTimeout(timer);
        reject(signal?.reason as Error);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

const UNITS_MS: Readonly<Record<string, number>> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** Parses a Go duration (`15s`, `1.5s`, `1m30s`, `0`) into ms; null when it is not one. */
export function parseGoDuration(text: string): number | null {
  const trimmed = text.trim();
  if (trimmed === '0') return 0;
  const pattern = /(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let consumed = 0;
  for (let match = pattern.exec(trimmed); match; match = pattern.exec(trimmed)) {
    total += Number(match[1]) * UNITS_MS[match[2]!]!;
    consumed = pattern.lastIndex;
  }
  return consumed > 0 && consumed === trimmed.length ? total : null;
}

/** Consul takes LockDelay as a duration string, or a number: seconds below 1000, nanoseconds above. */
function lockDelayMs(raw: unknown): number {
  if (raw === undefined || raw === null) return DEFAULT_LOCK_DELAY_MS;
  if (typeof raw === 'number') return raw < 1_000 ? raw * 1_000 : raw / 1e6;
  if (typeof raw === 'string') {
    const parsed = parseGoDuration(raw);
    if (parsed !== null) return parsed;
  }
  throw new ConsulApiError(400, `Request decode failed: invalid LockDelay ${JSON.stringify(raw)}`);
}

/**
 * The emulated server's state, without HTTP: every operation Consul applies through Raft takes the next
 * index. Exported for unit tests, which drive it with a test clock.
 */
export class ConsulState {
  /** The last Raft index; every write takes the next one. */
  private raftIndex = 1;
  /** The highest index of any KV write or delete (Consul's kvs + tombstones table index). */
  private kvTableIndex = 1;
  private readonly kv = new Map<string, KvEntry>();
  /** Index at which each deleted key was deleted, so prefix reads see deletes (Consul's tombstones). */
  private readonly tombstones = new Map<string, number>();
  private readonly sessions = new Map<string, EmulatedSession>();
  /** Keys whose lock was held by an invalidated session: no acquire before this time. */
  private readonly lockDelays = new Map<string, number>();
  private readonly services = new Map<string, EmulatedService>();
  private readonly listeners = new Set<() => void>();
  readonly clock: Clock;
  readonly sessionTtlMinMs: number;
  readonly nodeName: string;

  constructor(options: Pick<ConsulEmulatorOptions, 'clock' | 'sessionTtlMinMs' | 'nodeName'> = {}) {
    this.clock = options.clock ?? realClock;
    this.sessionTtlMinMs = options.sessionTtlMinMs ?? 10_000;
    this.nodeName = options.nodeName ?? 'emulator';
  }

  /** The last Raft index. */
  get index(): number {
    return this.raftIndex;
  }

  private nextIndex(): number {
    return ++this.raftIndex;
  }

  private changed(): void {
    for (const listener of [...this.listeners]) listener();
  }

  /** Calls `listener` after every write (including session invalidations); returns the unsubscribe. */
  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // --- sessions -------------------------------------------------------------------------------------

  /** Invalidates every session whose timer ran out. Called before each operation and by the server's reaper. */
  reap(): void {
    const now = this.clock.now();
    for (const session of [...this.sessions.values()]) {
      if (session.expiresAt !== null && session.expiresAt <= now) this.invalidate(session.id);
    }
  }

  createSession(body: Record<string, unknown>): EmulatedSession {
    this.reap();
    const ttlText = typeof body['TTL'] === 'string' ? body['TTL'] : '';
    let ttlMs = 0;
    if (ttlText !== '') {
      const parsed = parseGoDuration(ttlText);
      if (parsed === null) throw new ConsulApiError(400, `Request decode failed: invalid TTL ${JSON.stringify(ttlText)}`);
      ttlMs = parsed;
      if (ttlMs !== 0 && (ttlMs < this.sessionTtlMinMs || ttlMs > MAX_SESSION_TTL_MS)) {
        throw new ConsulApiError(
          400,
          `Invalid Session TTL '${ttlText}', must be between [${this.sessionTtlMinMs / 1_000}s=24h0m0s]`,
        );
      }
    }
    const behavior = body['Behavior'] ?? 'release';
    if (behavior !== 'release' && behavior !== 'delete' && behavior !== '') {
      throw new ConsulApiError(400, `Invalid Behavior setting ${JSON.stringify(behavior)}`);
    }
    const checks = Array.isArray(body['Checks'])
      ? body['Checks'].map(String)
      : Array.isArray(body['NodeChecks'])
        ? body['NodeChecks'].map(String)
        : ['serfHealth'];
    for (const check of checks) {
      // serfHealth is always passing here; service checks must name a registered service.
      const known = check === 'serfHealth' || (check.startsWith('service:') && this.services.has(check.slice(8)));
      if (!known) throw new ConsulApiError(500, `Missing check '${check}' registration`);
    }
    const node = typeof body['Node'] === 'string' && body['Node'] !== '' ? body['Node'] : this.nodeName;
    if (node !== this.nodeName) throw new ConsulApiError(500, `Missing node registration`);
    const index = this.nextIndex();
    const session: EmulatedSession = {
      id: randomUUID(),
      name: typeof body['Name'] === 'string' ? body['Name'] : '',
      node,
      ttl: ttlText,
      ttlMs,
      behavior: behavior === 'delete' ? 'delete' : 'release',
      lockDelayMs: lockDelayMs(body['LockDelay']),
      checks,
      createIndex: index,
      expiresAt: ttlMs > 0 ? this.clock.now() + ttlMs * SESSION_TTL_MULTIPLIER : null,
    };
    this.sessions.set(session.id, session);
    this.changed();
    return session;
  }

  /** Restarts the session's timer; null when the session does not exist (any more). */
  renewSession(id: string): EmulatedSession | null {
    this.reap();
    const session = this.sessions.get(id);
    if (!session) return null;
    const renewed = {
      ...session,
      expiresAt: session.ttlMs > 0 ? this.clock.now() + session.ttlMs * SESSION_TTL_MULTIPLIER : null,
    };
    this.sessions.set(id, renewed);
    return renewed;
  }

  destroySession(id: string): boolean {
    this.reap();
    if (this.sessions.has(id)) this.invalidate(id);
    return true;
  }

  getSession(id: string): EmulatedSession | undefined {
    this.reap();
    return this.sessions.get(id);
  }

  listSessions(): EmulatedSession[] {
    this.reap();
    return [...this.sessions.values()];
  }

  /** Ends a session: its locks are released or its keys deleted (per its behavior), under lock delay. */
  private invalidate(id: string): void {
    const session = this.sessions.get(id);
    if (!session) return;
    this.sessions.delete(id);
    const index = this.nextIndex();
    const delayUntil = this.clock.now() + session.lockDelayMs;
    for (const entry of [...this.kv.values()]) {
      if (entry.session !== id) continue;
      if (session.lockDelayMs > 0) this.lockDelays.set(entry.key, delayUntil);
      if (session.behavior === 'delete') {
        this.kv.delete(entry.key);
        this.tombstones.set(entry.key, index);
      } else {
        this.kv.set(entry.key, { ...entry, session: undefined, modifyIndex: index });
      }
      this.kvTableIndex = index;
    }
    this.changed();
  }

  // --- KV -------------------------------------------------------------------------------------------

  /** One key and the index Consul reports with it: the key's ModifyIndex, else the KV table index. */
  getKey(key: string): { index: number; entry: KvEntry | undefined } {
    this.reap();
    const entry = this.kv.get(key);
    return { index: entry ? entry.modifyIndex : this.kvTableIndex, entry };
  }

  /** Every key under `prefix` (sorted) and the highest index of the entries and deletes under it. */
  listPrefix(prefix: string): { index: number; entries: KvEntry[] } {
    this.reap();
    const entries = [...this.kv.values()].filter((entry) => entry.key.startsWith(prefix));
    entries.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    let index = 0;
    if (prefix === '') {
      index = this.kvTableIndex;
    } else {
      for (const entry of entries) index = Math.max(index, entry.modifyIndex);
      for (const [key, deleted] of this.tombstones) if (key.startsWith(prefix)) index = Math.max(index, deleted);
    }
    return { index: index === 0 ? this.kvTableIndex : index, entries };
  }

  /**
   * Writes a key. `cas`: only if ModifyIndex equals it (0: only if absent). `acquire`: take the lock for a
   * session (false if another session holds it or the key is in lock delay). `release`: give it up (false
   * unless that session holds it). As in Consul, release wins over acquire, and acquire over cas.
   */
  putKey(
    key: string,
    value: Buffer,
    options: { flags?: number; cas?: number; acquire?: string; release?: string } = {},
  ): boolean {
    this.reap();
    if (key === '') throw new ConsulApiError(400, 'Missing key name');
    if (value.length > MAX_VALUE_BYTES) {
      throw new ConsulApiError(413, `Value exceeds ${MAX_VALUE_BYTES} byte limit`);
    }
    const existing = this.kv.get(key);
    const flags = options.flags ?? 0;
    if (options.release !== undefined) {
      if (!existing || existing.session !== options.release) return false;
      return this.write(key, value, flags, existing, { session: undefined, lockIndex: existing.lockIndex });
    }
    if (options.acquire !== undefined) {
      const session = this.sessions.get(options.acquire);
      if (!session) throw new ConsulApiError(500, `invalid session "${options.acquire}"`);
      if (existing?.session === options.acquire) {
        // Re-acquiring a held lock only updates the value.
        return this.write(key, value, flags, existing, { session: existing.session, lockIndex: existing.lockIndex });
      }
      if (existing?.session !== undefined) return false;
      const delayedUntil = this.lockDelays.get(key);
      if (delayedUntil !== undefined) {
        if (delayedUntil > this.clock.now()) return false;
        this.lockDelays.delete(key);
      }
      return this.write(key, value, flags, existing, {
        session: options.acquire,
        lockIndex: (existing?.lockIndex ?? 0) + 1,
      });
    }
    if (options.cas !== undefined) {
      if (options.cas === 0 ? existing !== undefined : existing?.modifyIndex !== options.cas) return false;
    }
    // A plain write keeps the lock holder.
    return this.write(key, value, flags, existing, {
      session: existing?.session,
      lockIndex: existing?.lockIndex ?? 0,
    });
  }

  private write(
    key: string,
    value: Buffer,
    flags: number,
    existing: KvEntry | undefined,
    lock: { session: string | undefined; lockIndex: number },
  ): true {
    const index = this.nextIndex();
    this.kv.set(key, {
      key,
      value: Buffer.from(value),
      flags,
      createIndex: existing?.createIndex ?? index,
      modifyIndex: index,
      lockIndex: lock.lockIndex,
      session: lock.session,
    });
    this.tombstones.delete(key);
    this.kvTableIndex = index;
    this.changed();
    return true;
  }

  /**
   * Deletes a key (or every key under a prefix with `recurse`). With `cas` the delete happens only if the
   * ModifyIndex matches; as in Consul, a cas delete of an absent key succeeds.
   */
  deleteKey(key: string, options: { cas?: number; recurse?: boolean } = {}): boolean {
    this.reap();
    const doomed = options.recurse
      ? [...this.kv.keys()].filter((candidate) => candidate.startsWith(key))
      : this.kv.has(key)
        ? [key]
        : [];
    if (!options.recurse && options.cas !== undefined) {
      const existing = this.kv.get(key);
      if (!existing) return true;
      if (existing.modifyIndex !== options.cas) return false;
    }
    if (doomed.length === 0) return true;
    const index = this.nextIndex();
    for (const gone of doomed) {
      this.kv.delete(gone);
      this.tombstones.set(gone, index);
    }
    this.kvTableIndex = index;
    this.changed();
    return true;
  }

  // --- agent services ---------------------------------------------------------------------------------

  registerService(service: EmulatedService): void {
    this.services.set(service.id, service);
    this.nextIndex();
    this.changed();
  }

  deregisterService(id: string): boolean {
    if (!this.services.delete(id)) return false;
    this.nextIndex();
    this.changed();
    return true;
  }

  listServices(): EmulatedService[] {
    return [...this.services.values()];
  }

  // --- blocking queries -----------------------------------------------------------------------------

  /**
   * Consul's blocking query: runs `read` at once when `minIndex` is 0 or the result's index is already
   * past it; otherwise re-runs it after each write until its index passes `minIndex`, `waitMs` elapses, or
   * the signal aborts (then the current result is returned).
   */
  async block<T extends { index: number }>(
    read: () => T,
    minIndex: number,
    waitMs: number,
    signal?: AbortSignal,
  ): Promise<T> {
    let result = read();
    if (minIndex === 0 || result.index > minIndex) return result;
    const done = new AbortController();
    const onAbort = (): void => done.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const unsubscribe = this.onChange(() => {
      result = read();
      if (result.index > minIndex) done.abort();
    });
    try {
      await this.clock.sleep(waitMs, done.signal).catch(() => {});
    } finally {
      unsubscribe();
      signal?.removeEventListener('abort', onAbort);
    }
    return read();
  }
}

// --- HTTP -------------------------------------------------------------------------------------------

export interface ConsulEmulator extends AsyncDisposable {
  /** `127.0.0.1:<port>`. */
  readonly endpoint: string;
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** The server's state, for assertions that bypass HTTP. */
  readonly state: ConsulState;
  /**
   * false: requests get no answer (as across a network partition) until reachability returns, when they
   * are dropped. Sessions keep expiring meanwhile, as they would on the far side of a partition.
   */
  setReachable(reachable: boolean): void;
  /** Same as `setReachable(false)` / `setReachable(true)`. */
  pause(): void;
  resume(): void;
  /** Every request received, oldest first (including ones held while unreachable). */
  readonly requests: readonly ConsulRequest[];
  /** Stops the server and drops every connection. Safe to call twice. */
  stop(): Promise<void>;
}

function send(response: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = body !== undefined && typeof body !== 'string';
  const text = body === undefined ? '' : json ? JSON.stringify(body) : (body);
  response.writeHead(status, {
    'Content-Type': json ? 'application/json' : 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
    ...headers,
  });
  response.end(text);
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => resolve(Buffer.concat(chunks)));
    request.on('error', reject);
  });
}

function parseJsonBody(body: Buffer): Record<string, unknown> {
  if (body.length === 0) return {};
  try {
    const parsed = JSON.parse(body.toString('utf8')) as unknown;
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
  } catch {
    // fall through
  }
  throw new ConsulApiError(400, 'Request decode failed: body is not a JSON object');
}

function parseIndex(text: string | null, name: string): number | undefined {
  if (text === null) return undefined;
  if (!/^\d+$/.test(text)) throw new ConsulApiError(400, `Invalid ${name} index`);
  return Number(text);
}

function entryJson(entry: KvEntry): Record<string, unknown> {
  return {
    LockIndex: entry.lockIndex,
    Key: entry.key,
    Flags: entry.flags,
    // Consul answers an empty value with null.
    Value: entry.value.length === 0 ? null : entry.value.toString('base64'),
    ...(entry.session !== undefined ? { Session: entry.session } : {}),
    CreateIndex: entry.createIndex,
    ModifyIndex: entry.modifyIndex,
  };
}

function sessionJson(session: EmulatedSession): Record<string, unknown> {
  return {
    ID: session.id,
    Name: session.name,
    Node: session.node,
    LockDelay: Math.round(session.lockDelayMs * 1e6),
    Behavior: session.behavior,
    TTL: session.ttl,
    NodeChecks: session.checks,
    ServiceChecks: null,
    CreateIndex: session.createIndex,
    ModifyIndex: session.createIndex,
  };
}

function serviceJson(service: EmulatedService): Record<string, unknown> {
  return {
    ID: service.id,
    Service: service.name,
    Tags: service.tags,
    Meta: service.meta,
    Port: service.port,
    Address: service.address,
    Weights: { Passing: 1, Warning: 1 },
    EnableTagOverride: service.enableTagOverride,
    Datacenter: 'dc1',
  };
}

function parseService(body: Record<string, unknown>): EmulatedService {
  const name = body['Name'];
  if (typeof name !== 'string' || name === '') throw new ConsulApiError(400, 'Missing service name');
  const id = typeof body['ID'] === 'string' && body['ID'] !== '' ? body['ID'] : name;
  const tags = Array.isArray(body['Tags']) ? body['Tags'].map(String) : [];
  const meta: Record<string, string> = {};
  if (body['Meta'] && typeof body['Meta'] === 'object') {
    for (const [key, value] of Object.entries(body['Meta'] as Record<string, unknown>)) meta[key] = String(value);
  }
  const checks: Record<string, unknown>[] = [];
  for (const check of [body['Check'], ...(Array.isArray(body['Checks']) ? (body['Checks'] as unknown[]) : [])]) {
    if (!check || typeof check !== 'object') continue;
    const definition = check as Record<string, unknown>;
    const kinds = ['HTTP', 'TCP', 'GRPC', 'TTL', 'Args', 'H2PING', 'UDP'].filter((kind) => definition[kind] !== undefined);
    if (kinds.length === 0) throw new ConsulApiError(400, 'Invalid check: must specify a check type');
    if (definition['TTL'] === undefined && (typeof definition['Interval'] !== 'string' || parseGoDuration(definition['Interval']) === null)) {
      throw new ConsulApiError(400, 'Invalid check: Interval is required');
    }
    checks.push(definition);
  }
  return {
    id,
    name,
    tags,
    address: typeof body['Address'] === 'string' ? body['Address'] : '',
    port: typeof body['Port'] === 'number' ? body['Port'] : 0,
    meta,
    checks,
    enableTagOverride: body['EnableTagOverride'] === true,
  };
}

/** Starts the emulator on 127.0.0.1. */
export async function startConsulEmulator(options: ConsulEmulatorOptions = {}): Promise<ConsulEmulator> {
  const state = new ConsulState(options);
  const datacenter = options.datacenter ?? 'dc1';
  const sockets = new Set<Socket>();
  /** Requests that arrived while unreachable: never answered, dropped when reachability returns. */
  const held = new Set<ServerResponse>();
  const lifetime = new AbortController();
  const requests: ConsulRequest[] = [];
  let reachable = true;
  let stopped = false;

  function hold(response: ServerResponse): void {
    held.add(response);
    response.on('close', () => held.delete(response));
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://127.0.0.1');
    const query = url.searchParams;
    const method = request.method ?? 'GET';
    requests.push({ method, path: url.pathname, query: Object.fromEntries(query.entries()) });
    const common = { 'X-Consul-Default-ACL-Policy': options.token === undefined ? 'allow' : 'deny' };
    const readHeaders = (index: number): Record<string, string> => ({
      ...common,
      'X-Consul-Index': String(Math.max(1, index)),
      'X-Consul-KnownLeader': 'true',
      'X-Consul-LastContact': '0',
    });

    if (options.token !== undefined) {
      const header = request.headers['x-consul-token'];
      const given = (typeof header === 'string' ? header : undefined) ?? query.get('token') ?? bearer(request.headers.authorization);
      if (given !== options.token) throw new ConsulApiError(403, given ? 'ACL not found' : 'Permission denied');
    }
    const dc = query.get('dc');
    if (dc !== null && dc !== '' && dc !== datacenter) throw new ConsulApiError(500, 'No path to datacenter');

    const path = url.pathname;
    const body = await readBody(request);

    if (path.startsWith('/v1/kv/')) {
      const key = decodeURIComponent(path.slice('/v1/kv/'.length));
      if (method === 'GET') {
        const minIndex = parseIndex(query.get('index'), 'index') ?? 0;
        const waitText = query.get('wait');
        const waitMs = Math.min(MAX_WAIT_MS, waitText === null ? DEFAULT_WAIT_MS : (parseGoDuration(waitText) ?? NaN));
        if (Number.isNaN(waitMs)) throw new ConsulApiError(400, 'Invalid wait time');
        // A blocking query ends early when its client goes away or the server stops.
        const aborted = new AbortController();
        const abort = (): void => aborted.abort();
        response.on('close', abort);
        lifetime.signal.addEventListener('abort', abort, { once: true });
        try {
          return await readKv(response, key, query, minIndex, waitMs, aborted.signal, readHeaders);
        } finally {
          lifetime.signal.removeEventListener('abort', abort);
        }
      }
      if (method === 'PUT') {
        const flags = parseIndex(query.get('flags'), 'flags');
        const cas = parseIndex(query.get('cas'), 'cas');
        const acquire = query.get('acquire');
        const release = query.get('release');
        const written = state.putKey(key, body, {
          ...(flags !== undefined ? { flags } : {}),
          ...(cas !== undefined ? { cas } : {}),
          ...(acquire !== null ? { acquire } : {}),
          ...(release !== null ? { release } : {}),
        });
        return send(response, 200, written, common);
      }
      if (method === 'DELETE') {
        const cas = parseIndex(query.get('cas'), 'cas');
        return send(response, 200, state.deleteKey(key, { ...(cas !== undefined ? { cas } : {}), recurse: query.has('recurse') }), common);
      }
      throw new ConsulApiError(405, `method ${method} not allowed`);
    }

    if (path === '/v1/session/create' && method === 'PUT') {
      const session = state.createSession(parseJsonBody(body));
      return send(response, 200, { ID: session.id }, common);
    }
    const sessionMatch = /^\/v1\/session\/(renew|destroy|info)\/([^/]+)$/.exec(path);
    if (sessionMatch) {
      const [, action, id] = sessionMatch as unknown as [string, string, string];
      if (action === 'renew' && method === 'PUT') {
        const session = state.renewSession(id);
        if (!session) throw new ConsulApiError(404, `Session id '${id}' not found`);
        return send(response, 200, [sessionJson(session)], common);
      }
      if (action === 'destroy' && method === 'PUT') return send(response, 200, state.destroySession(id), common);
      if (action === 'info' && method === 'GET') {
        const session = state.getSession(id);
        return send(response, 200, session ? [sessionJson(session)] : [], readHeaders(state.index));
      }
    }
    if (path === '/v1/session/list' && method === 'GET') {
      return send(response, 200, state.listSessions().map(sessionJson), readHeaders(state.index));
    }
    if (path === '/v1/agent/service/register' && method === 'PUT') {
      state.registerService(parseService(parseJsonBody(body)));
      return send(response, 200, undefined, common);
    }
    const deregister = /^\/v1\/agent\/service\/deregister\/([^/]+)$/.exec(path);
    if (deregister && method === 'PUT') {
      const id = decodeURIComponent(deregister[1]!);
      if (!state.deregisterService(id)) throw new ConsulApiError(404, `Unknown service ID "${id}". Ensure that the service ID is passed, not the service name.`);
      return send(response, 200, undefined, common);
    }
    if (path === '/v1/agent/services' && method === 'GET') {
      const services: Record<string, unknown> = {};
      for (const service of state.listServices()) services[service.id] = serviceJson(service);
      return send(response, 200, services, common);
    }
    if (path === '/v1/agent/self' && method === 'GET') {
      return send(response, 200, { Config: { Datacenter: datacenter, NodeName: state.nodeName, Server: true } }, common);
    }
    throw new ConsulApiError(404, `no such endpoint: ${method} ${path}`);
  }

  async function readKv(
    response: ServerResponse,
    key: string,
    query: URLSearchParams,
    minIndex: number,
    waitMs: number,
    signal: AbortSignal,
    readHeaders: (index: number) => Record<string, string>,
  ): Promise<void> {
    if (query.has('keys')) {
      const separator = query.get('separator') ?? '';
      const result = await state.block(() => state.listPrefix(key), minIndex, waitMs, signal);
      if (result.entries.length === 0) return reply(response, 404, undefined, readHeaders(result.index));
      const keys = new Set<string>();
      for (const entry of result.entries) {
        const rest = entry.key.slice(key.length);
        const cut = separator === '' ? -1 : rest.indexOf(separator);
        keys.add(cut === -1 ? entry.key : entry.key.slice(0, key.length + cut + separator.length));
      }
      return reply(response, 200, [...keys], readHeaders(result.index));
    }
    if (query.has('recurse')) {
      const result = await state.block(() => state.listPrefix(key), minIndex, waitMs, signal);
      if (result.entries.length === 0) return reply(response, 404, undefined, readHeaders(result.index));
      return reply(response, 200, result.entries.map(entryJson), readHeaders(result.index));
    }
    const result = await state.block(() => state.getKey(key), minIndex, waitMs, signal);
    if (!result.entry) return reply(response, 404, undefined, readHeaders(result.index));
    if (query.has('raw')) {
      response.writeHead(200, { ...readHeaders(result.index), 'Content-Type': 'application/octet-stream' });
      response.end(result.entry.value);
      return;
    }
    return reply(response, 200, [entryJson(result.entry)], readHeaders(result.index));
  }

  /** Answers unless reachability was lost while a blocking query waited: then the answer is lost too. */
  function reply(response: ServerResponse, status: number, body: unknown, headers: Record<string, string>): void {
    if (!reachable) {
      hold(response);
      return;
    }
    send(response, status, body, headers);
  }

  const server: Server = createServer((request, response) => {
    if (!reachable) {
      hold(response);
      return;
    }
    handle(request, response).catch((error: unknown) => {
      if (response.headersSent || response.destroyed) return;
      if (error instanceof ConsulApiError) send(response, error.status, error.message);
      else send(response, 500, error instanceof Error ? error.message : String(error));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('[testkit] the Consul emulator has no address');
  const port = address.port;

  // Sessions expire on their own time, not only when a request comes in: a watcher must see the expiry.
  void (async () => {
    while (!lifetime.signal.aborted) {
      await state.clock.sleep(REAP_INTERVAL_MS, lifetime.signal).catch(() => {});
      state.reap();
    }
  })();

  const emulator: ConsulEmulator = {
    endpoint: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    host: '127.0.0.1',
    port,
    state,
    requests,
    setReachable(value) {
      if (value === reachable) return;
      reachable = value;
      if (value) {
        // What was sent during the partition is lost: clients see their connections reset.
        for (const response of held) response.socket?.destroy();
        held.clear();
      }
    },
    pause: () => emulator.setReachable(false),
    resume: () => emulator.setReachable(true),
    async stop() {
      if (stopped) return;
      stopped = true;
      lifetime.abort();
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await closed;
    },
    async [Symbol.asyncDispose]() {
      await emulator.stop();
    },
  };
  return emulator;
}

function bearer(authorization: string | undefined): string | undefined {
  const match = authorization ? /^Bearer\s+(.+)$/i.exec(authorization) : null;
  return match?.[1];
}
