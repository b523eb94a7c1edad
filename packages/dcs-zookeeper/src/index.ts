export type { ZooKeeperDcsOptions } from './zookeeper-dcs.js';
export { createZooKeeperDcs } from './zookeeper-dcs.js';
