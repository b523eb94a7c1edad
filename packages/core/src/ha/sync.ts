/**
 * Synchronous replication as the primary keeps it: which standbys are synchronous, written to
 * `synchronous_standby_names` and to the `sync` key in an order that never lets the key name a standby the
 * primary was not waiting for (add to PostgreSQL first, then to the key; remove from the key first).
 */
import type { Cluster, Member } from '../model.js';
import { failoverPriority, memberTags, tagIsTrue } from '../model.js';
import type { PostgresObservation, ReplicationRow } from '../postgres.js';
import type { DynamicConfig } from '../dynamic-config.js';

/** Patroni's name for "no synchronous standby, but commits must wait" in strict mode. */
export const SYNC_STRICT_PLACEHOLDER = '__patroni_strict_sync_replica_placeholder__';

const PLAIN_NAME = /^[A-Za-z_][A-Za-z0-9_$]*$/;

function quoteStandbyName(name: string): string {
  return PLAIN_NAME.test(name) && !['first', 'any'].includes(name.toLowerCase()) ? name : `"${name.replaceAll('"', '""')}"`;
}

/**
 * The value of `synchronous_standby_names` as Patroni writes it: `name`, `n (a,b)` (priority), `ANY k (a,b)`
 * (quorum), the strict placeholder when nobody qualifies, or null to give the setting back to the user.
 */
export function formatSyncStandbyNames(names: readonly string[], options: { quorum: boolean; num?: number; strict: boolean }): string | null {
  let list = [...names].sort((a, b) => a.localeCompare(b)).map(quoteStandbyName);
  if (list.length === 0) {
    if (!options.strict) return null;
    list = [SYNC_STRICT_PLACEHOLDER];
  }
  const num = options.num ?? list.length;
  if (options.quorum) return `ANY ${num} (${list.join(',')})`;
  return list.length === 1 ? list[0]! : `${num} (${list.join(',')})`;
}

/** The standbys a `synchronous_standby_names` value lists (lower-cased, without the placeholder). */
export function parseSyncStandbyNames(value: string | null): { members: Set<string>; num: number; quorum: boolean } {
  const empty = { members: new Set<string>(), num: 0, quorum: false };
  if (!value || value.trim() === '') return empty;
  const match = /^\s*(?:(FIRST|ANY)\s+)?(?:(\d+)\s*)?\((.*)\)\s*$/is.exec(value);
  const quorum = match?.[1]?.toUpperCase() === 'ANY';
  const body = match ? match[3]! : value;
  const names: string[] = [];
  for (const raw of body.split(',')) {
    const trimmed = raw.trim();
    if (!trimmed) continue;
    const name = trimmed.startsWith('"') ? trimmed.slice(1, -1).replaceAll('""', '"') : trimmed.toLowerCase();
    if (name !== SYNC_STRICT_PLACEHOLDER) names.push(name.toLowerCase());
  }
  const num = match?.[2] ? Number(match[2]) : names.length ? 1 : 0;
  return { members: new Set(names), num, quorum };
}

/** Members fit to be synchronous, best first: streaming directly from us, not nosync, within the lag limit. */
export function syncCandidates(
  cluster: Cluster,
  pg: PostgresObservation,
  dynamic: DynamicConfig,
  voters: ReadonlySet<string>,
): string[] {
  const byName = new Map(cluster.members.map((member) => [member.name.toLowerCase(), member] as const));
  const primaryPosition = pg.walPosition ?? 0;
  const fit: Array<{ member: Member; row: ReplicationRow }> = [];
  for (const row of pg.replication) {
    const member = byName.get(row.application_name.toLowerCase());
    if (!member || row.state !== 'streaming' || row.flush_lsn === null) continue;
    const tags = memberTags(member);
    if (tagIsTrue(tags, 'nosync') || tagIsTrue(tags, 'nostream') || syncPriority(tags) <= 0) continue;
    if (dynamic.maximumLagOnSyncnode > 0 && primaryPosition - row.flush_lsn > dynamic.maximumLagOnSyncnode) continue;
    fit.push({ member, row });
  }
  fit.sort((a, b) => {
    const aTags = memberTags(a.member);
    const bTags = memberTags(b.member);
    // nofailover members only when nobody else qualifies: a sync standby that cannot be promoted protects no failover.
    const promotable = Number(failoverPriority(bTags) > 0) - Number(failoverPriority(aTags) > 0);
    if (promotable) return promotable;
    const priority = syncPriority(bTags) - syncPriority(aTags);
    if (priority) return priority;
    const current = Number(voters.has(b.member.name)) - Number(voters.has(a.member.name));
    if (current) return current;
    return (b.row.flush_lsn ?? 0) - (a.row.flush_lsn ?? 0);
  });
  return fit.map(({ member }) => member.name);
}

function syncPriority(tags: Record<string, unknown>): number {
  if (tagIsTrue(tags, 'nosync')) return 0;
  const raw = tags['sync_priority'];
  const value = typeof raw === 'string' ? Number(raw) : raw;
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 ? value : 1;
}

/**
 * Standbys PostgreSQL is waiting for now and that have everything committed since the setting last changed:
 * only those may be recorded as synchronous (and so be promoted without losing an acknowledged commit).
 */
export function confirmedSyncStandbys(pg: PostgresObservation, changedAtLsn: number | null, cluster: Cluster): string[] {
  const listed = parseSyncStandbyNames(pg.synchronousStandbyNames).members;
  const names = new Map(cluster.members.map((member) => [member.name.toLowerCase(), member.name] as const));
  return pg.replication
    .filter(
      (row) =>
        listed.has(row.application_name.toLowerCase()) &&
        (row.sync_state === 'sync' || row.sync_state === 'quorum') &&
        row.flush_lsn !== null &&
        row.flush_lsn >= (changedAtLsn ?? 0),
    )
    .map((row) => names.get(row.application_name.toLowerCase()) ?? row.application_name);
}
