import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPgwardenError } from '@pgwarden/core';
import type { Logger } from '@pgwarden/core';
import { ConfigError } from './errors.js';
import { loadConfig, loadConfigWithWarnings, parseConfig, parseConfigWithWarnings } from './load.js';
import { POSTGRES0_YML, withLine } from './test-fixtures.js';

const HOME = '/home/tester';

function errorOf(run: () => unknown): ConfigError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('parseConfig with the postgres0.yml sample', () => {
  it('loads every section with the values written', () => {
    const config = parseConfig(POSTGRES0_YML, 'postgres0.yml', undefined, { homeDir: HOME });
    expect(config.scope).toBe('batman');
    expect(config.namespace).toBe('/service/');
    expect(config.name).toBe('postgresql0');
    expect(config.restapi.listen).toBe('127.0.0.1:8008');
    expect(config.restapi.authentication).toEqual({ username: 'patroni', password: 'api-secret' });
    expect(config.etcd3).toEqual({ host: '127.0.0.1:2379' });
    expect(config.bootstrap.dcs).toEqual({
      ttl: 30,
      loop_wait: 10,
      retry_timeout: 10,
      maximum_lag_on_failover: 1048576,
      postgresql: { use_pg_rewind: true, parameters: { max_connections: 100, wal_level: 'replica' } },
    });
    expect(config.bootstrap.initdb).toEqual([{ encoding: 'UTF8' }, 'data-checksums']);
    expect(config.bootstrap.pg_hba).toHaveLength(2);
    expect(config.postgresql.authentication.superuser).toEqual({ username: 'postgres', password: 'zalando' });
    expect(config.postgresql.authentication.rewind?.username).toBe('rewind_user');
    expect(config.postgresql.parameters).toEqual({ unix_socket_directories: '..' });
    expect(config.tags).toEqual({ noloadbalance: false, clonefrom: false, nostream: false });
  });

  it("fills Patroni's defaults where keys are absent", () => {
    const text = POSTGRES0_YML.replace('namespace: /service/\n', '').replace('  pgpass: /tmp/pgpass0\n', '');
    const config = parseConfig(text, 'postgres0.yml', undefined, { homeDir: HOME });
    expect(config.namespace).toBe('/service');
    expect(config.postgresql.pgpass).toBe(join(HOME, 'pgpass'));
    expect(config.postgresql.pg_ctl_timeout).toBe(60);
    expect(config.postgresql.database).toBe('postgres');
    expect(config.log).toEqual({ level: 'INFO', type: 'plain' });
    expect(config.watchdog).toEqual({ mode: 'automatic', device: '/dev/watchdog', safety_margin: 5 });
  });

  it('defaults bootstrap to an empty dcs and tags to {} when the sections are missing', () => {
    const text = POSTGRES0_YML.slice(0, POSTGRES0_YML.indexOf('bootstrap:')) + POSTGRES0_YML.slice(POSTGRES0_YML.indexOf('postgresql:\n  listen'));
    const config = parseConfig(text.replace(/tags:[\s\S]*$/, ''), 'postgres0.yml');
    expect(config.bootstrap).toEqual({ dcs: {} });
    expect(config.tags).toEqual({});
  });

  it('reads YAML 1.1 scalars as PyYAML does: off is false, y stays a string, 0644 is octal', () => {
    const text = `${POSTGRES0_YML}watchdog:\n  mode: off\nlog:\n  mode: 0644\n  level: warn\n`.replace('  clonefrom: false', '  clonefrom: false\n  zone: y');
    const config = parseConfig(text, 'postgres0.yml');
    expect(config.watchdog.mode).toBe('off');
    expect(config.log.mode).toBe(0o644);
    expect(config.log.level).toBe('WARNING');
    expect(config.tags['zone']).toBe('y');
  });

  it('keeps unknown keys and reports unknown or dynamic-only top-level keys as warnings', () => {
    const logged: string[] = [];
    const logger: Logger = { log: (level, message) => logged.push(`${level} ${message}`) };
    const result = parseConfigWithWarnings(`${POSTGRES0_YML}frobnicate: 1\nttl: 15\n`, 'postgres0.yml', undefined, { logger });
    expect(result.config['frobnicate']).toBe(1);
    expect(result.warnings.map((w) => w.key)).toEqual(['frobnicate', 'ttl']);
    expect(result.warnings[1]?.message).toMatch(/bootstrap\.dcs/);
    expect(logged).toEqual([
      'warn [config] postgres0.yml: frobnicate: is not a known configuration key; ignored',
      expect.stringContaining('warn [config] postgres0.yml: ttl: is dynamic configuration'),
    ]);
  });

  it('names the file, the line and the column of a YAML syntax error', () => {
    const error = errorOf(() => parseConfig('scope: batman\nrestapi:\n  listen: 1\n connect_address: 2\n', 'postgres0.yml'));
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.source).toBe('postgres0.yml');
    expect(error.issues[0]?.line).toBe(4);
    expect(error.message).toMatch(/^\[config\] postgres0\.yml:4:1: YAML syntax error: /);
  });

  it('warns about a duplicate key and keeps the last value, as PyYAML does', () => {
    const result = parseConfigWithWarnings(POSTGRES0_YML.replace('name: postgresql0', 'name: postgresql0\nname: postgresql9'), 'p.yml');
    expect(result.config.name).toBe('postgresql9');
    expect(result.warnings[0]).toMatchObject({ source: 'p.yml', line: 4, message: 'duplicate key, the last value wins' });
  });

  it('refuses a document that is not a mapping', () => {
    const error = errorOf(() => parseConfig('- a\n- b\n', 'list.yml'));
    expect(error.message).toBe('[config] list.yml: expected a mapping at the top level of the document');
  });
});

describe('parseConfig with environment overrides', () => {
  it('applies PATRONI_* variables over the file, exactly where Patroni maps them', () => {
    const config = parseConfig(POSTGRES0_YML, 'postgres0.yml', {
      PATRONI_NAME: 'postgresql7',
      PATRONI_ETCD3_HOSTS: "'127.0.0.1:2379','127.0.0.1:2380'",
      PATRONI_SUPERUSER_PASSWORD: 'from-env',
      PATRONI_RESTAPI_LISTEN: '0.0.0.0:8010',
      PATRONI_RESTAPI_USERNAME: 'admin',
      PATRONI_POSTGRESQL_DATA_DIR: '/var/lib/pg/7',
      PATRONI_LOGLEVEL: 'debug',
      HOME: '/ignored',
    });
    expect(config.name).toBe('postgresql7');
    expect(config.etcd3).toEqual({ host: '127.0.0.1:2379', hosts: ['127.0.0.1:2379', '127.0.0.1:2380'] });
    expect(config.postgresql.authentication.superuser).toEqual({ username: 'postgres', password: 'from-env' });
    expect(config.restapi.listen).toBe('0.0.0.0:8010');
    expect(config.restapi.authentication).toEqual({ username: 'admin', password: 'api-secret' });
    expect(config.postgresql.data_dir).toBe('/var/lib/pg/7');
    expect(config.log.level).toBe('DEBUG');
  });

  it('does not map PATRONI_TAGS (Patroni has no such variable) but the generic suffix rule reaches tags', () => {
    const config = parseConfig(POSTGRES0_YML, 'postgres0.yml', { PATRONI_TAGS: '{nofailover: true}', PATRONI_TAGS_HOST: 'x' });
    expect(config.tags['nofailover']).toBeUndefined();
    expect(config.tags['host']).toBe('x');
  });

  it('reports an environment value that does not parse with the variable name', () => {
    const error = errorOf(() => parseConfig(POSTGRES0_YML, 'postgres0.yml', { PATRONI_RESTAPI_REQUEST_QUEUE_SIZE: 'lots' }));
    expect(error.source).toBe('environment');
    expect(error.key).toBe('restapi.request_queue_size');
    expect(error.message).toBe(
      '[config] environment: restapi.request_queue_size: expected an integer, got "lots" (from PATRONI_RESTAPI_REQUEST_QUEUE_SIZE)',
    );
  });

  it('blames the environment, not the file, for an invalid value it supplied', () => {
    const error = errorOf(() => parseConfig(POSTGRES0_YML, 'postgres0.yml', { PATRONI_POSTGRESQL_LISTEN: 'nowhere' }));
    expect(error.message).toBe(
      '[config] environment: postgresql.listen: expected "addr[,addr]:port", got "nowhere" (from PATRONI_POSTGRESQL_LISTEN)',
    );
  });

  it('applies PATRONI_ETCD3_PASSWORD to the etcd3 section of the file', () => {
    const config = parseConfig(POSTGRES0_YML, 'postgres0.yml', { PATRONI_ETCD3_USERNAME: 'root', PATRONI_ETCD3_PASSWORD: 'pw' });
    expect(config.etcd3).toEqual({ host: '127.0.0.1:2379', username: 'root', password: 'pw' });
  });

  it('ignores etcd credentials for a section that is not configured, with a warning', () => {
    const result = parseConfigWithWarnings(POSTGRES0_YML, 'postgres0.yml', { PATRONI_ETCD_PASSWORD: 'pw' });
    expect(result.config.etcd).toBeUndefined();
    expect(result.warnings).toContainEqual(expect.objectContaining({ key: 'etcd.password', envVar: 'PATRONI_ETCD_PASSWORD' }));
  });

  it('refuses a second DCS section coming from the environment', () => {
    const error = errorOf(() => parseConfig(POSTGRES0_YML, 'postgres0.yml', { PATRONI_CONSUL_HOST: '127.0.0.1:8500' }));
    expect(error.message).toBe(
      '[config] environment: consul: only one DCS section is allowed, etcd3 is already configured',
    );
  });
});

describe('loadConfig', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pgwarden-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads a file and applies the environment', () => {
    const file = join(dir, 'postgres0.yml');
    writeFileSync(file, POSTGRES0_YML);
    const config = loadConfig({ file, env: { PATRONI_SCOPE: 'robin' } });
    expect(config.scope).toBe('robin');
    expect(config.name).toBe('postgresql0');
  });

  it('names the file in validation errors', () => {
    const file = join(dir, 'postgres0.yml');
    writeFileSync(file, withLine(POSTGRES0_YML, '    ttl: 30', '    ttl: thirty'));
    const error = errorOf(() => loadConfig({ file, env: {} }));
    expect(error.message).toBe(`[config] ${file}: bootstrap.dcs.ttl: expected an integer, got "thirty"`);
    expect(error.source).toBe(file);
    expect(error.key).toBe('bootstrap.dcs.ttl');
  });

  it('merges a directory of *.yml/*.yaml files in sorted order, later files winning, and blames the right file', () => {
    const conf = join(dir, 'conf.d');
    mkdirSync(conf);
    writeFileSync(join(conf, '10-base.yml'), POSTGRES0_YML);
    writeFileSync(join(conf, '20-member.yaml'), 'name: postgresql1\npostgresql:\n  connect_address: 127.0.0.1:5433\n');
    writeFileSync(join(conf, '30-tags.yml'), 'tags:\n  nofailover: maybe\n');
    writeFileSync(join(conf, 'README.txt'), 'not: yaml: at: all:');
    const error = errorOf(() => loadConfig({ file: conf, env: {} }));
    expect(error.message).toBe(`[config] ${join(conf, '30-tags.yml')}: tags.nofailover: expected true or false, got "maybe"`);

    writeFileSync(join(conf, '30-tags.yml'), 'tags:\n  nofailover: "true"\nbootstrap:\n  initdb: null\n');
    const config = loadConfig({ file: conf, env: {} });
    expect(config.name).toBe('postgresql1');
    expect(config.postgresql.connect_address).toBe('127.0.0.1:5433');
    expect(config.postgresql.listen).toBe('127.0.0.1:5432');
    expect(config.tags.nofailover).toBe(true);
    // A null removes the key, as in Patroni's merge.
    expect(config.bootstrap.initdb).toBeUndefined();
  });

  it('refuses an empty directory and a missing file', () => {
    expect(errorOf(() => loadConfig({ file: dir, env: {} })).message).toMatch(/holds no \*\.yml or \*\.yaml file/);
    const missing = join(dir, 'nope.yml');
    const error = errorOf(() => loadConfig({ file: missing, env: {} }));
    expect(error.source).toBe(missing);
    expect(error.message).toMatch(/cannot read: ENOENT/);
  });

  it('uses PATRONI_CONFIGURATION without any other variable when no file is given', () => {
    const config = loadConfig({ env: { PATRONI_CONFIGURATION: POSTGRES0_YML, PATRONI_NAME: 'ignored' } });
    expect(config.name).toBe('postgresql0');
    const error = errorOf(() => loadConfig({ env: { PATRONI_CONFIGURATION: 'scope: [' } }));
    expect(error.source).toBe('PATRONI_CONFIGURATION');
  });

  it('builds the whole configuration from the environment alone', () => {
    const result = loadConfigWithWarnings({
      homeDir: HOME,
      env: {
        PATRONI_SCOPE: 'batman',
        PATRONI_NAME: 'pg1',
        PATRONI_RESTAPI_LISTEN: '127.0.0.1:8008',
        PATRONI_RESTAPI_CONNECT_ADDRESS: '127.0.0.1:8008',
        PATRONI_ETCD3_HOSTS: '127.0.0.1:2379,127.0.0.2',
        PATRONI_POSTGRESQL_LISTEN: '127.0.0.1:5432',
        PATRONI_POSTGRESQL_CONNECT_ADDRESS: '127.0.0.1:5432',
        PATRONI_POSTGRESQL_DATA_DIR: '/data/pg1',
        PATRONI_SUPERUSER_USERNAME: 'postgres',
        PATRONI_REPLICATION_USERNAME: 'replicator',
        PATRONI_REPLICATION_PASSWORD: 'rep',
      },
    });
    expect(result.warnings).toEqual([]);
    expect(result.config.etcd3?.hosts).toEqual(['127.0.0.1:2379', '127.0.0.2:2379']);
    expect(result.config.postgresql.authentication.replication).toEqual({ username: 'replicator', password: 'rep' });
  });

  it('blames the environment for a missing required key when nothing else was given', () => {
    const error = errorOf(() => loadConfig({ env: { PATRONI_NAME: 'pg1' } }));
    expect(isPgwardenError(error, 'CONFIG_INVALID')).toBe(true);
    expect(error.issues.map((issue) => `${issue.source} ${issue.key}`)).toEqual([
      'environment scope',
      'environment restapi',
      'environment postgresql',
      'environment ',
    ]);
  });
});
