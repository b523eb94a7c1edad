/**
 * Which DCS plugin a configuration asks for, and with what options: the one mapping from Patroni's YAML keys to
 * plugin options, shared by the agent and pgwardenctl. It imports no plugin (config depends on core only): the
 * option types mirror the plugins' factories, and the callers import the chosen plugin and pass them on.
 */
import { PgwardenError } from '@pgwarden/core';
import { redactConfig } from './redact.js';
import type { ConsulConfig, ConsulConsistencyMode, DcsSections, EtcdConfig, KubernetesConfig, ZooKeeperConfig } from './types.js';

export type DcsPluginKind = 'etcd3' | 'zookeeper' | 'consul' | 'kubernetes';

/** For `createEtcdDcs` (`@pgwarden/dcs-etcd`), less the identity and the logger. */
export interface EtcdPluginOptions {
  /** `host:port` entries (joined with `protocol`), or one client URL when `url` or `proxy` is set. */
  readonly hosts: readonly string[];
  readonly protocol?: 'http' | 'https';
  readonly username?: string;
  readonly password?: string;
}

/** For `createZooKeeperDcs` (`@pgwarden/dcs-zookeeper`). */
export interface ZooKeeperPluginOptions {
  readonly hosts: readonly string[];
}

/** For `createConsulDcs` (`@pgwarden/dcs-consul`). */
export interface ConsulPluginOptions {
  /** `host` or `host:port`; absent when `url` is set. */
  readonly host?: string;
  readonly url?: string;
  readonly port?: number;
  readonly scheme?: 'http' | 'https';
  readonly token?: string;
  readonly dc?: string;
  readonly consistency?: ConsulConsistencyMode;
  readonly checks?: readonly string[];
  readonly registerService?: boolean;
  readonly serviceTags?: readonly string[];
  readonly serviceCheckInterval?: string;
  readonly serviceCheckTlsServerName?: string;
}

export interface KubernetesPluginPort {
  readonly name?: string;
  readonly port: number;
}

/** For `createKubernetesDcs` (`@pgwarden/dcs-k8s`). */
export interface KubernetesPluginOptions {
  /** `kubernetes.namespace`, named apart from the identity's key prefix `namespace`. */
  readonly kubernetesNamespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly scopeLabel?: string;
  readonly roleLabel?: string;
  readonly leaderLabelValue?: string;
  readonly followerLabelValue?: string;
  readonly standbyLeaderLabelValue?: string;
  readonly useEndpoints?: boolean;
  readonly podIp?: string;
  readonly ports?: readonly KubernetesPluginPort[];
  readonly context?: string;
  /** pgwarden extension `kubernetes.api_url`. */
  readonly apiUrl?: string;
}

export type DcsPluginRequest =
  | { readonly kind: 'etcd3'; readonly options: EtcdPluginOptions }
  | { readonly kind: 'zookeeper'; readonly options: ZooKeeperPluginOptions }
  | { readonly kind: 'consul'; readonly options: ConsulPluginOptions }
  | { readonly kind: 'kubernetes'; readonly options: KubernetesPluginOptions };

export interface DcsPluginRequestOptions {
  /** Prefix of the error raised when no supported section is configured; default `config`. */
  readonly component?: string;
}

const ETCD_DEFAULT_HOST = '127.0.0.1:2379';
const ZOOKEEPER_DEFAULT_HOST = '127.0.0.1:2181';
const CONSUL_DEFAULT_HOST = '127.0.0.1:8500';

const INSPECT = Symbol.for('nodejs.util.inspect.custom');

/** The options carry passwords and tokens: logging or serialising them shows `***` (spreading them does not). */
function secretSafe<T extends object>(options: T): T {
  const view = (): unknown => redactConfig({ ...options });
  Object.defineProperty(options, 'toJSON', { value: view });
  Object.defineProperty(options, INSPECT, { value: view });
  return options;
}

/** An empty string counts as unset, as the loaders always treated it. */
function given(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

function etcdOptions(etcd: EtcdConfig): EtcdPluginOptions {
  // The plugin takes client URLs as they are and joins bare `host:port` entries with `protocol`.
  const url = etcd.url ?? etcd.proxy;
  const hosts = url !== undefined ? [url] : (etcd.hosts ?? (given(etcd.host) ? [etcd.host] : []));
  return {
    hosts: hosts.length > 0 ? hosts : [ETCD_DEFAULT_HOST],
    ...(etcd.protocol ? { protocol: etcd.protocol } : {}),
    ...(given(etcd.username) ? { username: etcd.username } : {}),
    ...(given(etcd.password) ? { password: etcd.password } : {}),
  };
}

function zookeeperOptions(zookeeper: ZooKeeperConfig): ZooKeeperPluginOptions {
  return { hosts: zookeeper.hosts ?? [ZOOKEEPER_DEFAULT_HOST] };
}

function consulOptions(consul: ConsulConfig): ConsulPluginOptions {
  return {
    ...(given(consul.url) ? { url: consul.url } : { host: given(consul.host) ? consul.host : CONSUL_DEFAULT_HOST }),
    ...(consul.port !== undefined ? { port: consul.port } : {}),
    ...(consul.scheme ? { scheme: consul.scheme } : {}),
    ...(given(consul.token) ? { token: consul.token } : {}),
    ...(given(consul.dc) ? { dc: consul.dc } : {}),
    ...(consul.consistency ? { consistency: consul.consistency } : {}),
    ...(consul.checks ? { checks: consul.checks } : {}),
    ...(consul.register_service === true ? { registerService: true } : {}),
    ...(consul.service_tags ? { serviceTags: consul.service_tags } : {}),
    ...(given(consul.service_check_interval) ? { serviceCheckInterval: consul.service_check_interval } : {}),
    ...(given(consul.service_check_tls_server_name) ? { serviceCheckTlsServerName: consul.service_check_tls_server_name } : {}),
  };
}

function kubernetesOptions(kubernetes: KubernetesConfig): KubernetesPluginOptions {
  const ports = kubernetes.ports?.map((port) => ({ ...(port.name !== undefined ? { name: port.name } : {}), port: port.port }));
  return {
    ...(given(kubernetes.namespace) ? { kubernetesNamespace: kubernetes.namespace } : {}),
    ...(kubernetes.labels ? { labels: kubernetes.labels } : {}),
    ...(given(kubernetes.scope_label) ? { scopeLabel: kubernetes.scope_label } : {}),
    ...(given(kubernetes.role_label) ? { roleLabel: kubernetes.role_label } : {}),
    ...(given(kubernetes.leader_label_value) ? { leaderLabelValue: kubernetes.leader_label_value } : {}),
    ...(given(kubernetes.follower_label_value) ? { followerLabelValue: kubernetes.follower_label_value } : {}),
    ...(given(kubernetes.standby_leader_label_value) ? { standbyLeaderLabelValue: kubernetes.standby_leader_label_value } : {}),
    ...(kubernetes.use_endpoints === true ? { useEndpoints: true } : {}),
    ...(given(kubernetes.pod_ip) ? { podIp: kubernetes.pod_ip } : {}),
    ...(ports ? { ports } : {}),
    ...(given(kubernetes.context) ? { context: kubernetes.context } : {}),
    ...(given(kubernetes.api_url) ? { apiUrl: kubernetes.api_url } : {}),
  };
}

/**
 * The plugin and its options for the DCS section of a validated configuration (or of `validateDcsSections`).
 * `etcd` (v2 API) is served by the etcd3 plugin, as Patroni 4 does. Throws `CONFIG_INVALID` when the section is
 * `exhibitor` or `raft` (no pgwarden plugin) or when there is none.
 */
export function dcsPluginRequest(sections: DcsSections, options: DcsPluginRequestOptions = {}): DcsPluginRequest {
  const etcd = sections.etcd3 ?? sections.etcd;
  if (etcd) return { kind: 'etcd3', options: secretSafe(etcdOptions(etcd)) };
  if (sections.zookeeper) return { kind: 'zookeeper', options: zookeeperOptions(sections.zookeeper) };
  if (sections.consul) return { kind: 'consul', options: secretSafe(consulOptions(sections.consul)) };
  if (sections.kubernetes) return { kind: 'kubernetes', options: kubernetesOptions(sections.kubernetes) };
  const unsupported = (['exhibitor', 'raft'] as const).find((kind) => sections[kind] !== undefined);
  throw new PgwardenError(
    options.component ?? 'config',
    'CONFIG_INVALID',
    unsupported
      ? `the ${unsupported} DCS is not supported by pgwarden; use etcd3, zookeeper, consul or kubernetes`
      : 'no DCS section in the configuration (etcd3, zookeeper, consul or kubernetes)',
  );
}
