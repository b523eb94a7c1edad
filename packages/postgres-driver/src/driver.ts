import { chmod, chown, link, mkdir, mkdtemp, readFile, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { Client, escapeIdentifier, escapeLiteral } from 'pg';
import {
  PgwardenError,
  historyFileContent,
  historyFileName,
  parseLsn,
  silentLogger,
  slotNameForMember,
  type Clock,
  type ControlState,
  type DataDirectoryState,
  type Logger,
  type LogicalSlotSpec,
  type PendingRestartReason,
  type PostgresController,
  type PostgresObservation,
  type Progress,
  type ReplicationRow,
  type ReplicationSlot,
  type ReservedTimeline,
  type SlotChangeOutcome,
  type SlotChanges,
  type StartOptions,
  type StopMode,
  type Upstream,
} from '@pgwarden/core';
import {
  DEFAULT_PG_HBA,
  buildConninfo,
  buildPgHba,
  buildPostgresqlConf,
  formatConfValue,
  initdbArguments,
  managedParameters,
  needsCrashRecovery,
  parseConninfo,
  parseControlData,
  parsePostgresqlConf,
  parseTimelineHistory,
  pgpassLine,
  shellQuote,
  type ConfFileInput,
  type InitdbOption,
  type ParameterValue,
  type StandbySettings,
} from './config.js';
import { createChildProcessRunner, type ProcessRunner, type RunResult } from './runner.js';
import {
  PENDING_RESTART_QUERY,
  PENDING_RESTART_QUERY_NO_FILES,
  type PendingRestartRow,
  pendingRestartReasonFrom,
} from './pending-restart.js';
import { SLOTS_SUBQUERY, applySlotChanges, installSlotStates, listSlots, parseSlotRows, readSlotStates } from './slots.js';

const COMPONENT = 'postgres-driver';

export interface PostgresCredentials {
  readonly username: string;
  readonly password?: string;
}

export interface HostPort {
  /** `listen.host` may list several addresses separated by commas; the first one is used for local connections. */
  readonly host: string;
  readonly port: number;
}

export interface PostgresDriverOptions {
  /** Member name: application_name of the standby and, through `slotNameForMember`, its slot name. */
  readonly name: string;
  /** Cluster scope, written as `cluster_name`. */
  readonly scope: string;
  readonly dataDir: string;
  /** Directory of the PostgreSQL binaries; default: found on PATH. */
  readonly binDir?: string;
  readonly listen: HostPort;
  readonly connectAddress: HostPort;
  readonly authentication: {
    readonly superuser: PostgresCredentials;
    readonly replication: PostgresCredentials;
    readonly rewind?: PostgresCredentials;
  };
  readonly parameters?: Readonly<Record<string, ParameterValue>>;
  /** pg_hba.conf lines; default: password access from loopback for everyone and for replication. */
  readonly pgHba?: readonly string[];
  /** Passfile the driver writes (mode 0600) for primary_conninfo, pg_basebackup and pg_rewind; default `~/pgpass`. */
  readonly pgpass?: string;
  /** `bootstrap.initdb` items; pgdata, nosync, pwfile, sync-only and version are refused. */
  readonly initdb?: readonly InitdbOption[];
  /**
   * `postgresql.create_replica_methods`, in order, each with its section: how a replica is created. Default
   * pg_basebackup alone. The first method that succeeds wins.
   */
  readonly createReplicaMethods?: readonly ReplicaMethod[];
  /** Standbys stream through a physical slot named after them; default true. */
  readonly useSlots?: boolean;
  /** Allows `rewindFrom`; default false, as in Patroni. */
  readonly usePgRewind?: boolean;
  /** When this process runs as root, PostgreSQL binaries run as this user and the data directory belongs to it. */
  readonly osUser?: { readonly uid: number; readonly gid: number };
  /** Server log written by `pg_ctl start -l`; default `<dataDir>/postgresql.log`. */
  readonly logFile?: string;
  /** Seconds pg_ctl waits for start, stop and promote; default 60. */
  readonly pgCtlTimeout?: number;
  /** Database for the driver's own connections; default `postgres`. */
  readonly database?: string;
  /** Physical slots `syncReplicationSlots` never drops. */
  readonly ignoreSlots?: readonly string[];
  readonly logger?: Logger;
  readonly runner?: ProcessRunner;
  readonly clock?: Clock;
  /** Environment the binaries inherit (PATRONI_* removed); default `process.env`. */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /**
   * `postgresql.before_stop`: a command run to its end, without arguments, before every stop of a running
   * server (restart and demotion included). Its exit status is logged; it never prevents the stop.
   */
  readonly beforeStop?: string;
}

/** Dynamic configuration the driver applies: PostgreSQL parameters and pg_hba lines. */
export interface PostgresSettings {
  readonly parameters?: Readonly<Record<string, ParameterValue>>;
  readonly pgHba?: readonly string[];
}

export interface ApplySettingsResult {
  /** Parameters whose value changed. */
  readonly changed: readonly string[];
  /** Changed parameters the running server only takes on restart. */
  readonly pendingRestart: readonly string[];
  /** Parameters the running server does not know: not written. */
  readonly rejected: readonly string[];
  readonly hbaChanged: boolean;
}

export interface PostgresDriver extends PostgresController {
  applySettings(settings: PostgresSettings): Promise<ApplySettingsResult>;
  /** Renames the data directory to `<data_dir>.failed`; its new path, or null when there was none. */
  moveDataDirectoryAside(): Promise<string | null>;
  /** Physical and logical slots of the running server (temporary ones left out). */
  listReplicationSlots(): Promise<ReplicationSlot[]>;
  /** Drops, creates and advances slots as the HA rules planned; failures are logged and reported, not thrown. */
  changeReplicationSlots(changes: SlotChanges): Promise<SlotChangeOutcome>;
  /**
   * Copies permanent logical slots from the primary `source` onto this replica: reads their state files there,
   * stops postgres, installs them, starts again as a replica of `upstream`. Returns the slots copied.
   */
  copyLogicalSlots(
    source: Upstream,
    slots: readonly LogicalSlotSpec[],
    options: { upstream: Upstream | null; timeout?: number; signal?: AbortSignal },
  ): Promise<string[]>;
}

interface ExecExtras {
  readonly signal?: AbortSignal | undefined;
  readonly env?: Record<string, string>;
  readonly detached?: boolean;
  readonly onLine?: (line: string) => void;
}

const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) =>
    new Promise<void>((resolvePromise, reject) => {
      if (signal?.aborted) return reject(signal.reason as Error);
      const onAbort = () => {
        clearTimeout(timer);
        reject(signal!.reason as Error);
      };
      const timer = setTimeout(() => {
        signal?.removeEventListener('abort', onAbort);
        resolvePromise();
      }, ms);
      signal?.addEventListener('abort', onAbort, { once: true });
    }),
};

const OBSERVE_QUERY = `
SELECT pg_catalog.pg_is_in_recovery() AS in_recovery,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL ELSE pg_catalog.pg_current_wal_lsn()::text END AS current_lsn,
  CASE WHEN pg_catalog.pg_is_in_recovery() THEN NULL
    ELSE ('x' || pg_catalog.substr(pg_catalog.pg_walfile_name(pg_catalog.pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS primary_tli,
  pg_catalog.pg_last_wal_receive_lsn()::text AS receive_lsn,
  pg_catalog.pg_last_wal_replay_lsn()::text AS replay_lsn,
  (SELECT timeline_id FROM pg_catalog.pg_control_checkpoint()) AS checkpoint_tli,
  r.status AS receiver_status,
  r.received_tli,
  pg_catalog.to_char(pg_catalog.pg_postmaster_start_time(), 'YYYY-MM-DD HH24:MI:SS.MS TZ') AS postmaster_start_time,
  pg_catalog.current_setting('server_version_num')::int AS server_version,
  EXISTS (SELECT 1 FROM pg_catalog.pg_settings WHERE pending_restart) AS pending_restart,
  pg_catalog.current_setting('synchronous_standby_names') AS synchronous_standby_names,
  (SELECT coalesce(pg_catalog.json_agg(s), '[]'::json) FROM (
    SELECT usename, application_name, pg_catalog.host(client_addr) AS client_addr, state, sync_state, sync_priority,
      write_lsn::text AS write_lsn, flush_lsn::text AS flush_lsn, replay_lsn::text AS replay_lsn
    FROM pg_catalog.pg_stat_replication) s) AS replication,
  ${SLOTS_SUBQUERY} AS slots
FROM (SELECT 1) AS one LEFT JOIN pg_catalog.pg_stat_wal_receiver r ON true`;

interface ObserveRow {
  in_recovery: boolean;
  current_lsn: string | null;
  primary_tli: number | null;
  receive_lsn: string | null;
  replay_lsn: string | null;
  checkpoint_tli: number | null;
  receiver_status: string | null;
  received_tli: number | null;
  postmaster_start_time: string | null;
  server_version: number;
  pending_restart: boolean;
  synchronous_standby_names: string;
  replication: Array<Record<string, unknown>>;
  slots: unknown;
}

function lsnOrNull(value: unknown): number | null {
  return typeof value === 'string' && value !== '' ? parseLsn(value) : null;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function tail(text: string, lines = 8): string {
  return text.trim().split('\n').slice(-lines).join('\n');
}

/** Drops PATRONI_* and maps PG_MALLOC_ARENA_MAX to the server's MALLOC_ARENA_MAX (empty: unset). */
export function childEnvironment(source: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(source)) {
    if (value === undefined || key.startsWith('PATRONI_')) continue;
    env[key] = value;
  }
  const arenas = source['PG_MALLOC_ARENA_MAX'];
  if (arenas !== undefined) {
    delete env['PG_MALLOC_ARENA_MAX'];
    if (arenas === '') delete env['MALLOC_ARENA_MAX'];
    else env['MALLOC_ARENA_MAX'] = arenas;
  }
  return env;
}

/** The address the driver itself connects to: the first listen address, wildcards mapped to loopback. */
export function localConnectHost(listenHost: string): string {
  const first = listenHost.split(',')[0]?.trim() ?? '';
  if (first === '' || first === '*' || first === '0.0.0.0') return '127.0.0.1';
  if (first === '::') return '::1';
  return first;
}

function errorCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

export function createPostgresDriver(options: PostgresDriverOptions): PostgresDriver {
  return new Driver(options);
}

class Driver implements PostgresDriver {
  readonly #options: PostgresDriverOptions;
  readonly #dataDir: string;
  readonly #logger: Logger;
  readonly #runner: ProcessRunner;
  readonly #clock: Clock;
  readonly #pgpass: string;
  readonly #logFile: string;
  readonly #timeout: number;
  readonly #slotName: string;
  readonly #switchUser: boolean;
  #parameters: Readonly<Record<string, ParameterValue>>;
  #synchronousStandbyNames: string | null = null;
  #pgHba: readonly string[];
  #client: Client | null = null;
  #connecting: Promise<Client> | null = null;
  #disposed = false;
  /** pg_controldata as read while the postmaster ran, with the pg_control file it came from. */
  #runningControl: { controlFile: string; systemId: string | null; controlState: ControlState | null } | null = null;

  constructor(options: PostgresDriverOptions) {
    this.#options = options;
    this.#dataDir = resolve(options.dataDir);
    this.#logger = options.logger ?? silentLogger;
    this.#runner = options.runner ?? createChildProcessRunner();
    this.#clock = options.clock ?? realClock;
    this.#pgpass = resolve(options.pgpass ?? join(homedir(), 'pgpass'));
    this.#logFile = resolve(options.logFile ?? join(this.#dataDir, 'postgresql.log'));
    this.#timeout = options.pgCtlTimeout ?? 60;
    this.#slotName = slotNameForMember(options.name);
    this.#switchUser = options.osUser !== undefined && process.getuid?.() === 0;
    this.#parameters = options.parameters ?? {};
    this.#pgHba = options.pgHba ?? DEFAULT_PG_HBA;
  }

  // ---------------------------------------------------------------- processes

  #binary(name: string): string {
    return this.#options.binDir ? join(this.#options.binDir, name) : name;
  }

  #env(extra: Record<string, string> = {}): Record<string, string> {
    return { ...childEnvironment(this.#options.env ?? process.env), PGPASSFILE: this.#pgpass, ...extra };
  }

  async #exec(name: string, args: readonly string[], extra: ExecExtras = {}): Promise<RunResult> {
    this.#logger.log('debug', 'running', { command: name, args: args.filter((arg) => !arg.startsWith('--pwfile')) });
    const osUser = this.#switchUser ? this.#options.osUser : undefined;
    try {
      return await this.#runner.run({
        command: name.startsWith('/') ? name : this.#binary(name),
        args,
        env: this.#env(extra.env),
        cwd: '/',
        ...(osUser ? { uid: osUser.uid, gid: osUser.gid } : {}),
        ...(extra.detached ? { detached: true } : {}),
        ...(extra.signal ? { signal: extra.signal } : {}),
        ...(extra.onLine ? { onLine: (line: string) => extra.onLine?.(line) } : {}),
      });
    } catch (error) {
      throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', `${name} could not run: ${String(error)}`, {
        cause: error,
      });
    }
  }

  #commandFailed(name: string, result: RunResult): PgwardenError {
    const status = result.exitCode === null ? `signal ${result.signal ?? '?'}` : `exit code ${result.exitCode}`;
    const output = tail(result.stderr) || tail(result.stdout);
    return new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', `${name} failed with ${status}: ${output}`);
  }

  async #execOrThrow(name: string, args: readonly string[], extra: ExecExtras = {}) {
    const result = await this.#exec(name, args, extra);
    if (result.exitCode !== 0) throw this.#commandFailed(name, result);
    return result;
  }

  // ---------------------------------------------------------------- files

  async #own(path: string): Promise<void> {
    if (this.#switchUser && this.#options.osUser) await chown(path, this.#options.osUser.uid, this.#options.osUser.gid);
  }

  /** Atomic write (temporary file + rename) owned by the database user. */
  async #writeOwned(path: string, content: string, mode = 0o600): Promise<void> {
    const temporary = `${path}.pgwarden-tmp`;
    await writeFile(temporary, content, { mode });
    await chmod(temporary, mode);
    await this.#own(temporary);
    await rename(temporary, path);
  }

  async #exists(path: string): Promise<boolean> {
    try {
      await stat(path);
      return true;
    } catch {
      return false;
    }
  }

  async #dataDirectoryState(): Promise<DataDirectoryState> {
    try {
      const entries = await readdir(this.#dataDir);
      return entries.some((entry) => entry !== 'lost+found') ? 'initialized' : 'empty';
    } catch (error) {
      const code = errorCode(error);
      if (code === 'ENOENT') return 'missing';
      return 'inaccessible';
    }
  }

  async #ensureDataDir(): Promise<void> {
    // Parents keep the default mode: the database user must be able to reach its directory.
    await mkdir(dirname(this.#dataDir), { recursive: true });
    await mkdir(this.#dataDir, { recursive: true, mode: 0o700 });
    await chmod(this.#dataDir, 0o700);
    await this.#own(this.#dataDir);
  }

  async #emptyDirectory(path: string): Promise<void> {
    let entries: string[];
    try {
      entries = await readdir(path);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return;
      throw error;
    }
    await Promise.all(entries.map((entry) => rm(join(path, entry), { recursive: true, force: true })));
  }

  async #majorVersion(): Promise<number | null> {
    try {
      const text = await readFile(join(this.#dataDir, 'PG_VERSION'), 'utf8');
      const major = parseInt(text.trim(), 10);
      return Number.isFinite(major) ? major : null;
    } catch {
      return null;
    }
  }

  #standbySettings(upstream: Upstream | null): StandbySettings {
    if (upstream === null) return { primaryConninfo: null, primarySlotName: null };
    const replication = this.#options.authentication.replication;
    // A standby cluster adds its recovery settings; an empty host means restore_command only, no streaming.
    const recovery = {
      ...(upstream.restoreCommand !== undefined ? { restoreCommand: upstream.restoreCommand } : {}),
      ...(upstream.archiveCleanupCommand !== undefined ? { archiveCleanupCommand: upstream.archiveCleanupCommand } : {}),
      ...(upstream.recoveryMinApplyDelay !== undefined ? { recoveryMinApplyDelay: upstream.recoveryMinApplyDelay } : {}),
    };
    if (upstream.host === '') return { primaryConninfo: null, primarySlotName: null, ...recovery };
    // undefined: this member's own slot on a member upstream; null: none (a remote primary without primary_slot_name).
    const slot = upstream.slotName === undefined ? this.#slotName : upstream.slotName;
    return {
      ...recovery,
      primaryConninfo: buildConninfo({
        host: upstream.host,
        port: upstream.port,
        user: replication.username,
        passfile: this.#pgpass,
        application_name: this.#options.name,
        sslmode: 'prefer',
        // Several hosts (a standby cluster's `host: a,b`): connect to the one that is the primary.
        target_session_attrs: isMultiHost(upstream.host) ? 'read-write' : undefined,
      }),
      primarySlotName: this.#options.useSlots === false && upstream.slotName === undefined ? null : slot,
    };
  }

  #confInput(standby: StandbySettings | null): ConfFileInput {
    return {
      listenAddresses: this.#options.listen.host,
      port: this.#options.listen.port,
      clusterName: this.#options.scope,
      hbaFile: join(this.#dataDir, 'pg_hba.conf'),
      // The HA rules own synchronous_standby_names in synchronous mode; otherwise the user's value stands.
      parameters:
        this.#synchronousStandbyNames === null
          ? this.#parameters
          : { ...this.#parameters, synchronous_standby_names: this.#synchronousStandbyNames },
      standby,
    };
  }

  /** postgresql.conf (keeping the original as postgresql.base.conf) and pg_hba.conf. */
  async #writeConfigFiles(standby: StandbySettings | null): Promise<void> {
    const conf = join(this.#dataDir, 'postgresql.conf');
    const base = join(this.#dataDir, 'postgresql.base.conf');
    if (!(await this.#exists(base))) {
      if (await this.#exists(conf)) await rename(conf, base);
      else await this.#writeOwned(base, '');
    }
    await this.#writeOwned(conf, buildPostgresqlConf(this.#confInput(standby)));
    await this.#writeOwned(join(this.#dataDir, 'pg_hba.conf'), buildPgHba(this.#pgHba));
  }

  async #readConf(): Promise<Map<string, string>> {
    try {
      return parsePostgresqlConf(await readFile(join(this.#dataDir, 'postgresql.conf'), 'utf8'));
    } catch {
      return new Map();
    }
  }

  async #setStandbySignal(present: boolean): Promise<void> {
    const path = join(this.#dataDir, 'standby.signal');
    if (present) await this.#writeOwned(path, '');
    else {
      await rm(path, { force: true });
      await rm(join(this.#dataDir, 'recovery.signal'), { force: true });
    }
  }

  /** The passfile: the replication user for `upstream`, plus extra credentials (rewind source). */
  async #writePgpass(entries: ReadonlyArray<{ host: string; port: number; credentials: PostgresCredentials }>) {
    const lines = entries
      .filter((entry) => entry.credentials.password !== undefined && entry.credentials.password !== '')
      // libpq matches a passfile line per host: a multi-host upstream (`host: a,b`) needs one line each.
      .flatMap((entry) =>
        hostList(entry.host).map((host) =>
          pgpassLine({
            host,
            port: entry.port,
            user: entry.credentials.username,
            password: entry.credentials.password ?? '',
          }),
        ),
      );
    await mkdir(dirname(this.#pgpass), { recursive: true });
    await this.#writeOwned(this.#pgpass, lines.length ? `${lines.join('\n')}\n` : '');
  }

  #replicationPgpass(upstream: Upstream | null) {
    return upstream
      ? [{ host: upstream.host, port: upstream.port, credentials: this.#options.authentication.replication }]
      : [];
  }

  /** Writes the files for `role`; returns the upstream the configuration now names. */
  async #configureRole(role: 'primary' | 'replica', upstream: Upstream | null): Promise<void> {
    if (role === 'primary') {
      await this.#setStandbySignal(false);
      await this.#writeConfigFiles(null);
    } else {
      await this.#writePgpass(this.#replicationPgpass(upstream));
      await this.#writeConfigFiles(this.#standbySettings(upstream));
      await this.#setStandbySignal(true);
    }
  }

  // ---------------------------------------------------------------- postmaster

  async #postmasterPid(): Promise<number | null> {
    let text: string;
    try {
      text = await readFile(join(this.#dataDir, 'postmaster.pid'), 'utf8');
    } catch {
      return null;
    }
    const pid = parseInt(text.split('\n')[0] ?? '', 10);
    if (!Number.isInteger(pid) || pid <= 0) return null;
    try {
      process.kill(pid, 0);
    } catch (error) {
      if (errorCode(error) !== 'EPERM') return null;
    }
    // A stale pid file may name a recycled pid: on Linux check that it is a postgres process.
    try {
      const comm = (await readFile(`/proc/${pid}/comm`, 'utf8')).trim();
      // A killed postmaster not reaped yet still counts: PostgreSQL itself refuses to start while its pid is listed.
      return comm.startsWith('postgres') || comm.startsWith('postmaster') ? pid : null;
    } catch (error) {
      return errorCode(error) === 'ENOENT' && !(await this.#exists('/proc/self')) ? pid : null;
    }
  }

  /** Device and inode of global/pg_control, or null when it cannot be read. */
  async #controlFileIdentity(): Promise<string | null> {
    try {
      const info = await stat(join(this.#dataDir, 'global', 'pg_control'));
      return `${info.dev}:${info.ino}`;
    } catch {
      return null;
    }
  }

  async #controlData(): Promise<Map<string, string>> {
    const result = await this.#execOrThrow('pg_controldata', [this.#dataDir], {
      env: { LC_ALL: 'C', LANG: 'C' },
    });
    return parseControlData(result.stdout);
  }

  // ---------------------------------------------------------------- SQL

  #clientConfig(statementTimeoutMs: number | undefined) {
    const superuser = this.#options.authentication.superuser;
    return {
      host: localConnectHost(this.#options.listen.host),
      port: this.#options.listen.port,
      user: superuser.username,
      ...(superuser.password === undefined ? {} : { password: superuser.password }),
      database: this.#options.database ?? 'postgres',
      application_name: 'pgwarden',
      connectionTimeoutMillis: 3_000,
      ...(statementTimeoutMs === undefined ? {} : { statement_timeout: statementTimeoutMs }),
    };
  }

  /** The long-lived monitoring connection, reopened after any failure. */
  async #monitoringClient(): Promise<Client> {
    if (this.#client) return this.#client;
    if (this.#connecting) return this.#connecting;
    this.#connecting = (async () => {
      const client = new Client(this.#clientConfig(5_000));
      client.on('error', (error) => {
        this.#logger.log('debug', 'monitoring connection lost', { error: error.message });
        if (this.#client === client) this.#client = null;
      });
      try {
        await client.connect();
      } catch (error) {
        await client.end().catch(() => {});
        throw error;
      }
      if (this.#disposed) {
        await client.end().catch(() => {});
        throw new PgwardenError(COMPONENT, 'PG_NOT_RUNNING', 'driver disposed');
      }
      this.#client = client;
      return client;
    })();
    try {
      return await this.#connecting;
    } finally {
      this.#connecting = null;
    }
  }

  async #monitoringQuery<Row extends object>(text: string, values: unknown[] = []): Promise<Row[]> {
    const client = await this.#monitoringClient();
    try {
      return (await client.query<Row>(text, values)).rows;
    } catch (error) {
      // A failed statement leaves a usable session, a broken socket does not: reconnect next time either way.
      if (this.#client === client) this.#client = null;
      await client.end().catch(() => {});
      throw error;
    }
  }

  /** Which parameters wait for a restart and with what values; null when the server would not say. */
  async #pendingRestartReason(): Promise<PendingRestartReason | null> {
    const written = new Map<string, string>();
    for (const [name, value] of managedParameters(this.#confInput(null))) {
      written.set(name, typeof value === 'boolean' ? (value ? 'on' : 'off') : String(value));
    }
    for (const query of [PENDING_RESTART_QUERY, PENDING_RESTART_QUERY_NO_FILES]) {
      try {
        return pendingRestartReasonFrom(await this.#monitoringQuery<PendingRestartRow>(query), written);
      } catch (error) {
        this.#logger.log('debug', 'pending restart query failed', { error: String(error) });
      }
    }
    return null;
  }

  async #closeMonitoringClient(): Promise<void> {
    const client = this.#client;
    this.#client = null;
    if (client) await client.end().catch(() => {});
  }

  /** A dedicated session without statement timeout, for DDL and CHECKPOINT. */
  async #checkpointSource(source: Upstream): Promise<void> {
    const superuser = this.#options.authentication.superuser;
    const client = new Client({
      host: source.host,
      port: source.port,
      user: superuser.username,
      ...(superuser.password === undefined ? {} : { password: superuser.password }),
      database: this.#options.database ?? 'postgres',
      application_name: 'pgwarden',
      connectionTimeoutMillis: 3_000,
    });
    client.on('error', () => {});
    try {
      await client.connect();
      await client.query('CHECKPOINT');
    } catch (error) {
      // pg_rewind itself will say whether the source can be reached; a stale checkpoint is only logged.
      this.#logger.log('warn', `could not checkpoint the rewind source ${source.name}: ${String(error)}`);
    } finally {
      await client.end().catch(() => {});
    }
  }

  async #withSession<T>(work: (client: Client) => Promise<T>): Promise<T> {
    const client = new Client(this.#clientConfig(undefined));
    client.on('error', () => {});
    try {
      await client.connect();
      return await work(client);
    } catch (error) {
      if (error instanceof PgwardenError) throw error;
      throw new PgwardenError(COMPONENT, 'PG_QUERY_FAILED', `query failed: ${String(error)}`, { cause: error });
    } finally {
      await client.end().catch(() => {});
    }
  }

  // ---------------------------------------------------------------- PostgresController

  async observe(): Promise<PostgresObservation> {
    const dataDirectory = await this.#dataDirectoryState();
    let systemId: string | null = null;
    let controlState: ControlState | null = null;
    const running = dataDirectory === 'initialized' && (await this.#postmasterPid()) !== null;
    if (dataDirectory === 'initialized') {
      // While the postmaster runs, the core reads only the system id, which a data directory keeps for life:
      // pg_control's inode says whether it is still the same directory, which spares a process per cycle.
      const controlFile = running ? await this.#controlFileIdentity() : null;
      const cached = this.#runningControl;
      if (controlFile !== null && cached?.controlFile === controlFile) {
        ({ systemId, controlState } = cached);
      } else {
        try {
          const control = await this.#controlData();
          systemId = control.get('Database system identifier') ?? null;
          controlState = control.get('Database cluster state') ?? null;
          this.#runningControl = controlFile === null ? null : { controlFile, systemId, controlState };
        } catch (error) {
          this.#logger.log('debug', 'pg_controldata failed', { error: String(error) });
        }
      }
    }
    const conf = dataDirectory === 'initialized' ? await this.#readConf() : new Map<string, string>();
    const standbySignal = dataDirectory === 'initialized' && (await this.#exists(join(this.#dataDir, 'standby.signal')));
    const base: PostgresObservation = {
      dataDirectory,
      systemId,
      controlState,
      running,
      accepting: false,
      role: null,
      timeline: null,
      walPosition: null,
      receiveLsn: null,
      replayLsn: null,
      replicationState: null,
      upstream: upstreamFromConf(conf),
      standbySignal,
      postmasterStartTime: null,
      serverVersion: null,
      replication: [],
      pendingRestart: false,
      synchronousStandbyNames: null,
    };
    if (!running) {
      await this.#closeMonitoringClient();
      return base;
    }
    let row: ObserveRow | undefined;
    try {
      row = (await this.#monitoringQuery<ObserveRow>(OBSERVE_QUERY))[0];
    } catch (error) {
      this.#logger.log('debug', 'monitoring query failed', { error: String(error) });
      return base;
    }
    if (!row) return base;
    const receiveLsn = lsnOrNull(row.receive_lsn);
    const replayLsn = lsnOrNull(row.replay_lsn);
    const replica = row.in_recovery;
    const replicaPosition =
      receiveLsn === null ? replayLsn : replayLsn === null ? receiveLsn : Math.max(receiveLsn, replayLsn);
    const pendingRestartReason = row.pending_restart ? await this.#pendingRestartReason() : null;
    return {
      ...base,
      accepting: true,
      role: replica ? 'replica' : 'primary',
      timeline: replica ? (row.received_tli ?? row.checkpoint_tli) : (row.primary_tli ?? row.checkpoint_tli),
      walPosition: replica ? replicaPosition : lsnOrNull(row.current_lsn),
      receiveLsn,
      replayLsn,
      replicationState: replica ? (row.receiver_status === 'streaming' ? 'streaming' : 'in archive recovery') : null,
      postmasterStartTime: row.postmaster_start_time,
      serverVersion: row.server_version,
      replication: (row.replication ?? []).map(toReplicationRow),
      pendingRestart: row.pending_restart,
      ...(pendingRestartReason ? { pendingRestartReason } : {}),
      synchronousStandbyNames: row.synchronous_standby_names,
      replicationSlots: parseSlotRows(row.slots),
    };
  }

  async bootstrap(options: { progress?: Progress; signal?: AbortSignal }): Promise<void> {
    const progress = options.progress ?? (() => {});
    const state = await this.#dataDirectoryState();
    if (state !== 'missing' && state !== 'empty') {
      throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', `cannot bootstrap: data directory ${this.#dataDir} is ${state}`);
    }
    const { args, refused } = initdbArguments(this.#options.initdb ?? []);
    if (refused.length) this.#logger.log('warn', 'ignoring initdb options pgwarden sets itself', { refused });
    await this.#ensureDataDir();
    const superuser = this.#options.authentication.superuser;
    const passwordDir = await mkdtemp(join(tmpdir(), 'pgwarden-initdb-'));
    try {
      await this.#own(passwordDir);
      const initdbArgs = ['-D', this.#dataDir, `--username=${superuser.username}`, ...args];
      if (superuser.password) {
        const pwfile = join(passwordDir, 'pwfile');
        await this.#writeOwned(pwfile, `${superuser.password}\n`);
        initdbArgs.push(`--pwfile=${pwfile}`);
      }
      progress('running initdb');
      await this.#execOrThrow('initdb', initdbArgs, { signal: options.signal });
    } finally {
      await rm(passwordDir, { recursive: true, force: true });
    }
    await this.#writeConfigFiles(null);
    progress('starting');
    const started = await this.start({
      role: 'primary',
      timeout: this.#timeout,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!started) {
      throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', `bootstrap: the new cluster did not start: ${await this.#logTail()}`);
    }
    progress('creating roles');
    await this.#createRoles();
  }

  async #createRoles(): Promise<void> {
    const { superuser, replication, rewind } = this.#options.authentication;
    await this.#withSession(async (client) => {
      await client.query("SET log_statement TO 'none'");
      await client.query("SET synchronous_commit TO 'local'");
      const ensureRole = async (credentials: PostgresCredentials, attributes: string) => {
        const exists = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [credentials.username]);
        const password = credentials.password ? ` PASSWORD ${escapeLiteral(credentials.password)}` : '';
        const verb = exists.rowCount ? 'ALTER' : 'CREATE';
        await client.query(`${verb} ROLE ${escapeIdentifier(credentials.username)} WITH ${attributes}${password}`);
      };
      await ensureRole(superuser, 'SUPERUSER LOGIN');
      if (replication.username !== superuser.username) await ensureRole(replication, 'LOGIN REPLICATION');
      if (rewind && rewind.username !== superuser.username) {
        await ensureRole(rewind, 'LOGIN');
        const role = escapeIdentifier(rewind.username);
        for (const fn of [
          'pg_catalog.pg_ls_dir(text, boolean, boolean)',
          'pg_catalog.pg_stat_file(text, boolean)',
          'pg_catalog.pg_read_binary_file(text)',
          'pg_catalog.pg_read_binary_file(text, bigint, bigint, boolean)',
        ]) {
          await client.query(`GRANT EXECUTE ON FUNCTION ${fn} TO ${role}`);
        }
      }
    });
  }

  /** `source` null: no member to copy (no_leader methods, a restore from backup); commands get an empty --connstring. */
  async cloneFrom(source: Upstream | null, options: { progress?: Progress; signal?: AbortSignal; methods?: readonly string[] }): Promise<void> {
    const progress = options.progress ?? (() => {});
    const state = await this.#dataDirectoryState();
    if (state === 'initialized' || state === 'inaccessible') {
      throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', `cannot clone: data directory ${this.#dataDir} is ${state}`);
    }
    await this.#writePgpass(this.#replicationPgpass(source));
    const configured: readonly ReplicaMethod[] = this.#options.createReplicaMethods?.length ? this.#options.createReplicaMethods : [{ name: 'basebackup' }];
    // Methods asked for by name use their local section when there is one; otherwise the name is the command.
    const methods: readonly ReplicaMethod[] = options.methods
      ? options.methods.map(
          (name): ReplicaMethod =>
            configured.find((method) => method.name === name) ??
            (name === 'basebackup' ? { name: 'basebackup' } : { name, command: name, keepData: false, noParams: false, params: {} }),
        )
      : configured;
    let lastError: Error | null = null;
    for (const method of methods) {
      try {
        if ('command' in method) await this.#cloneWithCommand(method, source, progress, options.signal);
        else if (source === null) throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', 'pg_basebackup needs a member to copy from');
        else await this.#cloneWithBasebackup(source, method.options ?? [], progress, options.signal);
        lastError = null;
        break;
      } catch (error) {
        lastError = error instanceof Error ? error : new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', String(error));
        if (options.signal?.aborted) break;
        this.#logger.log('warn', `replica creation with ${method.name} failed`, { error: lastError.message });
      }
    }
    if (lastError !== null) throw lastError;
    await this.#emptyDirectory(join(this.#dataDir, 'pg_replslot'));
    await this.#configureRole('replica', source);
    progress('cloned', { source: source?.name ?? null });
  }

  /**
   * A user's replica method (pgBackRest, WAL-G...): the command runs as the PostgreSQL user with Patroni's
   * arguments (--scope, --role=replica, --datadir, --connstring, then the section's own keys) unless no_params.
   */
  async #cloneWithCommand(method: CommandReplicaMethod, source: Upstream | null, progress: Progress, signal: AbortSignal | undefined): Promise<void> {
    if (!method.keepData) await this.#emptyDirectory(this.#dataDir);
    await this.#ensureDataDir();
    // No source: an empty connstring, as Patroni passes to no_leader methods.
    const connstring = source ? buildConninfo({ host: source.host, port: source.port, user: this.#options.authentication.replication.username, sslmode: 'prefer' }) : '';
    const params = method.noParams
      ? []
      : Object.entries({ ...method.params, scope: this.#options.scope, role: 'replica', datadir: this.#dataDir, connstring }).map(
          ([key, value]) => `--${key}=${value}`,
        );
    progress(`running ${method.name}`, { source: source?.name ?? null });
    // sh splits the command as written (as Patroni's shlex does); our arguments pass through "$@" untouched.
    const result = await this.#exec('/bin/sh', ['-c', `${method.command} "$@"`, method.name, ...params], {
      ...(signal ? { signal } : {}),
      onLine: (line) => progress(method.name, { line }),
    });
    if (result.exitCode === 0) return;
    if (!method.keepData) await this.#emptyDirectory(this.#dataDir);
    throw this.#commandFailed(method.name, result);
  }

  async #cloneWithBasebackup(source: Upstream, userOptions: readonly string[], progress: Progress, signal: AbortSignal | undefined): Promise<void> {
    const dbname = buildConninfo({
      host: source.host,
      port: source.port,
      user: this.#options.authentication.replication.username,
      passfile: this.#pgpass,
      application_name: `pgwarden_basebackup_${this.#options.name}`,
      sslmode: 'prefer',
    });
    const args = [`--pgdata=${this.#dataDir}`, '-X', 'stream', `--dbname=${dbname}`, '--checkpoint=fast', '--progress', ...userOptions];
    const options = { signal };
    const attempts = 2;
    for (let attempt = 1; ; attempt++) {
      await this.#ensureDataDir();
      progress('running pg_basebackup', { source: source.name, attempt });
      const result = await this.#exec('pg_basebackup', args, {
        signal: options.signal,
        onLine: (line) => {
          const percent = /\((\d+)%\)/.exec(line);
          progress('pg_basebackup', { line, ...(percent ? { percent: Number(percent[1]) } : {}) });
        },
      });
      if (result.exitCode === 0) break;
      const error = this.#commandFailed('pg_basebackup', result);
      await this.#emptyDirectory(this.#dataDir);
      if (attempt >= attempts) throw error;
      this.#logger.log('warn', 'pg_basebackup failed, retrying', { error: error.message });
      await this.#clock.sleep(5_000, options.signal);
    }
  }

  async rewindFrom(
    source: Upstream,
    options: { progress?: Progress; signal?: AbortSignal },
  ): Promise<{ rewound: boolean }> {
    const progress = options.progress ?? (() => {});
    if (!this.#options.usePgRewind) {
      throw new PgwardenError(COMPONENT, 'CONFIG_INVALID', 'pg_rewind is not enabled (usePgRewind)');
    }
    if ((await this.#postmasterPid()) !== null) {
      throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', 'cannot rewind a running server: stop it first');
    }
    const controlState = (await this.#controlData()).get('Database cluster state') ?? null;
    // With a backup_label the server must replay from the backup's checkpoint: single-user mode cannot do that.
    const backupLabel = await this.#exists(join(this.#dataDir, 'backup_label'));
    if (needsCrashRecovery(controlState) && !backupLabel) {
      progress('running crash recovery in single-user mode', { controlState });
      // Single-user mode refuses standby mode; the standby configuration is written again after the rewind.
      await this.#setStandbySignal(false);
      await this.#execOrThrow(
        'postgres',
        ['--single', '-D', this.#dataDir, '-c', 'archive_mode=on', '-c', 'archive_command=false', this.#options.database ?? 'postgres'],
        { signal: options.signal },
      );
    }
    const { superuser, rewind } = this.#options.authentication;
    const credentials = rewind ?? superuser;
    await this.#writePgpass([
      { host: source.host, port: source.port, credentials },
      ...this.#replicationPgpass(source),
    ]);
    const sourceServer = buildConninfo({
      host: source.host,
      port: source.port,
      user: credentials.username,
      dbname: this.#options.database ?? 'postgres',
      passfile: this.#pgpass,
      sslmode: 'prefer',
      target_session_attrs: isMultiHost(source.host) ? 'read-write' : undefined,
    });
    // pg_rewind reads the source's timeline from its last checkpoint: right after a promotion that checkpoint
    // may still be on the old timeline, and pg_rewind would wrongly find nothing to rewind.
    progress('checkpointing the source', { source: source.name });
    await this.#checkpointSource(source);
    const args = ['-D', this.#dataDir, `--source-server=${sourceServer}`, '--progress'];
    const version = await this.#majorVersion();
    const restoreCommand = this.#parameters['restore_command'];
    if ((version ?? 0) >= 13 && restoreCommand !== undefined && String(restoreCommand) !== '') {
      args.push('--restore-target-wal');
    }
    progress('running pg_rewind', { source: source.name });
    const result = await this.#exec('pg_rewind', args, {
      signal: options.signal,
      env: { LC_MESSAGES: 'C' },
      onLine: (line) => progress('pg_rewind', { line }),
    });
    if (result.exitCode !== 0) throw this.#commandFailed('pg_rewind', result);
    const rewound = !/no rewind required/.test(`${result.stdout}\n${result.stderr}`);
    if (rewound) await this.#emptyDirectory(join(this.#dataDir, 'pg_replslot'));
    // pg_rewind copies the source's configuration files: write ours again.
    await this.#configureRole('replica', source);
    progress(rewound ? 'rewound' : 'no rewind required', { source: source.name });
    return { rewound };
  }

  async removeDataDirectory(): Promise<void> {
    if ((await this.#postmasterPid()) !== null) {
      throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', 'cannot remove the data directory of a running server');
    }
    await this.#closeMonitoringClient();
    await rm(this.#dataDir, { recursive: true, force: true });
  }

  /**
   * Renames the data directory to `<data_dir>.failed` (replacing an older one), as Patroni does after a failed
   * bootstrap: the next attempt starts from nothing while the failed one stays there to be read.
   */
  async moveDataDirectoryAside(): Promise<string | null> {
    if ((await this.#postmasterPid()) !== null) {
      throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', 'cannot move the data directory of a running server');
    }
    await this.#closeMonitoringClient();
    if (!(await this.#exists(this.#dataDir))) return null;
    const target = `${this.#dataDir.replace(/\/+$/, '')}.failed`;
    await rm(target, { recursive: true, force: true });
    await rename(this.#dataDir, target);
    return target;
  }

  async start(options: StartOptions): Promise<boolean> {
    const state = await this.#dataDirectoryState();
    if (state !== 'initialized') {
      throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', `cannot start: data directory ${this.#dataDir} is ${state}`);
    }
    if ((await this.#postmasterPid()) !== null) {
      this.#logger.log('info', 'postgres is already running');
      return true;
    }
    await this.#configureRole(options.role, options.upstream ?? null);
    const timeout = options.timeout ?? this.#timeout;
    const result = await this.#exec(
      'pg_ctl',
      [
        'start',
        '-D',
        this.#dataDir,
        '-w',
        '-t',
        String(timeout),
        '-l',
        this.#logFile,
        '-o',
        `--config-file=${shellQuote(join(this.#dataDir, 'postgresql.conf'))}`,
      ],
      { signal: options.signal, detached: true },
    );
    if (result.exitCode === 0) {
      this.#logger.log('info', 'postgres started', { role: options.role });
      return true;
    }
    this.#logger.log('warn', 'postgres did not start', {
      error: this.#commandFailed('pg_ctl start', result).message,
      log: await this.#logTail(),
    });
    return false;
  }

  async #logTail(): Promise<string> {
    try {
      return tail(await readFile(this.#logFile, 'utf8'), 10);
    } catch {
      return '';
    }
  }

  /**
   * Stops PostgreSQL with pg_ctl, waiting up to `timeout` seconds. With `killAfterTimeout` (primary_stop_timeout)
   * a stop still running then ends with SIGKILL to the postmaster: its children exit when they notice it gone.
   */
  async stop(options: { mode: StopMode; timeout?: number; killAfterTimeout?: boolean }): Promise<boolean> {
    await this.#closeMonitoringClient();
    const pid = await this.#postmasterPid();
    if (pid === null) return true;
    await this.#runBeforeStop();
    const result = await this.#exec('pg_ctl', [
      'stop',
      '-D',
      this.#dataDir,
      '-m',
      options.mode,
      '-w',
      '-t',
      String(options.timeout ?? this.#timeout),
    ]);
    if (result.exitCode === 0) return true;
    if (options.killAfterTimeout && (await this.#postmasterPid()) === pid) {
      this.#logger.log('warn', `postgres did not stop within ${options.timeout ?? this.#timeout}s: killing the postmaster`, { pid });
      return this.#killPostmaster(pid);
    }
    this.#logger.log('warn', 'postgres did not stop', { error: this.#commandFailed('pg_ctl stop', result).message });
    return (await this.#postmasterPid()) === null;
  }

  /** The user's `before_stop` script, as the PostgreSQL user; whatever becomes of it, the stop goes on. */
  async #runBeforeStop(): Promise<void> {
    const command = this.#options.beforeStop;
    if (!command) return;
    try {
      // sh splits the command as written, as Patroni's shlex does.
      const result = await this.#exec('/bin/sh', ['-c', command]);
      this.#logger.log(result.exitCode === 0 ? 'info' : 'warn', `before_stop script exited with ${result.exitCode ?? `signal ${result.signal ?? '?'}`}`, {
        command,
      });
    } catch (error) {
      this.#logger.log('error', 'before_stop script could not run', { command, error: error instanceof Error ? error.message : String(error) });
    }
  }

  /** SIGKILL to the postmaster; done once it and the children it had (which exit on its death) are gone. */
  async #killPostmaster(pid: number): Promise<boolean> {
    const children = await childProcesses(pid);
    try {
      process.kill(pid, 'SIGKILL');
    } catch (error) {
      if (errorCode(error) !== 'ESRCH') throw error;
    }
    // Until the last child is gone the shared memory stays attached, and until init reaps the dead postmaster
    // its lock files still name a live pid: either way a new postmaster would refuse to start.
    const all = [pid, ...children];
    for (let waited = 0; waited < 10_000; waited += 100) {
      if (!all.some(isListed)) return true;
      await this.#clock.sleep(100);
    }
    // Still listed after 10 s: gone only if it is an unreaped zombie.
    return !isListed(pid) || (await isZombie(pid));
  }



  async restart(options: StartOptions): Promise<boolean> {
    if (!(await this.stop({ mode: 'fast', timeout: options.timeout ?? this.#timeout }))) return false;
    return this.start(options);
  }

  async promote(options: { timeout?: number; reserveTimelines?: readonly ReservedTimeline[] }): Promise<boolean> {
    try {
      await this.#reserveTimelines(options.reserveTimelines ?? []);
    } catch (error) {
      // Promoting without the files could reuse a timeline number another branch has: try again next cycle.
      this.#logger.log('warn', 'promote failed: could not reserve timelines', { error: String(error) });
      return false;
    }
    const result = await this.#exec('pg_ctl', [
      'promote',
      '-D',
      this.#dataDir,
      '-w',
      '-t',
      String(options.timeout ?? this.#timeout),
    ]);
    if (result.exitCode !== 0) {
      this.#logger.log('warn', 'promote failed', { error: this.#commandFailed('pg_ctl promote', result).message });
      return false;
    }
    // The server removed standby.signal; drop the standby settings so the configuration says what it is.
    await this.#configureRole('primary', null);
    await this.reload();
    return true;
  }

  /**
   * Plants a history file in pg_wal for each reserved timeline the server does not have, so that PostgreSQL,
   * which takes one past the last file of an unbroken run above its timeline, promotes past all of them. An
   * existing file is never replaced: a hard link from a temporary file fails rather than overwrite.
   */
  async #reserveTimelines(reserved: readonly ReservedTimeline[]): Promise<void> {
    const written: number[] = [];
    for (const { timeline, history } of reserved) {
      const path = join(this.#dataDir, 'pg_wal', historyFileName(timeline));
      if (await this.#exists(path)) continue;
      const temporary = `${path}.pgwarden-tmp`;
      await writeFile(temporary, historyFileContent(history), { mode: 0o600 });
      try {
        await chmod(temporary, 0o600);
        await this.#own(temporary);
        await link(temporary, path);
        written.push(timeline);
      } catch (error) {
        if (errorCode(error) !== 'EEXIST') throw error;
      } finally {
        await rm(temporary, { force: true });
      }
    }
    if (written.length) this.#logger.log('info', 'reserved timelines before promoting', { timelines: written });
  }

  async follow(upstream: Upstream | null): Promise<{ changed: boolean; restarted: boolean }> {
    const running = (await this.#postmasterPid()) !== null;
    const standbySignal = await this.#exists(join(this.#dataDir, 'standby.signal'));
    if (running && !standbySignal) {
      // A running primary becomes a standby only through a restart.
      const restarted = await this.restart({ role: 'replica', upstream });
      return { changed: true, restarted };
    }
    const wanted = this.#standbySettings(upstream);
    const conf = await this.#readConf();
    const changed =
      !standbySignal ||
      (conf.get('primary_conninfo') ?? null) !== wanted.primaryConninfo ||
      (conf.get('primary_slot_name') ?? null) !== wanted.primarySlotName ||
      (wanted.restoreCommand !== undefined && conf.get('restore_command') !== wanted.restoreCommand) ||
      (wanted.recoveryMinApplyDelay !== undefined && conf.get('recovery_min_apply_delay') !== String(wanted.recoveryMinApplyDelay));
    // The passfile is rewritten anyway: a changed password must reach the walreceiver's next connection.
    await this.#configureRole('replica', upstream);
    if (!changed || !running) return { changed, restarted: false };
    if (((await this.#majorVersion()) ?? 0) >= 13) {
      await this.reload();
      return { changed, restarted: false };
    }
    const restarted = await this.restart({ role: 'replica', upstream });
    return { changed, restarted };
  }

  async reload(): Promise<void> {
    if ((await this.#postmasterPid()) === null) {
      this.#logger.log('debug', 'reload skipped: postgres is not running');
      return;
    }
    await this.#execOrThrow('pg_ctl', ['reload', '-D', this.#dataDir]);
  }

  async checkpoint(): Promise<void> {
    await this.#withSession(async (client) => {
      await client.query('CHECKPOINT');
    });
  }

  async syncReplicationSlots(names: readonly string[]): Promise<void> {
    for (const name of names) {
      if (!/^[a-z0-9_]{1,63}$/.test(name)) {
        throw new PgwardenError(COMPONENT, 'CONFIG_INVALID', `not a replication slot name: ${JSON.stringify(name)}`);
      }
    }
    const wanted = new Set(names);
    const ignored = new Set(this.#options.ignoreSlots ?? []);
    let slots: Array<{ slot_name: string; active: boolean }>;
    try {
      slots = await this.#monitoringQuery(
        "SELECT slot_name, active FROM pg_catalog.pg_replication_slots WHERE slot_type = 'physical' AND NOT temporary",
      );
    } catch (error) {
      throw new PgwardenError(COMPONENT, 'PG_QUERY_FAILED', `reading replication slots failed: ${String(error)}`, {
        cause: error,
      });
    }
    const existing = new Set(slots.map((slot) => slot.slot_name));
    try {
      for (const slot of slots) {
        if (wanted.has(slot.slot_name) || ignored.has(slot.slot_name)) continue;
        if (slot.active) {
          this.#logger.log('info', 'keeping unwanted slot while it is active', { slot: slot.slot_name });
          continue;
        }
        await this.#monitoringQuery('SELECT pg_catalog.pg_drop_replication_slot($1)', [slot.slot_name]);
        this.#logger.log('info', 'dropped replication slot', { slot: slot.slot_name });
      }
      for (const name of wanted) {
        if (existing.has(name)) continue;
        await this.#monitoringQuery('SELECT pg_catalog.pg_create_physical_replication_slot($1)', [name]);
        this.#logger.log('info', 'created replication slot', { slot: name });
      }
    } catch (error) {
      throw new PgwardenError(COMPONENT, 'PG_QUERY_FAILED', `synchronising replication slots failed: ${String(error)}`, {
        cause: error,
      });
    }
  }

  async listReplicationSlots(): Promise<ReplicationSlot[]> {
    return listSlots((database, work) => this.#sessionOn(database, work));
  }

  async changeReplicationSlots(changes: SlotChanges): Promise<SlotChangeOutcome> {
    return applySlotChanges((database, work) => this.#sessionOn(database, work), changes, this.#logger);
  }

  async copyLogicalSlots(
    source: Upstream,
    slots: readonly LogicalSlotSpec[],
    options: { upstream: Upstream | null; timeout?: number; signal?: AbortSignal },
  ): Promise<string[]> {
    // The rewind user may read files of the data directory (pg_read_binary_file), as may a superuser.
    const { superuser, rewind } = this.#options.authentication;
    const credentials = rewind ?? superuser;
    const client = new Client({
      host: source.host,
      port: source.port,
      user: credentials.username,
      ...(credentials.password === undefined ? {} : { password: credentials.password }),
      database: this.#options.database ?? 'postgres',
      application_name: 'pgwarden',
      connectionTimeoutMillis: 3_000,
    });
    client.on('error', () => {});
    let states;
    try {
      await client.connect();
      states = await readSlotStates(client, slots, this.#logger);
    } catch (error) {
      throw new PgwardenError(COMPONENT, 'PG_QUERY_FAILED', `reading logical slots on ${source.name} failed: ${String(error)}`, { cause: error });
    } finally {
      await client.end().catch(() => {});
    }
    if (!states.length) return [];
    if (!(await this.stop({ mode: 'fast', ...(options.timeout === undefined ? {} : { timeout: options.timeout }) }))) {
      throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', 'could not stop postgres to install logical slots');
    }
    await installSlotStates(this.#dataDir, states, (path) => this.#own(path));
    this.#logger.log('info', 'installed logical slots copied from the primary', { slots: states.map((state) => state.name), source: source.name });
    const started = await this.start({
      role: 'replica',
      upstream: options.upstream,
      ...(options.timeout === undefined ? {} : { timeout: options.timeout }),
      ...(options.signal ? { signal: options.signal } : {}),
    });
    if (!started) throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', 'postgres did not start after installing logical slots');
    return states.map((state) => state.name);
  }

  /** A session on `database` of the local server without statement timeout (slot creation may wait for transactions). */
  async #sessionOn<T>(database: string | null, work: (client: Client) => Promise<T>): Promise<T> {
    const config = this.#clientConfig(undefined);
    const client = new Client(database === null ? config : { ...config, database });
    client.on('error', () => {});
    try {
      await client.connect();
      return await work(client);
    } finally {
      await client.end().catch(() => {});
    }
  }

  async readTimelineHistory(timeline: number): Promise<Array<[number, number, string]>> {
    if (timeline <= 1) return [];
    const file = `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
    let text: string;
    try {
      text = await readFile(join(this.#dataDir, 'pg_wal', file), 'utf8');
    } catch (error) {
      throw new PgwardenError(COMPONENT, 'PG_COMMAND_FAILED', `cannot read timeline history ${file}: ${String(error)}`, {
        cause: error,
      });
    }
    return parseTimelineHistory(text, parseLsn);
  }

  async applySettings(settings: PostgresSettings): Promise<ApplySettingsResult> {
    const conf = await this.#readConf();
    const standby = standbyFromConf(conf, this.#parameters);
    const before = managedParameters(this.#confInput(standby));
    let parameters: Record<string, ParameterValue> = { ...(settings.parameters ?? this.#parameters) };
    const afterInput = { ...this.#confInput(standby), parameters };
    const after = managedParameters(afterInput);
    let changed = [...new Set([...before.keys(), ...after.keys()])].filter((name) => {
      const old = before.get(name);
      const next = after.get(name);
      return (old === undefined ? undefined : formatConfValue(old)) !== (next === undefined ? undefined : formatConfValue(next));
    });
    const running = (await this.#postmasterPid()) !== null;
    const rejected: string[] = [];
    const pendingRestart: string[] = [];
    if (running && changed.length) {
      try {
        const known = await this.#monitoringQuery<{ name: string; context: string }>(
          'SELECT name, context FROM pg_catalog.pg_settings WHERE name = ANY($1)',
          [changed],
        );
        const contexts = new Map(known.map((row) => [row.name, row.context]));
        for (const name of changed) {
          const context = contexts.get(name);
          // Extension parameters (with a dot) may be unknown until their library loads.
          if (context === undefined && !name.includes('.') && after.has(name)) rejected.push(name);
          else if (context === 'postmaster') pendingRestart.push(name);
        }
      } catch (error) {
        this.#logger.log('warn', 'could not check parameters against pg_settings', { error: String(error) });
      }
      if (rejected.length) {
        this.#logger.log('warn', 'ignoring parameters unknown to the server', { rejected });
        parameters = Object.fromEntries(Object.entries(parameters).filter(([name]) => !rejected.includes(name.toLowerCase())));
        changed = changed.filter((name) => !rejected.includes(name));
      }
    }
    const newHba = settings.pgHba ?? this.#pgHba;
    const hbaChanged = newHba.join('\n') !== this.#pgHba.join('\n');
    this.#parameters = parameters;
    this.#pgHba = newHba;
    if ((await this.#dataDirectoryState()) === 'initialized') {
      await this.#writeConfigFiles(standby);
      if (running && (changed.length || hbaChanged)) await this.reload();
    }
    return { changed, pendingRestart, rejected, hbaChanged };
  }

  async setSynchronousStandbyNames(value: string | null): Promise<boolean> {
    if (value === this.#synchronousStandbyNames) return true;
    this.#synchronousStandbyNames = value;
    if ((await this.#dataDirectoryState()) !== 'initialized') return true;
    const conf = await this.#readConf();
    const standby = standbyFromConf(conf, this.#parameters);
    await this.#writeConfigFiles(standby);
    if ((await this.#postmasterPid()) !== null) await this.reload();
    this.#logger.log('info', 'synchronous_standby_names set', { value: value ?? '(user setting)' });
    return true;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.#disposed = true;
    await this.#connecting?.catch(() => {});
    await this.#closeMonitoringClient();
  }
}

function upstreamFromConf(conf: ReadonlyMap<string, string>): PostgresObservation['upstream'] {
  const conninfo = conf.get('primary_conninfo');
  if (!conninfo) return null;
  try {
    const fields = parseConninfo(conninfo);
    const host = fields.get('host');
    if (host === undefined) return null;
    return {
      host,
      port: Number(fields.get('port') ?? 5432),
      applicationName: fields.get('application_name') ?? null,
    };
  } catch {
    return null;
  }
}

function toReplicationRow(raw: Record<string, unknown>): ReplicationRow {
  return {
    usename: stringOrNull(raw['usename']),
    application_name: stringOrNull(raw['application_name']) ?? '',
    client_addr: stringOrNull(raw['client_addr']),
    state: stringOrNull(raw['state']),
    sync_state: stringOrNull(raw['sync_state']),
    sync_priority: typeof raw['sync_priority'] === 'number' ? raw['sync_priority'] : null,
    write_lsn: lsnOrNull(raw['write_lsn']),
    flush_lsn: lsnOrNull(raw['flush_lsn']),
    replay_lsn: lsnOrNull(raw['replay_lsn']),
  };
}

/**
 * The standby settings a written postgresql.conf holds (null for a primary), so a parameter change keeps them,
 * a standby cluster's recovery settings included (those that differ from the user's parameters).
 */
function standbyFromConf(conf: ReadonlyMap<string, string>, parameters: Readonly<Record<string, ParameterValue>>): StandbySettings | null {
  if (!conf.has('recovery_target_timeline')) return null;
  const own = (name: string): string | undefined => {
    const value = conf.get(name);
    const user = parameters[name];
    return value !== undefined && (user === undefined || String(user) !== value) ? value : undefined;
  };
  const restoreCommand = own('restore_command');
  const archiveCleanupCommand = own('archive_cleanup_command');
  const recoveryMinApplyDelay = own('recovery_min_apply_delay');
  return {
    primaryConninfo: conf.get('primary_conninfo') ?? null,
    primarySlotName: conf.get('primary_slot_name') ?? null,
    ...(restoreCommand !== undefined ? { restoreCommand } : {}),
    ...(archiveCleanupCommand !== undefined ? { archiveCleanupCommand } : {}),
    ...(recoveryMinApplyDelay !== undefined ? { recoveryMinApplyDelay } : {}),
  };
}

/** Whether `pid` is in the process table (a zombie not yet reaped counts). */
function isListed(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errorCode(error) === 'EPERM';
  }
}

/** A process that exited but was not reaped yet (its parent is whoever adopted the daemonized postmaster). */
async function isZombie(pid: number): Promise<boolean> {
  try {
    return /^State:\s+Z/m.test(await readFile(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Pids of the processes whose parent is `pid` (read from /proc; empty where there is none). */
async function childProcesses(pid: number): Promise<number[]> {
  let entries: string[];
  try {
    entries = await readdir('/proc');
  } catch {
    return [];
  }
  const children: number[] = [];
  await Promise.all(
    entries
      .filter((entry) => /^\d+$/.test(entry))
      .map(async (entry) => {
        try {
          const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
          // Fields after the command name (which may hold spaces) start after the last ")": state, then ppid.
          const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
          if (ppid === pid) children.push(Number(entry));
        } catch {
          // exited meanwhile
        }
      }),
  );
  return children;
}

/** One entry of `create_replica_methods`: pg_basebackup (with `postgresql.basebackup` options) or a command. */
export type ReplicaMethod = BasebackupReplicaMethod | CommandReplicaMethod;

export interface BasebackupReplicaMethod {
  readonly name: 'basebackup';
  /** Extra pg_basebackup arguments, e.g. `--max-rate=100M`. */
  readonly options?: readonly string[];
}

export interface CommandReplicaMethod {
  readonly name: string;
  /** The section's `command`, or the method's name. */
  readonly command: string;
  /** `keep_data`: leave the data directory as it is before (and after a failed) run. */
  readonly keepData: boolean;
  /** `no_params`: run the command without any argument. */
  readonly noParams: boolean;
  /** The section's other keys, passed as `--key=value`. */
  readonly params: Readonly<Record<string, string>>;
}

/** The hosts of a libpq `host` value (`a,b`); one element for a single host. */
function hostList(host: string): string[] {
  const hosts = host.split(',').map((part) => part.trim()).filter((part) => part !== '');
  return hosts.length ? hosts : [host];
}

function isMultiHost(host: string): boolean {
  return hostList(host).length > 1;
}
