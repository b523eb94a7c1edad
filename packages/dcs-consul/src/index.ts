export type { ConsulConsistency, ConsulDcsOptions } from './consul-dcs.js';
export { createConsulDcs } from './consul-dcs.js';
