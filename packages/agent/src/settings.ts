/** Turns the loaded configuration into what each part takes: HA settings, driver options, DCS identity. */
import { readFileSync } from 'node:fs';
import type { HaSettings, Logger } from '@pgwarden/core';
import { PATRONI_COMPAT_VERSION, resolveDynamicConfig } from '@pgwarden/core';
import type { PgwardenConfig } from '@pgwarden/config';
import { parseHostPort, parseListen } from '@pgwarden/config';
import type { PostgresDriverOptions } from '@pgwarden/postgres-driver';

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
    useSlots: dynamic.useSlots,
    // Whether to rewind is the HA rules' decision (use_pg_rewind in the dynamic config); the driver may always.
    usePgRewind: true,
    ...(osUser ? { osUser } : {}),
    pgCtlTimeout: config.postgresql.pg_ctl_timeout,
    database: config.postgresql.database,
    logger,
    env,
  };
}
