import { beforeEach, describe, expect, it, vi } from 'vitest';
import { parseConfig } from '@pgwarden/config';
import { silentLogger } from '@pgwarden/core';
import type { Dcs, DcsIdentity } from '@pgwarden/core';
import { createDcs } from './dcs-loader.js';

// Each plugin is replaced by a factory that records what it was given: the loader's job is to pick the plugin
// and hand it the mapped options with the identity and the logger (the mapping itself is tested in @pgwarden/config).
const { calls, fake } = vi.hoisted(() => {
  const recorded: { plugin: string; options: Record<string, unknown> }[] = [];
  const factory = (plugin: string) => (options: Record<string, unknown>) => {
    recorded.push({ plugin, options });
    return { plugin } as unknown as Dcs;
  };
  return { calls: recorded, fake: factory };
});
vi.mock('@pgwarden/dcs-etcd', () => ({ createEtcdDcs: fake('etcd') }));
vi.mock('@pgwarden/dcs-zookeeper', () => ({ createZooKeeperDcs: fake('zookeeper') }));
vi.mock('@pgwarden/dcs-consul', () => ({ createConsulDcs: fake('consul') }));
vi.mock('@pgwarden/dcs-k8s', () => ({ createKubernetesDcs: fake('kubernetes') }));

const BASE = `scope: demo
name: node1
restapi:
  listen: 0.0.0.0:8008
  connect_address: 10.0.0.1:8008
postgresql:
  listen: 0.0.0.0:5432
  connect_address: 10.0.0.1:5432
  data_dir: /var/lib/pg/data
  pgpass: /tmp/pgpass
  authentication:
    superuser: {username: postgres}
    replication: {username: replicator}
`;
const identity: DcsIdentity = { scope: 'demo', namespace: '/service', name: 'node1', ttl: 30, retryTimeout: 10 };

function configWith(section: string) {
  return parseConfig(`${BASE}${section}`, 'node1.yml', {});
}

describe('createDcs', () => {
  beforeEach(() => {
    calls.length = 0;
  });

  it('opens etcd3 (also for an etcd section) with the identity, the mapped options and the logger', async () => {
    await createDcs(configWith('etcd:\n  hosts: 10.0.0.1,10.0.0.2:2380\n  protocol: https\n  password: pw\n'), identity, silentLogger);
    expect(calls).toEqual([
      { plugin: 'etcd', options: { ...identity, hosts: ['10.0.0.1:2379', '10.0.0.2:2380'], protocol: 'https', password: 'pw', logger: silentLogger } },
    ]);
  });

  it('opens ZooKeeper, Consul and Kubernetes with their sections mapped', async () => {
    await createDcs(configWith('zookeeper:\n  hosts: zk1:2181, zk2:2181\n'), identity, silentLogger);
    await createDcs(configWith('consul:\n  host: c:8501\n  register_service: true\n'), identity, silentLogger);
    await createDcs(configWith('kubernetes:\n  namespace: db\n  api_url: http://127.0.0.1:8001\n'), identity, silentLogger);
    expect(calls).toEqual([
      { plugin: 'zookeeper', options: { ...identity, hosts: ['zk1:2181', 'zk2:2181'], logger: silentLogger } },
      { plugin: 'consul', options: { ...identity, host: 'c:8501', registerService: true, logger: silentLogger } },
      { plugin: 'kubernetes', options: { ...identity, kubernetesNamespace: 'db', apiUrl: 'http://127.0.0.1:8001', logger: silentLogger } },
    ]);
  });

  it('refuses exhibitor and raft as the agent did, opening nothing', async () => {
    await expect(createDcs(configWith('raft:\n  self_addr: 127.0.0.1:2222\n'), identity, silentLogger)).rejects.toThrow(
      '[agent] the raft DCS is not supported by pgwarden; use etcd3, zookeeper, consul or kubernetes',
    );
    expect(calls).toEqual([]);
  });
});
