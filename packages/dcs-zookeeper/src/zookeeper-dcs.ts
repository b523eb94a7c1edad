/**
 * `Dcs` on ZooKeeper, laid out as Patroni's `zookeeper` plugin lays it out: persistent znodes for the cluster
 * keys, and `leader` and `members/<name>` as EPHEMERAL znodes owned by this member's session (session timeout
 * = ttl). Compare-and-set goes through znode versions; the leader watch is a ZooKeeper watch.
 *
 * Versions handed out (`ValueVersion`) are the znode's `mzxid`, not its data `version`: a deleted and
 * re-created node starts again at data version 0, while its mzxid is new, so a watcher comparing versions
 * never mistakes a new lock for the old one. Compare-and-set checks the mzxid, then writes with the data
 * version it read, so a write in between fails with BAD_VERSION.
 *
 * Lease semantics as with etcd: the client library pings in the background, so the session alone would keep
 * the lock of an agent whose HA loop is stuck. A session is therefore closed by this plugin (its ephemeral
 * znodes vanish at once) when ttl passes without a refresh (`acquireLeader`, `renewLeader`, `touchMember`);
 * if the whole process hangs, the server expires the session after the same ttl.
 */
import { EventEmitter } from 'node:events';
import { CreateMode, Exception, State, createClient } from 'node-zookeeper-client';
import type { Client, Stat, Transaction } from 'node-zookeeper-client';
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
import type { Cluster, Dcs, DcsIdentity, Logger, RawCluster, RawMember, RawValue, ValueVersion } from '@pgwarden/core';

const COMPONENT = 'dcs-zookeeper';

export interface ZooKeeperDcsOptions extends DcsIdentity {
  /** `host:port` of the ZooKeeper servers; ignored when `client` is given. */
  readonly hosts?: readonly string[];
  /**
   * An existing client on which `connect()` has been called (ACLs, auth, tests). Its session is the member's
   * session: it is never closed nor replaced by this plugin, so `setTiming` cannot change its timeout and an
   * expired session makes every call fail until the caller gives a new client.
   */
  readonly client?: Client;
  readonly logger?: Logger;
}

const CLUSTER_KEYS = ['initialize', 'config', 'leader', 'status', 'failover', 'sync', 'history', 'failsafe'] as const;
type ClusterKey = (typeof CLUSTER_KEYS)[number];

/** How long a session waits after all servers refused before it tries them again (the library's default is 1 s). */
const SPIN_DELAY_MS = 200;
/** How long a closing session may take to say goodbye before its socket is dropped. */
const CLOSE_GRACE_MS = 2_000;

/** The connection manager's states we touch (node-zookeeper-client's `ConnectionManager.STATES`). */
const CONNECTION_CONNECTED = 2;
const CONNECTION_CLOSING = -1;
const CONNECTION_CLOSED = -2;

/**
 * The parts of node-zookeeper-client's connection manager this plugin reaches into: the library has no read
 * timeout and no way to leave a session without closing it.
 */
interface ConnectionInternals {
  state?: number;
  socket?: { destroy(): void } | undefined;
  sessionTimeout?: number;
  pingTimeout?: number;
  setState?(state: number): void;
  updateTimeout?(sessionTimeout: number): void;
  onSocketConnected?: () => void;
  onSocketData?: (buffer: Buffer) => void;
}

/** loop_wait assumed when the caller gives none: Patroni's default. */
const DEFAULT_LOOP_WAIT_SECONDS = 10;

function connectionOf(client: Client): ConnectionInternals | undefined {
  return (client as unknown as { connectionManager?: ConnectionInternals }).connectionManager;
}

/** One ZooKeeper session: the owner of this member's ephemeral znodes. */
interface Session {
  readonly client: Client;
  /** Created by this plugin: it may close or replace it. */
  readonly ours: boolean;
  /** The session timeout asked for, in ms. */
  readonly timeoutMs: number;
  readonly ready: Promise<void>;
  lost: boolean;
  /** `leader` when the watch on the leader znode fired, `lost` when the session ended. */
  readonly events: EventEmitter;
  leaderWatchArmed: boolean;
  leaderEvents: number;
  expiry: NodeJS.Timeout | undefined;
  /** Checks that the connection hears from the server (see `watchLiveness`). */
  liveness: NodeJS.Timeout | undefined;
  /** Removes this plugin's listener from the client. */
  readonly detach: () => void;
}

/** What a run of one attempt gets: the session and the moment the attempt gives up waiting for answers. */
interface Attempt {
  readonly session: Session;
  readonly deadline: number;
  readonly number: number;
}

/** An attempt that got no answer in time. */
class NoAnswerError extends Error {
  override readonly name = 'NoAnswerError';
}

function zkCode(error: unknown): number | undefined {
  if (error instanceof Exception) return error.getCode();
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'number' ? code : undefined;
}

function isCode(error: unknown, ...codes: number[]): boolean {
  const code = zkCode(error);
  return code !== undefined && codes.includes(code);
}

const TRANSIENT = [Exception.CONNECTION_LOSS, Exception.OPERATION_TIMEOUT, Exception.SESSION_EXPIRED];

const versionOf = (stat: Stat): ValueVersion => stat.mzxid.readBigUInt64BE(0).toString();
const isZxid = (version: string): boolean => /^\d+$/.test(version);
const text = (data: Buffer | null | undefined): string => (data ? data.toString('utf8') : '');
const bytes = (value: string): Buffer => Buffer.from(value, 'utf8');
const parentOf = (path: string): string => path.slice(0, path.lastIndexOf('/')) || '/';

export function createZooKeeperDcs(options: ZooKeeperDcsOptions): Dcs {
  const hosts = options.hosts ?? [];
  if (options.client === undefined && hosts.length === 0) {
    throw new PgwardenError(COMPONENT, 'CONFIG_INVALID', 'either hosts or client is required');
  }
  const logger = options.logger ?? silentLogger;
  const name = options.name;
  const prefix = clusterPrefix(options);
  const root = prefix.slice(0, -1);
  const pathOf = (key: string): string => prefix + key;
  const leaderPath = pathOf('leader');
  const memberPath = (member: string): string => pathOf(`members/${member}`);
  const where = options.client ? 'the given client' : hosts.join(',');

  let ttl = options.ttl;
  let retryTimeoutMs = options.retryTimeout * 1_000;
  let loopWait = options.loopWait ?? DEFAULT_LOOP_WAIT_SECONDS;
  let closed = false;
  /** Aborted by close(): every watch in progress ends. */
  const lifetime = new AbortController();
  /** The session calls use; replaced when it is lost or the ttl changed. */
  let current: Session | null = options.client ? adopt(options.client) : null;
  /** Every session of ours not yet closed, including ones retired after a ttl change. */
  const sessions = new Set<Session>();

  function closedError(operation: string, cause?: unknown): PgwardenError {
    return new PgwardenError(COMPONENT, 'DCS_CLOSED', `${operation} after close`, { cause });
  }

  function translate(operation: string, error: unknown): PgwardenError {
    if (error instanceof PgwardenError) return error;
    if (closed) return closedError(operation, error);
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof NoAnswerError || isCode(error, ...TRANSIENT) || zkCode(error) === undefined) {
      return new DcsUnreachableError(COMPONENT, `${operation}: ${message} (${where})`, { cause: error });
    }
    return new PgwardenError(COMPONENT, 'DCS_PROTOCOL', `${operation}: ${message}`, { cause: error });
  }

  function track(client: Client, ours: boolean, timeoutMs: number): Session {
    const events = new EventEmitter();
    events.setMaxListeners(0);
    const session: Session = {
      client,
      ours,
      timeoutMs,
      ready: new Promise<void>((resolve) => {
        if (client.getState() === State.SYNC_CONNECTED) resolve();
        else client.once('connected', () => resolve());
      }),
      lost: false,
      events,
      leaderWatchArmed: false,
      leaderEvents: 0,
      expiry: undefined,
      liveness: undefined,
      detach: () => client.off('state', onState),
    };
    function onState(state: InstanceType<typeof State>): void {
      if (state === State.EXPIRED || state === State.AUTH_FAILED) {
        logger.log('warn', 'zookeeper session ended', { state: state.name, session: sessionHex(session) });
        lose(session);
        // An expired session cannot be resumed; let its client stop reconnecting.
        if (session.ours) dropConnection(session);
      } else if (state === State.DISCONNECTED) {
        logger.log('debug', 'zookeeper connection lost, reconnecting', { session: sessionHex(session) });
      }
    }
    client.on('state', onState);
    return session;
  }

  function adopt(client: Client): Session {
    return track(client, false, client.getSessionTimeout());
  }

  function sessionHex(session: Session): string {
    return session.client.getSessionId().toString('hex');
  }

  function lose(session: Session): void {
    if (session.lost) return;
    session.lost = true;
    session.leaderWatchArmed = false;
    clearTimeout(session.expiry);
    clearInterval(session.liveness);
    sessions.delete(session);
    if (current === session && session.ours) current = null;
    session.events.emit('lost');
  }

  /** Leaves the session without closing it: its ephemeral znodes live until the server expires it. */
  function dropConnection(session: Session): void {
    const connection = connectionOf(session.client);
    if (!connection?.setState) {
      session.client.close();
      return;
    }
    if (connection.state === CONNECTION_CLOSED) return;
    connection.setState(CONNECTION_CLOSING);
    // A reconnect already scheduled must not resume the session; late bytes are ignored.
    connection.onSocketConnected = function (this: ConnectionInternals) {
      this.socket?.destroy();
    };
    connection.onSocketData = () => {};
    connection.socket?.destroy();
  }

  /** Closes the session: ZooKeeper deletes its ephemeral znodes at once. */
  function closeSession(session: Session): void {
    lose(session);
    const connection = connectionOf(session.client);
    if (connection && connection.state !== CONNECTION_CONNECTED) {
      // Not connected now: the server will expire it after its timeout.
      dropConnection(session);
      return;
    }
    session.client.close();
    setTimeout(() => {
      if (connectionOf(session.client)?.state !== CONNECTION_CLOSED) dropConnection(session);
    }, CLOSE_GRACE_MS).unref();
  }

  /** Called by every operation that keeps the member alive, as a lease keep-alive would be. */
  function refresh(session: Session): void {
    if (!session.ours || session.lost) return;
    clearTimeout(session.expiry);
    session.expiry = setTimeout(() => {
      logger.log('info', 'zookeeper session not refreshed for ttl, closing it', {
        session: sessionHex(session),
        ttlMs: session.timeoutMs,
      });
      closeSession(session);
    }, session.timeoutMs);
    session.expiry.unref();
  }

  function newSession(): Session {
    const timeoutMs = ttl * 1_000;
    const client = createClient(hosts.join(','), { sessionTimeout: timeoutMs, spinDelay: SPIN_DELAY_MS, retries: 0 });
    const session = track(client, true, timeoutMs);
    sessions.add(session);
    watchLiveness(session);
    void session.ready.then(() => {
      const granted = client.getSessionTimeout();
      logger.log(granted === timeoutMs ? 'debug' : 'warn', 'zookeeper session established', {
        session: sessionHex(session),
        timeoutMs: granted,
        ...(granted !== timeoutMs ? { requestedMs: timeoutMs } : {}),
      });
    });
    client.connect();
    return session;
  }

  /**
   * How long a connection may hear nothing from its server: max(loop_wait - 2, 2) s, Patroni's read timeout,
   * so that a dead or frozen server is left within one HA loop and the session moves to another server.
   */
  function readTimeoutMs(): number {
    return Math.max(loopWait - 2, 2) * 1_000;
  }

  /**
   * node-zookeeper-client pings only every third of the session timeout and never gives up on a silent
   * connection: make it ping every half read timeout, and drop the connection (the library then reconnects,
   * keeping the session) when nothing arrived for a whole read timeout.
   */
  function watchLiveness(session: Session): void {
    const connection = connectionOf(session.client);
    if (!connection?.updateTimeout || !connection.onSocketData) {
      logger.log('warn', 'cannot watch zookeeper connection liveness: unexpected node-zookeeper-client internals');
      return;
    }
    let heard = performance.now();
    const updateTimeout = connection.updateTimeout.bind(connection);
    connection.updateTimeout = (sessionTimeout: number): void => {
      updateTimeout(sessionTimeout);
      connection.pingTimeout = Math.min(connection.pingTimeout ?? Infinity, Math.floor(readTimeoutMs() / 2));
    };
    const onSocketData = connection.onSocketData.bind(connection);
    connection.onSocketData = (buffer: Buffer): void => {
      heard = performance.now();
      onSocketData(buffer);
    };
    const onSocketConnected = connection.onSocketConnected?.bind(connection);
    connection.onSocketConnected = (): void => {
      heard = performance.now();
      onSocketConnected?.();
    };
    session.liveness = setInterval(() => {
      if (connection.state !== CONNECTION_CONNECTED) return;
      // A later loop_wait applies to the next ping.
      connection.pingTimeout = Math.min(Math.floor((connection.sessionTimeout ?? Infinity) / 3), Math.floor(readTimeoutMs() / 2));
      const silentMs = performance.now() - heard;
      if (silentMs <= readTimeoutMs()) return;
      logger.log('warn', 'zookeeper server silent past the read timeout, dropping the connection', {
        session: sessionHex(session),
        silentMs: Math.round(silentMs),
        readTimeoutMs: readTimeoutMs(),
      });
      heard = performance.now();
      connection.socket?.destroy();
    }, 250);
    session.liveness.unref();
  }

  /** The session to use now: a new one when the last was lost or the ttl changed. */
  function sessionNow(): Session {
    if (current && !current.ours) {
      if (current.lost) {
        throw new DcsUnreachableError(COMPONENT, 'the session of the given client ended; it cannot be replaced');
      }
      return current;
    }
    if (current && !current.lost && current.timeoutMs === ttl * 1_000) return current;
    if (current && !current.lost) {
      // A new ttl needs a new session. The old one keeps our znodes until they are moved (renewLeader,
      // touchMember) or until it runs out like any lease that is no longer refreshed.
      logger.log('info', 'ttl changed, opening a new zookeeper session', { ttl });
      if (current.expiry === undefined) closeSession(current);
    }
    current = newSession();
    return current;
  }

  /** Waits for `work` until `deadline`; an unanswered request rejects with NoAnswerError. */
  function answer<T>(work: Promise<T>, deadline: number, what: string): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new NoAnswerError(`no answer to ${what} in time`)),
        Math.max(0, deadline - Date.now()),
      );
      work.then(resolve, reject).finally(() => clearTimeout(timer));
    });
  }

  /** Runs one library call (callback style) within the attempt's deadline. */
  function request<T>(attempt: Attempt, what: string, run: (done: (error: unknown, value: T) => void) => void): Promise<T> {
    const work = new Promise<T>((resolve, reject) => {
      run((error, value) => (error ? reject(error as Error) : resolve(value)));
    });
    return answer(work, attempt.deadline, what);
  }

  /** How long one attempt may wait: with several servers, half the budget, so a dead one is left in time. */
  function attemptBudget(): number {
    return hosts.length > 1 ? retryTimeoutMs / 2 : retryTimeoutMs;
  }

  /**
   * Runs one operation within retry_timeout: connection losses and unanswered requests are retried with a
   * short backoff (an unanswered request also drops the connection, so the client moves on to the next
   * server, keeping its session); what is left at the deadline is `DcsUnreachableError`.
   */
  async function call<T>(operation: string, run: (attempt: Attempt) => Promise<T>): Promise<T> {
    if (closed) throw closedError(operation);
    const deadline = Date.now() + retryTimeoutMs;
    for (let number = 0; ; number++) {
      let session: Session | undefined;
      try {
        session = sessionNow();
        const attempt: Attempt = { session, number, deadline: Math.min(deadline, Date.now() + attemptBudget()) };
        await answer(session.ready, attempt.deadline, 'the connection');
        return await run(attempt);
      } catch (error) {
        if (closed) throw closedError(operation, error);
        if (session && isCode(error, Exception.SESSION_EXPIRED)) lose(session);
        if (session && error instanceof NoAnswerError && connectionOf(session.client)?.state === CONNECTION_CONNECTED) {
          logger.log('debug', 'zookeeper server did not answer, reconnecting', { operation });
          connectionOf(session.client)?.socket?.destroy();
        }
        const backoff = Math.min(1_000, 50 * 2 ** number);
        const retriable =
          (error instanceof NoAnswerError || isCode(error, ...TRANSIENT)) && Date.now() + backoff < deadline;
        if (!retriable) throw translate(operation, error);
        logger.log('debug', 'zookeeper request failed, retrying', {
          operation,
          attempt: number,
          error: error instanceof Error ? error.message : String(error),
        });
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  }

  // The znode operations, one request each.

  function getData(attempt: Attempt, path: string): Promise<{ data: string; stat: Stat } | null> {
    return request(attempt, `getData ${path}`, (done) =>
      attempt.session.client.getData(path, (error, data, stat) => {
        if (isCode(error, Exception.NO_NODE)) done(null, null);
        else done(error, error ? null : { data: text(data), stat });
      }),
    );
  }

  function exists(attempt: Attempt, path: string, watcher?: () => void): Promise<Stat | null> {
    return request<Stat | null>(attempt, `exists ${path}`, (done) => {
      const callback = (error: unknown, stat: Stat | null): void => done(error, stat ?? null);
      if (watcher) attempt.session.client.exists(path, watcher, callback);
      else attempt.session.client.exists(path, callback);
    });
  }

  function getChildren(attempt: Attempt, path: string): Promise<string[]> {
    return request(attempt, `getChildren ${path}`, (done) =>
      attempt.session.client.getChildren(path, (error, children) => {
        if (isCode(error, Exception.NO_NODE)) done(null, []);
        else done(error, children);
      }),
    );
  }

  function setData(attempt: Attempt, path: string, value: string, version: number): Promise<Stat> {
    return request(attempt, `setData ${path}`, (done) =>
      attempt.session.client.setData(path, bytes(value), version, done),
    );
  }

  function remove(attempt: Attempt, path: string, version: number): Promise<void> {
    return request(attempt, `delete ${path}`, (done) =>
      attempt.session.client.remove(path, version, (error) => done(error, undefined)),
    );
  }

  function mkdirp(attempt: Attempt, path: string): Promise<void> {
    return request(attempt, `mkdirp ${path}`, (done) =>
      attempt.session.client.mkdirp(path, (error) => done(error, undefined)),
    );
  }

  function commit(attempt: Attempt, build: (transaction: Transaction) => Transaction): Promise<void> {
    return request(attempt, 'multi', (done) =>
      build(attempt.session.client.transaction()).commit((error) => done(error, undefined)),
    );
  }

  /** Creates a znode, and its missing parents as persistent znodes (what `makepath` does in Patroni). */
  async function create(attempt: Attempt, path: string, value: string, mode: number): Promise<void> {
    const once = (): Promise<void> =>
      request(attempt, `create ${path}`, (done) =>
        attempt.session.client.create(path, bytes(value), mode, (error) => done(error, undefined)),
      );
    try {
      await once();
    } catch (error) {
      if (!isCode(error, Exception.NO_NODE)) throw error;
      await mkdirp(attempt, parentOf(path));
      await once();
    }
  }

  /** Writes a persistent znode whatever it holds; returns its new version. */
  async function put(attempt: Attempt, path: string, value: string): Promise<ValueVersion> {
    for (;;) {
      try {
        return versionOf(await setData(attempt, path, value, -1));
      } catch (error) {
        if (!isCode(error, Exception.NO_NODE)) throw error;
      }
      try {
        await create(attempt, path, value, CreateMode.PERSISTENT);
        // Creating answers no stat; a write landing in between would only make this version newer.
        const stat = await exists(attempt, path);
        if (stat) return versionOf(stat);
      } catch (error) {
        // Created by someone else meanwhile: overwrite it.
        if (!isCode(error, Exception.NODE_EXISTS)) throw error;
      }
    }
  }

  const isOurs = (session: Session, stat: Stat): boolean => stat.ephemeralOwner.equals(session.client.getSessionId());

  /**
   * Compare-and-set of a persistent znode: `expected` undefined writes unconditionally, null creates only,
   * else the znode's mzxid must still be `expected`.
   */
  function casPut(
    operation: string,
    key: ClusterKey,
    value: string,
    expected: ValueVersion | null | undefined,
  ): Promise<ValueVersion | false> {
    if (typeof expected === 'string' && !isZxid(expected)) return Promise.resolve(false);
    const path = pathOf(key);
    return call(operation, async (attempt): Promise<ValueVersion | false> => {
      if (expected === undefined) return put(attempt, path, value);
      if (expected === null) {
        try {
          await create(attempt, path, value, CreateMode.PERSISTENT);
        } catch (error) {
          if (isCode(error, Exception.NODE_EXISTS)) return false;
          throw error;
        }
        const stat = await exists(attempt, path);
        return stat ? versionOf(stat) : false;
      }
      const stat = await exists(attempt, path);
      if (!stat || versionOf(stat) !== expected) return false;
      try {
        return versionOf(await setData(attempt, path, value, stat.version));
      } catch (error) {
        if (isCode(error, Exception.BAD_VERSION, Exception.NO_NODE)) return false;
        throw error;
      }
    });
  }

  /** Deletes a znode; absent counts as deleted. */
  async function removeIfPresent(attempt: Attempt, path: string): Promise<void> {
    try {
      await remove(attempt, path, -1);
    } catch (error) {
      if (!isCode(error, Exception.NO_NODE)) throw error;
    }
  }

  async function removeTree(attempt: Attempt, path: string): Promise<void> {
    const children = await getChildren(attempt, path);
    await Promise.all(children.map((child) => removeTree(attempt, `${path}/${child}`)));
    await removeIfPresent(attempt, path);
  }

  async function readCluster(attempt: Attempt): Promise<RawCluster> {
    const children = new Set(await getChildren(attempt, root));
    const keys = CLUSTER_KEYS.filter((key) => children.has(key));
    const memberNames = children.has('members') ? await getChildren(attempt, pathOf('members')) : [];
    const [values, members] = await Promise.all([
      Promise.all(keys.map((key) => getData(attempt, pathOf(key)))),
      Promise.all(memberNames.map((member) => getData(attempt, memberPath(member)))),
    ]);
    const raw: Partial<Record<ClusterKey, RawValue>> = {};
    keys.forEach((key, index) => {
      const node = values[index];
      if (node) raw[key] = { value: node.data, version: versionOf(node.stat) };
    });
    const rawMembers: RawMember[] = [];
    memberNames.forEach((member, index) => {
      const node = members[index];
      if (node) rawMembers.push({ name: member, value: node.data, version: versionOf(node.stat) });
    });
    return { ...raw, members: rawMembers };
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

  /** Reads the leader znode's version and makes sure one ZooKeeper watch on it is armed in the session. */
  function observeLeader(attempt: Attempt): Promise<{ version: ValueVersion | null; session: Session; seen: number }> {
    const { session } = attempt;
    const seen = session.leaderEvents;
    const arm = !session.leaderWatchArmed;
    // One watch per session at most: the library cannot remove a watch, so each call must not add one.
    if (arm) session.leaderWatchArmed = true;
    const watcher = (): void => {
      session.leaderWatchArmed = false;
      session.leaderEvents++;
      session.events.emit('leader');
    };
    return exists(attempt, leaderPath, arm ? watcher : undefined).then(
      (stat) => ({ version: stat ? versionOf(stat) : null, session, seen }),
      (error: unknown) => {
        if (arm) session.leaderWatchArmed = false;
        throw error;
      },
    );
  }

  /** Waits for a leader event after `seen`, the session's end, the deadline or `stop`. */
  function waitForLeaderEvent(
    session: Session,
    seen: number,
    deadline: number,
    stop: AbortSignal,
  ): Promise<'changed' | 'lost' | 'timeout'> {
    return new Promise((resolve) => {
      const finish = (outcome: 'changed' | 'lost' | 'timeout'): void => {
        clearTimeout(timer);
        session.events.off('leader', onLeader);
        session.events.off('lost', onLost);
        stop.removeEventListener('abort', onStop);
        resolve(outcome);
      };
      const onLeader = (): void => finish('changed');
      const onLost = (): void => finish('lost');
      const onStop = (): void => finish('timeout');
      const timer = setTimeout(onStop, Math.max(0, deadline - Date.now()));
      session.events.on('leader', onLeader);
      session.events.on('lost', onLost);
      stop.addEventListener('abort', onStop, { once: true });
      if (session.leaderEvents !== seen) finish('changed');
      else if (session.lost) finish('lost');
      else if (stop.aborted) finish('timeout');
    });
  }

  const dcs: Dcs = {
    kind: 'zookeeper',
    clusterPrefix: prefix,

    async loadCluster(loadOptions): Promise<Cluster> {
      const signal = loadOptions?.signal;
      if (signal?.aborted) throw new PgwardenError(COMPONENT, 'DCS_ABORTED', 'loadCluster aborted');
      const raw = await abortable('loadCluster', signal, call('loadCluster', readCluster));
      return buildCluster(raw, options.onMalformed);
    },

    acquireLeader() {
      return call('acquireLeader', async (attempt) => {
        refresh(attempt.session);
        try {
          await create(attempt, leaderPath, name, CreateMode.EPHEMERAL);
          return true;
        } catch (error) {
          if (!isCode(error, Exception.NODE_EXISTS)) throw error;
        }
        // A retry after a lost answer finds its own earlier create: that is a win, not a lost race.
        if (attempt.number === 0) return false;
        const node = await getData(attempt, leaderPath);
        return node !== null && node.data === name && isOurs(attempt.session, node.stat);
      });
    },

    renewLeader() {
      return call('renewLeader', async (attempt) => {
        refresh(attempt.session);
        const node = await getData(attempt, leaderPath);
        if (!node || node.data !== name) return false;
        // Held by our session: the session's heartbeat is the renewal, nothing to write.
        if (isOurs(attempt.session, node.stat)) return true;
        // Our name but another session (an older one of ours, or a ttl change): move it onto this session,
        // atomically, unless someone changed it meanwhile.
        logger.log('info', 'moving the leader znode onto the current session', {
          owner: node.stat.ephemeralOwner.toString('hex'),
          session: sessionHex(attempt.session),
        });
        try {
          await commit(attempt, (transaction) =>
            transaction.remove(leaderPath, node.stat.version).create(leaderPath, bytes(name), CreateMode.EPHEMERAL),
          );
          return true;
        } catch (error) {
          if (isCode(error, Exception.BAD_VERSION, Exception.NO_NODE, Exception.NODE_EXISTS)) return false;
          throw error;
        }
      });
    },

    releaseLeader() {
      return call('releaseLeader', async (attempt) => {
        const node = await getData(attempt, leaderPath);
        if (!node || node.data !== name) return false;
        try {
          await remove(attempt, leaderPath, node.stat.version);
          return true;
        } catch (error) {
          if (isCode(error, Exception.BAD_VERSION, Exception.NO_NODE)) return false;
          throw error;
        }
      });
    },

    touchMember(data) {
      const value = encodeMember(data);
      const path = memberPath(name);
      return call('touchMember', async (attempt) => {
        refresh(attempt.session);
        for (;;) {
          const stat = await exists(attempt, path);
          try {
            if (!stat) {
              await create(attempt, path, value, CreateMode.EPHEMERAL);
            } else if (isOurs(attempt.session, stat)) {
              await setData(attempt, path, value, -1);
            } else {
              // Left by an older session of ours: re-create it in this one, so it dies with this session.
              await commit(attempt, (transaction) =>
                transaction.remove(path, stat.version).create(path, bytes(value), CreateMode.EPHEMERAL),
              );
            }
            return true;
          } catch (error) {
            // Changed between the read and the write: read again.
            if (!isCode(error, Exception.NODE_EXISTS, Exception.NO_NODE, Exception.BAD_VERSION)) throw error;
          }
        }
      });
    },

    deleteMember(member) {
      return call('deleteMember', async (attempt) => {
        await removeIfPresent(attempt, memberPath(member ?? name));
        return true;
      });
    },

    initialize({ create: race, sysid }) {
      return call('initialize', async (attempt) => {
        const path = pathOf('initialize');
        if (!race) {
          await put(attempt, path, sysid);
          return true;
        }
        try {
          await create(attempt, path, sysid, CreateMode.PERSISTENT);
          return true;
        } catch (error) {
          if (isCode(error, Exception.NODE_EXISTS)) return false;
          throw error;
        }
      });
    },

    cancelInitialization() {
      return call('cancelInitialization', async (attempt) => {
        await removeIfPresent(attempt, pathOf('initialize'));
        return true;
      });
    },

    async setConfig(data, expected) {
      return (await casPut('setConfig', 'config', encodeConfig(data), expected)) !== false;
    },

    async setFailover(value, expected) {
      return (await casPut('setFailover', 'failover', encodeFailover(value), expected)) !== false;
    },

    setSync(value, expected) {
      return casPut('setSync', 'sync', encodeSync(value), expected);
    },

    async deleteSync(expected) {
      // A null version carries no condition for a delete, as with Patroni.
      if (typeof expected === 'string' && !isZxid(expected)) return false;
      const path = pathOf('sync');
      return call('deleteSync', async (attempt) => {
        if (typeof expected !== 'string') {
          await removeIfPresent(attempt, path);
          return true;
        }
        const stat = await exists(attempt, path);
        if (!stat || versionOf(stat) !== expected) return false;
        try {
          await remove(attempt, path, stat.version);
          return true;
        } catch (error) {
          if (isCode(error, Exception.BAD_VERSION, Exception.NO_NODE)) return false;
          throw error;
        }
      });
    },

    async setHistory(lines) {
      return (await casPut('setHistory', 'history', encodeHistory(lines), undefined)) !== false;
    },

    async writeStatus(status) {
      return (await casPut('writeStatus', 'status', encodeStatus(status), undefined)) !== false;
    },

    async writeFailsafe(members) {
      return (await casPut('writeFailsafe', 'failsafe', encodeFailsafe(members), undefined)) !== false;
    },

    async watchLeader(leaderVersion, timeoutMs, signal) {
      if (closed) throw closedError('watchLeader');
      if (signal?.aborted) return false;
      const deadline = Date.now() + Math.max(0, timeoutMs);
      const stop = signal ? AbortSignal.any([signal, lifetime.signal]) : lifetime.signal;
      for (;;) {
        let observed: Awaited<ReturnType<typeof observeLeader>>;
        try {
          observed = await abortable('watchLeader', stop, call('watchLeader', observeLeader));
        } catch (error) {
          // A watch cut short by an abort or by close() was simply not woken.
          if (closed || stop.aborted) return false;
          throw error;
        }
        if (observed.version !== leaderVersion) return true;
        const outcome = await waitForLeaderEvent(observed.session, observed.seen, deadline, stop);
        if (outcome === 'changed') return true;
        if (outcome === 'timeout' || Date.now() >= deadline) return false;
        // The session ended, and its watch with it: read again on a new session.
      }
    },

    setTiming(timing) {
      ttl = timing.ttl;
      retryTimeoutMs = timing.retryTimeout * 1_000;
      if (timing.loopWait !== undefined) loopWait = timing.loopWait;
    },

    deleteCluster() {
      return call('deleteCluster', async (attempt) => {
        for (;;) {
          try {
            await removeTree(attempt, root);
            return true;
          } catch (error) {
            // A member wrote a znode while the tree was being removed: walk it again.
            if (!isCode(error, Exception.NOT_EMPTY)) throw error;
          }
        }
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      lifetime.abort();
      // The session is left to expire on the server: the member's znodes vanish after ttl unless released.
      for (const session of sessions) {
        lose(session);
        dropConnection(session);
      }
      if (current) {
        lose(current);
        current.detach();
      }
      current = null;
    },

    async [Symbol.asyncDispose]() {
      await dcs.close();
    },
  };
  return dcs;
}
