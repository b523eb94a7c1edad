import { describe, expect, it } from 'vitest';
import { PgwardenError } from '@pgwarden/core';
import { ConfigError } from './errors.js';
import { parseConfig } from './load.js';
import { POSTGRES0_YML, withLine } from './test-fixtures.js';
import { validateConfig, validateConfigWithWarnings, validateDynamicConfig } from './validate.js';

function failure(text: string): ConfigError {
  try {
    parseConfig(text, 'postgres0.yml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected the configuration to be refused');
}

function firstProblem(text: string): string {
  return failure(text).message;
}

describe('validateConfig refuses malformed configuration, naming the file and the key', () => {
  const cases: readonly (readonly [string, string, string, string])[] = [
    ['a string where an integer belongs', '    ttl: 30', '    ttl: thirty', 'bootstrap.dcs.ttl: expected an integer, got "thirty"'],
    ['a quoted number where an integer belongs', '    loop_wait: 10', '    loop_wait: "10"', 'bootstrap.dcs.loop_wait: expected an integer, got "10"'],
    ['a fraction', '    retry_timeout: 10', '    retry_timeout: 2.5', 'bootstrap.dcs.retry_timeout: expected an integer, got 2.5'],
    ['parameters that are not a mapping', "  parameters:\n    unix_socket_directories: '..'", '  parameters: max_connections=100', 'postgresql.parameters: expected a mapping, got "max_connections=100"'],
    ['a list as parameters', "  parameters:\n    unix_socket_directories: '..'", '  parameters: [a, b]', 'postgresql.parameters: expected a mapping, got a list'],
    ['a nested parameter value', "    unix_socket_directories: '..'", '    shared_buffers: {x: 1}', 'postgresql.parameters.shared_buffers: expected a string, number or boolean, got a mapping'],
    ['an invalid connect address', '  connect_address: 127.0.0.1:5432', '  connect_address: 127.0.0.1', 'postgresql.connect_address: expected "host:port", got "127.0.0.1"'],
    ['a port out of range', '  listen: 127.0.0.1:8008', '  listen: 127.0.0.1:80080', 'restapi.listen: expected "host:port", got "127.0.0.1:80080"'],
    ['a wildcard connect address', '  connect_address: 127.0.0.1:8008', '  connect_address: 0.0.0.0:8008', 'restapi.connect_address: must name a host others can connect to, not the wildcard "0.0.0.0"'],
    ['a listen without a port', '  listen: 127.0.0.1:5432', '  listen: 127.0.0.1', 'postgresql.listen: expected "addr[,addr]:port", got "127.0.0.1"'],
    ['a missing superuser password is fine but a missing username is not', '      username: postgres\n', '', 'postgresql.authentication.superuser.username: is required'],
    ['a missing data_dir', '  data_dir: data/postgresql0\n', '', 'postgresql.data_dir: is required'],
    ['a missing scope', 'scope: batman\n', '', 'scope: is required'],
    ['an empty name', 'name: postgresql0', "name: ''", 'name: must not be empty'],
    ['the reserved member name', 'name: postgresql0', 'name: __patroni_strict_sync_replica_placeholder__', 'name: "__patroni_strict_sync_replica_placeholder__" is reserved by Patroni and cannot name a member'],
    ['a bool-ish tag that is not', '  nostream: false', '  nostream: sometimes', 'tags.nostream: expected true or false, got "sometimes"'],
    ['a negative failover priority', '  nostream: false', '  failover_priority: -1', 'tags.failover_priority: must be at least 0, got -1'],
    ['an etcd3 section without hosts', '  host: 127.0.0.1:2379', '  protocol: http', 'etcd3: needs one of host, hosts, url, proxy or srv'],
    ['an etcd host with a bad port', '  host: 127.0.0.1:2379', '  host: 127.0.0.1:etcd', 'etcd3.host: expected "host[:port]", got "127.0.0.1:etcd"'],
    ['a bad entry in an etcd hosts list', '  host: 127.0.0.1:2379', '  hosts: [127.0.0.1:2379, 7]', 'etcd3.hosts[1]: expected a "host:port" string, got 7'],
    ['an initdb option with two keys', '    - data-checksums', '    - {a: 1, b: 2}', 'bootstrap.initdb[1]: expected a single-key mapping, got 2 keys'],
    ['pg_hba with a non-string line', '    - host all all 0.0.0.0/0 md5', '    - 42', 'bootstrap.pg_hba[1]: expected a string, got 42'],
    ['bootstrap.users (removed in Patroni 4.0)', 'bootstrap:\n', 'bootstrap:\n  users:\n    admin: {password: x}\n', 'bootstrap.users: is no longer supported'],
    ['a custom bootstrap method without its section', 'bootstrap:\n', 'bootstrap:\n  method: wal_e\n', 'bootstrap.wal_e: is required'],
    ['an unknown synchronous_mode', '    ttl: 30', '    ttl: 30\n    synchronous_mode: sometimes', 'bootstrap.dcs.synchronous_mode: expected one of "on", "off", "quorum", got "sometimes"'],
    ['a logical slot without a plugin', '    ttl: 30', '    ttl: 30\n    slots:\n      s1: {type: logical, database: db}', 'bootstrap.dcs.slots.s1.plugin: expected a string (required for a logical slot), got undefined'],
    ['an unknown log level', 'tags:\n', 'log:\n  level: LOUD\ntags:\n', 'log.level: expected one of "DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL", got "LOUD"'],
    ['an unknown watchdog mode', 'tags:\n', 'watchdog:\n  mode: sometimes\ntags:\n', 'watchdog.mode: expected one of "off", "automatic", "required", got "sometimes"'],
    ['restapi as a string', 'restapi:\n  listen: 127.0.0.1:8008\n  connect_address: 127.0.0.1:8008\n  authentication:\n    username: patroni\n    password: api-secret\n', 'restapi: 127.0.0.1:8008\n', 'restapi: expected a mapping, got "127.0.0.1:8008"'],
    ['REST authentication without a password', '    password: api-secret\n', '', 'restapi.authentication.password: is required'],
    ['citus without a database', 'tags:\n', 'citus:\n  group: 0\ntags:\n', 'citus.database: is required'],
  ];

  it.each(cases)('%s', (_title, from, to, expected) => {
    const message = firstProblem(withLine(POSTGRES0_YML, from, to));
    expect(message.split('\n')[0]?.slice(0, expected.length + 24)).toBe(`[config] postgres0.yml: ${expected}`);
  });

  it('carries source, key and code on the error, and is a PgwardenError', () => {
    const error = failure(withLine(POSTGRES0_YML, '    ttl: 30', '    ttl: thirty'));
    expect(error).toBeInstanceOf(PgwardenError);
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.component).toBe('config');
    expect(error.source).toBe('postgres0.yml');
    expect(error.key).toBe('bootstrap.dcs.ttl');
    expect(error.message).toBe('[config] postgres0.yml: bootstrap.dcs.ttl: expected an integer, got "thirty"');
  });

  it('reports every problem, the first one in the message', () => {
    let text = withLine(POSTGRES0_YML, '    ttl: 30', '    ttl: thirty');
    text = withLine(text, '  data_dir: data/postgresql0\n', '');
    text = withLine(text, '  nostream: false', '  nostream: 3');
    const error = failure(text);
    expect(error.issues.map((issue) => issue.key)).toEqual(['tags.nostream', 'bootstrap.dcs.ttl', 'postgresql.data_dir']);
    expect(error.message.split('\n')).toEqual([
      '[config] postgres0.yml: tags.nostream: expected true or false, got 3',
      '  postgres0.yml: bootstrap.dcs.ttl: expected an integer, got "thirty"',
      '  postgres0.yml: postgresql.data_dir: is required',
    ]);
  });

  it('requires exactly one DCS section', () => {
    expect(firstProblem(POSTGRES0_YML.replace('etcd3:\n  host: 127.0.0.1:2379\n', ''))).toBe(
      '[config] postgres0.yml: one DCS section is required: etcd3, etcd, zookeeper, consul, kubernetes, exhibitor, raft',
    );
    expect(firstProblem(`${POSTGRES0_YML}zookeeper:\n  hosts: ['127.0.0.1:2181']\n`)).toBe(
      '[config] postgres0.yml: zookeeper: only one DCS section is allowed, etcd3 is already configured',
    );
  });

  it('refuses a top level that is not a mapping', () => {
    expect(() => validateConfig('scope: x', 'inline')).toThrow('[config] inline: expected a mapping at the top level, got "scope: x"');
  });
});

describe('validateConfig accepts and normalises', () => {
  it('etcd hosts from a list or a comma string, adding the default port', () => {
    const fromList = parseConfig(withLine(POSTGRES0_YML, '  host: 127.0.0.1:2379', "  hosts: ['10.0.0.1', '[::1]:2380']"), 'p.yml');
    expect(fromList.etcd3?.hosts).toEqual(['10.0.0.1:2379', '[::1]:2380']);
    const fromString = parseConfig(withLine(POSTGRES0_YML, '  host: 127.0.0.1:2379', '  hosts: 10.0.0.1:2379, 10.0.0.2'), 'p.yml');
    expect(fromString.etcd3?.hosts).toEqual(['10.0.0.1:2379', '10.0.0.2:2379']);
    const bare = parseConfig(withLine(POSTGRES0_YML, '  host: 127.0.0.1:2379', '  host: etcd.local'), 'p.yml');
    expect(bare.etcd3?.host).toBe('etcd.local:2379');
  });

  it('the legacy etcd section like etcd3, and other DCS sections as records', () => {
    const etcd = parseConfig(POSTGRES0_YML.replace('etcd3:', 'etcd:'), 'p.yml');
    expect(etcd.etcd).toEqual({ host: '127.0.0.1:2379' });
    const consul = parseConfig(POSTGRES0_YML.replace('etcd3:\n  host: 127.0.0.1:2379', 'consul:\n  host: 127.0.0.1:8500\n  register_service: true'), 'p.yml');
    expect(consul.consul).toEqual({ host: '127.0.0.1:8500', register_service: true });
  });

  it('bool-ish tags written as strings, numeric passwords, watchdog aliases', () => {
    const text = withLine(
      withLine(withLine(POSTGRES0_YML, '  nostream: false', '  nostream: "TRUE"\n  nofailover: "false"'), '      password: zalando', '      password: 12345'),
      'tags:\n',
      'watchdog:\n  mode: require\n  safety_margin: -1\ntags:\n',
    );
    const config = parseConfig(text, 'p.yml');
    expect(config.tags.nostream).toBe(true);
    expect(config.tags.nofailover).toBe(false);
    expect(config.postgresql.authentication.superuser.password).toBe('12345');
    expect(config.watchdog).toEqual({ mode: 'required', device: '/dev/watchdog', safety_margin: -1 });
  });

  it('a listen with several addresses, IPv6 and wildcards', () => {
    const config = parseConfig(withLine(POSTGRES0_YML, '  listen: 127.0.0.1:5432', "  listen: '127.0.0.1,[::1],*:5432'"), 'p.yml');
    expect(config.postgresql.listen).toBe('127.0.0.1,[::1],*:5432');
  });

  it('warns about keys Patroni ignores where they are written', () => {
    const text = withLine(POSTGRES0_YML, '  data_dir: data/postgresql0', '  data_dir: data/postgresql0\n  use_slots: false');
    const { warnings } = validateConfigWithWarnings(
      { ...(parseConfig(text, 'p.yml') as Record<string, unknown>), tags: { nofailover: true, failover_priority: 3 } },
      'p.yml',
    );
    expect(warnings.map((w) => `${w.key}: ${w.message}`)).toEqual([
      'tags.failover_priority: is ignored because tags.nofailover is true',
      'postgresql.use_slots: is dynamic configuration only (set it under bootstrap.dcs.postgresql); ignored here',
    ]);
  });
});

describe('validateDynamicConfig', () => {
  it('checks a /config value and warns about local-only postgresql keys', () => {
    const { config, warnings } = validateDynamicConfig({ ttl: 30, postgresql: { data_dir: '/x', use_slots: false } }, 'dcs /config');
    expect(config).toEqual({ ttl: 30, postgresql: { data_dir: '/x', use_slots: false } });
    expect(warnings[0]?.key).toBe('postgresql.data_dir');
    expect(() => validateDynamicConfig({ loop_wait: 'x' }, 'dcs /config')).toThrow('[config] dcs /config: loop_wait: expected an integer, got "x"');
  });
});
