/** The failover scenario on etcd v3, plus what only etcd shows: Patroni's keys and values, lease binding. */
import { Etcd3 } from 'etcd3';
import { afterAll, expect } from 'vitest';
import type { LocalCluster } from './support/cluster.js';
import { startEtcdServer } from './support/cluster.js';
import { describeFailoverScenario } from './support/failover-scenario.js';

const PREFIX = '/service/e2e-etcd/';
const clients: Etcd3[] = [];
let endpoint = '';

function etcdClient(): Etcd3 {
  const client = new Etcd3({ hosts: `http://${endpoint}` });
  clients.push(client);
  return client;
}

afterAll(() => {
  for (const client of clients) client.close();
});

describeFailoverScenario({
  name: 'etcd v3',
  scope: 'e2e-etcd',
  proveRewind: true,
  startDcs: async () => {
    const server = await startEtcdServer();
    endpoint = server.etcd.endpoint;
    return server;
  },
  afterBootstrap: async (cluster: LocalCluster, leader: string) => {
    const etcd = etcdClient();
    expect(await etcd.get(`${PREFIX}leader`).string()).toBe(leader);
    const rows = await cluster.query<{ system_identifier: string }>(leader, 'SELECT system_identifier::text FROM pg_control_system()');
    expect(await etcd.get(`${PREFIX}initialize`).string()).toBe(rows[0]?.system_identifier);
    const member = JSON.parse((await etcd.get(`${PREFIX}members/${leader}`).string()) ?? 'null') as Record<string, unknown>;
    expect(member).toMatchObject({
      conn_url: `postgres://127.0.0.1:${cluster.member(leader).pgPort}/postgres`,
      api_url: `http://127.0.0.1:${cluster.member(leader).apiPort}/patroni`,
      state: 'running',
      role: 'primary',
      timeline: 1,
    });
    expect(typeof member['version']).toBe('string');
    expect(typeof member['xlog_location']).toBe('number');
    const config = JSON.parse((await etcd.get(`${PREFIX}config`).string()) ?? '{}') as Record<string, unknown>;
    expect(config).toMatchObject({ ttl: 10, loop_wait: 2, retry_timeout: 3 });
    // The lock and the member key live and die with the member's lease.
    const leaderKey = (await etcd.get(`${PREFIX}leader`).exec()).kvs[0];
    const memberKey = (await etcd.get(`${PREFIX}members/${leader}`).exec()).kvs[0];
    expect(leaderKey?.lease).not.toBe('0');
    expect(leaderKey?.lease).toBe(memberKey?.lease);

    // Bad input: a malformed member value is reported and skipped; nothing else changes.
    await etcd.put(`${PREFIX}members/garbage`).value('{this is not json');
    await cluster.waitFor('the malformed value reported', async () =>
      cluster.members.some((handle) => handle.log.some((line) => line.includes('members/garbage'))),
    30_000);
    expect(await cluster.primaries()).toEqual([leader]);
    await etcd.delete().key(`${PREFIX}members/garbage`);

    // A second agent under a running member's name refuses to start.
    const duplicate = cluster.members.find((handle) => handle.name !== leader)!;
    const second = cluster.startExpectingExit(duplicate.name);
    const code = await new Promise<number | null>((resolveExit) => second.once('exit', (exit) => resolveExit(exit)));
    expect(code).toBe(1);
    expect(duplicate.log.some((line) => line.includes(`already a node named ${duplicate.name} running`))).toBe(true);
    expect(duplicate.agent?.exitCode).toBeNull();
  },
  afterGracefulStop: async (_cluster: LocalCluster, stopped: string) => {
    // The agent released the lock before exiting: nobody waits for the ttl to expire.
    expect(await etcdClient().get(`${PREFIX}leader`).string()).not.toBe(stopped);
  },
});
