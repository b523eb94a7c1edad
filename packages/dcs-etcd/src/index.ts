export type { EtcdDcsOptions } from './etcd-dcs.js';
export { createEtcdDcs } from './etcd-dcs.js';
