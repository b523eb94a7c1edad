import { beforeEach, describe, expect, it, vi } from 'vitest';
import { ConfigError } from '@pgwarden/config';
import type { Dcs, DcsIdentity } from '@pgwarden/core';
import { loadDcsPlugin } from './dcs-loader.js';
import { parseDcsUrl } from './settings.js';

// Each plugin is replaced by a factory that records what it was given (the mapping is tested in @pgwarden/config).
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

const identity: DcsIdentity = { scope: 'demo', namespace: '/service', name: 'demo', ttl: 30, retryTimeout: 10 };

describe('loadDcsPlugin', () => {
  beforeEach(() => {
    calls.length = 0;
  });

  it('opens the store a -d URL names, with the same mapping as the agent', async () => {
    for (const url of ['etcd3://10.0.0.1:2399', 'zookeeper://z', 'consul://c']) {
      const { kind, section } = parseDcsUrl(url);
      await loadDcsPlugin({ kind, section }, identity);
    }
    expect(calls).toEqual([
      { plugin: 'etcd', options: { ...identity, hosts: ['10.0.0.1:2399'] } },
      { plugin: 'zookeeper', options: { ...identity, hosts: ['z:2181'] } },
      { plugin: 'consul', options: { ...identity, host: 'c:8500' } },
    ]);
  });

  it('passes every option of a section from the file, which the old ctl loader dropped', async () => {
    await loadDcsPlugin({ kind: 'consul', section: { host: 'c', checks: ['serfHealth'], service_tags: 'a,b' } }, identity);
    await loadDcsPlugin({ kind: 'etcd', section: { url: 'https://e:2379' } }, identity);
    await loadDcsPlugin({ kind: 'kubernetes', section: { namespace: 'db', use_endpoints: true, pod_ip: '10.0.0.7', api_url: 'http://k:1' } }, identity);
    expect(calls).toEqual([
      { plugin: 'consul', options: { ...identity, host: 'c', checks: ['serfHealth'], serviceTags: ['a', 'b'] } },
      { plugin: 'etcd', options: { ...identity, hosts: ['https://e:2379'] } },
      { plugin: 'kubernetes', options: { ...identity, kubernetesNamespace: 'db', useEndpoints: true, podIp: '10.0.0.7', apiUrl: 'http://k:1' } },
    ]);
  });

  it('refuses a malformed section with a configuration error naming the key, opening nothing', async () => {
    const failure = loadDcsPlugin(parseDcsUrl('consul://c:99999'), identity);
    await expect(failure).rejects.toBeInstanceOf(ConfigError);
    await expect(failure).rejects.toThrow('[config] pgwardenctl: consul.host: expected "host[:port]", got "c:99999"');
    expect(calls).toEqual([]);
  });
});
