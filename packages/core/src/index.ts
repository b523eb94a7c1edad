export type { PgwardenErrorCode } from './errors.js';
export { PgwardenError, DcsUnreachableError, isPgwardenError } from './errors.js';
export type { Clock, Logger, LogLevel } from './ports.js';
export { silentLogger, childLogger } from './ports.js';
export { parseLsn, formatLsn } from './lsn.js';
export type {
  Cluster,
  ClusterConfig,
  ClusterStatus,
  Failover,
  Leader,
  Member,
  MemberData,
  MemberRole,
  PostgresState,
  SyncState,
  Tags,
  TimelineHistory,
  TimelineHistoryEntry,
  ValueVersion,
} from './model.js';
export {
  POSTGRES_STATES,
  EMPTY_STATUS,
  emptyCluster,
  findMember,
  tagIsTrue,
  memberTags,
  failoverPriority,
  isNoFailover,
  memberWalPosition,
  clusterTimeline,
} from './model.js';
export type { RawCluster, RawMember, RawValue, MalformedValue, MalformedReporter } from './codec.js';
export {
  buildCluster,
  decodeMember,
  encodeMember,
  decodeConfig,
  encodeConfig,
  decodeFailover,
  encodeFailover,
  decodeSync,
  encodeSync,
  decodeHistory,
  encodeHistory,
  decodeStatus,
  encodeStatus,
  decodeFailsafe,
  encodeFailsafe,
} from './codec.js';
export type { Dcs, DcsIdentity } from './dcs.js';
export { clusterPrefix } from './dcs.js';
export type {
  ControlState,
  DataDirectoryState,
  PostgresController,
  PostgresObservation,
  Progress,
  ReplicationRow,
  StartOptions,
  StopMode,
  Upstream,
} from './postgres.js';
export { slotNameForMember } from './postgres.js';
