/**
 * pgwardenctl against a Patroni 3.0.2 cluster on etcd (Debian's `patroni`, speaking etcd's v3 gRPC gateway over
 * HTTP): it reads the cluster Patroni wrote and drives a switchover through Patroni's REST API.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PatroniCluster } from './support/patroni-cluster.js';
import { describeRun, parseList, pgwardenctl } from './support/run.js';
import type { ListRow } from './support/run.js';

let cluster: PatroniCluster;
let config: string;

async function listed(): Promise<ListRow[]> {
  return parseList(await pgwardenctl(['-c', config, 'list', '-f', 'json']));
}

async function settled(leader: string): Promise<ListRow[]> {
  return cluster.waitFor(`${leader} leading with two running replicas`, async () => {
    const rows = await listed();
    const ok = rows.length === 3 && rows.every((row) => (row.Member === leader ? row.Role === 'Leader' && row.State === 'running' : row.Role === 'Replica' && ['running', 'streaming'].includes(row.State)));
    return ok ? rows : undefined;
  });
}

beforeAll(async () => {
  cluster = await PatroniCluster.create({ scope: 'compat-patroni' });
  config = cluster.member('patroni0').configFile;
  cluster.startAll();
  await cluster.waitFor('a Patroni primary', async () => (await cluster.primaries()).length === 1);
});

afterAll(async () => {
  await cluster?.stop();
});

describe('pgwardenctl against Patroni 3.0.2', () => {
  it('lists the members Patroni registered', async () => {
    const leader = (await cluster.primaries())[0]!;
    const rows = await settled(leader);
    expect(rows.map((row) => row.Member).sort()).toEqual(['patroni0', 'patroni1', 'patroni2']);
    expect(rows.every((row) => row.TL === 1)).toBe(true);
    const pretty = await pgwardenctl(['-c', config, 'list']);
    expect(pretty.code, describeRun(pretty)).toBe(0);
    expect(pretty.stdout).toMatch(/^\+ Cluster: compat-patroni \(\d{19}\) -/);
    expect(pretty.stdout).toContain(`| ${leader} `);
  });

  it('performs a switchover through Patroni\'s REST API', async () => {
    const leader = (await cluster.primaries())[0]!;
    const candidate = ['patroni0', 'patroni1', 'patroni2'].find((name) => name !== leader)!;
    // Patroni refuses a switchover to a replica that is not streaming or lags past maximum_lag_on_failover; right
    // after bootstrap one may still be connecting (3.0.2's /replica has no replication_state filter to wait on).
    const patroni = async (name: string) =>
      (await fetch(`http://127.0.0.1:${cluster.member(name).apiPort}/patroni`).then((response) => response.json()).catch(() => null)) as {
        xlog?: { location?: number; received_location?: number };
        replication?: Array<{ application_name: string; state: string }>;
      } | null;
    await cluster.waitFor(`${candidate} streaming and caught up`, async () => {
      const [primary, replica] = await Promise.all([patroni(leader), patroni(candidate)]);
      const streaming = primary?.replication?.some((row) => row.application_name === candidate && row.state === 'streaming');
      const position = primary?.xlog?.location;
      const received = replica?.xlog?.received_location;
      return Boolean(streaming) && typeof position === 'number' && typeof received === 'number' && position - received < 1_048_576;
    });
    const result = await pgwardenctl(['-c', config, 'switchover', '--leader', leader, '--candidate', candidate, '--force']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toContain(`Successfully switched over to "${candidate}"`);
    await cluster.waitFor(`${candidate} primary`, async () => (await cluster.primaries()).join() === candidate);
    const rows = await settled(candidate);
    expect(rows.find((row) => row.Member === candidate)?.TL).toBe(2);
  });
});
