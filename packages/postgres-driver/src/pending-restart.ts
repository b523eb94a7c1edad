import type { PendingRestartReason } from '@pgwarden/core';

/**
 * Parameters the running server holds at another value than its configuration files: the value it runs with, and
 * the last value the files give (what a restart takes; `pg_file_settings` lists postgresql.conf and auto.conf lines
 * in the order the server reads them). `pg_file_settings` is readable by superusers only.
 */
export const PENDING_RESTART_QUERY = `
SELECT s.name, pg_catalog.current_setting(s.name) AS old_value, s.unit, s.vartype,
  (SELECT f.setting FROM pg_catalog.pg_file_settings f WHERE f.name = s.name ORDER BY f.seqno DESC LIMIT 1) AS file_value
FROM pg_catalog.pg_settings s WHERE s.pending_restart ORDER BY s.name`;

/** The same without the file view, for a monitoring role that may not read it. */
export const PENDING_RESTART_QUERY_NO_FILES = `
SELECT s.name, pg_catalog.current_setting(s.name) AS old_value, s.unit, s.vartype, NULL::text AS file_value
FROM pg_catalog.pg_settings s WHERE s.pending_restart ORDER BY s.name`;

export interface PendingRestartRow {
  readonly name: string;
  readonly old_value: string | null;
  readonly unit: string | null;
  readonly vartype: string | null;
  readonly file_value: string | null;
}

const MEMORY_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['TB', 1024 ** 4],
  ['GB', 1024 ** 3],
  ['MB', 1024 ** 2],
  ['kB', 1024],
  ['B', 1],
];
const TIME_UNITS: ReadonlyArray<readonly [string, number]> = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['min', 60_000],
  ['s', 1000],
  ['ms', 1],
];

/**
 * A bare integer in the parameter's base unit (`16384` with unit `8kB`) written the way PostgreSQL shows it
 * (`128MB`): the largest unit that keeps it whole. Anything else (already with a unit, not an integer, no unit,
 * zero or negative, which often mean "off") comes back unchanged.
 */
export function formatInBaseUnit(value: string, vartype: string | null, unit: string | null): string {
  if (vartype !== 'integer' || !unit || !/^\d+$/.test(value.trim())) return value;
  const amount = Number(value.trim());
  const match = /^(\d*)([a-zA-Z]+)$/.exec(unit);
  if (amount <= 0 || !match) return value;
  const multiplier = match[1] ? Number(match[1]) : 1;
  const baseName = match[2];
  for (const table of [MEMORY_UNITS, TIME_UNITS]) {
    const base = table.find(([name]) => name === baseName);
    if (!base) continue;
    const total = amount * multiplier * base[1];
    // Never below the base unit: 1500 ms stays `1500ms`.
    for (const [name, size] of table) {
      if (size >= base[1] && total % size === 0) return `${total / size}${name}`;
    }
  }
  return value;
}

/**
 * Patroni's `pending_restart_reason` from the rows of {@link PENDING_RESTART_QUERY}. The new value comes from the
 * files, else from what pgwarden wrote (`written`, lower-case names), else `?` as Patroni writes when it cannot tell.
 */
export function pendingRestartReasonFrom(
  rows: readonly PendingRestartRow[],
  written: ReadonlyMap<string, string>,
): PendingRestartReason {
  const reason: Record<string, { old_value: string; new_value: string }> = {};
  for (const row of rows) {
    const next = row.file_value ?? written.get(row.name.toLowerCase()) ?? null;
    reason[row.name] = {
      old_value: formatInBaseUnit(row.old_value ?? '', row.vartype, row.unit),
      new_value: next === null ? '?' : formatInBaseUnit(next, row.vartype, row.unit),
    };
  }
  return reason;
}
