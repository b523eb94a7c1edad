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
  const configured = ['zookeeper', 'consul', 'kubernetes', 'exhibitor', 'raft'].find((kind) => config[kind] !== undefined);
  throw new PgwardenError(
    'agent',
    'CONFIG_INVALID',
    configured
      ? `the ${configured} DCS plugin is not available in this version of pgwarden; use etcd3`
      : 'no DCS section in the configuration (etcd3, zookeeper, consul or kubernetes)',
  );
}
