import type { ConsulConfig, EtcdConfig, KubernetesConfig, OpaqueDcsConfig, PgwardenConfig, ZooKeeperConfig } from './types.js';
import { DCS_KINDS } from './validate.js';

export type DcsSelection =
  | { readonly kind: 'etcd3' | 'etcd'; readonly settings: EtcdConfig }
  | { readonly kind: 'zookeeper'; readonly settings: ZooKeeperConfig }
  | { readonly kind: 'consul'; readonly settings: ConsulConfig }
  | { readonly kind: 'kubernetes'; readonly settings: KubernetesConfig }
  | { readonly kind: 'exhibitor' | 'raft'; readonly settings: OpaqueDcsConfig };

/** The one DCS section a validated configuration holds. To open it, see `dcsPluginRequest`. */
export function selectDcs(config: PgwardenConfig): DcsSelection {
  for (const kind of DCS_KINDS) {
    const settings = config[kind];
    // `config[kind]` is typed per kind; TypeScript cannot correlate the two through the loop variable.
    if (settings) return { kind, settings };
  }
  throw new TypeError('configuration has no DCS section (was it validated?)');
}

/**
 * Client URLs for an etcd section: `url`, else `proxy`, else every `hosts`/`host` entry with `protocol`
 * (default http). Empty when only `srv` is set (DNS discovery is left to the plugin).
 */
export function etcdEndpoints(etcd: EtcdConfig): string[] {
  if (etcd.url !== undefined) return [etcd.url];
  if (etcd.proxy !== undefined) return [etcd.proxy];
  const protocol = etcd.protocol ?? 'http';
  const hosts = etcd.hosts ?? (etcd.host === undefined ? [] : [etcd.host]);
  return hosts.map((host) => `${protocol}://${host}`);
}
