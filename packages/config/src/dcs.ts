import type { DcsKind, EtcdConfig, OpaqueDcsConfig, PgwardenConfig } from './types.js';
import { DCS_KINDS } from './validate.js';

export type DcsSelection =
  | { readonly kind: 'etcd3' | 'etcd'; readonly settings: EtcdConfig }
  | { readonly kind: Exclude<DcsKind, 'etcd3' | 'etcd'>; readonly settings: OpaqueDcsConfig };

/** The one DCS section a validated configuration holds, so the agent can load the matching plugin. */
export function selectDcs(config: PgwardenConfig): DcsSelection {
  for (const kind of DCS_KINDS) {
    if (kind === 'etcd3' || kind === 'etcd') {
      const settings = config[kind];
      if (settings) return { kind, settings };
      continue;
    }
    const settings = config[kind];
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
