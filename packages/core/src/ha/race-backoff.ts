/**
 * `primary_race_backoff`: when the leader key has just gone, a replica whose WAL still arrives is probably
 * looking at a primary that froze for a moment (or whose lock expired just after a renewal), not a dead one.
 * Racing right away would promote a second primary beside a live one; waiting a little lets it come back.
 */

/** What the rule looks at; times in ms, the backoff and loop_wait in seconds. */
export interface RaceBackoffInput {
  readonly now: number;
  /** `primary_race_backoff` in seconds; 0 or less turns the rule off. */
  readonly backoff: number;
  readonly loopWait: number;
  readonly paused: boolean;
  readonly standbyCluster: boolean;
  /** A `/failover` key names a candidate: the operator's choice is acted on without delay. */
  readonly failoverCandidate: boolean;
  /** When this window began (the first unlocked cycle), null before. */
  readonly since: number | null;
  /** My WAL position in the previous cycle; null when unknown (the first cycle after start). */
  readonly previousWalPosition: number | null;
  readonly walPosition: number | null;
  readonly streaming: boolean;
}

export type RaceBackoffVerdict =
  | { readonly postpone: true; readonly since: number; readonly secondsLeft: number; readonly why: 'wal_advancing' | 'first_loop' }
  | { readonly postpone: false; readonly since: number | null };

/** Decides whether the leader race waits this cycle, and when the window began (kept until a leader appears). */
export function raceBackoffVerdict(input: RaceBackoffInput): RaceBackoffVerdict {
  if (input.backoff <= 0 || input.paused || input.standbyCluster || input.failoverCandidate || input.previousWalPosition === null) {
    return { postpone: false, since: input.since };
  }
  const since = input.since ?? input.now;
  const secondsLeft = (since + input.backoff * 1000 - input.now) / 1000;
  // The lock may have expired right after the primary's last renewal, before any WAL could show it alive:
  // the first loop_wait of the window waits whatever the WAL does.
  if (secondsLeft > input.backoff - input.loopWait) return { postpone: true, since, secondsLeft, why: 'first_loop' };
  const advancing = input.streaming && input.walPosition !== null && input.walPosition > input.previousWalPosition;
  if (secondsLeft > 0 && advancing) return { postpone: true, since, secondsLeft, why: 'wal_advancing' };
  return { postpone: false, since };
}

/** `primary_race_backoff` from the dynamic configuration, in seconds (0 when absent or not a number). */
export function primaryRaceBackoff(config: Readonly<Record<string, unknown>>): number {
  const value = config['primary_race_backoff'];
  const seconds = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : 0;
  return Number.isFinite(seconds) && seconds > 0 ? seconds : 0;
}
