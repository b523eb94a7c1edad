/**
 * Replication slots on real PostgreSQL 15 and etcd: permanent physical and logical slots from the `config` key,
 * logical slots copied to and advanced on the replicas, a hand-made slot left alone through ignore_slots, and a
 * permanent logical slot that survives kill -9 of the leader with the changes its consumer had not read yet.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from './support/cluster.js';

interface SlotRow {
  slot_name: string;
  slot_type: string;
  confirmed_flush: string | null;
}

describe('replication slots', () => {
  let cluster: LocalCluster;
  let leader = '';
  const names = () => cluster.members.map((member) => member.name);

  beforeAll(async () => {
    cluster = await LocalCluster.create({ scope: 'e2e-slots' });
    cluster.startAll();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  async function slots(name: string): Promise<Map<string, SlotRow> | undefined> {
    try {
      const rows = await cluster.query<SlotRow>(
        name,
        "SELECT slot_name, slot_type, pg_wal_lsn_diff(confirmed_flush_lsn, '0/0')::text AS confirmed_flush FROM pg_replication_slots",
      );
      return new Map(rows.map((row) => [row.slot_name, row]));
    } catch {
      return undefined;
    }
  }

  async function scalar(name: string, sql: string): Promise<string | undefined> {
    try {
      const [row] = await cluster.query<{ value: string }>(name, sql);
      return row?.value;
    } catch {
      return undefined;
    }
  }

  it('runs with wal_level logical after PATCH /config and restarts', async () => {
    leader = await cluster.waitFor('a leader', async () => {
      const primaries = await cluster.primaries();
      return primaries.length === 1 ? primaries[0] : undefined;
    }, 120_000);
    const replicas = names().filter((name) => name !== leader);
    for (const replica of replicas) {
      await cluster.waitFor(`${replica} streaming`, async () => (await cluster.status(replica))?.['replication_state'] === 'streaming', 120_000);
    }
    const patched = await cluster.request(leader, 'PATCH', '/config', {
      postgresql: { parameters: { wal_level: 'logical' } },
      slots: { cdc: { type: 'logical', database: 'postgres', plugin: 'test_decoding' }, archiver: { type: 'physical' } },
      ignore_slots: [{ name: 'handmade', type: 'physical' }],
    });
    expect(patched.status).toBe(200);
    // wal_level needs a restart: replicas first, then the primary (which keeps its lock through a restart).
    for (const name of [...replicas, leader]) {
      await cluster.waitFor(`${name} pending restart`, async () => (await cluster.status(name))?.['pending_restart'] === true);
      const restarted = await cluster.request(name, 'POST', '/restart', {});
      expect(restarted.status).toBe(200);
      await cluster.waitFor(`${name} on wal_level logical`, async () => (await scalar(name, "SELECT current_setting('wal_level') AS value")) === 'logical', 60_000);
    }
  });

  it('creates the permanent slots on the primary and leaves an ignored hand-made slot alone', async () => {
    await cluster.query(leader, "SELECT pg_create_physical_replication_slot('handmade')");
    const onLeader = await cluster.waitFor('permanent slots on the leader', async () => {
      const current = await slots(leader);
      return current?.get('cdc')?.slot_type === 'logical' && current.get('archiver')?.slot_type === 'physical' ? current : undefined;
    }, 60_000);
    // Members' physical slots are there too.
    for (const name of names().filter((name) => name !== leader)) expect(onLeader.has(name)).toBe(true);
    // Several loop_waits later the slot nobody configured is still there: ignore_slots matched it.
    await new Promise((resolve) => setTimeout(resolve, 6000));
    expect((await slots(leader))?.has('handmade')).toBe(true);
  });

  it('copies the logical slot to the replicas and advances it there', async () => {
    for (const replica of names().filter((name) => name !== leader)) {
      await cluster.waitFor(`cdc copied to ${replica}`, async () => (await slots(replica))?.get('cdc')?.slot_type === 'logical', 90_000);
      await cluster.waitFor(`${replica} streaming again`, async () => (await cluster.status(replica))?.['replication_state'] === 'streaming', 60_000);
    }
    await cluster.query(leader, 'CREATE TABLE cdc_events (id int)');
    await cluster.query(leader, 'INSERT INTO cdc_events VALUES (1)');
    // The consumer reads up to here; the next insert it has not read when the leader dies.
    await cluster.query(leader, "SELECT count(*) FROM pg_logical_slot_get_changes('cdc', NULL, NULL)");
    await cluster.query(leader, 'INSERT INTO cdc_events VALUES (2)');
    const consumed = Number((await slots(leader))?.get('cdc')?.confirmed_flush ?? 0);
    expect(consumed).toBeGreaterThan(0);
    for (const replica of names().filter((name) => name !== leader)) {
      await cluster.waitFor(`${replica} advanced cdc to the primary's position`, async () => Number((await slots(replica))?.get('cdc')?.confirmed_flush ?? 0) >= consumed, 60_000);
      await cluster.waitFor(`${replica} replayed the unread insert`, async () => (await scalar(replica, 'SELECT count(*)::text AS value FROM cdc_events')) === '2', 60_000);
    }
  });

  it('keeps the logical slot through kill -9 of the leader, with the changes not read yet', async () => {
    const former = leader;
    await cluster.crash(former);
    const survivors = names().filter((name) => name !== former);
    leader = await cluster.waitFor('a new primary', async () => {
      const primaries = (await cluster.primaries()).filter((name) => survivors.includes(name));
      return primaries.length === 1 ? primaries[0] : undefined;
    }, 90_000);
    const changes = await cluster.query<{ data: string }>(leader, "SELECT data FROM pg_logical_slot_get_changes('cdc', NULL, NULL)");
    const inserts = changes.map((row) => row.data).filter((data) => data.startsWith('table public.cdc_events: INSERT'));
    // Patroni's guarantee is at-least-once: the unread change is there; already-read ones may come again.
    expect(inserts).toContain('table public.cdc_events: INSERT: id[integer]:2');
    // The permanent physical slot is on the new primary too.
    expect((await slots(leader))?.get('archiver')?.slot_type).toBe('physical');
  });
});
