/** Why a cycle did what it did: one typed reason per branch, carried into the log line, the REST API and metrics. */

/** Every reason a cycle can give (a list, so tests can check the docs name each one). */
export const DECISION_REASONS = [
  // store not reachable
  'dcs_unreachable',
  'dcs_unreachable_demoted',
  'dcs_unreachable_failsafe',
  // long tasks
  'task_running',
  'task_running_lock_renewed',
  'bootstrap_succeeded',
  'bootstrap_failed',
  'bootstrap_lock_not_taken',
  'task_succeeded',
  'task_failed',
  'start_failed_released_lock',
  'primary_start_timed_out',
  'rewind_failed',
  'rewind_failed_reinitializing',
  // empty data directory
  'data_directory_inaccessible',
  'bootstrap_started',
  'bootstrap_lost_race',
  'clone_started',
  'clone_without_leader_started',
  'waiting_for_leader_to_bootstrap',
  'released_lock_without_data',
  // an existing data directory
  'system_id_mismatch',
  'replica_without_initialize',
  'starting_primary',
  'starting_replica',
  'rewind_started',
  'reinitialize_started',
  'reinitialize_diverged_timelines',
  'postgres_not_ready',
  // the leader race
  'acquired_lock_promoting',
  'acquired_lock_as_primary',
  'promotion_failed',
  'race_lost',
  'race_postponed',
  'not_candidate',
  // holding the lock
  'leader_lock_renewed',
  'promoted_holding_lock',
  'lock_lost_demoted',
  'lock_lost_not_primary',
  // following
  'following_leader',
  'following_new_leader',
  'follow_failed',
  'demoted_other_leader',
  'stopping_for_rewind',
  'waiting_for_leader_member',
  // replication slots
  'copying_logical_slots',
  // standby cluster (standby-cluster.ts)
  'standby_bootstrap_started',
  'standby_leader_following_remote',
  'standby_leader_lock_renewed',
  'demoting_to_standby_cluster',
  'standby_cluster_promoted',
  // manual switchover and failover
  'switchover_scheduled',
  'switchover_stale_cleared',
  'switchover_invalid_cleared',
  'switchover_no_candidate',
  'switchover_demoted',
  'waiting_for_switchover_candidate',
  'pre_promote_failed',
  'watchdog_unavailable',
  'sync_state_not_written',
  'failover_after_crash',
  // pause
  'paused_no_action',
  'paused_released_lock',
  'paused_primary_without_lock',
  // operator commands
  'restart_started',
  'restart_refused',
  'reinitialize_refused',
  // graceful stop
  'shutdown_released_lock',
  'shutdown_kept_lock',
  'shutdown_complete',
] as const;

export type DecisionReason = (typeof DECISION_REASONS)[number];

/** Why a member did not take part in the leader race. */
export const INELIGIBLE_REASONS = [
  'nofailover',
  'postgres_not_running',
  'lagging',
  'timeline_behind',
  'peer_is_primary',
  'peer_ahead',
  'peer_preferred',
  'paused',
  'switchover_candidate_elsewhere',
  'former_leader',
  'pre_promote_backoff',
  'watchdog_failed',
  'not_synchronous',
  'quorum_not_reached',
  'not_in_failsafe',
  'paused_leader_unconfirmed',
] as const;

export type IneligibleReason = (typeof INELIGIBLE_REASONS)[number];

export interface Decision {
  readonly reason: DecisionReason;
  /** One sentence for the log line, saying what was decided and why. */
  readonly message: string;
  readonly ineligible?: IneligibleReason;
}

export function decision(reason: DecisionReason, message: string, ineligible?: IneligibleReason): Decision {
  return ineligible ? { reason, message, ineligible } : { reason, message };
}
