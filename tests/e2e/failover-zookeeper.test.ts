/** The failover scenario on ZooKeeper, plus what only ZooKeeper shows: Patroni's znodes, ephemeral ownership. */
import type { Client, Exception as ZkException, Stat } from 'node-zookeeper-client';
import zookeeperClient from 'node-zookeeper-client';
import { afterAll, expect } from 'vitest';
import { startZooKeeper } from '@pgwarden/testkit/zookeeper';
import type { LocalCluster } from './support/cluster.js';
import { describeFailoverScenario } from './support/failover-scenario.js';

const { CreateMode, Exception, createClient } = zookeeperClient;

const PREFIX = '/service/e2e-zookeeper/';
let endpoint = '';
let client: Client | undefined;

async function zookeeper(): Promise<Client> {
  if (client) return client;
  const fresh = createClient(endpoint, { sessionTimeout: 10_000, retries: 0 });
  const connected = new Promise<void>((resolve) => fresh.once('connected', () => resolve()));
  fresh.connect();
  await connected;
  client = fresh;
  return fresh;
}

async function get(path: string): Promise<{ value: string; stat: Stat } | null> {
  const zk = await zookeeper();
  return new Promise((resolve, reject) =>
    zk.getData(path, (error, data, stat) => {
      if (error && (error as ZkException).getCode?.() === Exception.NO_NODE) resolve(null);
      else if (error) reject(error as Error);
      else resolve({ value: data ? data.toString('utf8') : '', stat });
    }),
  );
}

async function value(key: string): Promise<string | null> {
  return (await get(PREFIX + key))?.value ?? null;
}

afterAll(() => {
  client?.close();
});

describeFailoverScenario({
  name: 'ZooKeeper',
  scope: 'e2e-zookeeper',
  startDcs: async () => {
    const server = await startZooKeeper();
    endpoint = server.endpoint;
    return { yaml: `zookeeper:\n  hosts:\n    - ${server.endpoint}\n`, stop: () => server.stop() };
  },
  afterBootstrap: async (cluster: LocalCluster, leader: string) => {
    expect(await value('leader')).toBe(leader);
    const rows = await cluster.query<{ system_identifier: string }>(leader, 'SELECT system_identifier::text FROM pg_control_system()');
    expect(await value('initialize')).toBe(rows[0]?.system_identifier);
    const member = JSON.parse((await value(`members/${leader}`)) ?? 'null') as Record<string, unknown>;
    expect(member).toMatchObject({
      conn_url: `postgres://127.0.0.1:${cluster.member(leader).pgPort}/postgres`,
      api_url: `http://127.0.0.1:${cluster.member(leader).apiPort}/patroni`,
      state: 'running',
      role: 'primary',
      timeline: 1,
    });
    const config = JSON.parse((await value('config')) ?? '{}') as Record<string, unknown>;
    expect(config).toMatchObject({ ttl: 10, loop_wait: 2, retry_timeout: 3 });
    // The lock and the member znode are ephemeral, owned by the leader's one session; config is persistent.
    const zero = Buffer.alloc(8);
    const leaderNode = await get(`${PREFIX}leader`);
    const memberNode = await get(`${PREFIX}members/${leader}`);
    expect(leaderNode?.stat.ephemeralOwner.equals(zero)).toBe(false);
    expect(memberNode?.stat.ephemeralOwner.equals(leaderNode?.stat.ephemeralOwner ?? zero)).toBe(true);
    expect((await get(`${PREFIX}config`))?.stat.ephemeralOwner.equals(zero)).toBe(true);

    // Bad input: a malformed member value is reported and skipped; nothing else changes.
    const zk = await zookeeper();
    await new Promise<void>((resolve, reject) =>
      zk.create(`${PREFIX}members/garbage`, Buffer.from('{this is not json'), CreateMode.PERSISTENT, (error) =>
        error ? reject(error as Error) : resolve(),
      ),
    );
    await cluster.waitFor('the malformed value reported', async () =>
      cluster.members.some((handle) => handle.log.some((line) => line.includes('members/garbage'))),
    30_000);
    expect(await cluster.primaries()).toEqual([leader]);
    await new Promise<void>((resolve, reject) =>
      zk.remove(`${PREFIX}members/garbage`, -1, (error) => (error ? reject(error as Error) : resolve())),
    );
  },
  afterGracefulStop: async (_cluster: LocalCluster, stopped: string) => {
    // The agent released the lock before exiting: nobody waits for the session to expire.
    expect(await value('leader')).not.toBe(stopped);
  },
});
