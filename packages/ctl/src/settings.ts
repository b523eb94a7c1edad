/**
 * What pgwardenctl needs from the configuration: the cluster name, the DCS section, and how to reach members'
 * REST APIs. Read from the agent's own YAML (`-c`), with `-d DCS://HOST:PORT/NAMESPACE` overriding the store.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import {
  CONFIGURATION_ENV_VAR,
  ConfigError,
  ENVIRONMENT_SOURCE,
  buildEnvironmentConfig,
  loadConfigWithWarnings,
  validateConfigWithWarnings,
} from '@pgwarden/config';
import type { ConfigIssue, PgwardenConfig, RestApiConfig } from '@pgwarden/config';
import { CtlError } from './errors.js';

export type CtlDcsKind = 'etcd3' | 'etcd' | 'zookeeper' | 'consul' | 'kubernetes';

export interface CtlDcsSettings {
  readonly kind: CtlDcsKind;
  /** The section as written in the YAML (validated by `@pgwarden/config` when it came from a file). */
  readonly section: Readonly<Record<string, unknown>>;
}

export interface CtlHttpSettings {
  readonly auth?: { readonly username: string; readonly password: string };
  readonly cacert?: string;
  readonly certfile?: string;
  readonly keyfile?: string;
  readonly keyfilePassword?: string;
  /** Skip TLS verification of members' certificates (`-k`, `ctl.insecure`). */
  readonly insecure: boolean;
}

export interface CtlSettings {
  /** `scope` from the file: the default cluster name. */
  readonly scope?: string;
  readonly namespace: string;
  readonly dcs: CtlDcsSettings;
  readonly http: CtlHttpSettings;
  /** `bootstrap.dcs.loop_wait` from the file, used only when the cluster's `config` key has none. */
  readonly loopWait?: number;
  /** Where the settings came from, for messages. */
  readonly source: string;
  /** Where the DCS settings came from (`-d/--dcs-url`, a file's section, PATRONI_* variables...), for messages. */
  readonly dcsOrigin: string;
}

/** patronictl's default: `patronictl.yaml` in the per-user configuration directory of `patroni`. */
export function defaultConfigFile(env: Readonly<Record<string, string | undefined>>): string {
  const base = env['XDG_CONFIG_HOME'] || join(env['HOME'] || homedir(), '.config');
  return join(base, 'patroni', 'patronictl.yaml');
}

const DCS_DEFAULT_PORTS: Readonly<Record<string, number>> = {
  zookeeper: 2181,
  exhibitor: 8181,
  consul: 8500,
  etcd: 2379,
  etcd3: 2379,
};

export interface ParsedDcsUrl {
  readonly kind: CtlDcsKind;
  readonly section: Record<string, unknown>;
  readonly namespace?: string;
}

/**
 * `DCS://HOST:PORT/NAMESPACE` as patronictl reads it: no scheme means a guess from the port (else etcd), no host
 * means localhost, no port means the store's default port, a path sets the namespace.
 */
export function parseDcsUrl(text: string): ParsedDcsUrl {
  const withSlashes = text.includes('//') ? text : `//${text}`;
  const match = /^(?:([A-Za-z][A-Za-z0-9+.-]*):)?\/\/(\[[^\]]*\]|[^:/?#]*)(?::(\d*))?(\/[^?#]*)?$/.exec(withSlashes.trim());
  if (!match) throw new CtlError(`cannot parse the DCS URL ${JSON.stringify(text)}: expected DCS://HOST:PORT/NAMESPACE`);
  const port = match[3] ? Number(match[3]) : undefined;
  let scheme = (match[1] ?? '').toLowerCase();
  if (scheme === '') scheme = Object.entries(DCS_DEFAULT_PORTS).find(([, value]) => value === port)?.[0] ?? 'etcd';
  if (!(scheme in DCS_DEFAULT_PORTS)) {
    throw new CtlError(`unknown DCS scheme ${JSON.stringify(scheme)} in ${JSON.stringify(text)}: use etcd3, etcd, zookeeper or consul`);
  }
  if (scheme === 'exhibitor') throw new CtlError('the exhibitor DCS is not supported by pgwarden: use zookeeper://HOST:PORT');
  const host = `${match[2] || 'localhost'}:${port ?? DCS_DEFAULT_PORTS[scheme]!}`;
  const kind = scheme as CtlDcsKind;
  const section: Record<string, unknown> = kind === 'zookeeper' ? { hosts: [host] } : { host };
  const path = match[4]?.trim();
  return { kind, section, ...(path && path !== '/' ? { namespace: path } : {}) };
}

export interface LoadCtlSettingsOptions {
  /** `-c`; else `PATRONICTL_CONFIG_FILE`; else the default file, which may be absent. */
  readonly configFile?: string;
  /** `-d`; else `DCS_URL`. */
  readonly dcsUrl?: string;
  readonly insecure?: boolean;
  readonly env: Readonly<Record<string, string | undefined>>;
}

// Keys only the agent needs. A file written for pgwardenctl alone (scope, a DCS section, ctl) lacks them; they are
// filled with placeholders so that everything else goes through the agent's validation unchanged.
const PLACEHOLDERS: Readonly<Record<string, unknown>> = {
  name: 'pgwardenctl',
  restapi: { listen: '127.0.0.1:8008', connect_address: '127.0.0.1:8008' },
  postgresql: {
    listen: '127.0.0.1:5432',
    connect_address: '127.0.0.1:5432',
    data_dir: '/nonexistent',
    authentication: { superuser: { username: 'postgres' }, replication: { username: 'replicator' } },
  },
};

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fillMissing(target: Record<string, unknown>, defaults: Readonly<Record<string, unknown>>): void {
  for (const [key, value] of Object.entries(defaults)) {
    const current = target[key];
    if (current === undefined || current === null) target[key] = structuredClone(value);
    else if (isRecord(current) && isRecord(value)) fillMissing(current, value);
  }
}

const DCS_SECTIONS = ['etcd3', 'etcd', 'zookeeper', 'consul', 'kubernetes', 'exhibitor', 'raft'] as const;

function isIgnorableIssue(issue: ConfigIssue): boolean {
  // patronictl falls back to etcd on localhost when no store is configured.
  if (issue.key === '' && issue.message.startsWith('one DCS section is required')) return true;
  if (issue.message !== 'is required') return false;
  // patronictl takes the cluster name as an argument when the configuration has no scope.
  return issue.key === 'name' || issue.key === 'scope' || /^(restapi|postgresql)(\.|$)/.test(issue.key);
}

/** Patroni's patch: mappings merge key by key, anything else replaces. */
function mergeInto(target: Record<string, unknown>, patch: Readonly<Record<string, unknown>>): void {
  for (const [key, value] of Object.entries(patch)) {
    const current = target[key];
    if (isRecord(current) && isRecord(value)) mergeInto(current, value);
    else target[key] = isRecord(value) ? structuredClone(value) : value;
  }
}

/** Applies the `PATRONI_*` variables over `document` as the agent does; true when any was set. */
function applyEnvironment(document: Record<string, unknown>, env: Readonly<Record<string, string | undefined>>, source: string): boolean {
  const environment = buildEnvironmentConfig(env);
  const [first, ...rest] = environment.issues;
  if (first) throw new CtlError(`invalid configuration ${source}: ${new ConfigError([first, ...rest]).message}`);
  mergeInto(document, environment.config);
  for (const { section, key, value } of environment.dcsAuth) {
    const target = document[section];
    if (isRecord(target)) target[key] = value;
  }
  return environment.envVars.length > 0;
}

interface LoadedConfig {
  readonly config: Partial<PgwardenConfig>;
  /** Where the DCS section came from, for messages. */
  readonly dcsOrigin: string;
}

/**
 * The configuration as patronictl builds it: the file (or, without one, nothing) with the `PATRONI_*` variables
 * over it, or `PATRONI_CONFIGURATION` alone. A complete agent configuration is read exactly as the agent reads it;
 * a partial one (scope and a store, say) gets placeholders for what only the agent needs.
 */
function readConfig(file: string | null, env: Readonly<Record<string, string | undefined>>, dcs: ParsedDcsUrl | undefined): LoadedConfig | null {
  const inline = text(env[CONFIGURATION_ENV_VAR]);
  const source = file ?? (inline !== undefined ? CONFIGURATION_ENV_VAR : 'the PATRONI_* environment variables');
  const dcsOriginOf = (config: Partial<PgwardenConfig>, fromEnv: ReadonlySet<string>) => {
    const kind = DCS_SECTIONS.find((section) => config[section] !== undefined);
    if (kind === undefined) return 'nowhere: no DCS section is configured';
    return fromEnv.has(kind) ? `PATRONI_${kind.toUpperCase()}_* variables` : `the ${kind} section of ${file ?? source}`;
  };
  const envSections = new Set(DCS_SECTIONS.filter((section) => inline === undefined && Object.keys(env).some((name) => name.startsWith(`PATRONI_${section.toUpperCase()}_`) && text(env[name]) !== undefined)));
  try {
    const config = loadConfigWithWarnings(file === null ? { env } : { file, env }).config;
    return { config, dcsOrigin: dcsOriginOf(config, envSections) };
  } catch (error) {
    if (!(error instanceof ConfigError) || !error.issues.every((issue) => isIgnorableIssue(issue))) {
      throw new CtlError(`invalid configuration ${source}: ${(error as Error).message}`, { cause: error });
    }
  }
  let document: Record<string, unknown> = {};
  let fromEnvironment = false;
  if (file !== null) {
    if (statSync(file).isDirectory()) {
      throw new CtlError(`invalid configuration ${file}: a directory must hold a complete agent configuration`);
    }
    const raw: unknown = parseYaml(readFileSync(file, 'utf8'));
    if (isRecord(raw)) document = raw;
    fromEnvironment = applyEnvironment(document, env, source);
  } else if (inline !== undefined) {
    const raw: unknown = parseYaml(inline);
    if (isRecord(raw)) document = raw;
    fromEnvironment = true;
  } else {
    fromEnvironment = applyEnvironment(document, env, source);
  }
  // Nothing configured at all: the caller falls back to its defaults.
  if (file === null && !fromEnvironment) return null;
  const hasScope = document['scope'] !== undefined && document['scope'] !== null;
  fillMissing(document, { ...PLACEHOLDERS, scope: 'pgwardenctl' });
  if (dcs) {
    for (const section of DCS_SECTIONS) Reflect.deleteProperty(document, section);
    document[dcs.kind] = dcs.section;
  } else if (!DCS_SECTIONS.some((section) => document[section] !== undefined)) {
    // patronictl's fallback, only when neither the file nor the environment names a store.
    document['etcd'] = { host: 'localhost:2379' };
  }
  try {
    const config: Partial<PgwardenConfig> = validateConfigWithWarnings(document, source).config;
    if (!hasScope) delete config.scope;
    return { config, dcsOrigin: dcsOriginOf(config, envSections) };
  } catch (error) {
    throw new CtlError(`invalid configuration ${source}: ${(error as Error).message}`, { cause: error });
  }
}

function pickDcs(config: Partial<PgwardenConfig>): CtlDcsSettings | undefined {
  for (const kind of ['etcd3', 'etcd', 'zookeeper', 'consul', 'kubernetes'] as const) {
    const section = config[kind];
    if (isRecord(section)) return { kind, section };
  }
  for (const kind of ['exhibitor', 'raft']) {
    if (config[kind] !== undefined) {
      throw new CtlError(`the ${kind} DCS is not supported by pgwarden: configure etcd3, zookeeper, consul or kubernetes, or pass -d`);
    }
  }
  return undefined;
}

const text = (value: unknown): string | undefined => (typeof value === 'string' && value !== '' ? value : undefined);

/** Reads the settings as patronictl does: the file (optional unless named), then `-d` over its DCS section. */
export function loadCtlSettings(options: LoadCtlSettingsOptions): CtlSettings {
  const env = options.env;
  const named = options.configFile ?? text(env['PATRONICTL_CONFIG_FILE']);
  const file = named ?? defaultConfigFile(env);
  const dcsUrlText = options.dcsUrl ?? text(env['DCS_URL']);
  const dcsUrl = dcsUrlText === undefined ? undefined : parseDcsUrl(dcsUrlText);

  let config: Partial<PgwardenConfig> = {};
  let source = 'defaults';
  let dcsOrigin = 'the default (etcd on localhost:2379; no configuration file, no PATRONI_* variables)';
  const exists = existsSync(file);
  if (!exists && named !== undefined) {
    throw new CtlError(`configuration file ${file} does not exist or cannot be read: check the -c/--config-file option`);
  }
  // Like patronictl, the PATRONI_* variables count with or without a file.
  const loaded = readConfig(exists ? file : null, env, dcsUrl);
  if (loaded) {
    config = loaded.config;
    source = exists ? file : text(env[CONFIGURATION_ENV_VAR]) !== undefined ? CONFIGURATION_ENV_VAR : ENVIRONMENT_SOURCE;
    dcsOrigin = loaded.dcsOrigin;
  }
  if (dcsUrl) dcsOrigin = options.dcsUrl !== undefined ? '-d/--dcs-url' : 'the DCS_URL variable';

  const dcs: CtlDcsSettings = dcsUrl
    ? { kind: dcsUrl.kind, section: dcsUrl.section }
    : (pickDcs(config) ?? { kind: 'etcd', section: { host: 'localhost:2379' } });
  const ctl = config.ctl ?? {};
  const restapi: Partial<RestApiConfig> = config.restapi ?? {};
  const auth = ctl.authentication ?? restapi.authentication;
  const cacert = text(ctl.cacert) ?? text(restapi.cafile);
  const certfile = text(ctl.certfile);
  const keyfile = text(ctl.keyfile);
  const keyfilePassword = text(ctl.keyfile_password);
  const loopWait = config.bootstrap?.dcs?.['loop_wait'];
  const scope = text(config.scope);
  return {
    ...(scope ? { scope } : {}),
    namespace: dcsUrl?.namespace ?? text(config.namespace) ?? '/service',
    dcs,
    http: {
      ...(auth ? { auth: { username: auth.username, password: auth.password } } : {}),
      ...(cacert ? { cacert } : {}),
      ...(certfile ? { certfile } : {}),
      ...(keyfile ? { keyfile } : {}),
      ...(keyfilePassword ? { keyfilePassword } : {}),
      insecure: options.insecure === true || ctl.insecure === true,
    },
    ...(typeof loopWait === 'number' ? { loopWait } : {}),
    source,
    dcsOrigin,
  };
}
