/**
 * synchronous_mode on real PostgreSQL 15 and etcd: the synchronous standby role moves when its holder stops and
 * comes back, and no acknowledged commit is lost when the primary is killed.
 */
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, SUPERUSER } from './support/cluster.js';

describe('synchronous replication', () => {
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await LocalCluster.create({ scope: 'e2e-sync', dynamicYaml: '    synchronous_mode: true\n' });
    cluster.startAll();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  async function leader(): Promise<string | undefined> {
    const primaries = await cluster.primaries();
    return primaries.length === 1 ? primaries[0] : undefined;
  }

  /** The member `/cluster` reports as sync standby, once PostgreSQL agrees it waits for it. */
  async function syncStandby(primary: string): Promise<string | undefined> {
    const view = await cluster.getJson(primary, '/cluster');
    const members = (view?.['members'] ?? []) as Array<{ name: string; role: string }>;
    const sync = members.filter((member) => member.role === 'sync_standby').map((member) => member.name);
    if (sync.length !== 1) return undefined;
    const rows = await cluster.query<{ application_name: string }>(primary, "SELECT application_name FROM pg_stat_replication WHERE sync_state = 'sync'");
    return rows.map((row) => row.application_name).join() === sync[0] ? sync[0] : undefined;
  }

  let primary = '';

  it('names one synchronous standby in the sync key and in PostgreSQL', async () => {
    primary = await cluster.waitFor('a leader', leader, 120_000);
    const standby = await cluster.waitFor('a synchronous standby', () => syncStandby(primary), 120_000);
    expect(standby).not.toBe(primary);
    const [setting] = await cluster.query<{ value: string }>(primary, "SELECT current_setting('synchronous_standby_names') AS value");
    expect(setting?.value).toBe(standby);
    // The standby learns it is synchronous from the sync key on its next cycle.
    await cluster.waitFor(`${standby} reporting sync_standby`, async () => (await cluster.status(standby))?.['sync_standby'] === true);
  });

  it('moves the role when the synchronous standby stops, and back when the other one does', async () => {
    const first = (await syncStandby(primary))!;
    const second = cluster.members.map((member) => member.name).find((name) => name !== primary && name !== first)!;
    expect(await cluster.stopAgent(first, 'SIGTERM')).toBe(0);
    await cluster.waitFor(`${second} synchronous`, async () => (await syncStandby(primary)) === second, 60_000);
    cluster.startAgent(first);
    await cluster.waitFor(`${first} streaming again`, async () => (await cluster.status(first))?.['replication_state'] === 'streaming');
    expect(await cluster.stopAgent(second, 'SIGTERM')).toBe(0);
    await cluster.waitFor(`${first} synchronous again`, async () => (await syncStandby(primary)) === first, 60_000);
    cluster.startAgent(second);
    await cluster.waitFor(`${second} streaming again`, async () => (await cluster.status(second))?.['replication_state'] === 'streaming');
  });

  it('loses no acknowledged commit when the primary is killed', async () => {
    const standby = await cluster.waitFor('a synchronous standby', () => syncStandby(primary), 60_000);
    await cluster.query(primary, 'CREATE TABLE acknowledged (id int PRIMARY KEY)');
    const client = new pg.Client({ host: '127.0.0.1', port: cluster.member(primary).pgPort, user: SUPERUSER.username, password: SUPERUSER.password, database: 'postgres' });
    client.on('error', () => undefined);
    await client.connect();
    const acknowledged: number[] = [];
    let stop = false;
    const writer = (async () => {
      for (let id = 1; !stop; id++) {
        try {
          await client.query('INSERT INTO acknowledged VALUES ($1)', [id]);
          acknowledged.push(id);
        } catch {
          return;
        }
      }
    })();
    await delay(1500);
    await cluster.crash(primary);
    stop = true;
    await writer;
    await client.end().catch(() => undefined);
    expect(acknowledged.length).toBeGreaterThan(10);
    const next = await cluster.waitFor('a new primary', async () => {
      const found = await leader();
      return found && found !== primary ? found : undefined;
    }, 90_000);
    expect(next).toBe(standby);
    const rows = await cluster.query<{ id: number }>(next, 'SELECT id FROM acknowledged');
    const present = new Set(rows.map((row) => row.id));
    expect(acknowledged.filter((id) => !present.has(id))).toEqual([]);
  });
});
