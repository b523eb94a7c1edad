import { scheduledRestartStatus } from '@pgwarden/core';
import type { DecisionReason, IneligibleReason, Tags } from '@pgwarden/core';
import { isQuorumCommitMode, isSynchronousMode, syncStateMatches } from './dynamic-config.js';
import type { NodeSnapshot } from './node.js';

export interface PrimaryXlog {
  location: number | null;
}

export interface ReplicaXlog {
  received_location: number | null;
  replayed_location: number | null;
  replayed_timestamp: string | null;
  paused: boolean;
}

export interface ReplicationJson {
  usename: string | null;
  application_name: string;
  client_addr: string | null;
  state: string | null;
  sync_state: string | null;
  sync_priority: number | null;
}

/** The JSON of `GET /patroni` and the body of every health check, field for field as Patroni 4.x writes it. */
export interface MemberStatusJson {
  state: string;
  postmaster_start_time?: string | null;
  role: string;
  server_version?: number | null;
  xlog?: PrimaryXlog | ReplicaXlog;
  sync_standby?: true;
  quorum_standby?: true;
  timeline?: number | null;
  replication_state?: string;
  replication?: ReplicationJson[];
  pause?: true;
  cluster_unlocked?: true;
  failsafe_mode_is_active?: true;
  dcs_last_seen: number;
  tags?: Tags;
  database_system_identifier?: string;
  pending_restart?: true;
  /** Per parameter, the running value and the one a restart takes. */
  pending_restart_reason?: Record<string, { old_value: string; new_value: string }>;
  watchdog_failed?: true;
  patroni: { version: string; scope: string; name: string };
  /** Patroni's shape: the request's filters with `schedule` (ISO 8601), without `postmaster_start_time`. */
  scheduled_restart?: Record<string, unknown>;
  /** pgwarden's own fields: Patroni's above stay exactly as Patroni writes them. */
  pgwarden: { version: string; last_decision?: LastDecisionJson };
}

/** The last HA cycle's decision: the log line's reason and message, when, and why the member stayed out of the race. */
export interface LastDecisionJson {
  reason: DecisionReason;
  message: string;
  /** ISO 8601, UTC. */
  at: string;
  ineligible?: IneligibleReason;
}

/** States in which Patroni queries PostgreSQL for its status; in the others only state and role are reported. */
const QUERYABLE_STATES: ReadonlySet<string> = new Set(['running', 'restarting', 'starting']);

/** PostgreSQL answered the status queries: role and positions in the observation are current. */
export function postgresAnswers(snapshot: NodeSnapshot): boolean {
  const postgres = snapshot.postgres;
  return (
    postgres !== null && postgres.accepting && postgres.role !== null && QUERYABLE_STATES.has(snapshot.state)
  );
}

/** The role the status reports: PostgreSQL's own view when it answers, the HA role otherwise. */
export function reportedRole(snapshot: NodeSnapshot): string {
  if (!postgresAnswers(snapshot)) return snapshot.role;
  if (snapshot.postgres?.role === 'primary') return 'primary';
  // In a standby cluster the leader runs in recovery: the HA role (standby_leader) tells it apart.
  return snapshot.isStandbyCluster ? snapshot.role : 'replica';
}

/** Last replayed position when PostgreSQL answers as a replica, else null. */
export function replayedLocation(snapshot: NodeSnapshot): number | null {
  if (!postgresAnswers(snapshot) || snapshot.postgres?.role !== 'replica') return null;
  return snapshot.postgres.replayLsn;
}

/** Last received (written) position when PostgreSQL answers as a replica, else null. */
export function receivedLocation(snapshot: NodeSnapshot): number | null {
  if (!postgresAnswers(snapshot) || snapshot.postgres?.role !== 'replica') return null;
  return snapshot.postgres.receiveLsn ?? snapshot.postgres.replayLsn;
}

/** Listed in the `sync` key while synchronous (`sync`) or quorum (`quorum`) replication is on. */
export function synchronousStandbyKind(snapshot: NodeSnapshot): 'sync' | 'quorum' | null {
  const cluster = snapshot.cluster;
  if (cluster === null || reportedRole(snapshot) !== 'replica') return null;
  if (!isSynchronousMode(cluster, snapshot.isStandbyCluster) || !syncStateMatches(cluster.sync, snapshot.name)) {
    return null;
  }
  return isQuorumCommitMode(cluster) ? 'quorum' : 'sync';
}

function hasEntries(tags: Tags): boolean {
  for (const _ in tags) return true;
  return false;
}

/** The body of `GET /patroni`, built from the snapshot alone (no SQL, no DCS). */
export function memberStatusJson(snapshot: NodeSnapshot): MemberStatusJson {
  const postgres = snapshot.postgres;
  // Filled in Patroni's key order, which some people diff against.
  const json = {} as MemberStatusJson;
  if (postgres !== null && postgresAnswers(snapshot)) {
    json.state = snapshot.state;
    json.postmaster_start_time = postgres.postmasterStartTime;
    json.role = reportedRole(snapshot);
    json.server_version = postgres.serverVersion;
    json.xlog =
      postgres.role === 'primary'
        ? { location: postgres.walPosition }
        : {
            received_location: postgres.receiveLsn ?? postgres.replayLsn,
            replayed_location: postgres.replayLsn,
            replayed_timestamp: snapshot.replayedTimestamp ?? null,
            paused: snapshot.replayPaused ?? false,
          };
    const syncKind = synchronousStandbyKind(snapshot);
    if (syncKind === 'sync') json.sync_standby = true;
    else if (syncKind === 'quorum') json.quorum_standby = true;
    json.timeline = postgres.timeline;
    if (postgres.replicationState !== null) json.replication_state = postgres.replicationState;
    if (postgres.replication.length > 0) {
      json.replication = postgres.replication.map((row) => ({
        usename: row.usename,
        application_name: row.application_name,
        client_addr: row.client_addr,
        state: row.state,
        sync_state: row.sync_state,
        sync_priority: row.sync_priority,
      }));
    }
  } else {
    // PostgreSQL does not answer: a node that believes it runs reports `unknown`, as Patroni does.
    json.state = snapshot.state === 'running' ? 'unknown' : snapshot.state;
    json.role = snapshot.role;
  }
  if (snapshot.paused) json.pause = true;
  if (snapshot.clusterUnlocked || snapshot.cluster === null) json.cluster_unlocked = true;
  if (snapshot.failsafeActive) json.failsafe_mode_is_active = true;
  json.dcs_last_seen = snapshot.dcsLastSeen ?? 0;
  if (hasEntries(snapshot.tags)) json.tags = snapshot.tags;
  if (postgres?.systemId) json.database_system_identifier = postgres.systemId;
  if (snapshot.pendingRestart) {
    json.pending_restart = true;
    const reason = postgres?.pendingRestartReason;
    if (reason && Object.keys(reason).length) {
      json.pending_restart_reason = Object.fromEntries(
        Object.entries(reason).map(([name, diff]) => [name, { old_value: diff.old_value, new_value: diff.new_value }]),
      );
    }
  }
  json.patroni = { version: snapshot.patroniVersion, scope: snapshot.scope, name: snapshot.name };
  if (snapshot.scheduledRestart) json.scheduled_restart = scheduledRestartStatus(snapshot.scheduledRestart);
  if (snapshot.watchdogFailed) json.watchdog_failed = true;
  json.pgwarden = { version: snapshot.pgwardenVersion };
  const last = snapshot.lastDecision;
  if (last) {
    json.pgwarden.last_decision = { reason: last.reason, message: last.message, at: new Date(last.at).toISOString() };
    if (last.ineligible) json.pgwarden.last_decision.ineligible = last.ineligible;
  }
  return json;
}
