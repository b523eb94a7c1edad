import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { isPgwardenError } from '@pgwarden/core';
import { dcsPluginRequest } from './dcs-request.js';
import { ConfigError } from './errors.js';
import { parseConfig, parseConfigWithWarnings } from './load.js';
import { POSTGRES0_YML } from './test-fixtures.js';
import type { DcsSections } from './types.js';
import { validateDcsSections } from './validate.js';

/** The sample configuration with its etcd3 section replaced by `section` (YAML text starting at column 0). */
function withDcs(section: string): string {
  return POSTGRES0_YML.replace('etcd3:\n  host: 127.0.0.1:2379\n', section.endsWith('\n') ? section : `${section}\n`);
}

function problem(section: string, env?: Record<string, string>): string {
  try {
    parseConfig(withDcs(section), 'postgres0.yml', env);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected the configuration to be refused');
}

describe('DCS sections are typed and checked with Patroni keys', () => {
  it('reads a ZooKeeper section, hosts as a list or a comma-separated string', () => {
    const config = parseConfig(
      withDcs(
        'zookeeper:\n  hosts: " zk1:2181, zk2 ,[::1]:2182"\n  use_ssl: false\n  verify: true\n' +
          '  set_acls:\n    CN=principal: [read, ALL]\n  auth_data:\n    digest: user:1234\n',
      ),
      'postgres0.yml',
    );
    expect(config.zookeeper).toEqual({
      hosts: ['zk1:2181', 'zk2', '[::1]:2182'],
      use_ssl: false,
      verify: true,
      set_acls: { 'CN=principal': ['READ', 'ALL'] },
      auth_data: { digest: 'user:1234' },
    });
    expect(parseConfig(withDcs('zookeeper:\n  hosts: [zk1:2181, zk2:2181]'), 'f.yml').zookeeper?.hosts).toEqual(['zk1:2181', 'zk2:2181']);
  });

  it('reads a Consul section', () => {
    const config = parseConfig(
      withDcs(
        'consul:\n  host: consul.local:8501\n  port: 8500\n  scheme: HTTPS\n  token: 1234\n  dc: dc1\n  consistency: stale\n' +
          '  checks: serfHealth, maint\n  register_service: "true"\n  service_tags: [a, b]\n  service_check_interval: 10s\n' +
          '  service_check_tls_server_name: pg.local\n',
      ),
      'postgres0.yml',
    );
    expect(config.consul).toEqual({
      host: 'consul.local:8501',
      port: 8500,
      scheme: 'https',
      token: '1234',
      dc: 'dc1',
      consistency: 'stale',
      checks: ['serfHealth', 'maint'],
      register_service: true,
      service_tags: ['a', 'b'],
      service_check_interval: '10s',
      service_check_tls_server_name: 'pg.local',
    });
  });

  it('reads a Kubernetes section, label values as strings, with the api_url extension', () => {
    const config = parseConfig(
      withDcs(
        'kubernetes:\n  namespace: db\n  labels: {application: patroni, version: 15, managed: true}\n  use_endpoints: true\n' +
          '  pod_ip: 10.0.0.7\n  ports: [{name: postgresql, port: 5432}]\n  retriable_http_codes: 401\n' +
          '  leader_label_value: master\n  api_url: http://127.0.0.1:8001\n',
      ),
      'postgres0.yml',
    );
    expect(config.kubernetes).toEqual({
      namespace: 'db',
      labels: { application: 'patroni', version: '15', managed: 'true' },
      use_endpoints: true,
      pod_ip: '10.0.0.7',
      ports: [{ name: 'postgresql', port: 5432 }],
      retriable_http_codes: [401],
      leader_label_value: 'master',
      api_url: 'http://127.0.0.1:8001',
    });
  });

  const refusals: readonly (readonly [string, string, string])[] = [
    ['a ZooKeeper host with a bad port', 'zookeeper:\n  hosts: [zk1:2181, "zk2:x"]', 'zookeeper.hosts[1]: expected "host[:port]", got "zk2:x"'],
    ['ZooKeeper hosts as a mapping', 'zookeeper:\n  hosts: {a: 1}', 'zookeeper.hosts: expected a list of "host:port" or a comma-separated string, got a mapping'],
    ['an unknown ZooKeeper permission', 'zookeeper:\n  hosts: zk\n  set_acls:\n    admin: [READ, EVERYTHING]', 'zookeeper.set_acls.admin[1]: expected one of "CREATE", "READ", "WRITE", "DELETE", "ADMIN", "ALL", got "EVERYTHING"'],
    ['ZooKeeper use_ssl that is not a boolean', 'zookeeper:\n  hosts: zk\n  use_ssl: sometimes', 'zookeeper.use_ssl: expected true or false, got "sometimes"'],
    ['a Consul port out of range', 'consul:\n  host: c\n  port: 85000', 'consul.port: must be at most 65535, got 85000'],
    ['a Consul port as text', 'consul:\n  host: c\n  port: "8500"', 'consul.port: expected an integer, got "8500"'],
    ['a Consul host with a bad port', 'consul:\n  host: c:http', 'consul.host: expected "host[:port]", got "c:http"'],
    ['a Consul url without a scheme', 'consul:\n  url: consul.local:8500', 'consul.url: expected an http(s) URL, got "consul.local:8500"'],
    ['an unknown Consul consistency', 'consul:\n  host: c\n  consistency: eventual', 'consul.consistency: expected one of "default", "consistent", "stale", got "eventual"'],
    ['an unknown Consul scheme', 'consul:\n  host: c\n  scheme: ftp', 'consul.scheme: expected one of "http", "https", got "ftp"'],
    ['Kubernetes labels that are not a mapping', 'kubernetes:\n  labels: application=patroni', 'kubernetes.labels: expected a mapping, got "application=patroni"'],
    ['a Kubernetes label value that is a list', 'kubernetes:\n  labels: {a: [1]}', 'kubernetes.labels.a: expected a string, got a list'],
    ['a Kubernetes port without a port', 'kubernetes:\n  ports: [{name: postgresql}]', 'kubernetes.ports[0].port: is required'],
    ['a Kubernetes port that is text', 'kubernetes:\n  ports: [{name: postgresql, port: pg}]', 'kubernetes.ports[0].port: expected an integer, got "pg"'],
    ['a retriable HTTP code that is not one', 'kubernetes:\n  retriable_http_codes: [401, 1000]', 'kubernetes.retriable_http_codes[1]: expected an HTTP status code, got 1000'],
    ['an api_url that is not a URL', 'kubernetes:\n  api_url: localhost', 'kubernetes.api_url: expected an http(s) URL, got "localhost"'],
    ['an empty Kubernetes namespace', "kubernetes:\n  namespace: ''", 'kubernetes.namespace: must not be empty'],
  ];

  it.each(refusals)('refuses %s, naming the file and the key', (_title, section, expected) => {
    expect(problem(section).split('\n')[0]).toBe(`[config] postgres0.yml: ${expected}`);
  });

  it('reports every problem of a section at once', () => {
    const message = problem('consul:\n  port: 0\n  scheme: ftp\n  register_service: perhaps');
    expect(message.split('\n')).toEqual([
      '[config] postgres0.yml: consul.port: must be at least 1, got 0',
      '  postgres0.yml: consul.scheme: expected one of "http", "https", got "ftp"',
      '  postgres0.yml: consul.register_service: expected true or false, got "perhaps"',
    ]);
  });

  it('warns about unknown keys and about Patroni keys pgwarden does not honour, and not about neutral values', () => {
    const { warnings } = parseConfigWithWarnings(
      withDcs('zookeeper:\n  hosts: zk\n  use_ssl: false\n  verify: true\n  set_acls: {admin: [ALL]}\n  host: zk'),
      'postgres0.yml',
    );
    expect(warnings.filter((warning) => warning.key.startsWith('zookeeper')).map((warning) => `${warning.key}: ${warning.message}`)).toEqual([
      'zookeeper.host: is not a zookeeper setting; ignored',
      'zookeeper.set_acls: is not supported by pgwarden yet; ignored',
    ]);
    const etcd = parseConfigWithWarnings(withDcs('etcd3:\n  srv: example.org\n  cacert: /ca.pem'), 'postgres0.yml').warnings;
    expect(etcd.map((warning) => warning.key)).toEqual(expect.arrayContaining(['etcd3.srv', 'etcd3.cacert']));
    const kubernetes = parseConfigWithWarnings(withDcs('kubernetes:\n  api_url: http://127.0.0.1:1\n  bypass_api_service: false'), 'f.yml').warnings;
    expect(kubernetes.filter((warning) => warning.key.startsWith('kubernetes'))).toEqual([]);
  });
});

describe('the PATRONI_* mapping of DCS sections yields the typed shapes', () => {
  const withoutDcs = withDcs('');

  it('ZooKeeper, from the generic suffix rule', () => {
    const config = parseConfig(withoutDcs, 'postgres0.yml', {
      PATRONI_ZOOKEEPER_HOSTS: "'zk1:2181','zk2:2181'",
      PATRONI_ZOOKEEPER_USE_SSL: 'off',
      PATRONI_ZOOKEEPER_SET_ACLS: "CN=principal: ['read']",
      PATRONI_ZOOKEEPER_AUTH_DATA: 'digest: user:pass',
    });
    expect(config.zookeeper).toEqual({
      hosts: ['zk1:2181', 'zk2:2181'],
      use_ssl: false,
      set_acls: { 'CN=principal': ['READ'] },
      auth_data: { digest: 'user:pass' },
    });
    expect(dcsPluginRequest(config)).toEqual({ kind: 'zookeeper', options: { hosts: ['zk1:2181', 'zk2:2181'] } });
  });

  it('Consul', () => {
    const config = parseConfig(withoutDcs, 'postgres0.yml', {
      PATRONI_CONSUL_HOST: '10.0.0.1',
      PATRONI_CONSUL_PORT: '8501',
      PATRONI_CONSUL_CHECKS: 'serfHealth',
      PATRONI_CONSUL_REGISTER_SERVICE: 'yes',
      PATRONI_CONSUL_SERVICE_TAGS: 'a,b',
      PATRONI_CONSUL_TOKEN: 'secret',
    });
    expect(config.consul).toEqual({ host: '10.0.0.1', port: 8501, checks: ['serfHealth'], register_service: true, service_tags: ['a', 'b'], token: 'secret' });
  });

  it('Kubernetes, as a StatefulSet sets it', () => {
    const config = parseConfig(withoutDcs, 'postgres0.yml', {
      PATRONI_KUBERNETES_NAMESPACE: 'db',
      PATRONI_KUBERNETES_LABELS: '{application: patroni, version: 15}',
      PATRONI_KUBERNETES_USE_ENDPOINTS: 'true',
      PATRONI_KUBERNETES_POD_IP: '10.0.0.7',
      PATRONI_KUBERNETES_PORTS: '[{"name": "postgresql", "port": 5432}]',
      PATRONI_KUBERNETES_RETRIABLE_HTTP_CODES: '401',
    });
    expect(config.kubernetes).toEqual({
      namespace: 'db',
      labels: { application: 'patroni', version: '15' },
      use_endpoints: true,
      pod_ip: '10.0.0.7',
      ports: [{ name: 'postgresql', port: 5432 }],
      retriable_http_codes: [401],
    });
  });

  it('blames the variable for a value of the wrong shape', () => {
    expect(problem('', { PATRONI_KUBERNETES_PORTS: '[5432]' })).toBe(
      '[config] environment: kubernetes.ports[0]: expected a mapping, got 5432 (from PATRONI_KUBERNETES_PORTS)',
    );
  });
});

describe('dcsPluginRequest maps a section to plugin options', () => {
  it('etcd: host:port entries with the protocol, the default host, url winning, etcd served by etcd3', () => {
    expect(dcsPluginRequest({ etcd3: { hosts: ['a:2379', 'b:2379'], protocol: 'https', username: 'root', password: 'pw' } })).toEqual({
      kind: 'etcd3',
      options: { hosts: ['a:2379', 'b:2379'], protocol: 'https', username: 'root', password: 'pw' },
    });
    expect(dcsPluginRequest({ etcd: { host: 'a:2379' } })).toEqual({ kind: 'etcd3', options: { hosts: ['a:2379'] } });
    expect(dcsPluginRequest({ etcd3: { srv: 'example.org' } }).options).toEqual({ hosts: ['127.0.0.1:2379'] });
    expect(dcsPluginRequest({ etcd3: { url: 'https://e:2379', host: 'a:2379' } }).options).toEqual({ hosts: ['https://e:2379'] });
    expect(dcsPluginRequest({ etcd3: { proxy: 'http://p:2379' } }).options).toEqual({ hosts: ['http://p:2379'] });
    expect(dcsPluginRequest({ etcd3: { host: 'a:2379', username: '', password: '' } }).options).toEqual({ hosts: ['a:2379'] });
  });

  it('ZooKeeper: the default host', () => {
    expect(dcsPluginRequest({ zookeeper: {} })).toEqual({ kind: 'zookeeper', options: { hosts: ['127.0.0.1:2181'] } });
  });

  it('Consul: host as "host:port" by default, url instead of host, every option', () => {
    expect(dcsPluginRequest({ consul: {} })).toEqual({ kind: 'consul', options: { host: '127.0.0.1:8500' } });
    expect(dcsPluginRequest({ consul: { url: 'https://c:8501', host: 'ignored' } }).options).toEqual({ url: 'https://c:8501' });
    expect(
      dcsPluginRequest({
        consul: {
          host: 'c',
          port: 8501,
          scheme: 'https',
          token: 't',
          dc: 'dc1',
          consistency: 'consistent',
          checks: ['serfHealth'],
          register_service: true,
          service_tags: ['x'],
          service_check_interval: '10s',
          service_check_tls_server_name: 'pg',
          verify: false,
        },
      }).options,
    ).toEqual({
      host: 'c',
      port: 8501,
      scheme: 'https',
      token: 't',
      dc: 'dc1',
      consistency: 'consistent',
      checks: ['serfHealth'],
      registerService: true,
      serviceTags: ['x'],
      serviceCheckInterval: '10s',
      serviceCheckTlsServerName: 'pg',
    });
    expect(dcsPluginRequest({ consul: { register_service: false } }).options).toEqual({ host: '127.0.0.1:8500' });
  });

  it('Kubernetes: kubernetesNamespace, labels, ports and the api_url extension', () => {
    expect(dcsPluginRequest({ kubernetes: {} })).toEqual({ kind: 'kubernetes', options: {} });
    expect(
      dcsPluginRequest({
        kubernetes: {
          namespace: 'db',
          labels: { application: 'patroni' },
          scope_label: 'cluster',
          role_label: 'r',
          leader_label_value: 'master',
          follower_label_value: 'replica',
          standby_leader_label_value: 'standby',
          use_endpoints: true,
          pod_ip: '10.0.0.7',
          ports: [{ name: 'postgresql', port: 5432, protocol: 'TCP' }, { port: 8008 }],
          context: 'kind',
          api_url: 'http://127.0.0.1:8001',
          bypass_api_service: true,
        },
      }).options,
    ).toEqual({
      kubernetesNamespace: 'db',
      labels: { application: 'patroni' },
      scopeLabel: 'cluster',
      roleLabel: 'r',
      leaderLabelValue: 'master',
      followerLabelValue: 'replica',
      standbyLeaderLabelValue: 'standby',
      useEndpoints: true,
      podIp: '10.0.0.7',
      ports: [{ name: 'postgresql', port: 5432 }, { port: 8008 }],
      context: 'kind',
      apiUrl: 'http://127.0.0.1:8001',
    });
  });

  it('refuses exhibitor, raft and no section, with the caller as the component', () => {
    const refusal = (sections: DcsSections, component?: string): string => {
      try {
        dcsPluginRequest(sections, component === undefined ? {} : { component });
      } catch (error) {
        expect(isPgwardenError(error, 'CONFIG_INVALID')).toBe(true);
        return (error as Error).message;
      }
      throw new Error('expected a refusal');
    };
    expect(refusal({ exhibitor: { hosts: ['x'] } }, 'agent')).toBe(
      '[agent] the exhibitor DCS is not supported by pgwarden; use etcd3, zookeeper, consul or kubernetes',
    );
    expect(refusal({ raft: {} })).toBe('[config] the raft DCS is not supported by pgwarden; use etcd3, zookeeper, consul or kubernetes');
    expect(refusal({}, 'agent')).toBe('[agent] no DCS section in the configuration (etcd3, zookeeper, consul or kubernetes)');
  });

  it('shows passwords and tokens as *** when the options are logged, but passes them on when spread', () => {
    const { options } = dcsPluginRequest({ etcd3: { host: 'a:2379', username: 'root', password: 'etcd-pw' } });
    expect(JSON.stringify(options)).toBe('{"hosts":["a:2379"],"username":"root","password":"***"}');
    expect(inspect(options)).not.toContain('etcd-pw');
    expect({ ...options }).toEqual({ hosts: ['a:2379'], username: 'root', password: 'etcd-pw' });
    expect(JSON.stringify(dcsPluginRequest({ consul: { token: 'consul-token' } }))).not.toContain('consul-token');
  });
});

describe('validateDcsSections', () => {
  it('checks a lone section the way the whole configuration is checked, and is idempotent', () => {
    const once = validateDcsSections({ zookeeper: { hosts: 'zk1:2181,zk2:2181', set_acls: { a: ['read'] } } }, 'pgwardenctl');
    expect(once).toEqual({ zookeeper: { hosts: ['zk1:2181', 'zk2:2181'], set_acls: { a: ['READ'] } } });
    expect(validateDcsSections(once, 'pgwardenctl')).toEqual(once);
    expect(validateDcsSections({ etcd: { host: 'localhost' } }, 'x')).toEqual({ etcd: { host: 'localhost:2379' } });
  });

  it('names the source in its errors', () => {
    expect(() => validateDcsSections({ etcd3: { host: 'localhost:99999' } }, 'pgwardenctl')).toThrow(
      '[config] pgwardenctl: etcd3.host: expected "host[:port]", got "localhost:99999"',
    );
    expect(() => validateDcsSections({}, 'pgwardenctl')).toThrow(/one DCS section is required/);
  });
});
