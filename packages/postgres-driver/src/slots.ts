/**
 * Replication slots on one server: read them, drop/create/advance them as the HA rules planned, and copy
 * permanent logical slots from the primary (their `state` files, read with pg_read_binary_file) into a
 * stopped replica's data directory.
 */
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Client } from 'pg';
import { formatLsn, parseLsn, type Logger, type LogicalSlotSpec, type ReplicationSlot, type SlotChangeOutcome, type SlotChanges } from '@pgwarden/core';

/** Runs `work` in a session on `database` of the local server (null: the driver's own database). */
export type SessionRunner = <T>(database: string | null, work: (client: Client) => Promise<T>) => Promise<T>;

const SLOT_NAME = /^[a-z0-9_]{1,63}$/;

/** The subquery the monitoring query embeds: every column of pg_replication_slots, whatever the version. */
export const SLOTS_SUBQUERY =
  "(SELECT coalesce(pg_catalog.json_agg(s), '[]'::json) FROM pg_catalog.pg_replication_slots s WHERE NOT s.temporary)";

function lsnOrNull(value: unknown): number | null {
  return typeof value === 'string' && value !== '' ? parseLsn(value) : null;
}

function textOrNull(value: unknown): string | null {
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return null;
}

/** Rows of pg_replication_slots as json_agg returns them. */
export function parseSlotRows(raw: unknown): ReplicationSlot[] {
  if (!Array.isArray(raw)) return [];
  const slots: ReplicationSlot[] = [];
  for (const row of raw) {
    if (typeof row !== 'object' || row === null) continue;
    const record = row as Record<string, unknown>;
    const name = record['slot_name'];
    const type = record['slot_type'];
    if (typeof name !== 'string' || (type !== 'physical' && type !== 'logical')) continue;
    slots.push({
      name,
      type,
      database: textOrNull(record['database']),
      plugin: textOrNull(record['plugin']),
      active: record['active'] === true,
      xmin: textOrNull(record['xmin']),
      catalogXmin: textOrNull(record['catalog_xmin']),
      restartLsn: lsnOrNull(record['restart_lsn']),
      confirmedFlushLsn: lsnOrNull(record['confirmed_flush_lsn']),
      walStatus: textOrNull(record['wal_status']),
    });
  }
  return slots;
}

export async function listSlots(session: SessionRunner): Promise<ReplicationSlot[]> {
  return session(null, async (client) => {
    const result = await client.query<{ slots: unknown }>(`SELECT ${SLOTS_SUBQUERY} AS slots`);
    return parseSlotRows(result.rows[0]?.slots);
  });
}

function sqlState(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

/** Carries out a plan: drops (only inactive slots), creations, then advances; each failure is logged and skipped. */
export async function applySlotChanges(session: SessionRunner, changes: SlotChanges, logger: Logger): Promise<SlotChangeOutcome> {
  const failed: string[] = [];
  const recopy: string[] = [];
  const names = [...changes.drop, ...changes.createPhysical, ...changes.createLogical.map((s) => s.name), ...changes.advance.map((s) => s.name)];
  for (const name of names) {
    if (!SLOT_NAME.test(name)) throw new Error(`[postgres-driver] not a replication slot name: ${JSON.stringify(name)}`);
  }
  const attempt = async (name: string, what: string, work: () => Promise<void>): Promise<unknown> => {
    try {
      await work();
      return null;
    } catch (error) {
      failed.push(name);
      logger.log('warn', `${what} replication slot ${name} failed: ${error instanceof Error ? error.message : String(error)}`);
      return error;
    }
  };
  if (changes.drop.length || changes.createPhysical.length || changes.advance.some((slot) => slot.type === 'physical')) {
    await session(null, async (client) => {
      for (const name of changes.drop) {
        await attempt(name, 'dropping', async () => {
          const result = await client.query<{ active: boolean; dropped: boolean }>(
            `WITH slot AS (SELECT slot_name, active FROM pg_catalog.pg_replication_slots WHERE slot_name = $1),
               dropped AS (SELECT pg_catalog.pg_drop_replication_slot(slot_name), true AS dropped FROM slot WHERE NOT active)
             SELECT slot.active, coalesce(dropped.dropped, false) AS dropped FROM slot LEFT JOIN dropped ON true`,
            [name],
          );
          const row = result.rows[0];
          if (row?.active) throw new Error('it is active');
          if (row) logger.log('info', `dropped replication slot ${name}`);
        });
      }
      for (const name of changes.createPhysical) {
        await attempt(name, 'creating', async () => {
          // Reserve WAL at once: a slot created for a member that is not streaming yet must hold WAL from now on.
          await client.query(
            `SELECT pg_catalog.pg_create_physical_replication_slot($1, true)
             WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)`,
            [name],
          );
          logger.log('info', `created physical replication slot ${name}`);
        });
      }
      for (const slot of changes.advance) {
        if (slot.type !== 'physical') continue;
        await attempt(slot.name, 'advancing', async () => {
          await client.query('SELECT pg_catalog.pg_replication_slot_advance($1, $2)', [slot.name, formatLsn(slot.lsn)]);
        });
      }
    });
  }
  const byDatabase = new Map<string, Array<{ kind: 'create'; plugin: string; name: string } | { kind: 'advance'; lsn: number; name: string }>>();
  for (const slot of changes.createLogical) {
    const list = byDatabase.get(slot.database) ?? [];
    list.push({ kind: 'create', plugin: slot.plugin, name: slot.name });
    byDatabase.set(slot.database, list);
  }
  for (const slot of changes.advance) {
    if (slot.type !== 'logical' || slot.database === null) continue;
    const list = byDatabase.get(slot.database) ?? [];
    list.push({ kind: 'advance', lsn: slot.lsn, name: slot.name });
    byDatabase.set(slot.database, list);
  }
  // Logical slots belong to a database: create and advance them from a session on it.
  for (const [database, work] of byDatabase) {
    try {
      await session(database, async (client) => {
        for (const item of work) {
          if (item.kind === 'create') {
            await attempt(item.name, 'creating', async () => {
              await client.query(
                `SELECT pg_catalog.pg_create_logical_replication_slot($1, $2)
                 WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_replication_slots WHERE slot_name = $1)`,
                [item.name, item.plugin],
              );
              logger.log('info', `created logical replication slot ${item.name}`, { database, plugin: item.plugin });
            });
          } else {
            const error = await attempt(item.name, 'advancing', async () => {
              await client.query('SELECT pg_catalog.pg_replication_slot_advance($1, $2)', [item.name, formatLsn(item.lsn)]);
            });
            // The WAL it needs is gone (58P01) or the slot cannot be used (55000): only a fresh copy helps.
            const state = sqlState(error);
            if (state === '58P01' || state === '55000') recopy.push(item.name);
          }
        }
      });
    } catch (error) {
      for (const item of work) failed.push(item.name);
      logger.log('warn', `replication slots in database ${database} not handled: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  return { failed, recopy };
}

/** A slot's state file as the primary holds it. */
export interface SlotState extends LogicalSlotSpec {
  readonly data: Buffer;
}

/**
 * Reads the `state` files of the wanted logical slots on the primary through an open session (a superuser, or
 * the rewind user, which may call pg_read_binary_file). Slots whose database or plugin differ are left out.
 */
export async function readSlotStates(client: Client, wanted: readonly LogicalSlotSpec[], logger: Logger): Promise<SlotState[]> {
  if (!wanted.length) return [];
  const result = await client.query<{ slot_name: string; datname: string; plugin: string; state: Buffer }>(
    `SELECT s.slot_name, d.datname, s.plugin,
       pg_catalog.pg_read_binary_file('pg_replslot/' || s.slot_name || '/state') AS state
     FROM pg_catalog.pg_get_replication_slots() s JOIN pg_catalog.pg_database d ON s.datoid = d.oid
     WHERE s.slot_type = 'logical' AND NOT pg_catalog.pg_is_in_recovery() AND s.slot_name = ANY($1)`,
    [wanted.map((slot) => slot.name)],
  );
  const states: SlotState[] = [];
  for (const row of result.rows) {
    const spec = wanted.find((slot) => slot.name === row.slot_name);
    if (!spec) continue;
    if (spec.database !== row.datname || spec.plugin !== row.plugin) {
      logger.log('warn', `not copying logical slot ${row.slot_name}: on the primary it is ${row.datname}/${row.plugin}, configured ${spec.database}/${spec.plugin}`);
      continue;
    }
    states.push({ ...spec, data: row.state });
  }
  return states;
}

/**
 * Writes the state files into `<dataDir>/pg_replslot/<slot>/state` of a stopped server, each through a
 * temporary directory renamed into place, synced to disk, owned by the server's user.
 */
export async function installSlotStates(dataDir: string, states: readonly SlotState[], own: (path: string) => Promise<void>): Promise<void> {
  const root = join(dataDir, 'pg_replslot');
  await mkdir(root, { recursive: true, mode: 0o700 });
  for (const state of states) {
    if (!SLOT_NAME.test(state.name)) throw new Error(`[postgres-driver] not a replication slot name: ${JSON.stringify(state.name)}`);
    const target = join(root, state.name);
    const temporary = `${target}.tmp`;
    await rm(temporary, { recursive: true, force: true });
    await mkdir(temporary, { mode: 0o700 });
    const file = await open(join(temporary, 'state'), 'w', 0o600);
    try {
      await file.writeFile(state.data);
      await file.sync();
    } finally {
      await file.close();
    }
    await own(temporary);
    await own(join(temporary, 'state'));
    await rm(target, { recursive: true, force: true });
    await rename(temporary, target);
    await syncDirectory(target);
  }
  await syncDirectory(root);
}

async function syncDirectory(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
