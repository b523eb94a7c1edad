/**
 * Opens the configured store, importing only its plugin. Which plugin and its options come from
 * `dcsPluginRequest` in @pgwarden/config, shared with the agent; only the imports live here.
 */
import type { Dcs, DcsIdentity } from '@pgwarden/core';
import { dcsPluginRequest, validateDcsSections } from '@pgwarden/config';
import type { CtlDcsSettings } from './settings.js';

export type DcsFactory = (dcs: CtlDcsSettings, identity: DcsIdentity) => Promise<Dcs>;

export const loadDcsPlugin: DcsFactory = async ({ kind, section }, identity) => {
  // A section from `-d` has not been through the configuration's validation; one from the file passes again unchanged.
  const request = dcsPluginRequest(validateDcsSections({ [kind]: section }, 'pgwardenctl'));
  switch (request.kind) {
    case 'etcd3': {
      const { createEtcdDcs } = await import('@pgwarden/dcs-etcd');
      return createEtcdDcs({ ...identity, ...request.options });
    }
    case 'zookeeper': {
      const { createZooKeeperDcs } = await import('@pgwarden/dcs-zookeeper');
      return createZooKeeperDcs({ ...identity, ...request.options });
    }
    case 'consul': {
      const { createConsulDcs } = await import('@pgwarden/dcs-consul');
      return createConsulDcs({ ...identity, ...request.options });
    }
    case 'kubernetes': {
      const { createKubernetesDcs } = await import('@pgwarden/dcs-k8s');
      return createKubernetesDcs({ ...identity, ...request.options });
    }
  }
};
