import { describe, expect, it } from 'vitest';
import { buildEnvironmentConfig, parseBoolean, parseInteger, parseListValue, parseMappingValue } from './env.js';

describe('buildEnvironmentConfig maps PATRONI_* variables as Patroni does', () => {
  it('globals, section keys and authentication', () => {
    const { config, issues } = buildEnvironmentConfig({
      PATRONI_NAME: 'pg0',
      PATRONI_SCOPE: 'batman',
      PATRONI_NAMESPACE: '/db/',
      PATRONI_THREAD_POOL_SIZE: '8',
      PATRONI_RESTAPI_LISTEN: '0.0.0.0:8008',
      PATRONI_RESTAPI_CONNECT_ADDRESS: '10.0.0.1:8008',
      PATRONI_RESTAPI_USERNAME: 'admin',
      PATRONI_RESTAPI_PASSWORD: 'secret',
      PATRONI_RESTAPI_ALLOWLIST: '127.0.0.1, 10.0.0.0/8',
      PATRONI_RESTAPI_ALLOWLIST_INCLUDE_MEMBERS: 'yes',
      PATRONI_RESTAPI_HTTP_EXTRA_HEADERS: "'X-Frame-Options': 'SAMEORIGIN'",
      PATRONI_CTL_INSECURE: 'off',
      PATRONI_CTL_USERNAME: 'ctl',
      PATRONI_POSTGRESQL_DATA_DIR: '/data',
      PATRONI_POSTGRESQL_PGPASS: '/tmp/pgpass',
      PATRONI_POSTGRESQL_BIN_PG_CTL: '/opt/pg/bin/pg_ctl',
      PATRONI_SUPERUSER_USERNAME: 'postgres',
      PATRONI_SUPERUSER_SSLMODE: 'require',
      PATRONI_REPLICATION_PASSWORD: 'rep',
      PATRONI_REWIND_USERNAME: 'rewinder',
      PATRONI_LOG_MAX_QUEUE_SIZE: '500',
      PATRONI_LOG_MODE: '0640',
      PATRONI_LOG_LOGGERS: 'patroni.dcs: DEBUG',
      PATRONI_RAFT_PARTNER_ADDRS: "'10.0.0.2:2222','10.0.0.3:2222'",
    });
    expect(issues).toEqual([]);
    expect(config).toEqual({
      name: 'pg0',
      scope: 'batman',
      namespace: '/db/',
      thread_pool_size: 8,
      restapi: {
        listen: '0.0.0.0:8008',
        connect_address: '10.0.0.1:8008',
        allowlist: ['127.0.0.1', '10.0.0.0/8'],
        allowlist_include_members: true,
        http_extra_headers: { 'X-Frame-Options': 'SAMEORIGIN' },
        authentication: { username: 'admin', password: 'secret' },
      },
      ctl: { insecure: false, authentication: { username: 'ctl' } },
      postgresql: {
        data_dir: '/data',
        pgpass: '/tmp/pgpass',
        bin_name: { pg_ctl: '/opt/pg/bin/pg_ctl' },
        authentication: {
          superuser: { username: 'postgres', sslmode: 'require' },
          replication: { password: 'rep' },
          rewind: { username: 'rewinder' },
        },
      },
      log: { max_queue_size: 500, mode: 0o640, loggers: { 'patroni.dcs': 'DEBUG' } },
      raft: { partner_addrs: ['10.0.0.2:2222', '10.0.0.3:2222'] },
    });
  });

  it('the generic PATRONI_<NAME>_<SUFFIX> rule with per-suffix parsing', () => {
    const { config, issues, dcsAuth } = buildEnvironmentConfig({
      PATRONI_ETCD3_HOSTS: "'127.0.0.1:2379','127.0.0.1:2380'",
      PATRONI_ETCD3_PROTOCOL: 'https',
      PATRONI_ETCD3_USERNAME: 'root',
      PATRONI_ETCD3_PASSWORD: 'pw',
      PATRONI_CONSUL_PORT: '8500',
      PATRONI_CONSUL_REGISTER_SERVICE: 'true',
      PATRONI_KUBERNETES_NAMESPACE: 'db',
      PATRONI_KUBERNETES_LABELS: '{application: patroni}',
      PATRONI_KUBERNETES_USE_ENDPOINTS: 'TRUE',
      PATRONI_KUBERNETES_RETRIABLE_HTTP_CODES: '401,403',
      PATRONI_ZOOKEEPER_SET_ACLS: "CN=principal: ['ALL']",
      PATRONI_CITUS_GROUP: '1',
      PATRONI_CITUS_DATABASE: 'citus',
      PATRONI_CITUS_HOST: 'ignored',
      PATRONI_UNRELATED_THING: 'ignored',
      PATRONI_RETRIABLE_HTTP_CODES: 'ignored: no section name before the suffix',
    });
    expect(issues).toEqual([]);
    expect(config).toEqual({
      etcd3: { hosts: ['127.0.0.1:2379', '127.0.0.1:2380'], protocol: 'https' },
      consul: { port: 8500, register_service: true },
      kubernetes: { namespace: 'db', labels: { application: 'patroni' }, use_endpoints: true, retriable_http_codes: [401, 403] },
      zookeeper: { set_acls: { 'CN=principal': ['ALL'] } },
      citus: { group: 1, database: 'citus' },
    });
    expect(dcsAuth).toEqual([
      { section: 'etcd3', key: 'username', value: 'root', envVar: 'PATRONI_ETCD3_USERNAME' },
      { section: 'etcd3', key: 'password', value: 'pw', envVar: 'PATRONI_ETCD3_PASSWORD' },
    ]);
  });

  it('legacy log variables, with the modern name winning', () => {
    expect(buildEnvironmentConfig({ PATRONI_LOGLEVEL: 'DEBUG', PATRONI_LOGFORMAT: '%(message)s', PATRONI_LOG_DATEFMT: '%H' }).config).toEqual({
      log: { level: 'DEBUG', format: '%(message)s', dateformat: '%H' },
    });
    expect(buildEnvironmentConfig({ PATRONI_LOGLEVEL: 'DEBUG', PATRONI_LOG_LEVEL: 'ERROR' }).config).toEqual({ log: { level: 'ERROR' } });
  });

  it('ignores empty values and variables without the prefix', () => {
    const result = buildEnvironmentConfig({ PATRONI_NAME: '', PATRONI_ETCD3_HOSTS: '', NAME: 'x', PATRONI_SCOPE: undefined });
    expect(result.config).toEqual({});
    expect(result.consumed).toEqual(['PATRONI_NAME', 'PATRONI_ETCD3_HOSTS']);
  });

  it('reports values that do not parse, naming the variable', () => {
    const { issues } = buildEnvironmentConfig({ PATRONI_CONSUL_PORT: 'http', PATRONI_KUBERNETES_USE_ENDPOINTS: 'maybe', PATRONI_KUBERNETES_LABELS: '{a: [' });
    expect(issues).toEqual([
      { source: 'environment', key: 'consul.port', envVar: 'PATRONI_CONSUL_PORT', message: 'expected an integer, got "http"' },
      {
        source: 'environment',
        key: 'kubernetes.labels',
        envVar: 'PATRONI_KUBERNETES_LABELS',
        message: 'expected a YAML mapping such as {k: v}, got "{a: ["',
      },
      {
        source: 'environment',
        key: 'kubernetes.use_endpoints',
        envVar: 'PATRONI_KUBERNETES_USE_ENDPOINTS',
        message: 'expected a boolean (true/false, yes/no, on/off, 1/0), got "maybe"',
      },
    ]);
  });
});

describe('value parsers', () => {
  it('parseBoolean', () => {
    expect(['on', 'TRUE', 'Yes', '1'].map(parseBoolean)).toEqual([true, true, true, true]);
    expect(['off', 'false', 'NO', '0'].map(parseBoolean)).toEqual([false, false, false, false]);
    expect(parseBoolean('y')).toBeUndefined();
  });

  it('parseInteger reads decimal, octal and hex like strtol', () => {
    expect(parseInteger('2379')).toBe(2379);
    expect(parseInteger(' -5 ')).toBe(-5);
    expect(parseInteger('0644')).toBe(0o644);
    expect(parseInteger('0x1F')).toBe(31);
    expect(parseInteger('0')).toBe(0);
    expect(parseInteger('1.5')).toBeUndefined();
    expect(parseInteger('ten')).toBeUndefined();
  });

  it('parseListValue wraps bare items and accepts block lists', () => {
    expect(parseListValue("'a:1','b:2'")).toEqual(['a:1', 'b:2']);
    expect(parseListValue('[x, y]')).toEqual(['x', 'y']);
    expect(parseListValue('- x\n- y')).toEqual(['x', 'y']);
    expect(parseListValue('[unclosed')).toBeUndefined();
  });

  it('parseMappingValue wraps bare pairs', () => {
    expect(parseMappingValue('a: 1, b: two')).toEqual({ a: 1, b: 'two' });
    expect(parseMappingValue('{a: {b: c}}')).toEqual({ a: { b: 'c' } });
    // As in PyYAML, a bare word in braces is a key with a null value.
    expect(parseMappingValue('just text')).toEqual({ 'just text': null });
    expect(parseMappingValue('a: [1')).toBeUndefined();
  });
});
