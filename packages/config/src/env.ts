import { ENVIRONMENT_SOURCE } from './errors.js';
import type { ConfigIssue, KeyPath } from './errors.js';
import { isRecord } from './merge.js';
import type { ConfigRecord } from './merge.js';
import { parseYamlValue } from './yaml.js';

export const ENV_PREFIX = 'PATRONI_';
/** Holds a whole YAML configuration; when used, no other `PATRONI_*` variable is read. */
export const CONFIGURATION_ENV_VAR = 'PATRONI_CONFIGURATION';

/** The environment, as `process.env` types it. */
export type Environment = Readonly<Record<string, string | undefined>>;

/** The configuration the `PATRONI_*` variables describe, plus which variable set which key. */
export interface EnvironmentConfig {
  readonly config: ConfigRecord;
  readonly envVars: readonly { readonly path: KeyPath; readonly envVar: string }[];
  /** `PATRONI_ETCD(3)_USERNAME/_PASSWORD`: applied only to an etcd section that exists after merging. */
  readonly dcsAuth: readonly { readonly section: 'etcd' | 'etcd3'; readonly key: string; readonly value: string; readonly envVar: string }[];
  readonly issues: readonly ConfigIssue[];
  /** Every variable this mapping read (Patroni removes them before starting PostgreSQL). */
  readonly consumed: readonly string[];
}

/** Patroni's boolean spelling: on/true/yes/1 and off/false/no/0, any case. */
export function parseBoolean(value: string): boolean | undefined {
  const lower = value.trim().toLowerCase();
  if (['on', 'true', 'yes', '1'].includes(lower)) return true;
  if (['off', 'false', 'no', '0'].includes(lower)) return false;
  return undefined;
}

/** Integers as C's strtol with base 0 reads them (`0644` is octal, `0x1f` hex), which is what Patroni uses. */
export function parseInteger(value: string): number | undefined {
  const text = value.trim();
  const match = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(text);
  if (!match) return undefined;
  const digits = match[2] ?? '';
  const magnitude = /^0[xX]/.test(digits)
    ? Number.parseInt(digits.slice(2), 16)
    : digits.length > 1 && digits.startsWith('0')
      ? Number.parseInt(digits.slice(1), 8)
      : Number.parseInt(digits, 10);
  return match[1] === '-' ? -magnitude : magnitude;
}

/** A YAML flow list; a bare `a,b` is wrapped in brackets first, as Patroni does. */
export function parseListValue(value: string): unknown[] | undefined {
  const text = value.trim().startsWith('-') || value.includes('[') ? value : `[${value}]`;
  const parsed = parseYamlValue(text);
  return Array.isArray(parsed) ? parsed : undefined;
}

/** A YAML flow mapping; a bare `k: v, k2: v2` is wrapped in braces first, as Patroni does. */
export function parseMappingValue(value: string): ConfigRecord | undefined {
  const text = value.trim().startsWith('{') ? value : `{${value}}`;
  const parsed = parseYamlValue(text);
  return isRecord(parsed) ? parsed : undefined;
}

type ValueKind = 'string' | 'int' | 'bool' | 'list' | 'dict';

const SECTION_KEYS: Readonly<Record<string, Readonly<Record<string, ValueKind>>>> = {
  restapi: {
    listen: 'string',
    connect_address: 'string',
    certfile: 'string',
    keyfile: 'string',
    keyfile_password: 'string',
    cafile: 'string',
    ciphers: 'string',
    verify_client: 'string',
    http_extra_headers: 'dict',
    https_extra_headers: 'dict',
    allowlist: 'list',
    allowlist_include_members: 'bool',
    authenticate_reads: 'bool',
    request_queue_size: 'int',
    server_tokens: 'string',
    thread_pool_size: 'int',
  },
  ctl: { insecure: 'bool', cacert: 'string', certfile: 'string', keyfile: 'string', keyfile_password: 'string' },
  postgresql: {
    listen: 'string',
    connect_address: 'string',
    proxy_address: 'string',
    config_dir: 'string',
    data_dir: 'string',
    pgpass: 'string',
    bin_dir: 'string',
  },
  log: {
    type: 'string',
    level: 'string',
    traceback_level: 'string',
    format: 'string',
    dateformat: 'string',
    static_fields: 'dict',
    max_queue_size: 'int',
    dir: 'string',
    mode: 'int',
    file_size: 'int',
    file_num: 'int',
    loggers: 'dict',
    deduplicate_heartbeat_logs: 'bool',
  },
  raft: { data_dir: 'string', self_addr: 'string', partner_addrs: 'list', password: 'string', bind_addr: 'string' },
};

const GLOBAL_KEYS: Readonly<Record<string, ValueKind>> = {
  name: 'string',
  namespace: 'string',
  scope: 'string',
  thread_pool_size: 'int',
  thread_stack_size: 'int',
};

/** Legacy log variables: used only when the new name is not set. */
const LEGACY_LOG_VARS: readonly (readonly [string, string])[] = [
  ['LOGLEVEL', 'LOG_LEVEL'],
  ['LOGFORMAT', 'LOG_FORMAT'],
  ['LOG_DATEFMT', 'LOG_DATEFORMAT'],
];

const BINARIES = ['pg_ctl', 'initdb', 'pg_controldata', 'pg_basebackup', 'postgres', 'pg_isready', 'pg_rewind'];

const AUTH_PARAMETERS = [
  'username',
  'password',
  'sslmode',
  'sslkey',
  'sslpassword',
  'sslcert',
  'sslrootcert',
  'sslcrl',
  'sslcrldir',
  'sslnegotiation',
  'gssencmode',
  'channel_binding',
];

/** Suffixes of the generic `PATRONI_<NAME>_<SUFFIX>` rule (DCS and Citus sections) and how each value parses. */
const GENERIC_SUFFIXES: Readonly<Record<string, ValueKind>> = {
  HOST: 'string',
  HOSTS: 'list',
  PORT: 'int',
  USE_PROXIES: 'bool',
  PROTOCOL: 'string',
  SRV: 'string',
  SRV_SUFFIX: 'string',
  URL: 'string',
  PROXY: 'string',
  CACERT: 'string',
  CERT: 'string',
  KEY: 'string',
  VERIFY: 'bool',
  TOKEN: 'string',
  CHECKS: 'list',
  DC: 'string',
  CONSISTENCY: 'string',
  REGISTER_SERVICE: 'bool',
  SERVICE_CHECK_INTERVAL: 'string',
  SERVICE_CHECK_TLS_SERVER_NAME: 'string',
  SERVICE_TAGS: 'list',
  NAMESPACE: 'string',
  CONTEXT: 'string',
  USE_ENDPOINTS: 'bool',
  SCOPE_LABEL: 'string',
  ROLE_LABEL: 'string',
  POD_IP: 'string',
  PORTS: 'list',
  LABELS: 'dict',
  BYPASS_API_SERVICE: 'bool',
  RETRIABLE_HTTP_CODES: 'list',
  KEY_PASSWORD: 'string',
  // Patroni leaves USE_SSL as a string (where "false" would be truthy); parsing it as a boolean is what users mean.
  USE_SSL: 'bool',
  SET_ACLS: 'dict',
  GROUP: 'string',
  DATABASE: 'string',
  LEADER_LABEL_VALUE: 'string',
  FOLLOWER_LABEL_VALUE: 'string',
  STANDBY_LEADER_LABEL_VALUE: 'string',
  TMP_ROLE_LABEL: 'string',
  AUTH_DATA: 'dict',
  BOOTSTRAP_LABELS: 'dict',
};

const KIND_DESCRIPTIONS: Readonly<Record<ValueKind, string>> = {
  string: 'a string',
  int: 'an integer',
  bool: 'a boolean (true/false, yes/no, on/off, 1/0)',
  list: 'a YAML list such as \'a\',\'b\' or [a, b]',
  dict: 'a YAML mapping such as {k: v}',
};

function parseValue(kind: ValueKind, raw: string): { ok: true; value: unknown } | { ok: false } {
  let value: unknown;
  switch (kind) {
    case 'string':
      return { ok: true, value: raw };
    case 'int':
      value = parseInteger(raw);
      break;
    case 'bool':
      value = parseBoolean(raw);
      break;
    case 'list':
      value = parseListValue(raw);
      break;
    case 'dict':
      value = parseMappingValue(raw);
      break;
  }
  return value === undefined ? { ok: false } : { ok: true, value };
}

/**
 * Maps `PATRONI_*` variables onto configuration keys exactly as Patroni does (globals, per-section keys,
 * authentication, binaries, the generic DCS rule, legacy log names). Empty values count as unset.
 * `PATRONI_CONFIGURATION` is not handled here (see `loadConfig`).
 */
export function buildEnvironmentConfig(env: Environment): EnvironmentConfig {
  const config: ConfigRecord = {};
  const envVars: { path: KeyPath; envVar: string }[] = [];
  const dcsAuth: { section: 'etcd' | 'etcd3'; key: string; value: string; envVar: string }[] = [];
  const issues: ConfigIssue[] = [];
  const consumed = new Set<string>([CONFIGURATION_ENV_VAR]);

  const read = (name: string): string | undefined => {
    const envVar = ENV_PREFIX + name.toUpperCase();
    consumed.add(envVar);
    const value = env[envVar];
    return value === undefined || value === '' ? undefined : value;
  };

  const set = (path: KeyPath, kind: ValueKind, raw: string, envVar: string): void => {
    const parsed = parseValue(kind, raw);
    if (!parsed.ok) {
      const key = path.join('.');
      issues.push({ source: ENVIRONMENT_SOURCE, key, envVar, message: `expected ${KIND_DESCRIPTIONS[kind]}, got ${JSON.stringify(raw)}` });
      return;
    }
    let target = config;
    for (const segment of path.slice(0, -1)) {
      const next = target[segment];
      if (isRecord(next)) target = next;
      else {
        const created: ConfigRecord = {};
        target[segment] = created;
        target = created;
      }
    }
    target[String(path[path.length - 1])] = parsed.value;
    envVars.push({ path, envVar });
  };

  for (const [name, kind] of Object.entries(GLOBAL_KEYS)) {
    const value = read(name);
    if (value !== undefined) set([name], kind, value, ENV_PREFIX + name.toUpperCase());
  }

  // The modern name wins over the legacy one.
  const legacyLog = new Map<string, { value: string; envVar: string }>();
  for (const [legacy, modern] of LEGACY_LOG_VARS) {
    const value = read(legacy);
    const modernValue = env[ENV_PREFIX + modern];
    if (value !== undefined && (modernValue === undefined || modernValue === '')) {
      legacyLog.set(modern.slice('LOG_'.length).toLowerCase(), { value, envVar: ENV_PREFIX + legacy });
    }
  }

  for (const [section, keys] of Object.entries(SECTION_KEYS)) {
    for (const [key, kind] of Object.entries(keys)) {
      const envVar = `${ENV_PREFIX}${section}_${key}`.toUpperCase();
      const value = read(`${section}_${key}`);
      const legacy = section === 'log' ? legacyLog.get(key) : undefined;
      if (value !== undefined) set([section, key], kind, value, envVar);
      else if (legacy) set([section, key], kind, legacy.value, legacy.envVar);
    }
  }

  for (const binary of BINARIES) {
    const value = read(`POSTGRESQL_BIN_${binary}`);
    if (value !== undefined) set(['postgresql', 'bin_name', binary], 'string', value, `${ENV_PREFIX}POSTGRESQL_BIN_${binary.toUpperCase()}`);
  }

  for (const section of ['restapi', 'ctl']) {
    for (const parameter of ['username', 'password']) {
      const value = read(`${section}_${parameter}`);
      if (value !== undefined) set([section, 'authentication', parameter], 'string', value, `${ENV_PREFIX}${section}_${parameter}`.toUpperCase());
    }
  }
  for (const user of ['replication', 'superuser', 'rewind']) {
    for (const parameter of AUTH_PARAMETERS) {
      const value = read(`${user}_${parameter}`);
      if (value !== undefined) {
        set(['postgresql', 'authentication', user, parameter], 'string', value, `${ENV_PREFIX}${user}_${parameter}`.toUpperCase());
      }
    }
  }
  for (const section of ['etcd', 'etcd3'] as const) {
    for (const parameter of ['username', 'password']) {
      const value = read(`${section}_${parameter}`);
      if (value !== undefined) dcsAuth.push({ section, key: parameter, value, envVar: `${ENV_PREFIX}${section}_${parameter}`.toUpperCase() });
    }
  }

  for (const envVar of Object.keys(env).sort()) {
    if (!envVar.startsWith(ENV_PREFIX) || consumed.has(envVar)) continue;
    const rest = envVar.slice(ENV_PREFIX.length);
    const separator = rest.indexOf('_');
    if (separator <= 0) continue;
    const name = rest.slice(0, separator);
    const suffix = rest.slice(separator + 1);
    let kind = GENERIC_SUFFIXES[suffix];
    if (kind === undefined) continue;
    if (name === 'CITUS') {
      // Only the group and the database of the Citus section come from the environment.
      if (suffix === 'GROUP') kind = 'int';
      else if (suffix !== 'DATABASE') continue;
    }
    consumed.add(envVar);
    const value = env[envVar];
    if (value === undefined || value === '') continue;
    set([name.toLowerCase(), suffix.toLowerCase()], kind, value, envVar);
  }

  return { config, envVars, dcsAuth, issues, consumed: [...consumed].filter((name) => env[name] !== undefined) };
}
