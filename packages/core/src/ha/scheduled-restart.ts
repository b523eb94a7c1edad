/** How a restart scheduled through `POST /restart` is published, and which role its `role` filter compares with. */
import type { MemberRole } from '../model.js';
import type { PostgresObservation } from '../postgres.js';
import type { ScheduledRestart } from './cycle.js';

/**
 * The `scheduled_restart` value of member data: the request as accepted plus the postmaster start time it was
 * scheduled against, the shape patronictl's "Scheduled restart" column reads (`schedule`, `postgres_version`).
 */
export function scheduledRestartData(restart: ScheduledRestart): Record<string, unknown> {
  const data: Record<string, unknown> = { schedule: restart.schedule };
  if (restart.role !== undefined) data.role = restart.role;
  if (restart.postgresVersion !== undefined) data.postgres_version = restart.postgresVersion;
  else if (restart.postgresVersionBelow !== undefined) data.postgres_version = versionText(restart.postgresVersionBelow);
  if (restart.timeout !== undefined) data.timeout = restart.timeout;
  if (restart.restartPending) data.restart_pending = true;
  data.postmaster_start_time = restart.postmasterStartTime;
  return data;
}

/** The same without `postmaster_start_time`, as `GET /patroni` shows it. */
export function scheduledRestartStatus(restart: ScheduledRestart): Record<string, unknown> {
  const { postmaster_start_time: _, ...status } = scheduledRestartData(restart);
  return status;
}

/** 150002 -> "15.2", 90603 -> "9.6.3": only when the request's own text is not known. */
function versionText(versionNum: number): string {
  const major = Math.floor(versionNum / 10000);
  const minor = Math.floor(versionNum / 100) % 100;
  const patch = versionNum % 100;
  return major >= 10 ? `${major}.${patch}` : `${major}.${minor}.${patch}`;
}

/**
 * The role a restart's `role` filter is compared with: the member's role (primary, replica or standby_leader), not
 * just what PostgreSQL runs as; the leader of a standby cluster runs in recovery yet is no replica.
 */
export function restartFilterRole(pg: PostgresObservation, leadsStandbyCluster: boolean, lastRole: MemberRole | null): string {
  if (pg.running && pg.role === 'replica' && leadsStandbyCluster) return 'standby_leader';
  if (pg.running && pg.role) return pg.role;
  return lastRole ?? 'unknown';
}
