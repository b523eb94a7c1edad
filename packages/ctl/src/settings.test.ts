import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { defaultConfigFile, loadCtlSettings, parseDcsUrl } from './settings.js';

describe('parseDcsUrl', () => {
  it('reads scheme, host, port and namespace as patronictl does', () => {
    expect(parseDcsUrl('etcd3://10.0.0.1:2399/custom')).toEqual({ kind: 'etcd3', section: { host: '10.0.0.1:2399' }, namespace: '/custom' });
    expect(parseDcsUrl('etcd://:2399')).toEqual({ kind: 'etcd', section: { host: 'localhost:2399' } });
    expect(parseDcsUrl('test')).toEqual({ kind: 'etcd', section: { host: 'test:2379' } });
    expect(parseDcsUrl('zk.local:2181')).toEqual({ kind: 'zookeeper', section: { hosts: ['zk.local:2181'] } });
    expect(parseDcsUrl('consul://c1/')).toEqual({ kind: 'consul', section: { host: 'c1:8500' } });
  });

  it('refuses unknown and unsupported stores', () => {
    expect(() => parseDcsUrl('redis://x')).toThrow(/unknown DCS scheme "redis"/);
    expect(() => parseDcsUrl('exhibitor://x')).toThrow(/not supported/);
  });
});

describe('loadCtlSettings', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });
  const file = (text: string) => {
    dir = mkdtempSync(join(tmpdir(), 'pgwardenctl-settings-'));
    const path = join(dir, 'ctl.yml');
    writeFileSync(path, text);
    return path;
  };

  it('reads the agent configuration: scope, namespace, DCS, restapi credentials', () => {
    const path = file(`scope: batman
namespace: /ns
name: pg0
restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
  authentication: { username: admin, password: secret }
  cafile: /etc/ca.pem
etcd3:
  hosts: 127.0.0.1:2379
bootstrap:
  dcs:
    loop_wait: 3
postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: /data
  authentication:
    superuser: { username: postgres }
    replication: { username: rep }
`);
    const settings = loadCtlSettings({ configFile: path, env: {} });
    expect(settings).toMatchObject({ scope: 'batman', namespace: '/ns', dcs: { kind: 'etcd3', section: { hosts: ['127.0.0.1:2379'] } }, loopWait: 3, source: path });
    expect(settings.http).toEqual({ auth: { username: 'admin', password: 'secret' }, cacert: '/etc/ca.pem', insecure: false });
  });

  it('accepts a file written for the ctl alone, with the ctl section winning over restapi', () => {
    const path = file('scope: batman\nzookeeper:\n  hosts: [127.0.0.1:2181]\nctl:\n  authentication: { username: u, password: p }\n  insecure: true\nrestapi:\n  authentication: { username: x, password: y }\n');
    const settings = loadCtlSettings({ configFile: path, env: {} });
    expect(settings.dcs).toEqual({ kind: 'zookeeper', section: { hosts: ['127.0.0.1:2181'] } });
    expect(settings.http).toEqual({ auth: { username: 'u', password: 'p' }, insecure: true });
  });

  it('still reports real mistakes in the file', () => {
    const path = file('scope: batman\netcd3:\n  hosts: 127.0.0.1:2379\nctl:\n  insecure: maybe\n');
    expect(() => loadCtlSettings({ configFile: path, env: {} })).toThrow(/ctl.insecure/);
  });

  it('lets -d (or DCS_URL) replace the DCS section and namespace; -k sets insecure', () => {
    const path = file('scope: batman\netcd3:\n  hosts: 127.0.0.1:2379\n');
    expect(loadCtlSettings({ configFile: path, dcsUrl: 'consul://c:8500/other', insecure: true, env: {} })).toMatchObject({
      dcs: { kind: 'consul', section: { host: 'c:8500' } },
      namespace: '/other',
      http: { insecure: true },
    });
    expect(loadCtlSettings({ env: { PATRONICTL_CONFIG_FILE: path, DCS_URL: 'zookeeper://z' } }).dcs.kind).toBe('zookeeper');
  });

  it('reads PATRONI_* variables without any file, as patronictl does', () => {
    const env = { HOME: '/nonexistent-home', PATRONI_ETCD3_HOSTS: "'10.0.0.1:2379','10.0.0.2:2379'", PATRONI_SCOPE: 'demo', PATRONI_NAMESPACE: '/ns' };
    const settings = loadCtlSettings({ env });
    expect(settings).toMatchObject({
      scope: 'demo',
      namespace: '/ns',
      dcs: { kind: 'etcd3', section: { hosts: ['10.0.0.1:2379', '10.0.0.2:2379'] } },
      source: 'environment',
      dcsOrigin: 'PATRONI_ETCD3_* variables',
    });
    // PATRONI_RESTAPI_* credentials reach the HTTP client too.
    const auth = loadCtlSettings({ env: { ...env, PATRONI_RESTAPI_USERNAME: 'admin', PATRONI_RESTAPI_PASSWORD: 'pw' } });
    expect(auth.http.auth).toEqual({ username: 'admin', password: 'pw' });
  });

  // Regression: the etcd-on-localhost fallback was added next to the environment's etcd3 ("only one DCS section").
  it('takes the store from PATRONI_ETCD3_HOSTS over a ctl-only file without one', () => {
    const path = file('scope: demo\n');
    const settings = loadCtlSettings({ configFile: path, env: { PATRONI_ETCD3_HOSTS: '127.0.0.1:2379' } });
    expect(settings).toMatchObject({ scope: 'demo', dcs: { kind: 'etcd3', section: { hosts: ['127.0.0.1:2379'] } }, source: path });
    // -d still wins over both.
    expect(loadCtlSettings({ configFile: path, dcsUrl: 'zookeeper://z:2181', env: { PATRONI_ETCD3_HOSTS: '127.0.0.1:2379' } })).toMatchObject({
      dcs: { kind: 'zookeeper' },
      dcsOrigin: '-d/--dcs-url',
    });
  });

  it('leaves the scope to the command line when the file has none', () => {
    const settings = loadCtlSettings({ configFile: file('etcd3:\n  hosts: h1:2379\n'), env: {} });
    expect(settings.scope).toBeUndefined();
    expect(settings.dcs).toEqual({ kind: 'etcd3', section: { hosts: ['h1:2379'] } });
  });

  it('reads PATRONI_CONFIGURATION alone, and reports bad variables', () => {
    const settings = loadCtlSettings({ env: { PATRONI_CONFIGURATION: 'scope: inline\nzookeeper:\n  hosts: [z1:2181]\n', PATRONI_SCOPE: 'ignored' } });
    expect(settings).toMatchObject({ scope: 'inline', dcs: { kind: 'zookeeper' }, source: 'PATRONI_CONFIGURATION' });
    expect(() => loadCtlSettings({ env: { PATRONI_CTL_INSECURE: 'maybe' } })).toThrow(/PATRONI_CTL_INSECURE|ctl.insecure/);
  });

  it('runs without a file (etcd on localhost) unless one was named', () => {
    const env = { HOME: '/nonexistent-home' };
    expect(defaultConfigFile(env)).toBe('/nonexistent-home/.config/patroni/patronictl.yaml');
    expect(loadCtlSettings({ env })).toMatchObject({ dcs: { kind: 'etcd', section: { host: 'localhost:2379' } }, namespace: '/service', source: 'defaults' });
    expect(() => loadCtlSettings({ configFile: '/nonexistent/ctl.yml', env })).toThrow(/does not exist/);
  });
});
