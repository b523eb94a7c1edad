/** `POST /restart`: the body's filters checked the way Patroni checks them, turned into core's command shapes. */
import { parseSchedule } from '@pgwarden/core';
import type { ScheduledRestart } from '@pgwarden/core';

type RestartRole = 'primary' | 'replica' | 'standby_leader';

/** The filters shared by an immediate and a scheduled restart. */
export interface RestartFilters {
  readonly role?: RestartRole;
  readonly postgresVersionBelow?: number;
  /** `postgres_version` as written in the request (a schedule publishes it back in `scheduled_restart`). */
  readonly postgresVersion?: string;
  readonly restartPending?: boolean;
  /** Seconds. */
  readonly timeout?: number;
}

export type RestartRequest =
  | { readonly ok: true; readonly kind: 'now'; readonly filters: RestartFilters }
  | {
      readonly ok: true;
      readonly kind: 'scheduled';
      /** Everything but `postmasterStartTime`, which the handler takes from the snapshot. */
      readonly restart: Omit<ScheduledRestart, 'postmasterStartTime'>;
    }
  | { readonly ok: false; readonly status: 400 | 422 | 500; readonly message: string };

const ROLES: ReadonlySet<string> = new Set(['primary', 'standby_leader', 'replica']);

/** `"9.6.3"` -> 90603, `"15.2"` -> 150002, as PostgreSQL's server_version_num; X.Y for 10+ and X.Y.Z only. */
export function postgresVersionToInt(version: string): { ok: true; value: number } | { ok: false; message: string } {
  const parts = version.split('.');
  if (!parts.every((part) => /^\s*[+-]?\d+\s*$/.test(part))) return { ok: false, message: `Invalid PostgreSQL version: ${version}` };
  const numbers = parts.map((part) => Number.parseInt(part, 10));
  const [major = 0] = numbers;
  if (numbers.length < 2 || numbers.length > 3 || (numbers.length === 2 && major < 10)) {
    return { ok: false, message: `Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: ${version}` };
  }
  if (numbers.length === 2) numbers.splice(1, 0, 0);
  return { ok: true, value: Number(numbers.map((part) => String(part).padStart(2, '0')).join('')) };
}

const SECONDS_PER_UNIT: Readonly<Record<string, number>> = { ms: 0.001, s: 1, min: 60, h: 3600, d: 86400 };

/** Round half to even, as Python's round() does. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff !== 0.5) return Math.round(value);
  return floor % 2 === 0 ? floor : floor + 1;
}

/** Whole seconds from a number or a text with an optional time unit (`30`, `"30s"`, `"2min"`, `"1500ms"`), or null. */
export function parseSeconds(value: unknown): number | null {
  if (typeof value === 'number') return Number.isFinite(value) ? roundHalfEven(value) : null;
  if (typeof value !== 'string') return null;
  const match = /^\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)\s*([a-z]*)\s*$/.exec(value);
  if (!match) return null;
  const amount = Number(match[1]);
  const unit = match[2] ?? '';
  if (unit === '') return roundHalfEven(amount);
  const factor = SECONDS_PER_UNIT[unit];
  return factor === undefined ? null : roundHalfEven(amount * factor);
}

/** Patroni reads `restart_pending` by presence; an explicit false is read here as no filter. */
function isFalse(value: unknown): boolean {
  if (value === false || value === 0) return true;
  return typeof value === 'string' && ['false', 'off', 'no', '0'].includes(value.trim().toLowerCase());
}

/**
 * Checks the keys in the order they came, first problem wins, as Patroni does. `paused` refuses a schedule
 * before anything else; `now` (ms) judges the schedule.
 */
export function parseRestartRequest(body: Readonly<Record<string, unknown>>, paused: boolean, now: number): RestartRequest {
  if (paused && Object.hasOwn(body, 'schedule')) return { ok: false, status: 500, message: "Can't schedule restart in the paused state" };
  const filters: { -readonly [K in keyof RestartFilters]: RestartFilters[K] } = {};
  let schedule: { at: number; iso: string } | null = null;
  for (const [key, value] of Object.entries(body)) {
    switch (key) {
      case 'schedule': {
        const parsed = typeof value === 'string' ? parseSchedule(value, 'restart', now) : parseSchedule('', 'restart', now);
        if (!parsed.ok) return { ok: false, status: parsed.status, message: parsed.message };
        schedule = parsed;
        break;
      }
      case 'role':
        if (typeof value !== 'string' || !ROLES.has(value)) {
          return { ok: false, status: 400, message: 'PostgreSQL role should be either primary, standby_leader, or replica' };
        }
        filters.role = value as RestartRole;
        break;
      case 'postgres_version': {
        const version = postgresVersionToInt(String(value));
        if (!version.ok) return { ok: false, status: 400, message: version.message };
        filters.postgresVersionBelow = version.value;
        filters.postgresVersion = String(value);
        break;
      }
      case 'timeout': {
        const seconds = parseSeconds(value);
        if (seconds === null || seconds <= 0) return { ok: false, status: 400, message: 'Timeout should be a positive number of seconds' };
        filters.timeout = seconds;
        break;
      }
      case 'restart_pending':
        if (!isFalse(value)) filters.restartPending = true;
        break;
      default:
        return { ok: false, status: 400, message: `Unknown filter for the scheduled restart: ${key}` };
    }
  }
  if (schedule === null) {
    // The version's text matters only to a schedule, which publishes the request back.
    const { postgresVersion: _, ...now } = filters;
    return { ok: true, kind: 'now', filters: now };
  }
  return { ok: true, kind: 'scheduled', restart: { at: schedule.at, schedule: schedule.iso, ...filters } };
}
