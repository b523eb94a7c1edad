/**
 * Opens the configured store, importing only its plugin. Which plugin and its options come from
 * `dcsPluginRequest` in @pgwarden/config, shared with pgwardenctl; only the imports live here.
 */
import type { Dcs, DcsIdentity, Logger } from '@pgwarden/core';
import { dcsPluginRequest } from '@pgwarden/config';
import type { PgwardenConfig } from '@pgwarden/config';

export async function createDcs(config: PgwardenConfig, identity: DcsIdentity, logger: Logger): Promise<Dcs> {
  const request = dcsPluginRequest(config, { component: 'agent' });
  switch (request.kind) {
    case 'etcd3': {
      const { createEtcdDcs } = await import('@pgwarden/dcs-etcd');
      return createEtcdDcs({ ...identity, ...request.options, logger });
    }
    case 'zookeeper': {
      const { createZooKeeperDcs } = await import('@pgwarden/dcs-zookeeper');
      return createZooKeeperDcs({ ...identity, ...request.options, logger });
    }
    case 'consul': {
      const { createConsulDcs } = await import('@pgwarden/dcs-consul');
      return createConsulDcs({ ...identity, ...request.options, logger });
    }
    case 'kubernetes': {
      const { createKubernetesDcs } = await import('@pgwarden/dcs-k8s');
      return createKubernetesDcs({ ...identity, ...request.options, logger });
    }
  }
}
