/**
 * synchronous_mode: quorum on real PostgreSQL 15 and etcd: `ANY 1 (a,b)` in PostgreSQL, the `sync` key with
 * `quorum`, /quorum on the quorum standbys, and a quorum member promoted after kill -9 of the primary.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, startEtcdServer } from './support/cluster.js';

describe('quorum commit', () => {
  let cluster: LocalCluster;
  let endpoint = '';

  beforeAll(async () => {
    const dcs = await startEtcdServer();
    endpoint = dcs.etcd.endpoint;
    cluster = await LocalCluster.create({ scope: 'e2e-quorum', dcs, dynamicYaml: '    synchronous_mode: quorum\n' });
    cluster.startAll();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  /** The `sync` key as stored, read through etcd's JSON gateway. */
  async function syncKey(): Promise<{ leader?: string; sync_standby?: string; quorum?: number } | undefined> {
    const key = Buffer.from('/service/e2e-quorum/sync').toString('base64');
    const response = await fetch(`http://${endpoint}/v3/kv/range`, { method: 'POST', body: JSON.stringify({ key }) });
    const body = (await response.json()) as { kvs?: Array<{ value: string }> };
    const value = body.kvs?.[0]?.value;
    return value ? (JSON.parse(Buffer.from(value, 'base64').toString()) as Record<string, never>) : undefined;
  }

  async function leader(): Promise<string | undefined> {
    const primaries = await cluster.primaries();
    return primaries.length === 1 ? primaries[0] : undefined;
  }

  let primary = '';
  let standbys: string[] = [];

  it('writes ANY 1 over both standbys and a sync key with quorum 1', async () => {
    primary = await cluster.waitFor('a leader', leader, 120_000);
    standbys = cluster.members.map((member) => member.name).filter((name) => name !== primary).sort();
    // Plain names go unquoted, as Patroni writes them (`ANY 1 (node2,node3)`).
    const expected = `ANY 1 (${standbys.join(',')})`;
    await cluster.waitFor(
      `synchronous_standby_names = ${expected}`,
      async () => {
        const [row] = await cluster.query<{ value: string }>(primary, "SELECT current_setting('synchronous_standby_names') AS value");
        return row?.value === expected;
      },
      120_000,
    );
    const sync = await cluster.waitFor('the sync key with both voters', async () => {
      const value = await syncKey();
      return value?.sync_standby?.split(',').length === 2 ? value : undefined;
    }, 60_000);
    expect(sync).toEqual({ leader: primary, sync_standby: standbys.join(','), quorum: 1 });
    const rows = await cluster.query<{ sync_state: string }>(primary, 'SELECT sync_state FROM pg_stat_replication');
    expect(rows.map((row) => row.sync_state)).toEqual(['quorum', 'quorum']);
  });

  it('answers /quorum with 200 on the quorum standbys and 503 on the primary', async () => {
    for (const name of standbys) {
      await cluster.waitFor(`${name} /quorum 200`, async () => (await cluster.httpStatus(name, '/quorum')) === 200, 30_000);
    }
    expect(await cluster.httpStatus(primary, '/quorum')).toBe(503);
    expect(await cluster.httpStatus(standbys[0]!, '/sync')).toBe(503);
  });

  it('promotes a quorum member after kill -9 of the primary', async () => {
    await cluster.query(primary, 'CREATE TABLE quorum_acknowledged AS SELECT generate_series(1, 1000) AS id');
    await cluster.crash(primary);
    const next = await cluster.waitFor('a new primary', async () => {
      const found = await leader();
      return found && found !== primary ? found : undefined;
    }, 90_000);
    expect(standbys).toContain(next);
    const [count] = await cluster.query<{ n: string }>(next, 'SELECT count(*) AS n FROM quorum_acknowledged');
    expect(count?.n).toBe('1000');
    // The new primary takes the key over, with the old leader among the voters until it is gone for good.
    const sync = await cluster.waitFor('the sync key led by the new primary', async () => {
      const value = await syncKey();
      return value?.leader === next ? value : undefined;
    }, 60_000);
    expect(sync.sync_standby?.split(',')).toContain(standbys.find((name) => name !== next));
  });
});
