import { describe, expect, it } from 'vitest';
import { etcdEndpoints, selectDcs } from './dcs.js';
import { formatHostPort, parseHostPort, parseListen, tryParseHostPort } from './hostport.js';
import { parseConfig } from './load.js';
import { redactConfig } from './redact.js';
import { POSTGRES0_YML, withLine } from './test-fixtures.js';

describe('host and port parsing', () => {
  it('parseHostPort', () => {
    expect(parseHostPort('127.0.0.1:8008')).toEqual({ host: '127.0.0.1', port: 8008 });
    expect(parseHostPort('[::1]:5432')).toEqual({ host: '::1', port: 5432 });
    expect(parseHostPort('db.example:5432')).toEqual({ host: 'db.example', port: 5432 });
    expect(parseHostPort(':8008')).toEqual({ host: '', port: 8008 });
    expect(parseHostPort('etcd', 2379)).toEqual({ host: 'etcd', port: 2379 });
    expect(() => parseHostPort('127.0.0.1')).toThrow('invalid host:port "127.0.0.1"');
    expect(tryParseHostPort('127.0.0.1:0')).toBeUndefined();
    expect(tryParseHostPort('127.0.0.1:65536')).toBeUndefined();
    expect(tryParseHostPort('a b:1')).toBeUndefined();
  });

  it('parseListen', () => {
    expect(parseListen('127.0.0.1:5432')).toEqual({ hosts: ['127.0.0.1'], port: 5432 });
    expect(parseListen('127.0.0.1, 10.0.0.1,[::1]:5433')).toEqual({ hosts: ['127.0.0.1', '10.0.0.1', '::1'], port: 5433 });
    expect(parseListen('*:5432')).toEqual({ hosts: ['*'], port: 5432 });
    expect(() => parseListen('127.0.0.1,:5432')).toThrow(/invalid listen address/);
  });

  it('formatHostPort brackets IPv6', () => {
    expect(formatHostPort('::1', 2379)).toBe('[::1]:2379');
    expect(formatHostPort('h', 1)).toBe('h:1');
  });
});

describe('redactConfig', () => {
  it('hides every password and key passphrase, without touching the original', () => {
    const config = parseConfig(
      withLine(POSTGRES0_YML, '  host: 127.0.0.1:2379', '  host: 127.0.0.1:2379\n  password: etcd-pw'),
      'p.yml',
      { PATRONI_RESTAPI_KEYFILE_PASSWORD: 'kp', PATRONI_RESTAPI_CERTFILE: '/c', PATRONI_RESTAPI_KEYFILE: '/k' },
    );
    const redacted = redactConfig(config);
    expect(redacted.restapi.authentication).toEqual({ username: 'patroni', password: '***' });
    expect(redacted.restapi.keyfile_password).toBe('***');
    expect(redacted.postgresql.authentication.superuser).toEqual({ username: 'postgres', password: '***' });
    expect(redacted.postgresql.authentication.replication.password).toBe('***');
    expect(redacted.etcd3?.password).toBe('***');
    expect(JSON.stringify(redacted)).not.toMatch(/zalando|rep-pass|api-secret|etcd-pw|rewind_password/);
    expect(config.postgresql.authentication.superuser.password).toBe('zalando');
  });

  it('hides ZooKeeper auth_data and Consul tokens', () => {
    expect(redactConfig({ zookeeper: { auth_data: { digest: 'u:p' } }, consul: { token: 't', host: 'h' } })).toEqual({
      zookeeper: { auth_data: { digest: '***' } },
      consul: { token: '***', host: 'h' },
    });
  });
});

describe('selectDcs and etcdEndpoints', () => {
  it('selects the configured section and builds client URLs', () => {
    const config = parseConfig(withLine(POSTGRES0_YML, '  host: 127.0.0.1:2379', '  hosts: [a, b:2380]\n  protocol: https'), 'p.yml');
    const selection = selectDcs(config);
    expect(selection.kind).toBe('etcd3');
    expect(selection.kind === 'etcd3' && etcdEndpoints(selection.settings)).toEqual(['https://a:2379', 'https://b:2380']);
    expect(etcdEndpoints({ host: '127.0.0.1:2379' })).toEqual(['http://127.0.0.1:2379']);
    expect(etcdEndpoints({ url: 'http://x:1', host: 'y:2' })).toEqual(['http://x:1']);
  });
});
