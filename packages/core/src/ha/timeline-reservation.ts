/**
 * Timeline reservation before a promotion. PostgreSQL picks its new timeline as one past the last of an unbroken
 * run of `.history` files above its own timeline (in pg_wal or the archive). A timeline another branch used but
 * whose history file never reached this server is invisible to it: two promotions can then land on the same
 * number on different branches, and pg_rewind, which compares numbers, sees nothing to rewind. So before
 * promoting, the member plants a history file for every number from its own timeline up to the highest one the
 * cluster is known to have used, and PostgreSQL moves past all of them.
 */
import type { Cluster } from '../model.js';
import { formatLsn } from '../lsn.js';
import type { PostgresObservation } from '../postgres.js';

/** One line of a `.history` file: the parent timeline, where it ended (bytes), why. */
export type HistoryFileLine = readonly [parentTimeline: number, switchLsn: number, reason: string];

/** A timeline number to mark as used, with the history file content to write when the server has none. */
export interface ReservedTimeline {
  readonly timeline: number;
  readonly history: readonly HistoryFileLine[];
}

/**
 * No more files than this above our own timeline: a number further ahead is not plausible (a corrupt member key,
 * say) and would cost that many files, so it is left out.
 */
export const MAX_RESERVED_TIMELINES = 256;

function isTimeline(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 0xffffffff;
}

/** Every timeline number the cluster is known to have used: the `history` key, member keys, memory, our own. */
export function knownTimelines(
  cluster: Cluster | null,
  memory: { readonly highestTimelineSeen?: number | null },
  pg: Pick<PostgresObservation, 'timeline'>,
): number[] {
  const known = new Set<number>();
  const add = (value: unknown): void => {
    if (isTimeline(value)) known.add(value);
  };
  const lines = cluster?.history?.lines ?? [];
  for (const line of lines) add(line[0]);
  // The last line's switch created the newest timeline the history records.
  const last = lines.at(-1);
  if (last && isTimeline(last[0])) add(last[0] + 1);
  for (const member of cluster?.members ?? []) add(member.data.timeline);
  add(cluster?.leader?.member?.data.timeline);
  add(memory.highestTimelineSeen);
  add(pg.timeline);
  return [...known].sort((a, b) => a - b);
}

/** The highest known timeline, remembered across cycles so a member key that expires is not forgotten. */
export function highestKnownTimeline(
  cluster: Cluster | null,
  memory: { readonly highestTimelineSeen?: number | null },
  pg: Pick<PostgresObservation, 'timeline'>,
): number | null {
  return knownTimelines(cluster, memory, pg).at(-1) ?? null;
}

/**
 * The `history` key's lines as valid history-file lines for timeline `below`: PostgreSQL rejects a file whose
 * timeline ids do not strictly increase or reach the file's own number, so lines that would break that (a key
 * written by two branches, say) are dropped.
 */
function historyBelow(cluster: Cluster | null, below: number): HistoryFileLine[] {
  const out: HistoryFileLine[] = [];
  let previous = 0;
  for (const line of cluster?.history?.lines ?? []) {
    const [tl, lsn, reason] = line;
    if (!isTimeline(tl) || tl >= below || tl <= previous) continue;
    if (typeof lsn !== 'number' || !Number.isSafeInteger(lsn) || lsn < 0) continue;
    out.push([tl, lsn, typeof reason === 'string' ? reason : '']);
    previous = tl;
  }
  return out;
}

/**
 * The history files to plant before promoting: one for each number above our timeline up to the highest known
 * one (an unbroken run, as PostgreSQL stops probing at the first missing file). Empty when nothing is ahead.
 */
export function timelinesToReserve(
  cluster: Cluster | null,
  memory: { readonly highestTimelineSeen?: number | null },
  pg: Pick<PostgresObservation, 'timeline'>,
): ReservedTimeline[] {
  const own = isTimeline(pg.timeline) ? pg.timeline : 1;
  const highest = knownTimelines(cluster, memory, pg)
    .filter((tl) => tl <= own + MAX_RESERVED_TIMELINES)
    .at(-1);
  if (highest === undefined || highest <= own) return [];
  const reserved: ReservedTimeline[] = [];
  for (let timeline = own + 1; timeline <= highest; timeline++) reserved.push({ timeline, history: historyBelow(cluster, timeline) });
  return reserved;
}

/** `pg_wal/<name>`: eight upper-case hex digits, as PostgreSQL names a timeline's history file. */
export function historyFileName(timeline: number): string {
  return `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`;
}

/** The text of a history file: `parent<TAB>X/X<TAB>reason` lines; reasons kept to one line without tabs. */
export function historyFileContent(lines: readonly HistoryFileLine[]): string {
  return lines.map(([tl, lsn, reason]) => `${tl}\t${formatLsn(lsn)}\t${oneLine(reason) || 'reserved by pgwarden'}\n`).join('');
}

/** Control characters (a newline would start a line PostgreSQL cannot parse) become spaces. */
function oneLine(text: string): string {
  return [...text].map((char) => (char.charCodeAt(0) < 0x20 || char.charCodeAt(0) === 0x7f ? ' ' : char)).join('').replace(/ +/g, ' ').trim();
}

/** The reason written on `history` key lines for numbers a promotion skipped. */
export const SKIPPED_TIMELINE_REASON = 'timeline number reserved, never used on this lineage';

/**
 * A server's own history (its `.history` file) as the `history` key records it, with a zero-length line for
 * each number its promotions skipped: readers of the key (Patroni too) take the last line + 1 as the cluster's
 * timeline, and a replica left on a skipped number finds where the cluster's lineage passed it by.
 */
export function withSkippedTimelines(
  lines: ReadonlyArray<readonly [number, number, string]>,
  timeline: number,
): Array<[number, number, string]> {
  const out: Array<[number, number, string]> = [];
  for (let index = 0; index < lines.length; index++) {
    const [tl, lsn, reason] = lines[index]!;
    out.push([tl, lsn, reason]);
    const next = lines[index + 1]?.[0] ?? timeline;
    for (let skipped = tl + 1; skipped < next; skipped++) out.push([skipped, lsn, SKIPPED_TIMELINE_REASON]);
  }
  return out;
}

/**
 * The cluster's lineage, as the `history` key lines record it, left a server on `timeline` that replayed up to
 * `replayLsn` behind: it replayed past the point where the lineage switched away from its timeline, or its
 * timeline is a number a promotion skipped. Such a number belongs to a branch of its own (a promotion the
 * cluster's lineage never contained), so any position on it has diverged; Patroni reaches the same verdict from
 * the leader's history file, which has no line for that number. False without a line for `timeline`.
 */
export function leftBehindByHistory(lines: ReadonlyArray<readonly [number, number, string, ...unknown[]]>, timeline: number | null, replayLsn: number | null): boolean {
  const line = lines.find((entry) => entry[0] === timeline);
  if (!line || replayLsn === null) return false;
  // Replayed, not received: a walreceiver may hold a partial record past the switch point that nothing replays.
  return line[2] === SKIPPED_TIMELINE_REASON || replayLsn > line[1];
}
