/**
 * The pure part of the example: a cluster as core models it in, rows and text out. No network here, so the
 * same function serves a unit test, this program, or any tool that already holds a `Cluster`.
 */
import type { Cluster, Member } from '@pgwarden/core';
import { formatLsn, memberWalPosition, upstreamOf } from '@pgwarden/core';

export interface StatusRow {
  readonly member: string;
  /** `host:port` from the member's conn_url; '' when it published none. */
  readonly host: string;
  /** `leader` for the lock holder, otherwise the role the member published. */
  readonly role: string;
  /** A replica's replication state (`streaming`) when known, otherwise its published state. */
  readonly state: string;
  readonly timeline: number | null;
  /** The member's published WAL position (xlog_location) in bytes; null when it published none. */
  readonly position: number | null;
  /** Bytes behind the leader; null for the leader itself and when either position is unknown. */
  readonly lag: number | null;
}

export interface ClusterSummary {
  /** Name in the `leader` key, or null when nobody holds the lock. */
  readonly leader: string | null;
  /** The newest leader position the store shows, in bytes; null when unknown. */
  readonly leaderPosition: number | null;
  readonly leaderTimeline: number | null;
  readonly rows: readonly StatusRow[];
}

export function summarizeCluster(cluster: Cluster): ClusterSummary {
  const leaderName = cluster.leader?.name ?? null;
  const leaderMember = cluster.leader?.member ?? null;
  // `status` is written when the optime moves and member data every cycle: each is a lower bound of the
  // leader's position, so the larger one is the freshest.
  const fromMember = leaderMember ? memberWalPosition(leaderMember) : 0;
  const best = leaderName === null ? 0 : Math.max(cluster.status.optime, fromMember);
  const leaderPosition = best > 0 ? best : null;
  const rows = [...cluster.members]
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((member) => rowOf(member, leaderName, leaderPosition));
  return { leader: leaderName, leaderPosition, leaderTimeline: timelineOf(leaderMember), rows };
}

function rowOf(member: Member, leaderName: string | null, leaderPosition: number | null): StatusRow {
  const isLeader = member.name === leaderName;
  const upstream = upstreamOf(member);
  const published = memberWalPosition(member);
  const position = published > 0 ? published : null;
  const replicationState = member.data.replication_state;
  const state =
    !isLeader && typeof replicationState === 'string' && replicationState !== ''
      ? replicationState
      : (member.data.state ?? 'unknown');
  // A replica may report a position newer than the leader's last published one: that is no lag, not a gain.
  const lag = isLeader || position === null || leaderPosition === null ? null : Math.max(0, leaderPosition - position);
  return {
    member: member.name,
    host: upstream ? `${upstream.host.includes(':') ? `[${upstream.host}]` : upstream.host}:${upstream.port}` : '',
    role: isLeader ? 'leader' : (member.data.role ?? 'unknown'),
    state,
    timeline: timelineOf(member),
    position,
    lag,
  };
}

function timelineOf(member: Member | null): number | null {
  const timeline = member?.data.timeline;
  return typeof timeline === 'number' && Number.isFinite(timeline) ? timeline : null;
}

const COLUMNS = ['Member', 'Host', 'Role', 'State', 'TL', 'LSN', 'Lag (bytes)'] as const;

/** A header line saying who leads, then one table row per member. */
export function formatClusterStatus(scope: string, cluster: Cluster): string {
  const summary = summarizeCluster(cluster);
  const header =
    summary.leader === null
      ? `Cluster ${scope}: no leader`
      : `Cluster ${scope}: leader ${summary.leader}` +
        (summary.leaderPosition === null ? '' : ` at ${formatLsn(summary.leaderPosition)}`) +
        (summary.leaderTimeline === null ? '' : ` (timeline ${summary.leaderTimeline})`);
  if (summary.rows.length === 0) return `${header}\nno members\n`;
  const cells = summary.rows.map((row) => [
    row.member,
    row.host,
    row.role,
    row.state,
    row.timeline === null ? '' : String(row.timeline),
    row.position === null ? '' : formatLsn(row.position),
    row.role === 'leader' ? '' : row.lag === null ? 'unknown' : String(row.lag),
  ]);
  const widths = COLUMNS.map((title, column) => Math.max(title.length, ...cells.map((line) => line[column]!.length)));
  const render = (line: readonly string[]) => line.map((cell, column) => cell.padEnd(widths[column]!)).join('  ').trimEnd();
  const lines = [header, render(COLUMNS), render(widths.map((width) => '-'.repeat(width))), ...cells.map(render)];
  return `${lines.join('\n')}\n`;
}
