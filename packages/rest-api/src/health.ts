/**
 * The health-check rules of Patroni's REST API as pure functions of a snapshot: what HAProxy, Kubernetes probes and
 * load balancers see. No SQL and no DCS read happen here.
 */
import { isTrue } from './dynamic-config.js';
import type { NodeSnapshot } from './node.js';
import { postgresAnswers, receivedLocation, replayedLocation, reportedRole, synchronousStandbyKind } from './status.js';
import { parseByteSize } from './units.js';

export type HealthStatus = 200 | 503;

/** Query parameters as Patroni reads them: the first non-empty value of each name. */
export type QueryParams = ReadonlyMap<string, string>;

const NO_PARAMS: QueryParams = new Map();

interface LeaderChecks {
  leader: HealthStatus;
  primary: HealthStatus;
  standbyLeader: HealthStatus;
  /** The lock holder of a standby cluster runs in recovery but is never offered as a replica. */
  replicaVetoed: boolean;
}

function leaderChecks(snapshot: NodeSnapshot): LeaderChecks {
  const role = reportedRole(snapshot);
  // Without a DCS view but paused, nobody can tell who holds the lock: PostgreSQL's role decides.
  if (snapshot.cluster === null && snapshot.paused) {
    return {
      leader: role === 'primary' || role === 'standby_leader' ? 200 : 503,
      primary: role === 'primary' ? 200 : 503,
      standbyLeader: role === 'standby_leader' ? 200 : 503,
      replicaVetoed: false,
    };
  }
  if (!snapshot.holdsValidLock) return { leader: 503, primary: 503, standbyLeader: 503, replicaVetoed: false };
  if (snapshot.isStandbyCluster) {
    const standbyLeader = role === 'replica' || role === 'standby_leader' ? 200 : 503;
    return { leader: 200, primary: 503, standbyLeader, replicaVetoed: true };
  }
  return { leader: 200, primary: 200, standbyLeader: 503, replicaVetoed: false };
}

/** The leader's WAL position as this node knows it: the `status` key's optime or what the WAL receiver last heard. */
export function leaderOptime(snapshot: NodeSnapshot): number {
  return Math.max(snapshot.cluster?.status.optime ?? 0, snapshot.walReceiverLatestEndLsn ?? 0);
}

/** Replication lag in bytes when it can be computed (the node answers as a replica), else null. */
export function replicationLag(snapshot: NodeSnapshot, mode: 'apply' | 'write' = 'apply'): number | null {
  if (!postgresAnswers(snapshot) || snapshot.postgres?.role !== 'replica') return null;
  const position = mode === 'write' ? receivedLocation(snapshot) : replayedLocation(snapshot);
  return leaderOptime(snapshot) - (position ?? 0);
}

/** `lag=` in bytes; absent or unreadable means no limit, as in Patroni. */
function maxLagParam(query: QueryParams): number {
  const raw = query.get('lag');
  if (raw === undefined) return Infinity;
  return parseByteSize(raw) ?? Infinity;
}

/**
 * The replica check behind /replica, /read-only, /sync, /async, /quorum: PostgreSQL running and answering as a
 * replica, no `noloadbalance` tag, not lagging beyond `lag=`, and in the `replication_state=` asked for.
 */
export function replicaCheck(snapshot: NodeSnapshot, query: QueryParams = NO_PARAMS): HealthStatus {
  if (snapshot.state !== 'running' || !postgresAnswers(snapshot)) return 503;
  if (reportedRole(snapshot) !== 'replica') return 503;
  if (isTrue(snapshot.tags['noloadbalance'])) return 503;
  // Unknown leader position (optime 0) never counts as lagging.
  const optime = leaderOptime(snapshot);
  if (optime > 0 && optime > (replayedLocation(snapshot) ?? 0) + maxLagParam(query)) return 503;
  const wantedState = query.get('replication_state');
  if (wantedState !== undefined && snapshot.postgres?.replicationState !== wantedState) return 503;
  return 200;
}

/** `tag_<name>=<value>` filters: every named tag must exist and equal the value (non-strings as lower-case text). */
export function tagFiltersMatch(snapshot: NodeSnapshot, query: QueryParams): boolean {
  for (const [key, wanted] of query) {
    if (!key.startsWith('tag_')) continue;
    const actual = snapshot.tags[key.slice(4)];
    if (actual === undefined || actual === null) return false;
    const text = typeof actual === 'string' ? actual : JSON.stringify(actual).toLowerCase();
    if (text !== wanted) return false;
  }
  return true;
}

/**
 * Status of a health check on `path` (the request path without its query). Matching is by substring, as in Patroni,
 * so `/replica/anything` is the replica check and unknown paths answer 503.
 */
export function healthCheckStatus(snapshot: NodeSnapshot, path: string, query: QueryParams = NO_PARAMS): HealthStatus {
  const target = path === '/' ? '/primary' : path;
  const leader = leaderChecks(snapshot);
  let status: HealthStatus = 503;
  let tagsApply = true;
  if (target.includes('standby_leader') || target.includes('standby-leader')) {
    status = leader.standbyLeader;
    tagsApply = false;
  } else if (target.includes('leader')) {
    status = leader.leader;
    tagsApply = false;
  } else if (target.includes('master') || target.includes('primary') || target.includes('read-write')) {
    status = leader.primary;
    tagsApply = false;
  } else if (target.includes('replica')) {
    status = replicaStatus(snapshot, leader, query);
  } else if (target.includes('read-only') && !target.includes('sync') && !target.includes('quorum')) {
    status = leader.primary === 200 || leader.standbyLeader === 200 ? 200 : replicaStatus(snapshot, leader, query);
  } else if (target.includes('health')) {
    status = snapshot.state === 'running' && postgresAnswers(snapshot) ? 200 : 503;
  } else if (snapshot.cluster !== null) {
    status = synchronousPathStatus(snapshot, target, leader, query);
  }
  if (tagsApply && status === 200 && !tagFiltersMatch(snapshot, query)) status = 503;
  return status;
}

function replicaStatus(snapshot: NodeSnapshot, leader: LeaderChecks, query: QueryParams): HealthStatus {
  return leader.replicaVetoed ? 503 : replicaCheck(snapshot, query);
}

/** /sync, /async, /quorum and their read-only variants: they need a DCS view (the `sync` key). */
function synchronousPathStatus(
  snapshot: NodeSnapshot,
  target: string,
  leader: LeaderChecks,
  query: QueryParams,
): HealthStatus {
  const kind = synchronousStandbyKind(snapshot);
  const leaderAnswers = leader.primary === 200 || leader.standbyLeader === 200;
  switch (target) {
    case '/sync':
    case '/synchronous':
      return kind === 'sync' ? replicaStatus(snapshot, leader, query) : 503;
    case '/quorum':
      return kind === 'quorum' ? replicaStatus(snapshot, leader, query) : 503;
    case '/async':
    case '/asynchronous':
      return kind === null ? replicaStatus(snapshot, leader, query) : 503;
    case '/read-only-quorum':
      if (leaderAnswers) return 200;
      return kind === 'quorum' ? replicaStatus(snapshot, leader, query) : 503;
    case '/read-only-sync':
    case '/read-only-synchronous':
      if (leaderAnswers) return 200;
      return kind === 'sync' ? replicaStatus(snapshot, leader, query) : 503;
    default:
      return 503;
  }
}

/**
 * `GET /liveness`: the HA loop is alive. Paused nodes are always live; otherwise the next cycle must not be overdue by
 * more than ttl on a running primary (its lock expires then anyway) or 2*ttl elsewhere.
 */
export function livenessStatus(snapshot: NodeSnapshot): HealthStatus {
  if (snapshot.paused) return 200;
  if (snapshot.lastCycleAt === null) return 503;
  const runningPrimary = snapshot.role === 'primary' && snapshot.postgres?.running === true;
  const thresholdMs = snapshot.ttl * (runningPrimary ? 1 : 2) * 1000;
  const nextCycleDue = snapshot.lastCycleAt + snapshot.loopWait * 1000;
  return nextCycleDue + thresholdMs > snapshot.now ? 200 : 503;
}

export interface ReadinessVerdict {
  readonly status: HealthStatus;
  /** Why it is not ready; null when ready. */
  readonly reason: string | null;
}

/**
 * `GET /readiness?lag=&mode=apply|write`: the leader is ready; a replica when it streams and is within `lag`
 * (default `maximum_lag_on_failover`) of the leader, measured on replayed (apply) or received (write) WAL.
 */
export function readinessStatus(snapshot: NodeSnapshot, query: QueryParams = NO_PARAMS): ReadinessVerdict {
  if (snapshot.holdsValidLock) return { status: 200, reason: null };
  if (snapshot.state !== 'running') return { status: 503, reason: 'PostgreSQL is not running' };
  if (!postgresAnswers(snapshot) || snapshot.postgres?.replicationState !== 'streaming') {
    return { status: 503, reason: 'PostgreSQL replication state is not streaming' };
  }
  const latestEndLsn = snapshot.walReceiverLatestEndLsn ?? 0;
  if (snapshot.cluster === null && !latestEndLsn) {
    if (snapshot.failsafeActive) return { status: 200, reason: null };
    return { status: 503, reason: 'DCS is not accessible' };
  }
  const mode = query.get('mode') === 'write' ? 'write' : 'apply';
  const lag = replicationLag(snapshot, mode) ?? leaderOptime(snapshot);
  const rawMax = query.get('lag');
  const maxLag = (rawMax === undefined ? null : parseByteSize(rawMax)) ?? snapshot.maximumLagOnFailover;
  if (lag > maxLag) {
    return { status: 503, reason: `Replication ${mode} lag ${lag} exceeds maximum allowable ${maxLag}` };
  }
  return { status: 200, reason: null };
}
