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
  PausedLeader,
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
export type { Dcs, DcsIdentity, DcsTiming } from './dcs.js';
export { clusterPrefix } from './dcs.js';
export type {
  ControlState,
  DataDirectoryState,
  PendingRestartReason,
  PostgresController,
  PostgresObservation,
  Progress,
  ReplicationRow,
  StartOptions,
  StopMode,
  Upstream,
} from './postgres.js';
export { slotNameForMember } from './postgres.js';
export type { ReplicationSlot } from './postgres.js';
export type {
  DesiredSlot,
  IgnoreSlotMatcher,
  LogicalSlotSpec,
  PermanentSlot,
  SlotChangeOutcome,
  SlotChanges,
  SlotCycleInput,
  SlotCycleResult,
  SlotPlan,
  SlotSettings,
  SlotType,
} from './ha/slots.js';
export {
  desiredSlots,
  isIgnoredSlot,
  needsHotStandbyFeedback,
  planSlots,
  publishedSlotPositions,
  retainSlots,
  slotNameOnPrimary,
  slotSettings,
  slotsThisMemberServes,
  syncSlots,
} from './ha/slots.js';
export type { DynamicConfig, Timing } from './dynamic-config.js';
export { DYNAMIC_DEFAULTS, TIMING_MINIMUMS, normalizeTiming, primaryStopKillAfter, resolveDynamicConfig } from './dynamic-config.js';
export type {
  CallbackAction,
  CloneSource,
  DcsOutcome,
  Effect,
  EffectHandlers,
  EffectKind,
  EffectOf,
  EffectResult,
  NoCloneSource,
  PeerStatus,
  TaskKind,
  TaskSpec,
  TaskState,
} from './ha/effects.js';
export { perform, interpret, isNoCloneSource } from './ha/effects.js';
export type { RaceBackoffInput, RaceBackoffVerdict } from './ha/race-backoff.js';
export { primaryRaceBackoff, raceBackoffVerdict } from './ha/race-backoff.js';
export type { DivergenceRemedy, DivergenceSettings } from './ha/diverged.js';
export { divergenceRemedy, reinitializeAfterRewindFailure } from './ha/diverged.js';
export type { NoLeaderCloneInput } from './ha/no-leader-clone.js';
export { NO_CLONE_SOURCE, noLeaderCloneMethods } from './ha/no-leader-clone.js';
export type { HistoryFileLine, ReservedTimeline } from './ha/timeline-reservation.js';
export {
  MAX_RESERVED_TIMELINES,
  SKIPPED_TIMELINE_REASON,
  highestKnownTimeline,
  historyFileContent,
  historyFileName,
  knownTimelines,
  timelinesToReserve,
  withSkippedTimelines,
} from './ha/timeline-reservation.js';
export type { Decision, DecisionReason, IneligibleReason } from './ha/decision.js';
export { DECISION_REASONS, INELIGIBLE_REASONS, decision } from './ha/decision.js';
export { restartFilterRole, scheduledRestartData, scheduledRestartStatus } from './ha/scheduled-restart.js';
export type { Command, CommandOutcome, CycleInput, CycleResult, HaMemory, HaSettings, ScheduledRestart, WatchdogState } from './ha/cycle.js';
export { INITIAL_MEMORY, haCycle, memberData, upstreamOf } from './ha/cycle.js';
export { shutdownSequence } from './ha/shutdown.js';
export type { QuorumGuc, QuorumInput, QuorumKey, QuorumPlan, QuorumTransition } from './ha/quorum.js';
export { keyWriteSafe, quorumOverlaps, resolveQuorum } from './ha/quorum.js';
export { SYNC_STRICT_PLACEHOLDER, formatSyncStandbyNames, parseSyncStandbyNames } from './ha/sync.js';
export type { FailsafeAck, FailsafeAnswer, FailsafeContact, FailsafePayload, FailsafeVerdict } from './ha/failsafe.js';
export {
  answerFailsafePost,
  failsafeActive,
  failsafeModeEnabled,
  failsafeTopology,
  parseFailsafePayload,
} from './ha/failsafe.js';
export type { NodeToFollow, NodeToFollowInput, StandbyClusterConfig } from './ha/standby-cluster.js';
export { cascadingReplicasOf, nodeToFollow, remoteUpstream, standbyClusterOf } from './ha/standby-cluster.js';

/** The Patroni version pgwarden speaks for: published in member data and `/patroni` so Patroni peers and tools treat it as a peer. */
export const PATRONI_COMPAT_VERSION = '4.1.4';
/** pgwarden's own version. */
export const PGWARDEN_VERSION = '0.1.0';
export type { SwitchoverRequest, SwitchoverVerdict } from './ha/operator.js';
export { checkSwitchoverRequest, failoverLimitation, parseSchedule } from './ha/operator.js';
