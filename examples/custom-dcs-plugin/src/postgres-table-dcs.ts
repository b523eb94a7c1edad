/**
 * A `Dcs` on a plain PostgreSQL table: what a third-party store plugin looks like. The store gives us
 * rows, transactions, a clock and LISTEN/NOTIFY; the contract asks for leases, compare-and-set and a watch:
 *
 * - `<table>_kv` holds Patroni's keys (`/service/<scope>/leader`, `.../members/<name>`, ...) with their
 *   exact values, a `version` drawn from one sequence (the compare-and-set token), and an optional `lease`.
 * - `<table>_lease` holds one row per member's lease with `expires_at`, judged by the database clock
 *   (`now()`), never the agents' clocks. A key bound to an expired lease is absent: every read goes
 *   through the `<table>_live` view, and writes test the same condition.
 * - A trigger on `<table>_kv` sends `NOTIFY <table>, '<key>'` whenever a key's version changes; the leader
 *   watch LISTENs for it, and also looks again when the current lock's lease is due to expire, since an
 *   expiry is not a write.
 *
 * Refreshing a lease touches only `<table>_lease`, so a renewal does not change the leader key's version
 * and wakes no watcher. The lease is refreshed only by the agent's own calls (`touchMember`,
 * `renewLeader`, `acquireLeader`): there is no background timer, so a hung agent loses its lock.
 */
import { Pool } from 'pg';
import type { PoolClient, PoolConfig } from 'pg';
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

const COMPONENT = 'dcs-pgtable';

export interface PostgresTableDcsOptions extends DcsIdentity {
  /** Where the table lives: a connection string or pg's pool settings (host, port, user, password, ssl...). */
  readonly connection?: string | PoolConfig;
  /**
   * An existing pool (custom TLS or auth, tests); it is not ended by `close()`. A watch holds one of its
   * connections for LISTEN until `close()`.
   */
  readonly pool?: Pool;
  /** Base name of the table, view, sequence, trigger and notification channel; default `pgwarden_dcs`. */
  readonly table?: string;
  /** Create the objects on first use (idempotent, serialised by an advisory lock); default true. */
  readonly createSchema?: boolean;
  readonly logger?: Logger;
}

const CLUSTER_KEYS = ['initialize', 'config', 'leader', 'status', 'failover', 'sync', 'history', 'failsafe'] as const;
type ClusterKey = (typeof CLUSTER_KEYS)[number];

function isClusterKey(key: string): key is ClusterKey {
  return (CLUSTER_KEYS as readonly string[]).includes(key);
}

/** A version we handed out is a decimal sequence value; anything else can match no row. */
const isVersion = (version: string): boolean => /^\d{1,18}$/.test(version);

/** After a lock's lease is due, look again this much later (the database, not us, decides it expired). */
const EXPIRY_RECHECK_MS = 50;

/** The objects the plugin needs; `$T` is replaced by the validated base name. PostgreSQL 14 or later. */
const SCHEMA = `
CREATE SEQUENCE IF NOT EXISTS $T_version;
CREATE TABLE IF NOT EXISTS $T_lease (
  id bigint PRIMARY KEY,
  owner text NOT NULL,
  expires_at timestamptz NOT NULL
);
CREATE TABLE IF NOT EXISTS $T_kv (
  key text COLLATE "C" PRIMARY KEY,
  value text NOT NULL,
  version bigint NOT NULL,
  lease bigint
);
CREATE OR REPLACE VIEW $T_live AS
  SELECT kv.key, kv.value, kv.version, kv.lease, l.expires_at
  FROM $T_kv kv LEFT JOIN $T_lease l ON l.id = kv.lease
  WHERE kv.lease IS NULL OR l.expires_at > now();
CREATE OR REPLACE FUNCTION $T_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF TG_OP = 'UPDATE' AND NEW.version = OLD.version THEN
    RETURN NULL;
  END IF;
  PERFORM pg_notify('$T', CASE WHEN TG_OP = 'DELETE' THEN OLD.key ELSE NEW.key END);
  RETURN NULL;
END
$fn$;
CREATE OR REPLACE TRIGGER $T_notify AFTER INSERT OR UPDATE OR DELETE ON $T_kv
  FOR EACH ROW EXECUTE FUNCTION $T_notify();
`;

/** Errors that say nothing about our request: the connection or the server's state. Worth a retry. */
function isTransient(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  // Node's network errors (ECONNREFUSED...) and pg's own ("Connection terminated") have no SQLSTATE.
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return true;
  return (
    code.startsWith('08') || // connection exception
    code.startsWith('53') || // insufficient resources (too many connections)
    code.startsWith('57P') || // shutdown in progress, cannot connect now
    code === '40001' || // serialization failure
    code === '40P01' // deadlock
  );
}

class DeadlineError extends Error {
  constructor() {
    super('no answer within retry_timeout');
  }
}

/**
 * Settles like `work`, or rejects at `deadline`; `onLate` receives what `work` produced after that, so a
 * connection that arrives too late is not leaked.
 */
function withDeadline<T>(deadline: number, work: Promise<T>, onTimeout: () => void, onLate?: (value: T) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        onTimeout();
        reject(new DeadlineError());
      },
      Math.max(0, deadline - Date.now()),
    );
    work.then(
      (value) => {
        if (timedOut) onLate?.(value);
        clearTimeout(timer);
        resolve(value);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error instanceof Error ? error : new Error(String(error)));
      },
    );
  });
}

export function createPostgresTableDcs(options: PostgresTableDcsOptions): Dcs {
  const base = options.table ?? 'pgwarden_dcs';
  // The name goes into DDL and LISTEN as an identifier: accept plain lower-case names only.
  if (!/^[a-z_][a-z0-9_]{0,40}$/.test(base)) {
    throw new PgwardenError(COMPONENT, 'CONFIG_INVALID', `table must be a lower-case SQL identifier, got ${JSON.stringify(base)}`);
  }
  if (!options.pool && options.connection === undefined) {
    throw new PgwardenError(COMPONENT, 'CONFIG_INVALID', 'either connection or pool is required');
  }
  const ownsPool = options.pool === undefined;
  const pool =
    options.pool ??
    new Pool({
      // A member makes few calls at a time, plus the LISTEN connection.
      max: 4,
      ...(typeof options.connection === 'string' ? { connectionString: options.connection } : options.connection),
    });
  const logger = options.logger ?? silentLogger;
  // An idle pooled connection that breaks must not crash the process; the next call reconnects.
  const onPoolError = (error: Error): void => logger.log('debug', 'idle connection failed', { error: error.message });
  pool.on('error', onPoolError);

  const name = options.name;
  const prefix = clusterPrefix(options);
  const leaderKey = `${prefix}leader`;
  const memberKey = (member: string): string => `${prefix}members/${member}`;
  const kv = `${base}_kv`;
  const leases = `${base}_lease`;
  const live = `${base}_live`;
  const sequence = `${base}_version`;
  /** A row of `kv` (aliased `k`) that counts: not bound to a lease, or bound to one that has not expired. */
  const isLive = `(k.lease IS NULL OR EXISTS (SELECT 1 FROM ${leases} l WHERE l.id = k.lease AND l.expires_at > now()))`;

  let ttl = options.ttl;
  let retryTimeoutMs = options.retryTimeout * 1_000;
  let leaseId: string | null = null;
  let refreshing: Promise<string> | null = null;
  let schemaReady: Promise<void> | null = options.createSchema === false ? Promise.resolve() : null;
  let closed = false;
  /** Aborted by close(): every wait in progress ends. */
  const lifetime = new AbortController();

  function closedError(operation: string, cause?: unknown): PgwardenError {
    return new PgwardenError(COMPONENT, 'DCS_CLOSED', `${operation} after close`, { cause });
  }

  function translate(operation: string, error: unknown): PgwardenError {
    if (error instanceof PgwardenError) return error;
    if (closed) return closedError(operation, error);
    const message = error instanceof Error ? error.message : String(error);
    if (!isTransient(error)) {
      return new PgwardenError(COMPONENT, 'DCS_PROTOCOL', `${operation}: ${message}`, { cause: error });
    }
    return new DcsUnreachableError(COMPONENT, `${operation}: ${message}`, { cause: error });
  }

  /** Retries `attempt` on transient failures until retry_timeout; what is left is `DcsUnreachableError`. */
  async function retrying<T>(operation: string, attempt: (deadline: number, index: number) => Promise<T>): Promise<T> {
    if (closed) throw closedError(operation);
    const deadline = Date.now() + retryTimeoutMs;
    for (let index = 0; ; index++) {
      try {
        return await attempt(deadline, index);
      } catch (error) {
        const backoff = Math.min(1_000, 50 * 2 ** index);
        if (closed || error instanceof PgwardenError || !isTransient(error) || Date.now() + backoff >= deadline) {
          throw translate(operation, error);
        }
        logger.log('debug', 'request failed, retrying', { operation, attempt: index, error: (error as Error).message });
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  }

  function connect(deadline: number): Promise<PoolClient> {
    return withDeadline(deadline, pool.connect(), () => {}, (late) => late.release(true));
  }

  async function ensureSchema(client: PoolClient): Promise<void> {
    if (schemaReady) return schemaReady;
    const ddl = SCHEMA.replaceAll('$T', base);
    const run = (async () => {
      await client.query('BEGIN');
      // Concurrent CREATE ... IF NOT EXISTS can still collide in the catalog: one member at a time.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`pgwarden-dcs-schema:${base}`]);
      await client.query(ddl);
      await client.query('COMMIT');
    })();
    schemaReady = run.catch((error: unknown) => {
      schemaReady = null;
      throw error;
    });
    return schemaReady;
  }

  /** One operation: a pooled connection, `run` on it, within retry_timeout. */
  function call<T>(operation: string, run: (client: PoolClient, attempt: number) => Promise<T>): Promise<T> {
    return retrying(operation, async (deadline, attempt) => {
      const client = await connect(deadline);
      let destroyed = false;
      const destroy = (): void => {
        if (destroyed) return;
        destroyed = true;
        client.release(true);
      };
      try {
        const work = (async () => {
          await ensureSchema(client);
          return run(client, attempt);
        })();
        // A late failure of work we gave up on is expected (we destroyed its connection).
        work.catch(() => {});
        const value = await withDeadline(deadline, work, destroy);
        client.release();
        return value;
      } catch (error) {
        // Never hand a connection in an unknown state (open transaction, half-read answer) back to the pool.
        destroy();
        throw error;
      }
    });
  }

  async function query<R extends object>(client: PoolClient, text: string, values: unknown[]): Promise<R[]> {
    return (await client.query<R>(text, values)).rows;
  }

  /** This member's lease, extended by ttl from the database's now; a new lease when it had expired. */
  function refreshLease(client: PoolClient): Promise<string> {
    // Concurrent callers share one refresh, so they never create two leases.
    refreshing ??= refreshLeaseNow(client).finally(() => {
      refreshing = null;
    });
    return refreshing;
  }

  async function refreshLeaseNow(client: PoolClient): Promise<string> {
    const [row] = await query<{ id: string; renewed: boolean }>(
      client,
      `WITH renewed AS (
         UPDATE ${leases} SET expires_at = now() + make_interval(secs => $2)
         WHERE id = $1 AND expires_at > now() RETURNING id
       ), granted AS (
         INSERT INTO ${leases} (id, owner, expires_at)
         SELECT nextval('${sequence}'), $3, now() + make_interval(secs => $2)
         WHERE NOT EXISTS (SELECT 1 FROM renewed) RETURNING id
       )
       SELECT id::text, true AS renewed FROM renewed UNION ALL SELECT id::text, false FROM granted`,
      [leaseId, ttl, `${prefix}${name}`],
    );
    if (!row) throw new Error('lease refresh returned no row');
    if (!row.renewed) logger.log(leaseId ? 'info' : 'debug', 'created a lease', { lease: row.id, ttl, previous: leaseId });
    leaseId = row.id;
    return row.id;
  }

  /**
   * Writes `key`: `expected` undefined = unconditionally, null = only when absent (or expired), a version =
   * only while the key still has it. Returns the new version, or false.
   */
  function casPut(
    operation: string,
    key: string,
    value: string,
    expected: ValueVersion | null | undefined,
  ): Promise<ValueVersion | false> {
    if (typeof expected === 'string' && !isVersion(expected)) return Promise.resolve(false);
    return call(operation, async (client) => {
      let rows: { version: string }[];
      if (typeof expected === 'string') {
        rows = await query(
          client,
          `UPDATE ${kv} k SET value = $2, version = nextval('${sequence}'), lease = NULL
           WHERE k.key = $1 AND k.version = $3 AND ${isLive} RETURNING version::text`,
          [key, value, expected],
        );
      } else {
        rows = await query(
          client,
          `INSERT INTO ${kv} AS k (key, value, version) VALUES ($1, $2, nextval('${sequence}'))
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, lease = NULL
           ${expected === null ? `WHERE NOT ${isLive}` : ''}
           RETURNING version::text`,
          [key, value],
        );
      }
      return rows[0]?.version ?? false;
    });
  }

  async function deleteKey(operation: string, key: string): Promise<boolean> {
    return call(operation, async (client) => {
      await client.query(`DELETE FROM ${kv} WHERE key = $1`, [key]);
      return true;
    });
  }

  function toRaw(rows: readonly { key: string; value: string; version: string }[]): RawCluster {
    const raw: Partial<Record<ClusterKey, RawValue>> = {};
    const members: RawMember[] = [];
    for (const row of rows) {
      const relative = row.key.slice(prefix.length);
      const value: RawValue = { value: row.value, version: row.version };
      if (relative.startsWith('members/')) {
        const member = relative.slice('members/'.length);
        if (member !== '' && !member.includes('/')) members.push({ ...value, name: member });
      } else if (isClusterKey(relative)) {
        raw[relative] = value;
      }
    }
    return { ...raw, members };
  }

  /** Ends the wait for `work` when the signal aborts (DCS_ABORTED) or the Dcs closes (DCS_CLOSED). */
  function interruptible<T>(operation: string, signal: AbortSignal | undefined, work: Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => reject(new PgwardenError(COMPONENT, 'DCS_ABORTED', `${operation} aborted`));
      const onClose = (): void => reject(closedError(operation));
      const cleanup = (): void => {
        signal?.removeEventListener('abort', onAbort);
        lifetime.signal.removeEventListener('abort', onClose);
      };
      if (signal?.aborted) onAbort();
      signal?.addEventListener('abort', onAbort, { once: true });
      lifetime.signal.addEventListener('abort', onClose, { once: true });
      work.then(resolve, reject).finally(cleanup);
    });
  }

  // ---- the leader watch: one LISTEN connection per Dcs, shared by its watches ----

  interface Waiter {
    /** A notification arrived while nobody was waiting: the next wait returns at once. */
    pending: boolean;
    wake: (() => void) | null;
  }
  const waiters = new Set<Waiter>();
  let listener: PoolClient | null = null;
  let listening: Promise<void> | null = null;

  function pokeAll(): void {
    for (const waiter of waiters) {
      waiter.pending = true;
      waiter.wake?.();
    }
  }

  function dropListener(client: PoolClient, reason: string): void {
    if (listener !== client) return;
    listener = null;
    logger.log('debug', 'leader watch connection lost', { reason });
    client.release(true);
    // Whatever happened meanwhile went unheard: every watch reads the key again.
    pokeAll();
  }

  function ensureListener(): Promise<void> {
    if (listener) return Promise.resolve();
    listening ??= retrying('watchLeader', async (deadline) => {
      const client = await connect(deadline);
      try {
        await ensureSchema(client);
        client.on('notification', (message) => {
          if (message.channel === base && message.payload === leaderKey) pokeAll();
        });
        client.on('error', (error) => dropListener(client, error.message));
        client.on('end', () => dropListener(client, 'connection ended'));
        await withDeadline(deadline, client.query(`LISTEN ${base}`), () => {});
      } catch (error) {
        client.release(true);
        throw error;
      }
      if (closed) {
        client.release(true);
        throw closedError('watchLeader');
      }
      listener = client;
    }).finally(() => {
      listening = null;
    });
    return listening;
  }

  function waitFor(waiter: Waiter, ms: number, signal: AbortSignal | undefined): Promise<'changed' | 'timer' | 'stopped'> {
    if (waiter.pending) {
      waiter.pending = false;
      return Promise.resolve('changed');
    }
    if (signal?.aborted || lifetime.signal.aborted) return Promise.resolve('stopped');
    return new Promise((resolve) => {
      const done = (outcome: 'changed' | 'timer' | 'stopped'): void => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', stop);
        lifetime.signal.removeEventListener('abort', stop);
        waiter.wake = null;
        waiter.pending = false;
        resolve(outcome);
      };
      const stop = (): void => done('stopped');
      const timer = setTimeout(() => done('timer'), Math.max(0, ms));
      waiter.wake = () => done('changed');
      signal?.addEventListener('abort', stop, { once: true });
      lifetime.signal.addEventListener('abort', stop, { once: true });
    });
  }

  const dcs: Dcs = {
    kind: 'postgres_table',
    clusterPrefix: prefix,

    async loadCluster(loadOptions): Promise<Cluster> {
      const signal = loadOptions?.signal;
      if (closed) throw closedError('loadCluster');
      if (signal?.aborted) throw new PgwardenError(COMPONENT, 'DCS_ABORTED', 'loadCluster aborted');
      // One statement is one snapshot: the whole cluster as it was at one instant.
      const rows = await interruptible(
        'loadCluster',
        signal,
        call('loadCluster', (client) =>
          query<{ key: string; value: string; version: string }>(
            client,
            `SELECT key, value, version::text FROM ${live} WHERE starts_with(key, $1)`,
            [prefix],
          ),
        ),
      );
      return buildCluster(toRaw(rows), options.onMalformed);
    },

    acquireLeader() {
      return call('acquireLeader', async (client, attempt) => {
        const lease = await refreshLease(client);
        // The primary key makes racing inserts wait for each other; the loser finds a live row and writes nothing.
        const won = await query(
          client,
          `INSERT INTO ${kv} AS k (key, value, version, lease) VALUES ($1, $2, nextval('${sequence}'), $3)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, lease = EXCLUDED.lease
           WHERE NOT ${isLive}
           RETURNING 1`,
          [leaderKey, name, lease],
        );
        if (won.length > 0) return true;
        if (attempt === 0) return false;
        // A retry after a lost answer finds its own earlier write: that is a win, not a lost race.
        const mine = await query(client, `SELECT 1 FROM ${live} WHERE key = $1 AND value = $2 AND lease = $3`, [
          leaderKey,
          name,
          lease,
        ]);
        return mine.length > 0;
      });
    },

    renewLeader() {
      return call('renewLeader', async (client) => {
        const lease = await refreshLease(client);
        // Still ours: bind it to our current lease. Only a re-bind (another process of this member held it)
        // is a change that gets a new version; a plain renewal leaves the row's version alone.
        const rows = await query(
          client,
          `UPDATE ${kv} k SET lease = $3,
             version = CASE WHEN k.lease IS DISTINCT FROM $3 THEN nextval('${sequence}') ELSE k.version END
           WHERE k.key = $1 AND k.value = $2 AND ${isLive}
           RETURNING 1`,
          [leaderKey, name, lease],
        );
        return rows.length > 0;
      });
    },

    releaseLeader() {
      return call('releaseLeader', async (client) => {
        const rows = await query(client, `DELETE FROM ${kv} k WHERE k.key = $1 AND k.value = $2 AND ${isLive} RETURNING 1`, [
          leaderKey,
          name,
        ]);
        return rows.length > 0;
      });
    },

    touchMember(data) {
      return call('touchMember', async (client) => {
        const lease = await refreshLease(client);
        await client.query(
          `INSERT INTO ${kv} (key, value, version, lease) VALUES ($1, $2, nextval('${sequence}'), $3)
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, lease = EXCLUDED.lease`,
          [memberKey(name), encodeMember(data), lease],
        );
        return true;
      });
    },

    deleteMember(member) {
      return deleteKey('deleteMember', memberKey(member ?? name));
    },

    async initialize({ create, sysid }) {
      return (await casPut('initialize', `${prefix}initialize`, sysid, create ? null : undefined)) !== false;
    },

    cancelInitialization() {
      return deleteKey('cancelInitialization', `${prefix}initialize`);
    },

    async setConfig(data, expected) {
      return (await casPut('setConfig', `${prefix}config`, encodeConfig(data), expected)) !== false;
    },

    async setFailover(value, expected) {
      return (await casPut('setFailover', `${prefix}failover`, encodeFailover(value), expected)) !== false;
    },

    setSync(value, expected) {
      return casPut('setSync', `${prefix}sync`, encodeSync(value), expected);
    },

    async deleteSync(expected) {
      // A null version carries no condition for a delete: the key goes whatever it holds.
      if (typeof expected !== 'string') return deleteKey('deleteSync', `${prefix}sync`);
      if (!isVersion(expected)) return false;
      return call('deleteSync', async (client) => {
        const rows = await query(client, `DELETE FROM ${kv} k WHERE k.key = $1 AND k.version = $2 AND ${isLive} RETURNING 1`, [
          `${prefix}sync`,
          expected,
        ]);
        return rows.length > 0;
      });
    },

    async setHistory(lines) {
      return (await casPut('setHistory', `${prefix}history`, encodeHistory(lines), undefined)) !== false;
    },

    async writeStatus(status) {
      return (await casPut('writeStatus', `${prefix}status`, encodeStatus(status), undefined)) !== false;
    },

    async writeFailsafe(members) {
      return (await casPut('writeFailsafe', `${prefix}failsafe`, encodeFailsafe(members), undefined)) !== false;
    },

    async watchLeader(leaderVersion, timeoutMs, signal) {
      if (closed) throw closedError('watchLeader');
      if (signal?.aborted) return false;
      const deadline = Date.now() + Math.max(0, timeoutMs);
      const waiter: Waiter = { pending: false, wake: null };
      // Registered before the first read: a change between the read and the wait is not missed.
      waiters.add(waiter);
      try {
        for (;;) {
          await interruptible('watchLeader', signal, ensureListener());
          const [current] = await interruptible(
            'watchLeader',
            signal,
            call('watchLeader', (client) =>
              query<{ version: string; remaining_ms: number | null }>(
                client,
                `SELECT version::text,
                   ceil(extract(epoch FROM (expires_at - now())) * 1000)::float8 AS remaining_ms
                 FROM ${live} WHERE key = $1`,
                [leaderKey],
              ),
            ),
          );
          if ((current?.version ?? null) !== leaderVersion) return true;
          const untilDeadline = deadline - Date.now();
          if (untilDeadline <= 0) return false;
          // An expiry is no write and sends no notification: look again when the lock is due to expire.
          const wait =
            current?.remaining_ms != null
              ? Math.min(untilDeadline, Math.max(0, current.remaining_ms) + EXPIRY_RECHECK_MS)
              : untilDeadline;
          const outcome = await waitFor(waiter, wait, signal);
          if (outcome === 'stopped') return false;
          if (outcome === 'timer' && Date.now() >= deadline) return false;
        }
      } catch (error) {
        // A watch cut short by an abort or by close() was simply not woken.
        if (closed || (error instanceof PgwardenError && error.code === 'DCS_ABORTED')) return false;
        throw error;
      } finally {
        waiters.delete(waiter);
      }
    },

    setTiming(timing) {
      // The next refresh extends the lease by the new ttl.
      ttl = timing.ttl;
      retryTimeoutMs = timing.retryTimeout * 1_000;
    },

    deleteCluster() {
      return call('deleteCluster', async (client) => {
        // The prefix ends in `/`, so `/service/a/` never matches `/service/ab/...`.
        await client.query(`DELETE FROM ${kv} WHERE starts_with(key, $1)`, [prefix]);
        return true;
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      lifetime.abort();
      // The lease is left to expire: the member's keys vanish after ttl unless it released them first.
      const held = listener;
      listener = null;
      held?.release(true);
      if (ownsPool) await pool.end().catch(() => {});
      pool.off('error', onPoolError);
    },

    async [Symbol.asyncDispose]() {
      await dcs.close();
    },
  };
  return dcs;
}
