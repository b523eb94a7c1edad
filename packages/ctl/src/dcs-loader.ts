/**
 * Opens the configured store, importing only its plugin. The section-to-options mapping follows the agent's
 * (packages/agent/src/dcs-loader.ts); the two belong in one shared place.
 */
import type { Dcs, DcsIdentity } from '@pgwarden/core';
import { etcdEndpoints } from '@pgwarden/config';
import type { EtcdConfig } from '@pgwarden/config';
import type { CtlDcsSettings } from './settings.js';

export type DcsFactory = (dcs: CtlDcsSettings, identity: DcsIdentity) => Promise<Dcs>;

const list = (value: unknown, fallback: string[]): string[] => {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string') return value.split(',').map((item) => item.trim()).filter(Boolean);
  return fallback;
};

export const loadDcsPlugin: DcsFactory = async ({ kind, section }, identity) => {
  const text = (key: string): string | undefined => (typeof section[key] === 'string' && section[key] !== '' ? (section[key] as string) : undefined);
  switch (kind) {
    case 'etcd3':
    case 'etcd': {
      const { createEtcdDcs } = await import('@pgwarden/dcs-etcd');
      const etcd = { ...section, ...(section['hosts'] !== undefined ? { hosts: list(section['hosts'], []) } : {}) } as EtcdConfig;
      const hosts = etcdEndpoints(etcd);
      const protocol = text('protocol');
      return createEtcdDcs({
        ...identity,
        hosts: hosts.length > 0 ? hosts : ['127.0.0.1:2379'],
        ...(protocol === 'http' || protocol === 'https' ? { protocol } : {}),
        ...(text('username') ? { username: text('username')! } : {}),
        ...(text('password') ? { password: text('password')! } : {}),
      });
    }
    case 'zookeeper': {
      const { createZooKeeperDcs } = await import('@pgwarden/dcs-zookeeper');
      return createZooKeeperDcs({ ...identity, hosts: list(section['hosts'], ['127.0.0.1:2181']) });
    }
    case 'consul': {
      const { createConsulDcs } = await import('@pgwarden/dcs-consul');
      const port = Number(section['port']);
      const scheme = text('scheme');
      const consistency = text('consistency');
      return createConsulDcs({
        ...identity,
        ...(text('url') ? { url: text('url')! } : { host: text('host') ?? '127.0.0.1:8500' }),
        ...(Number.isInteger(port) && port > 0 ? { port } : {}),
        ...(scheme === 'http' || scheme === 'https' ? { scheme } : {}),
        ...(text('token') ? { token: text('token')! } : {}),
        ...(text('dc') ? { dc: text('dc')! } : {}),
        ...(consistency === 'default' || consistency === 'consistent' || consistency === 'stale' ? { consistency } : {}),
      });
    }
    case 'kubernetes': {
      const { createKubernetesDcs } = await import('@pgwarden/dcs-k8s');
      const labels = section['labels'];
      const useEndpoints = section['use_endpoints'];
      return createKubernetesDcs({
        ...identity,
        ...(text('namespace') ? { kubernetesNamespace: text('namespace')! } : {}),
        ...(labels && typeof labels === 'object' ? { labels: Object.fromEntries(Object.entries(labels).map(([key, value]) => [key, String(value)])) } : {}),
        ...(text('scope_label') ? { scopeLabel: text('scope_label')! } : {}),
        ...(text('role_label') ? { roleLabel: text('role_label')! } : {}),
        ...(useEndpoints === true || useEndpoints === 'true' ? { useEndpoints: true } : {}),
        ...(text('context') ? { context: text('context')! } : {}),
        ...(text('api_url') ? { apiUrl: text('api_url')! } : {}),
      });
    }
  }
};
