import { homedir } from 'node:os';
import { isAbsolute, join, resolve } from 'node:path';
import { ConfigError, formatPath } from './errors.js';
import type { ConfigIssue, ConfigWarning, KeyPath } from './errors.js';
import { formatHostPort, tryParseHostPort, tryParseListen } from './hostport.js';
import { isRecord, Origins } from './merge.js';
import type { ConfigRecord } from './merge.js';
import type { DcsKind, DcsSections, PgwardenConfig } from './types.js';

/** Patroni never lets a member use this name (it stands for "no member" in quorum bookkeeping). */
export const RESERVED_MEMBER_NAME = '__patroni_strict_sync_replica_placeholder__';

export const DCS_KINDS: readonly DcsKind[] = ['etcd3', 'etcd', 'zookeeper', 'consul', 'kubernetes', 'exhibitor', 'raft'];

const ETCD_DEFAULT_PORT = 2379;
const ZOOKEEPER_DEFAULT_PORT = 2181;
const CONSUL_DEFAULT_PORT = 8500;

const KNOWN_TOP_LEVEL = new Set<string>([
  'scope',
  'namespace',
  'name',
  'thread_pool_size',
  'thread_stack_size',
  'restapi',
  'ctl',
  'log',
  'watchdog',
  'tags',
  'citus',
  'bootstrap',
  'postgresql',
  ...DCS_KINDS,
]);

const DYNAMIC_ONLY_TOP_LEVEL = new Set<string>([
  'ttl',
  'loop_wait',
  'retry_timeout',
  'maximum_lag_on_failover',
  'maximum_lag_on_syncnode',
  'max_timelines_history',
  'primary_start_timeout',
  'primary_stop_timeout',
  'master_start_timeout',
  'master_stop_timeout',
  'check_timeline',
  'synchronous_mode',
  'synchronous_mode_strict',
  'synchronous_node_count',
  'failsafe_mode',
  'member_slots_ttl',
  'slots',
  'ignore_slots',
  'standby_cluster',
  'pause',
]);

const LOCAL_ONLY_POSTGRESQL = ['connect_address', 'proxy_address', 'listen', 'config_dir', 'data_dir', 'pgpass', 'authentication'];

const AUTH_STRING_KEYS = [
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

const CALLBACKS = ['on_start', 'on_stop', 'on_restart', 'on_reload', 'on_role_change'];
const ROLE_SUFFIXES = ['primary', 'replica', 'standby_leader'];

export interface ValidateOptions {
  /** Home directory for the default `postgresql.pgpass`; default `os.homedir()`. */
  readonly homeDir?: string;
  /** Which source set which key (for messages); by default every key comes from `source`. */
  readonly origins?: Origins;
}

export interface ValidationResult {
  readonly config: PgwardenConfig;
  readonly warnings: readonly ConfigWarning[];
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return `a date (${value.toISOString()})`;
  if (isRecord(value)) return 'a mapping';
  return typeof value;
}

class Checker {
  readonly issues: ConfigIssue[] = [];
  readonly warnings: ConfigWarning[] = [];

  constructor(private readonly origins: Origins) {}

  private entry(path: KeyPath, message: string): ConfigIssue {
    const { source, envVar } = this.origins.lookup(path);
    return envVar === undefined
      ? { source, key: formatPath(path), message }
      : { source, key: formatPath(path), message, envVar };
  }

  fail(path: KeyPath, message: string): undefined {
    this.issues.push(this.entry(path, message));
    return undefined;
  }

  expected(path: KeyPath, what: string, value: unknown): undefined {
    return this.fail(path, `expected ${what}, got ${describe(value)}`);
  }

  warn(path: KeyPath, message: string): void {
    this.warnings.push(this.entry(path, message));
  }
}

type Reader<T> = (c: Checker, value: unknown, path: KeyPath) => T | undefined;

interface TakeOptions<T> {
  readonly required?: boolean;
  readonly fallback?: T;
}

/**
 * Reads `record[key]` with `read`, writing the checked value (or the fallback) into `out`.
 * A YAML null counts as absent, as it does for Patroni.
 */
function take<T>(
  c: Checker,
  record: ConfigRecord,
  out: ConfigRecord,
  key: string,
  path: KeyPath,
  read: Reader<T>,
  options: TakeOptions<T> = {},
): T | undefined {
  const value = record[key];
  const keyPath = [...path, key];
  if (value === undefined || value === null) {
    Reflect.deleteProperty(out, key);
    if (options.fallback !== undefined) {
      out[key] = options.fallback;
      return options.fallback;
    }
    if (options.required === true) c.fail(keyPath, 'is required');
    return undefined;
  }
  const checked = read(c, value, keyPath);
  if (checked !== undefined) out[key] = checked;
  return checked;
}

const anyValue: Reader<unknown> = (_c, value) => value;

const string: Reader<string> = (c, value, path) =>
  typeof value === 'string' ? value : c.expected(path, 'a string', value);

const nonEmptyString: Reader<string> = (c, value, path) => {
  const text = string(c, value, path);
  if (text !== undefined && text.trim() === '') return c.fail(path, 'must not be empty');
  return text;
};

/** Usernames and passwords: YAML turns `password: 1234` into a number, which Patroni then uses as text. */
const credential: Reader<string> = (c, value, path) =>
  typeof value === 'number' ? String(value) : string(c, value, path);

function integer(min?: number): Reader<number> {
  return (c, value, path) => {
    if (typeof value !== 'number' || !Number.isInteger(value)) return c.expected(path, 'an integer', value);
    if (min !== undefined && value < min) return c.fail(path, `must be at least ${min}, got ${value}`);
    return value;
  };
}

const boolean: Reader<boolean> = (c, value, path) =>
  typeof value === 'boolean' ? value : c.expected(path, 'a boolean (true or false)', value);

/** Tags: Patroni's documentation writes them as booleans, but strings "true"/"false" are common in the wild. */
const booleanish: Reader<boolean> = (c, value, path) => {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const lower = value.trim().toLowerCase();
    if (lower === 'true') return true;
    if (lower === 'false') return false;
  }
  return c.expected(path, 'true or false', value);
};

function oneOf<const T extends string>(values: readonly T[], aliases: Readonly<Record<string, T>> = {}, caseInsensitive = false): Reader<T> {
  return (c, value, path) => {
    if (typeof value === 'string') {
      const key = caseInsensitive ? value.toLowerCase() : value;
      const match = values.find((candidate) => (caseInsensitive ? candidate.toLowerCase() : candidate) === key) ?? aliases[key];
      if (match !== undefined) return match;
    }
    return c.expected(path, `one of ${values.map((v) => JSON.stringify(v)).join(', ')}`, value);
  };
}

const mapping: Reader<ConfigRecord> = (c, value, path) => (isRecord(value) ? value : c.expected(path, 'a mapping', value));

const stringList: Reader<string[]> = (c, value, path) => {
  if (!Array.isArray(value)) return c.expected(path, 'a list of strings', value);
  let ok = true;
  value.forEach((item: unknown, index) => {
    if (typeof item !== 'string') ok = c.expected([...path, index], 'a string', item) ?? false;
  });
  return ok ? (value as string[]) : undefined;
};

const stringMap: Reader<Record<string, string>> = (c, value, path) => {
  const record = mapping(c, value, path);
  if (!record) return undefined;
  let ok = true;
  for (const [key, item] of Object.entries(record)) {
    if (typeof item !== 'string' && typeof item !== 'number') ok = c.expected([...path, key], 'a string', item) ?? false;
  }
  return ok ? Object.fromEntries(Object.entries(record).map(([key, item]) => [key, String(item)])) : undefined;
};

const parameters: Reader<Record<string, string | number | boolean>> = (c, value, path) => {
  const record = mapping(c, value, path);
  if (!record) return undefined;
  let ok = true;
  for (const [key, item] of Object.entries(record)) {
    if (item === null) continue;
    if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') {
      ok = c.expected([...path, key], 'a string, number or boolean', item) ?? false;
    }
  }
  // A null parameter means "not set": drop it rather than write an empty GUC.
  return ok ? (Object.fromEntries(Object.entries(record).filter(([, item]) => item !== null)) as Record<string, string | number | boolean>) : undefined;
};

/** `host:port` a peer can connect to: a concrete host and a port. */
const connectAddress: Reader<string> = (c, value, path) => {
  const text = string(c, value, path);
  if (text === undefined) return undefined;
  const parsed = tryParseHostPort(text);
  if (!parsed || parsed.host === '') return c.fail(path, `expected "host:port", got ${JSON.stringify(text)}`);
  if (['*', '0.0.0.0', '::'].includes(parsed.host)) {
    return c.fail(path, `must name a host others can connect to, not the wildcard ${JSON.stringify(parsed.host)}`);
  }
  return text;
};

/** `host:port` to bind; an empty host or a wildcard means every interface. */
const bindAddress: Reader<string> = (c, value, path) => {
  const text = string(c, value, path);
  if (text === undefined) return undefined;
  return tryParseHostPort(text) ? text : c.fail(path, `expected "host:port", got ${JSON.stringify(text)}`);
};

const listenAddresses: Reader<string> = (c, value, path) => {
  const text = string(c, value, path);
  if (text === undefined) return undefined;
  return tryParseListen(text) ? text : c.fail(path, `expected "addr[,addr]:port", got ${JSON.stringify(text)}`);
};

function etcdHost(c: Checker, value: string, path: KeyPath): string | undefined {
  const parsed = tryParseHostPort(value, ETCD_DEFAULT_PORT);
  if (!parsed || parsed.host === '') return c.fail(path, `expected "host[:port]", got ${JSON.stringify(value)}`);
  return formatHostPort(parsed.host, parsed.port);
}

/** `host[:port]` checked against a default port but kept as written (trimmed): what the plugin is given. */
function hostText(defaultPort: number): (c: Checker, value: string, path: KeyPath) => string | undefined {
  return (c, value, path) => {
    const parsed = tryParseHostPort(value, defaultPort);
    if (!parsed || parsed.host === '') return c.fail(path, `expected "host[:port]", got ${JSON.stringify(value)}`);
    return value;
  };
}

/** A list of hosts or a comma-separated string (Patroni takes both), each read with `host`. */
function hostList(host: (c: Checker, value: string, path: KeyPath) => string | undefined): Reader<string[]> {
  return (c, value, path) => {
    let items: unknown[];
    if (typeof value === 'string') items = value.split(',').map((item) => item.trim()).filter((item) => item !== '');
    else if (Array.isArray(value)) items = value;
    else return c.expected(path, 'a list of "host:port" or a comma-separated string', value);
    if (items.length === 0) return c.fail(path, 'must name at least one host');
    const hosts: string[] = [];
    let ok = true;
    items.forEach((item, index) => {
      const itemPath = typeof value === 'string' ? path : [...path, index];
      const checked = typeof item === 'string' ? host(c, item.trim(), itemPath) : c.expected(itemPath, 'a "host:port" string', item);
      if (checked === undefined) ok = false;
      else hosts.push(checked);
    });
    return ok ? hosts : undefined;
  };
}

const etcdHosts = hostList(etcdHost);

/** A list of strings, or a comma-separated string (items trimmed, empty ones dropped). */
const commaList: Reader<string[]> = (c, value, path) =>
  typeof value === 'string'
    ? value
        .split(',')
        .map((item) => item.trim())
        .filter((item) => item !== '')
    : stringList(c, value, path);

const tcpPort: Reader<number> = (c, value, path) => {
  const port = integer(1)(c, value, path);
  if (port !== undefined && port > 65_535) return c.fail(path, `must be at most 65535, got ${port}`);
  return port;
};

const httpUrl: Reader<string> = (c, value, path) => {
  const text = string(c, value, path);
  if (text === undefined) return undefined;
  let protocol: string | undefined;
  try {
    protocol = new URL(text).protocol;
  } catch {
    protocol = undefined;
  }
  return protocol === 'http:' || protocol === 'https:' ? text : c.fail(path, `expected an http(s) URL, got ${JSON.stringify(text)}`);
};

/** Kubernetes label values are strings; YAML turns `version: 15` or `enabled: true` into other scalars. */
const labelMap: Reader<Record<string, string>> = (c, value, path) => {
  const record = mapping(c, value, path);
  if (!record) return undefined;
  let ok = true;
  for (const [key, item] of Object.entries(record)) {
    if (typeof item !== 'string' && typeof item !== 'number' && typeof item !== 'boolean') ok = c.expected([...path, key], 'a string', item) ?? false;
  }
  return ok ? Object.fromEntries(Object.entries(record).map(([key, item]) => [key, String(item)])) : undefined;
};

/** Mapping of scheme (or name) to a credential. */
const credentialMap: Reader<Record<string, string>> = (c, value, path) => {
  const record = mapping(c, value, path);
  if (!record) return undefined;
  const result: Record<string, string> = {};
  let ok = true;
  for (const [key, item] of Object.entries(record)) {
    const checked = credential(c, item, [...path, key]);
    if (checked === undefined) ok = false;
    else result[key] = checked;
  }
  return ok ? result : undefined;
};

const ZOOKEEPER_PERMISSIONS = ['CREATE', 'READ', 'WRITE', 'DELETE', 'ADMIN', 'ALL'] as const;

const zookeeperAcls: Reader<Record<string, (typeof ZOOKEEPER_PERMISSIONS)[number][]>> = (c, value, path) => {
  const record = mapping(c, value, path);
  if (!record) return undefined;
  const permission = oneOf(ZOOKEEPER_PERMISSIONS, {}, true);
  const result: Record<string, (typeof ZOOKEEPER_PERMISSIONS)[number][]> = {};
  let ok = true;
  for (const [principal, item] of Object.entries(record)) {
    const itemPath = [...path, principal];
    if (!Array.isArray(item)) {
      ok = c.expected(itemPath, `a list of permissions (${ZOOKEEPER_PERMISSIONS.join(', ')})`, item) ?? false;
      continue;
    }
    const permissions: (typeof ZOOKEEPER_PERMISSIONS)[number][] = [];
    item.forEach((entry: unknown, index) => {
      const checked = permission(c, entry, [...itemPath, index]);
      if (checked === undefined) ok = false;
      else permissions.push(checked);
    });
    result[principal] = permissions;
  }
  return ok ? result : undefined;
};

const kubernetesPorts: Reader<ConfigRecord[]> = (c, value, path) => {
  if (!Array.isArray(value)) return c.expected(path, 'a list of {name, port} mappings', value);
  const ports: ConfigRecord[] = [];
  let ok = true;
  value.forEach((item: unknown, index) => {
    const itemPath = [...path, index];
    const raw = mapping(c, item, itemPath);
    if (!raw) {
      ok = false;
      return;
    }
    const out: ConfigRecord = { ...raw };
    const before = c.issues.length;
    take(c, raw, out, 'name', itemPath, nonEmptyString);
    take(c, raw, out, 'port', itemPath, tcpPort, { required: true });
    if (c.issues.length > before) ok = false;
    else ports.push(out);
  });
  return ok ? ports : undefined;
};

const httpCodes: Reader<number[]> = (c, value, path) => {
  const items: unknown[] = Array.isArray(value) ? value : [value];
  const codes: number[] = [];
  let ok = true;
  items.forEach((item, index) => {
    const itemPath = Array.isArray(value) ? [...path, index] : path;
    const code = typeof item === 'number' && Number.isInteger(item) && item >= 100 && item <= 599 ? item : c.expected(itemPath, 'an HTTP status code', item);
    if (code === undefined) ok = false;
    else codes.push(code);
  });
  return ok ? codes : undefined;
};

function section(c: Checker, root: ConfigRecord, key: string, path: KeyPath, required = false): { raw: ConfigRecord; out: ConfigRecord } | undefined {
  const value = root[key];
  const keyPath = [...path, key];
  if (value === undefined || value === null) {
    if (required) c.fail(keyPath, 'is required');
    return undefined;
  }
  const raw = mapping(c, value, keyPath);
  return raw && { raw, out: { ...raw } };
}

function httpAuthentication(c: Checker, parent: ConfigRecord, out: ConfigRecord, path: KeyPath): void {
  const auth = section(c, parent, 'authentication', path);
  if (!auth) {
    Reflect.deleteProperty(out, 'authentication');
    return;
  }
  const authPath = [...path, 'authentication'];
  take(c, auth.raw, auth.out, 'username', authPath, credential, { required: true });
  take(c, auth.raw, auth.out, 'password', authPath, credential, { required: true });
  out['authentication'] = auth.out;
}

function checkRestApi(c: Checker, root: ConfigRecord, out: ConfigRecord): void {
  const restapi = section(c, root, 'restapi', [], true);
  if (!restapi) return;
  const { raw, out: result } = restapi;
  const path = ['restapi'];
  take(c, raw, result, 'listen', path, bindAddress, { required: true });
  take(c, raw, result, 'connect_address', path, connectAddress, { required: true });
  httpAuthentication(c, raw, result, path);
  for (const key of ['certfile', 'keyfile', 'cafile', 'ciphers']) take(c, raw, result, key, path, string);
  take(c, raw, result, 'keyfile_password', path, credential);
  take(c, raw, result, 'verify_client', path, oneOf(['none', 'optional', 'required']));
  take(c, raw, result, 'allowlist', path, stringList);
  take(c, raw, result, 'allowlist_include_members', path, boolean);
  take(c, raw, result, 'authenticate_reads', path, boolean);
  // Without credentials, a client certificate or an allowlist there is nothing to check reads against.
  if (
    result['authenticate_reads'] === true &&
    result['authentication'] === undefined &&
    result['allowlist'] === undefined &&
    result['allowlist_include_members'] !== true &&
    result['verify_client'] === undefined
  ) {
    c.fail([...path, 'authenticate_reads'], 'needs restapi.authentication, allowlist or verify_client to check reads against');
  }
  take(c, raw, result, 'http_extra_headers', path, stringMap);
  take(c, raw, result, 'https_extra_headers', path, stringMap);
  take(c, raw, result, 'request_queue_size', path, integer(0));
  take(c, raw, result, 'server_tokens', path, oneOf(['original', 'productonly', 'minimal'], {}, true));
  take(c, raw, result, 'thread_pool_size', path, integer(1));
  if (result['keyfile'] !== undefined && result['certfile'] === undefined) c.fail([...path, 'certfile'], 'is required when restapi.keyfile is set');
  out['restapi'] = result;
}

function checkCtl(c: Checker, root: ConfigRecord, out: ConfigRecord): void {
  const ctl = section(c, root, 'ctl', []);
  if (!ctl) return;
  const path = ['ctl'];
  httpAuthentication(c, ctl.raw, ctl.out, path);
  take(c, ctl.raw, ctl.out, 'insecure', path, boolean);
  for (const key of ['cacert', 'certfile', 'keyfile']) take(c, ctl.raw, ctl.out, key, path, string);
  take(c, ctl.raw, ctl.out, 'keyfile_password', path, credential);
  out['ctl'] = ctl.out;
}

function checkLog(c: Checker, root: ConfigRecord, out: ConfigRecord): void {
  const log = section(c, root, 'log', []) ?? { raw: {}, out: {} };
  const path = ['log'];
  const { raw, out: result } = log;
  take(c, raw, result, 'level', path, oneOf(['DEBUG', 'INFO', 'WARNING', 'ERROR', 'CRITICAL'], { warn: 'WARNING', fatal: 'CRITICAL' }, true), {
    fallback: 'INFO',
  });
  take(c, raw, result, 'type', path, oneOf(['plain', 'json']), { fallback: 'plain' });
  take(c, raw, result, 'traceback_level', path, oneOf(['DEBUG', 'ERROR'], {}, true));
  take(c, raw, result, 'format', path, anyValue);
  take(c, raw, result, 'dateformat', path, string);
  take(c, raw, result, 'static_fields', path, mapping);
  take(c, raw, result, 'max_queue_size', path, integer(1));
  take(c, raw, result, 'dir', path, string);
  take(c, raw, result, 'file_num', path, integer(1));
  take(c, raw, result, 'file_size', path, integer(1));
  take(c, raw, result, 'mode', path, integer(0));
  take(c, raw, result, 'loggers', path, stringMap);
  take(c, raw, result, 'deduplicate_heartbeat_logs', path, boolean);
  out['log'] = result;
}

const watchdogMode: Reader<'off' | 'automatic' | 'required'> = (c, value, path) => {
  // YAML 1.1 reads `mode: off` as false.
  if (value === false) return 'off';
  return oneOf(['off', 'automatic', 'required'], { disable: 'off', auto: 'automatic', require: 'required' }, true)(c, value, path);
};

function checkWatchdog(c: Checker, root: ConfigRecord, out: ConfigRecord): void {
  const path = ['watchdog'];
  const watchdog = section(c, root, 'watchdog', []) ?? { raw: {}, out: {} };
  const { raw, out: result } = watchdog;
  take(c, raw, result, 'mode', path, watchdogMode, { fallback: 'automatic' });
  take(c, raw, result, 'device', path, nonEmptyString, { fallback: '/dev/watchdog' });
  take(c, raw, result, 'safety_margin', path, integer(-1), { fallback: 5 });
  out['watchdog'] = result;
}

function checkTags(c: Checker, root: ConfigRecord, out: ConfigRecord): void {
  const path = ['tags'];
  const tags = section(c, root, 'tags', []) ?? { raw: {}, out: {} };
  const { raw, out: result } = tags;
  for (const key of ['nofailover', 'noloadbalance', 'clonefrom', 'nosync', 'nostream']) take(c, raw, result, key, path, booleanish);
  take(c, raw, result, 'failover_priority', path, integer(0));
  take(c, raw, result, 'sync_priority', path, integer(0));
  take(c, raw, result, 'replicatefrom', path, nonEmptyString);
  if (result['nofailover'] === true && typeof result['failover_priority'] === 'number' && result['failover_priority'] > 0) {
    c.warn([...path, 'failover_priority'], 'is ignored because tags.nofailover is true');
  }
  if (result['nosync'] === true && typeof result['sync_priority'] === 'number' && result['sync_priority'] > 0) {
    c.warn([...path, 'sync_priority'], 'is ignored because tags.nosync is true');
  }
  out['tags'] = result;
}

function checkCitus(c: Checker, root: ConfigRecord, out: ConfigRecord): void {
  const citus = section(c, root, 'citus', []);
  if (!citus) return;
  const path = ['citus'];
  take(c, citus.raw, citus.out, 'group', path, integer(0), { required: true });
  take(c, citus.raw, citus.out, 'database', path, nonEmptyString, { required: true });
  out['citus'] = citus.out;
}

const initdbOptions: Reader<unknown[]> = (c, value, path) => {
  if (!Array.isArray(value)) return c.expected(path, 'a list of flags or single-key mappings', value);
  let ok = true;
  value.forEach((item: unknown, index) => {
    const itemPath = [...path, index];
    if (typeof item === 'string') return;
    if (isRecord(item)) {
      const entries = Object.entries(item);
      const [entry] = entries;
      if (entries.length !== 1 || !entry) {
        ok = c.fail(itemPath, `expected a single-key mapping, got ${entries.length} keys`) ?? false;
      } else if (!['string', 'number', 'boolean'].includes(typeof entry[1])) {
        ok = c.expected([...itemPath, entry[0]], 'a string, number or boolean', entry[1]) ?? false;
      }
      return;
    }
    ok = c.expected(itemPath, 'a flag or a single-key mapping', item) ?? false;
  });
  return ok ? value : undefined;
};

const synchronousMode: Reader<boolean | 'on' | 'off' | 'quorum'> = (c, value, path) =>
  typeof value === 'boolean' ? value : oneOf(['on', 'off', 'quorum'], {}, true)(c, value, path);

const memberSlotsTtl: Reader<number | string> = (c, value, path) => {
  if (typeof value === 'number') return integer(0)(c, value, path);
  if (typeof value === 'string' && /^\s*\d+\s*(ms|s|min|h|d)?\s*$/.test(value)) return value;
  return c.expected(path, 'an integer (seconds) or a duration such as "30min"', value);
};

const slotsMap: Reader<ConfigRecord> = (c, value, path) => {
  const record = mapping(c, value, path);
  if (!record) return undefined;
  let ok = true;
  for (const [name, slot] of Object.entries(record)) {
    if (slot === null || typeof slot === 'string') continue; // a bare value means a physical slot
    const slotPath = [...path, name];
    if (!isRecord(slot)) {
      ok = c.expected(slotPath, 'a mapping with type physical or logical', slot) ?? false;
      continue;
    }
    const type = slot['type'] ?? 'physical';
    if (type !== 'physical' && type !== 'logical') ok = c.expected([...slotPath, 'type'], '"physical" or "logical"', type) ?? false;
    if (type === 'logical') {
      if (typeof slot['database'] !== 'string') ok = c.expected([...slotPath, 'database'], 'a string (required for a logical slot)', slot['database']) ?? false;
      if (typeof slot['plugin'] !== 'string') ok = c.expected([...slotPath, 'plugin'], 'a string (required for a logical slot)', slot['plugin']) ?? false;
    }
  }
  return ok ? record : undefined;
};

const mappingList: Reader<ConfigRecord[]> = (c, value, path) => {
  if (!Array.isArray(value)) return c.expected(path, 'a list of mappings', value);
  let ok = true;
  value.forEach((item: unknown, index) => {
    if (!isRecord(item)) ok = c.expected([...path, index], 'a mapping', item) ?? false;
  });
  return ok ? (value as ConfigRecord[]) : undefined;
};

/** Checks a dynamic configuration mapping (`bootstrap.dcs`, or the DCS `/config`) and returns its checked copy. */
function checkDynamic(c: Checker, raw: ConfigRecord, path: KeyPath): ConfigRecord {
  const out: ConfigRecord = { ...raw };
  for (const key of ['ttl', 'loop_wait', 'retry_timeout']) take(c, raw, out, key, path, integer(1));
  take(c, raw, out, 'maximum_lag_on_failover', path, integer(0));
  take(c, raw, out, 'maximum_lag_on_syncnode', path, integer(-1));
  take(c, raw, out, 'max_timelines_history', path, integer(0));
  for (const key of ['primary_start_timeout', 'primary_stop_timeout', 'master_start_timeout', 'master_stop_timeout', 'primary_race_backoff']) {
    take(c, raw, out, key, path, integer(0));
  }
  for (const key of ['check_timeline', 'synchronous_mode_strict', 'failsafe_mode', 'pause']) take(c, raw, out, key, path, boolean);
  take(c, raw, out, 'synchronous_mode', path, synchronousMode);
  take(c, raw, out, 'synchronous_node_count', path, integer(1));
  take(c, raw, out, 'member_slots_ttl', path, memberSlotsTtl);
  for (const key of ['slots', 'permanent_slots', 'permanent_replication_slots']) take(c, raw, out, key, path, slotsMap);
  take(c, raw, out, 'ignore_slots', path, mappingList);
  take(c, raw, out, 'standby_cluster', path, mapping);
  const postgresql = section(c, raw, 'postgresql', path);
  if (postgresql) {
    const pgPath = [...path, 'postgresql'];
    take(c, postgresql.raw, postgresql.out, 'parameters', pgPath, parameters);
    take(c, postgresql.raw, postgresql.out, 'use_pg_rewind', pgPath, boolean);
    take(c, postgresql.raw, postgresql.out, 'use_slots', pgPath, boolean);
    take(c, postgresql.raw, postgresql.out, 'pg_hba', pgPath, stringList);
    take(c, postgresql.raw, postgresql.out, 'pg_ident', pgPath, stringList);
    for (const role of ROLE_SUFFIXES) {
      take(c, postgresql.raw, postgresql.out, `parameters_${role}`, pgPath, parameters);
      take(c, postgresql.raw, postgresql.out, `pg_hba_${role}`, pgPath, stringList);
    }
    for (const key of LOCAL_ONLY_POSTGRESQL) {
      if (postgresql.raw[key] !== undefined) c.warn([...pgPath, key], 'is local configuration and is ignored in dynamic configuration');
    }
    out['postgresql'] = postgresql.out;
  }
  return out;
}

function checkBootstrap(c: Checker, root: ConfigRecord, out: ConfigRecord): void {
  const path = ['bootstrap'];
  const bootstrap = section(c, root, 'bootstrap', []) ?? { raw: {}, out: {} };
  const { raw, out: result } = bootstrap;
  const dcs = section(c, raw, 'dcs', path);
  result['dcs'] = dcs ? checkDynamic(c, dcs.raw, [...path, 'dcs']) : {};
  const method = take(c, raw, result, 'method', path, nonEmptyString);
  take(c, raw, result, 'initdb', path, initdbOptions);
  take(c, raw, result, 'pg_hba', path, stringList);
  take(c, raw, result, 'post_bootstrap', path, string);
  take(c, raw, result, 'post_init', path, string);
  if (raw['users'] !== undefined) {
    c.fail([...path, 'users'], 'is no longer supported (removed in Patroni 4.0): create users in a post_bootstrap script');
  }
  if (method !== undefined && method !== 'initdb') {
    const custom = section(c, raw, method, path, true);
    if (custom) {
      take(c, custom.raw, custom.out, 'command', [...path, method], nonEmptyString, { required: true });
      result[method] = custom.out;
    }
  }
  out['bootstrap'] = result;
}

function checkPostgresUser(c: Checker, parent: ConfigRecord, out: ConfigRecord, user: string, path: KeyPath, required: boolean): void {
  const entry = section(c, parent, user, path, required);
  if (!entry) return;
  const userPath = [...path, user];
  const result: ConfigRecord = {};
  take(c, entry.raw, result, 'username', userPath, credential, { required: true });
  take(c, entry.raw, result, 'password', userPath, credential);
  for (const key of AUTH_STRING_KEYS) take(c, entry.raw, result, key, userPath, string);
  for (const key of Object.keys(entry.raw)) {
    if (!(key in result) && !['username', 'password', ...AUTH_STRING_KEYS].includes(key)) {
      c.warn([...userPath, key], 'is not a connection parameter Patroni passes on; ignored');
    }
  }
  out[user] = result;
}

function checkPostgresql(c: Checker, root: ConfigRecord, out: ConfigRecord, homeDir: string): void {
  const postgresql = section(c, root, 'postgresql', [], true);
  if (!postgresql) return;
  const { raw, out: result } = postgresql;
  const path = ['postgresql'];
  take(c, raw, result, 'listen', path, listenAddresses, { required: true });
  take(c, raw, result, 'connect_address', path, connectAddress, { required: true });
  take(c, raw, result, 'proxy_address', path, connectAddress);
  take(c, raw, result, 'data_dir', path, nonEmptyString, { required: true });
  take(c, raw, result, 'config_dir', path, nonEmptyString);
  take(c, raw, result, 'bin_dir', path, string);
  take(c, raw, result, 'bin_name', path, stringMap);
  const pgpass = take(c, raw, result, 'pgpass', path, nonEmptyString, { fallback: join(homeDir, 'pgpass') });
  if (pgpass !== undefined && !isAbsolute(pgpass)) result['pgpass'] = resolve(pgpass);
  take(c, raw, result, 'database', path, nonEmptyString, { fallback: 'postgres' });

  const authentication = section(c, raw, 'authentication', path, true);
  if (authentication) {
    const authPath = [...path, 'authentication'];
    checkPostgresUser(c, authentication.raw, authentication.out, 'superuser', authPath, true);
    checkPostgresUser(c, authentication.raw, authentication.out, 'replication', authPath, true);
    checkPostgresUser(c, authentication.raw, authentication.out, 'rewind', authPath, false);
    result['authentication'] = authentication.out;
  }

  take(c, raw, result, 'parameters', path, parameters, { fallback: {} });
  take(c, raw, result, 'pg_hba', path, stringList);
  take(c, raw, result, 'pg_ident', path, stringList);
  for (const role of ROLE_SUFFIXES) {
    take(c, raw, result, `parameters_${role}`, path, parameters);
    take(c, raw, result, `pg_hba_${role}`, path, stringList);
    take(c, raw, result, `pg_ident_${role}`, path, stringList);
  }
  for (const key of [
    'use_pg_rewind',
    'use_unix_socket',
    'use_unix_socket_repl',
    'remove_data_directory_on_rewind_failure',
    'remove_data_directory_on_diverged_timelines',
  ]) {
    take(c, raw, result, key, path, boolean);
  }
  if (raw['use_slots'] !== undefined) c.warn([...path, 'use_slots'], 'is dynamic configuration only (set it under bootstrap.dcs.postgresql); ignored here');

  const callbacks = section(c, raw, 'callbacks', path);
  if (callbacks) {
    const callbacksPath = [...path, 'callbacks'];
    for (const key of Object.keys(callbacks.raw)) {
      if (CALLBACKS.includes(key)) take(c, callbacks.raw, callbacks.out, key, callbacksPath, string);
      else c.warn([...callbacksPath, key], `is not a callback Patroni runs (${CALLBACKS.join(', ')})`);
    }
    result['callbacks'] = callbacks.out;
  }
  take(c, raw, result, 'pre_promote', path, string);
  take(c, raw, result, 'before_stop', path, string);
  take(c, raw, result, 'create_replica_methods', path, stringList);
  take(c, raw, result, 'create_replica_method', path, string);
  take(c, raw, result, 'basebackup', path, (checker, value, keyPath) =>
    isRecord(value) || Array.isArray(value) ? value : checker.expected(keyPath, 'a mapping or a list', value),
  );
  take(c, raw, result, 'rewind', path, initdbOptions);
  take(c, raw, result, 'pg_ctl_timeout', path, integer(0), { fallback: 60 });
  take(c, raw, result, 'recovery_conf', path, mapping);
  take(c, raw, result, 'custom_conf', path, string);
  out['postgresql'] = result;
}

/**
 * Keys Patroni reads that pgwarden's plugins do not honour yet, with the value that changes nothing (no warning
 * then). Silently dropping TLS or ACL settings would weaken what the user asked for, so each one is reported.
 */
const UNSUPPORTED_DCS_KEYS: Readonly<Record<'etcd' | 'zookeeper' | 'consul' | 'kubernetes', readonly (readonly [string, unknown?])[]>> = {
  etcd: [['cacert'], ['cert'], ['key'], ['use_proxies', false]],
  zookeeper: [['use_ssl', false], ['cacert'], ['cert'], ['key'], ['key_password'], ['verify', true], ['set_acls'], ['auth_data']],
  consul: [['verify', true], ['cacert'], ['cert'], ['key']],
  kubernetes: [['tmp_role_label'], ['bootstrap_labels'], ['cacert'], ['retriable_http_codes'], ['bypass_api_service', false]],
};

function warnUnsupported(c: Checker, out: ConfigRecord, path: KeyPath, kind: keyof typeof UNSUPPORTED_DCS_KEYS): void {
  for (const [key, neutral] of UNSUPPORTED_DCS_KEYS[kind]) {
    const value = out[key];
    if (value !== undefined && value !== neutral) c.warn([...path, key], 'is not supported by pgwarden yet; ignored');
  }
}

function warnUnknown(c: Checker, raw: ConfigRecord, path: KeyPath, known: readonly string[]): void {
  for (const key of Object.keys(raw)) {
    if (!known.includes(key)) c.warn([...path, key], `is not a ${formatPath(path)} setting; ignored`);
  }
}

function checkEtcd(c: Checker, raw: ConfigRecord, kind: 'etcd' | 'etcd3'): ConfigRecord {
  const path = [kind];
  const out: ConfigRecord = { ...raw };
  const host = take(c, raw, out, 'host', path, string);
  if (host !== undefined) {
    const normalised = etcdHost(c, host, [...path, 'host']);
    if (normalised !== undefined) out['host'] = normalised;
  }
  take(c, raw, out, 'hosts', path, etcdHosts);
  for (const key of ['url', 'proxy', 'srv', 'srv_suffix', 'cacert', 'cert', 'key']) take(c, raw, out, key, path, nonEmptyString);
  take(c, raw, out, 'use_proxies', path, boolean);
  take(c, raw, out, 'protocol', path, oneOf(['http', 'https'], {}, true));
  take(c, raw, out, 'username', path, credential);
  take(c, raw, out, 'password', path, credential);
  if (!['host', 'hosts', 'url', 'proxy', 'srv'].some((key) => raw[key] !== undefined && raw[key] !== null)) {
    c.fail(path, 'needs one of host, hosts, url, proxy or srv');
  } else if (!['host', 'hosts', 'url', 'proxy'].some((key) => out[key] !== undefined)) {
    c.warn([...path, 'srv'], 'DNS SRV discovery is not supported by pgwarden yet: 127.0.0.1:2379 is used; set host or hosts');
  }
  warnUnsupported(c, out, path, 'etcd');
  return out;
}

const ZOOKEEPER_KEYS = ['hosts', 'use_ssl', 'cacert', 'cert', 'key', 'key_password', 'verify', 'set_acls', 'auth_data'];

function checkZooKeeper(c: Checker, raw: ConfigRecord): ConfigRecord {
  const path = ['zookeeper'];
  const out: ConfigRecord = { ...raw };
  take(c, raw, out, 'hosts', path, hostList(hostText(ZOOKEEPER_DEFAULT_PORT)));
  // Patroni leaves `use_ssl` to Python truthiness; only real booleans (or "true"/"false") say what users mean.
  take(c, raw, out, 'use_ssl', path, booleanish);
  for (const key of ['cacert', 'cert', 'key']) take(c, raw, out, key, path, nonEmptyString);
  take(c, raw, out, 'key_password', path, credential);
  take(c, raw, out, 'verify', path, booleanish);
  take(c, raw, out, 'set_acls', path, zookeeperAcls);
  take(c, raw, out, 'auth_data', path, credentialMap);
  warnUnknown(c, raw, path, ZOOKEEPER_KEYS);
  warnUnsupported(c, out, path, 'zookeeper');
  return out;
}

const CONSUL_KEYS = [
  'host',
  'url',
  'port',
  'scheme',
  'token',
  'verify',
  'cacert',
  'cert',
  'key',
  'dc',
  'consistency',
  'checks',
  'register_service',
  'service_tags',
  'service_check_interval',
  'service_check_tls_server_name',
];

function checkConsul(c: Checker, raw: ConfigRecord): ConfigRecord {
  const path = ['consul'];
  const out: ConfigRecord = { ...raw };
  const host = take(c, raw, out, 'host', path, nonEmptyString);
  if (host !== undefined && hostText(CONSUL_DEFAULT_PORT)(c, host, [...path, 'host']) === undefined) Reflect.deleteProperty(out, 'host');
  take(c, raw, out, 'url', path, httpUrl);
  take(c, raw, out, 'port', path, tcpPort);
  take(c, raw, out, 'scheme', path, oneOf(['http', 'https'], {}, true));
  take(c, raw, out, 'token', path, credential);
  take(c, raw, out, 'verify', path, booleanish);
  for (const key of ['cacert', 'cert', 'key']) take(c, raw, out, key, path, nonEmptyString);
  take(c, raw, out, 'dc', path, string);
  take(c, raw, out, 'consistency', path, oneOf(['default', 'consistent', 'stale']));
  take(c, raw, out, 'checks', path, commaList);
  take(c, raw, out, 'register_service', path, booleanish);
  take(c, raw, out, 'service_tags', path, commaList);
  take(c, raw, out, 'service_check_interval', path, nonEmptyString);
  take(c, raw, out, 'service_check_tls_server_name', path, string);
  warnUnknown(c, raw, path, CONSUL_KEYS);
  warnUnsupported(c, out, path, 'consul');
  return out;
}

const KUBERNETES_KEYS = [
  'namespace',
  'labels',
  'scope_label',
  'role_label',
  'leader_label_value',
  'follower_label_value',
  'standby_leader_label_value',
  'tmp_role_label',
  'bootstrap_labels',
  'use_endpoints',
  'pod_ip',
  'ports',
  'cacert',
  'retriable_http_codes',
  'bypass_api_service',
  'context',
  'api_url',
];

function checkKubernetes(c: Checker, raw: ConfigRecord): ConfigRecord {
  const path = ['kubernetes'];
  const out: ConfigRecord = { ...raw };
  for (const key of ['namespace', 'scope_label', 'role_label', 'leader_label_value', 'follower_label_value', 'standby_leader_label_value', 'tmp_role_label']) {
    take(c, raw, out, key, path, nonEmptyString);
  }
  take(c, raw, out, 'labels', path, labelMap);
  take(c, raw, out, 'bootstrap_labels', path, labelMap);
  take(c, raw, out, 'use_endpoints', path, booleanish);
  take(c, raw, out, 'pod_ip', path, string);
  take(c, raw, out, 'ports', path, kubernetesPorts);
  take(c, raw, out, 'cacert', path, nonEmptyString);
  take(c, raw, out, 'retriable_http_codes', path, httpCodes);
  take(c, raw, out, 'bypass_api_service', path, booleanish);
  take(c, raw, out, 'context', path, nonEmptyString);
  take(c, raw, out, 'api_url', path, httpUrl);
  warnUnknown(c, raw, path, KUBERNETES_KEYS);
  warnUnsupported(c, out, path, 'kubernetes');
  return out;
}

function checkDcsSection(c: Checker, kind: DcsKind, raw: ConfigRecord): ConfigRecord {
  switch (kind) {
    case 'etcd':
    case 'etcd3':
      return checkEtcd(c, raw, kind);
    case 'zookeeper':
      return checkZooKeeper(c, raw);
    case 'consul':
      return checkConsul(c, raw);
    case 'kubernetes':
      return checkKubernetes(c, raw);
    case 'exhibitor':
    case 'raft':
      return { ...raw };
  }
}

function checkDcs(c: Checker, root: ConfigRecord, out: ConfigRecord): void {
  const present = DCS_KINDS.filter((kind) => root[kind] !== undefined && root[kind] !== null);
  const [first, ...others] = present;
  if (first === undefined) {
    c.fail([], `one DCS section is required: ${DCS_KINDS.join(', ')}`);
    return;
  }
  for (const other of others) c.fail([other], `only one DCS section is allowed, ${first} is already configured`);
  for (const kind of present) {
    const raw = mapping(c, root[kind], [kind]);
    if (raw) out[kind] = checkDcsSection(c, kind, raw);
  }
}

function checkTopLevel(c: Checker, root: ConfigRecord, out: ConfigRecord): void {
  take(c, root, out, 'scope', [], nonEmptyString, { required: true });
  take(c, root, out, 'namespace', [], nonEmptyString, { fallback: '/service' });
  const name = take(c, root, out, 'name', [], nonEmptyString, { required: true });
  if (name === RESERVED_MEMBER_NAME) c.fail(['name'], `${JSON.stringify(name)} is reserved by Patroni and cannot name a member`);
  take(c, root, out, 'thread_pool_size', [], integer(1));
  take(c, root, out, 'thread_stack_size', [], integer(1));
  for (const key of Object.keys(root)) {
    if (KNOWN_TOP_LEVEL.has(key)) continue;
    if (DYNAMIC_ONLY_TOP_LEVEL.has(key)) {
      c.warn([key], 'is dynamic configuration: set it under bootstrap.dcs (or in the DCS /config); ignored here');
    } else {
      c.warn([key], 'is not a known configuration key; ignored');
    }
  }
}

/**
 * Checks a raw configuration (parsed YAML merged with the environment) and fills Patroni's defaults.
 * Collects every problem; throws one `ConfigError` listing them all.
 */
export function validateConfigWithWarnings(raw: unknown, source: string, options: ValidateOptions = {}): ValidationResult {
  const c = new Checker(options.origins ?? new Origins(source));
  const root = raw === null || raw === undefined ? {} : raw;
  if (!isRecord(root)) {
    c.expected([], 'a mapping at the top level', root);
    throw new ConfigError([c.issues[0] as ConfigIssue]);
  }
  const out: ConfigRecord = { ...root };
  checkTopLevel(c, root, out);
  checkRestApi(c, root, out);
  checkCtl(c, root, out);
  checkLog(c, root, out);
  checkWatchdog(c, root, out);
  checkTags(c, root, out);
  checkCitus(c, root, out);
  checkBootstrap(c, root, out);
  checkPostgresql(c, root, out, options.homeDir ?? homedir());
  checkDcs(c, root, out);
  const [first, ...rest] = c.issues;
  if (first) throw new ConfigError([first, ...rest]);
  return { config: out as PgwardenConfig, warnings: c.warnings };
}

/** Like {@link validateConfigWithWarnings}, returning only the configuration. */
export function validateConfig(raw: unknown, source: string, options: ValidateOptions = {}): PgwardenConfig {
  return validateConfigWithWarnings(raw, source, options).config;
}

/** Checks a dynamic configuration (`bootstrap.dcs` shape); used for the DCS `/config` value. */
export function validateDynamicConfig(raw: unknown, source: string): { config: ConfigRecord; warnings: readonly ConfigWarning[] } {
  const c = new Checker(new Origins(source));
  const record = mapping(c, raw ?? {}, []);
  const config = record ? checkDynamic(c, record, []) : {};
  const [first, ...rest] = c.issues;
  if (first) throw new ConfigError([first, ...rest]);
  return { config, warnings: c.warnings };
}

/**
 * Checks only the DCS sections of `raw` (exactly one is required), with the same rules as {@link validateConfig};
 * for tools given a store without a whole configuration (pgwardenctl's `-d`). Other keys are ignored.
 */
export function validateDcsSections(raw: unknown, source: string): DcsSections {
  const c = new Checker(new Origins(source));
  const root = mapping(c, raw ?? {}, []);
  const out: ConfigRecord = {};
  if (root) checkDcs(c, root, out);
  const [first, ...rest] = c.issues;
  if (first) throw new ConfigError([first, ...rest]);
  return out;
}
