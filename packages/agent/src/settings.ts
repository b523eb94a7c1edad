/** Turns the loaded configuration into what each part takes: HA settings, driver options, DCS identity. */
import { readFileSync } from 'node:fs';
import type { HaSettings, Logger } from '@pgwarden/core';
import { PATRONI_COMPAT_VERSION, resolveDynamicConfig } from '@pgwarden/core';
import type { PgwardenConfig } from '@pgwarden/config';
import { parseHostPort, parseListen } from '@pgwarden/config';
import type { PostgresDriverOptions, ReplicaMethod } from '@pgwarden/postgres-driver';

/** Test clusters and benchmarks may run below Patroni's ttl minimum of 20 s. */
export function allowShortTtl(env: Readonly<Record<string, string | undefined>>): boolean {
  return env['PGWARDEN_ALLOW_SHORT_TTL'] === '1';
}

export function haSettings(config: PgwardenConfig, env: Readonly<Record<string, string | undefined>>): HaSettings {
  const pgAddress = parseHostPort(config.postgresql.connect_address);
  const apiAddress = parseHostPort(config.restapi.connect_address);
  const protocol = config.restapi.certfile ? 'https' : 'http';
  const bracket = (host: string) => (host.includes(':') ? `[${host}]` : host);
  return {
    name: config.name,
    scope: config.scope,
    tags: { ...config.tags },
    connUrl: `postgres://${bracket(pgAddress.host)}:${pgAddress.port}/${config.postgresql.database}`,
    apiUrl: `${protocol}://${bracket(apiAddress.host)}:${apiAddress.port}/patroni`,
    patroniVersion: PATRONI_COMPAT_VERSION,
    bootstrapDynamicConfig: { ...config.bootstrap.dcs },
    enforceTimingMinimums: !allowShortTtl(env),
    removeDataDirectoryOnRewindFailure: config.postgresql.remove_data_directory_on_rewind_failure === true,
    removeDataDirectoryOnDivergedTimelines: config.postgresql.remove_data_directory_on_diverged_timelines === true,
    noLeaderReplicaMethods: noLeaderReplicaMethods(config),
  };
}

/** Initial timing: from bootstrap.dcs until the cluster's `config` key is read. */
export function initialTiming(config: PgwardenConfig, env: Readonly<Record<string, string | undefined>>) {
  return resolveDynamicConfig(config.bootstrap.dcs, { enforceMinimums: !allowShortTtl(env) }).timing;
}

/** Parameters PostgreSQL runs with: the cluster's dynamic ones, overridden by the local section. */
export function mergedParameters(
  dynamicParameters: Readonly<Record<string, unknown>>,
  config: PgwardenConfig,
): Record<string, string | number | boolean> {
  const merged: Record<string, string | number | boolean> = {};
  for (const [key, value] of Object.entries({ ...dynamicParameters, ...config.postgresql.parameters })) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') merged[key] = value;
  }
  return merged;
}

/** When run as root, PostgreSQL runs as this user (it refuses root): `postgres`, or PGWARDEN_POSTGRES_USER. */
export function postgresOsUser(env: Readonly<Record<string, string | undefined>>): { uid: number; gid: number } | undefined {
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return undefined;
  const wanted = env['PGWARDEN_POSTGRES_USER'] ?? 'postgres';
  const line = readFileSync('/etc/passwd', 'utf8')
    .split('\n')
    .find((entry) => entry.split(':')[0] === wanted);
  const fields = line?.split(':');
  if (!fields || fields.length < 4) {
    throw new Error(`running as root, but the user ${wanted} to run PostgreSQL as does not exist (set PGWARDEN_POSTGRES_USER)`);
  }
  return { uid: Number(fields[2]), gid: Number(fields[3]) };
}

export function driverOptions(
  config: PgwardenConfig,
  env: Readonly<Record<string, string | undefined>>,
  logger: Logger,
): PostgresDriverOptions {
  const listen = parseListen(config.postgresql.listen);
  const dynamic = resolveDynamicConfig(config.bootstrap.dcs);
  const auth = config.postgresql.authentication;
  const credentials = (user: { username: string; password?: string | undefined }) =>
    user.password === undefined ? { username: user.username } : { username: user.username, password: user.password };
  const osUser = postgresOsUser(env);
  const hba = config.postgresql.pg_hba ?? config.bootstrap.pg_hba;
  return {
    name: config.name,
    scope: config.scope,
    dataDir: config.postgresql.data_dir,
    ...(config.postgresql.bin_dir ? { binDir: config.postgresql.bin_dir } : {}),
    listen: { host: listen.hosts.join(','), port: listen.port },
    connectAddress: parseHostPort(config.postgresql.connect_address),
    authentication: {
      superuser: credentials(auth.superuser),
      replication: credentials(auth.replication),
      ...(auth.rewind ? { rewind: credentials(auth.rewind) } : {}),
    },
    parameters: mergedParameters(dynamic.parameters, config),
    ...(hba ? { pgHba: hba } : {}),
    pgpass: config.postgresql.pgpass,
    ...(config.bootstrap.initdb ? { initdb: config.bootstrap.initdb } : {}),
    createReplicaMethods: replicaMethods(config, logger),
    useSlots: dynamic.useSlots,
    // Whether to rewind is the HA rules' decision (use_pg_rewind in the dynamic config); the driver may always.
    usePgRewind: true,
    ...(osUser ? { osUser } : {}),
    pgCtlTimeout: config.postgresql.pg_ctl_timeout,
    database: config.postgresql.database,
    ...(config.postgresql.before_stop ? { beforeStop: config.postgresql.before_stop } : {}),
    logger,
    env,
  };
}

// pg_basebackup options the driver sets itself (Patroni refuses the same ones).
const RESERVED_BASEBACKUP_OPTIONS = new Set(['pgdata', 'format', 'wal-method', 'xlog-method', 'gzip', 'D', 'F', 'X', 'z']);

/** The configured replica method names: `postgresql.create_replica_methods`, the older `create_replica_method`, or basebackup. */
function replicaMethodNames(config: PgwardenConfig): readonly string[] {
  const single = (config.postgresql as Record<string, unknown>)['create_replica_method'];
  return config.postgresql.create_replica_methods ?? (typeof single === 'string' ? [single] : ['basebackup']);
}

function flagSet(value: unknown): boolean {
  return value === true || (typeof value === 'string' && /^(true|on|yes|1)$/i.test(value));
}

/** Replica methods whose section sets `no_leader`: they can create a replica with no member to copy (never basebackup). */
export function noLeaderReplicaMethods(config: PgwardenConfig): string[] {
  const postgresql = config.postgresql as Record<string, unknown>;
  return replicaMethodNames(config).filter((name) => {
    const section = postgresql[name];
    return name !== 'basebackup' && section !== null && typeof section === 'object' && flagSet((section as Record<string, unknown>)['no_leader']);
  });
}

/** `postgresql.create_replica_methods` (or the older `create_replica_method`) with each method's section. */
export function replicaMethods(config: PgwardenConfig, logger: Logger): ReplicaMethod[] {
  const postgresql = config.postgresql as Record<string, unknown>;
  const names = replicaMethodNames(config);
  return names.map((name): ReplicaMethod => {
    const section = postgresql[name];
    if (name === 'basebackup') return { name: 'basebackup', options: basebackupOptions(section, logger) };
    const options: Record<string, unknown> = section !== null && typeof section === 'object' && !Array.isArray(section) ? { ...(section as Record<string, unknown>) } : {};
    const flag = (key: string) => {
      const value = options[key];
      delete options[key];
      return flagSet(value);
    };
    const command = typeof options['command'] === 'string' ? options['command'] : name;
    delete options['command'];
    const keepData = flag('keep_data');
    const noParams = flag('no_params');
    // no_leader is the HA rules' business (noLeaderReplicaMethods): the core asks for these methods by name.
    flag('no_leader');
    const params = Object.fromEntries(Object.entries(options).map(([key, value]) => [key, typeof value === 'string' ? value : JSON.stringify(value)]));
    return { name, command, keepData, noParams, params };
  });
}

/** `postgresql.basebackup` as Patroni reads it: a list of `flag` / `{option: value}`, or a mapping. */
function basebackupOptions(section: unknown, logger: Logger): string[] {
  const pairs: Array<[string, unknown]> = [];
  if (Array.isArray(section)) {
    for (const item of section) {
      if (typeof item === 'string') pairs.push([item, true]);
      else if (item !== null && typeof item === 'object') pairs.push(...Object.entries(item as Record<string, unknown>));
    }
  } else if (section !== null && typeof section === 'object') {
    pairs.push(...Object.entries(section as Record<string, unknown>));
  }
  const args: string[] = [];
  for (const [key, value] of pairs) {
    if (RESERVED_BASEBACKUP_OPTIONS.has(key)) {
      logger.log('warn', `postgresql.basebackup: ${key} is set by pgwarden itself and is ignored`);
      continue;
    }
    args.push(value === true || value === null ? `--${key}` : `--${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  }
  return args;
}
