/**
 * DCS failsafe mode on real PostgreSQL 15 and etcd: with etcd frozen, the primary stays writable past ttl while
 * every member accepts its POST /failsafe, and demotes once one of them stops answering; with failsafe_mode off
 * it demotes as soon as the store is gone.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EtcdFixture } from '@pgwarden/testkit/etcd';
import { LocalCluster, startEtcdServer } from './support/cluster.js';

const TTL = 10;

describe('failsafe mode', () => {
  let cluster: LocalCluster;
  let etcd: EtcdFixture;

  beforeAll(async () => {
    const dcs = await startEtcdServer();
    etcd = dcs.etcd;
    cluster = await LocalCluster.create({ scope: 'e2e-failsafe', dcs, dynamicYaml: '    failsafe_mode: true\n' });
    cluster.startAll();
  });

  afterAll(async () => {
    etcd?.resume();
    await cluster?.stop();
  });

  async function leader(): Promise<string | undefined> {
    const primaries = await cluster.primaries();
    return primaries.length === 1 ? primaries[0] : undefined;
  }

  async function readOnly(name: string): Promise<boolean> {
    const [row] = await cluster.query<{ recovery: boolean }>(name, 'SELECT pg_is_in_recovery() AS recovery');
    return row?.recovery === true;
  }

  async function write(name: string, value: string): Promise<void> {
    await cluster.query(name, 'INSERT INTO failsafe_probe VALUES ($1)', [value]);
  }

  let primary = '';
  let replicas: string[] = [];

  it('publishes the failsafe key with every member', async () => {
    primary = await cluster.waitFor('a leader', leader, 120_000);
    replicas = cluster.members.map((member) => member.name).filter((name) => name !== primary);
    await cluster.waitFor('all members in GET /failsafe', async () => {
      const topology = await cluster.getJson(primary, '/failsafe');
      return topology && Object.keys(topology).sort().join() === cluster.members.map((member) => member.name).sort().join();
    });
    await cluster.query(primary, 'CREATE TABLE failsafe_probe (value text)');
    for (const replica of replicas) {
      await cluster.waitFor(`${replica} streaming`, async () => (await cluster.status(replica))?.['replication_state'] === 'streaming', 120_000);
    }
  });

  it('keeps the primary writable past ttl while every member accepts POST /failsafe', async () => {
    etcd.pause();
    await cluster.waitFor('failsafe_mode_is_active on the primary', async () => (await cluster.status(primary))?.['failsafe_mode_is_active'] === true, 60_000);
    // Well past the lock's ttl: without failsafe the primary would have demoted by now.
    await delay((TTL + 5) * 1000);
    const status = await cluster.status(primary);
    expect(status?.['role']).toBe('primary');
    expect(status?.['failsafe_mode_is_active']).toBe(true);
    expect(await readOnly(primary)).toBe(false);
    await write(primary, 'during failsafe');
    expect(await cluster.httpStatus(primary, '/primary')).toBe(200);
    // The replicas keep following: what was written reaches them.
    for (const replica of replicas) {
      await cluster.waitFor(`${replica} replaying the failsafe write`, async () => {
        const rows = await cluster.query<{ count: string }>(replica, "SELECT count(*) AS count FROM failsafe_probe WHERE value = 'during failsafe'");
        return rows[0]?.count === '1';
      });
    }
  });

  it('demotes the primary once one member stops answering', async () => {
    const gone = replicas[0]!;
    await cluster.stopAgent(gone, 'SIGKILL');
    await cluster.waitFor(`${primary} read-only`, () => readOnly(primary).catch(() => false), 60_000);
    expect(await cluster.httpStatus(primary, '/primary')).not.toBe(200);
    cluster.startAgent(gone);
  });

  it('recovers a leader once etcd answers again', async () => {
    etcd.resume();
    const recovered = await cluster.waitFor('a leader after etcd is back', leader, 120_000);
    await cluster.waitFor(`${recovered} writable`, async () => {
      await write(recovered, 'after failsafe');
      return true;
    });
    primary = recovered;
    replicas = cluster.members.map((member) => member.name).filter((name) => name !== primary);
    for (const replica of replicas) {
      await cluster.waitFor(`${replica} streaming again`, async () => (await cluster.status(replica))?.['replication_state'] === 'streaming', 120_000);
    }
  });

  it('without failsafe_mode demotes the primary when etcd is gone', async () => {
    const patched = await cluster.request(primary, 'PATCH', '/config', { failsafe_mode: false });
    expect(patched.status).toBe(200);
    await cluster.waitFor('GET /failsafe answering 502', async () => (await cluster.httpStatus(primary, '/failsafe')) === 502);
    // Every member has read the change (one more cycle each) before the store goes away.
    await delay(3 * 2000);
    etcd.pause();
    await cluster.waitFor(`${primary} read-only`, () => readOnly(primary).catch(() => false), 60_000);
    expect((await cluster.status(primary))?.['failsafe_mode_is_active']).toBeUndefined();
    etcd.resume();
    await cluster.waitFor('a leader after etcd is back', leader, 120_000);
  });
});
