export type { KubernetesDcsOptions, KubernetesPort } from './kubernetes-dcs.js';
export { createKubernetesDcs } from './kubernetes-dcs.js';
