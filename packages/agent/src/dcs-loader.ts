/** Picks the DCS plugin from the configuration section present, importing only that plugin. */
import type { Dcs, DcsIdentity, Logger } from '@pgwarden/core';
import { PgwardenError } from '@pgwarden/core';
import type { PgwardenConfig } from '@pgwarden/config';

export async function createDcs(config: PgwardenConfig, identity: DcsIdentity, logger: Logger): Promise<Dcs> {
  const etcd = config.etcd3 ?? config.etcd;
  if (etcd) {
    const { createEtcdDcs } = await import('@pgwarden/dcs-etcd');
    const hosts = etcd.hosts ?? (etcd.host ? [etcd.host] : ['127.0.0.1:2379']);
    return createEtcdDcs({
      ...identity,
      hosts,
      ...(etcd.protocol ? { protocol: etcd.protocol } : {}),
      ...(etcd.username ? { username: etcd.username } : {}),
      ...(etcd.password ? { password: etcd.password } : {}),
      logger,
    });
  }
  const zookeeper = config.zookeeper;
  if (zookeeper) {
    const { createZooKeeperDcs } = await import('@pgwarden/dcs-zookeeper');
    // Patroni takes `hosts` as a YAML list or a comma-separated string.
    const configured = zookeeper['hosts'];
    const hosts = (Array.isArray(configured) ? configured.map(String) : String(configured ?? '127.0.0.1:2181').split(','))
      .map((host) => host.trim())
      .filter(Boolean);
    return createZooKeeperDcs({ ...identity, hosts, logger });
  }
  const consul = config.consul;
  if (consul) {
    const { createConsulDcs } = await import('@pgwarden/dcs-consul');
    const text = (key: string): string | undefined => (typeof consul[key] === 'string' ? (consul[key] as string) : undefined);
    const list = (key: string): string[] | undefined => {
      const value = consul[key];
      if (Array.isArray(value)) return value.map(String);
      return typeof value === 'string' ? value.split(',').map((item) => item.trim()).filter(Boolean) : undefined;
    };
    const port = Number(consul['port']);
    const scheme = text('scheme');
    const consistency = text('consistency');
    const checks = list('checks');
    const serviceTags = list('service_tags');
    const checkInterval = text('service_check_interval');
    const tlsServerName = text('service_check_tls_server_name');
    return createConsulDcs({
      ...identity,
      ...(text('url') ? { url: text('url')! } : { host: text('host') ?? '127.0.0.1:8500' }),
      ...(Number.isInteger(port) && port > 0 ? { port } : {}),
      ...(scheme === 'http' || scheme === 'https' ? { scheme } : {}),
      ...(text('token') ? { token: text('token')! } : {}),
      ...(text('dc') ? { dc: text('dc')! } : {}),
      ...(consistency === 'default' || consistency === 'consistent' || consistency === 'stale' ? { consistency } : {}),
      ...(checks ? { checks } : {}),
      ...(consul['register_service'] === true || consul['register_service'] === 'true' ? { registerService: true } : {}),
      ...(serviceTags ? { serviceTags } : {}),
      ...(checkInterval ? { serviceCheckInterval: checkInterval } : {}),
      ...(tlsServerName ? { serviceCheckTlsServerName: tlsServerName } : {}),
      logger,
    });
  }
  const kubernetes = config.kubernetes;
  if (kubernetes) {
    const { createKubernetesDcs } = await import('@pgwarden/dcs-k8s');
    const text = (key: string): string | undefined => (typeof kubernetes[key] === 'string' ? (kubernetes[key] as string) : undefined);
    const labels = kubernetes['labels'];
    const ports = Array.isArray(kubernetes['ports'])
      ? (kubernetes['ports'] as { name?: unknown; port?: unknown }[])
          .map((port) => ({ ...(typeof port.name === 'string' ? { name: port.name } : {}), port: Number(port.port) }))
          .filter((port) => Number.isInteger(port.port))
      : undefined;
    const useEndpoints = kubernetes['use_endpoints'];
    return createKubernetesDcs({
      ...identity,
      ...(text('namespace') ? { kubernetesNamespace: text('namespace')! } : {}),
      ...(labels && typeof labels === 'object' ? { labels: Object.fromEntries(Object.entries(labels).map(([k, v]) => [k, String(v)])) } : {}),
      ...(text('scope_label') ? { scopeLabel: text('scope_label')! } : {}),
      ...(text('role_label') ? { roleLabel: text('role_label')! } : {}),
      ...(text('leader_label_value') ? { leaderLabelValue: text('leader_label_value')! } : {}),
      ...(text('follower_label_value') ? { followerLabelValue: text('follower_label_value')! } : {}),
      ...(text('standby_leader_label_value') ? { standbyLeaderLabelValue: text('standby_leader_label_value')! } : {}),
      ...(useEndpoints === true || useEndpoints === 'true' ? { useEndpoints: true } : {}),
      ...(text('pod_ip') ? { podIp: text('pod_ip')! } : {}),
      ...(ports ? { ports } : {}),
      ...(text('context') ? { context: text('context')! } : {}),
      // pgwarden extension: a plain API URL with no credentials (the emulator in tests, `kubectl proxy`).
      ...(text('api_url') ? { apiUrl: text('api_url')! } : {}),
      logger,
    });
  }
  const unsupported = ['exhibitor', 'raft'].find((kind) => config[kind] !== undefined);
  throw new PgwardenError(
    'agent',
    'CONFIG_INVALID',
    unsupported
      ? `the ${unsupported} DCS is not supported by pgwarden; use etcd3, zookeeper, consul or kubernetes`
      : 'no DCS section in the configuration (etcd3, zookeeper, consul or kubernetes)',
  );
}
