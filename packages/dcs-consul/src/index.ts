export type { ConsulConsistency, ConsulDcsOptions } from './consul-dcs.js';
export { createConsulDcs, serviceNameFromScope } from './consul-dcs.js';
