export type { NodeOperations, NodeSnapshot, RestApiNode } from './node.js';
export type { RestApiHandler, RestApiOptions, VerifyClient } from './handler.js';
export { createRestApiHandler } from './handler.js';
export type { RestApiServer, RestApiServerOptions, RestApiTlsOptions } from './server.js';
export { startRestApiServer } from './server.js';
export type { MemberStatusJson, PrimaryXlog, ReplicaXlog, ReplicationJson } from './status.js';
export { memberStatusJson } from './status.js';
export type { HealthStatus, QueryParams, ReadinessVerdict } from './health.js';
export {
  healthCheckStatus,
  replicaCheck,
  tagFiltersMatch,
  livenessStatus,
  readinessStatus,
  leaderOptime,
  replicationLag,
} from './health.js';
export type { ClusterJson, ClusterMemberJson, ClusterMemberRole } from './cluster-json.js';
export { clusterJson } from './cluster-json.js';
export { metricsText } from './metrics.js';
export { parseByteSize } from './units.js';
export type { FetchMemberStatusOptions, FetchedMemberStatus, PeerStatusEssentials } from './peer.js';
export { fetchMemberStatus, parseMemberStatus, probePeers } from './peer.js';
export type { PostFailsafeOptions } from './failsafe.js';
export { failsafeUrl, postFailsafe } from './failsafe.js';
export type { BasicCredentials, ResolveHost } from './access.js';
export { patchConfig, sameConfig, dynamicConfigProblem } from './config-patch.js';
export type { RestartFilters, RestartRequest } from './restart-request.js';
export { parseRestartRequest, postgresVersionToInt } from './restart-request.js';
