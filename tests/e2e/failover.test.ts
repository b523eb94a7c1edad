/**
 * Three agents on real PostgreSQL 15 and a real etcd: bootstrap, kill -9 of the leader, rejoin on the new
 * timeline, graceful stop of the leader. The steps build on each other, in order.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { LocalCluster } from './support/cluster.js';

describe('a 3-member cluster on etcd', () => {
  let cluster: LocalCluster;
  let etcd: Etcd3;

  beforeAll(async () => {
    cluster = await LocalCluster.create({ scope: 'e2e-failover' });
    etcd = new Etcd3({ hosts: cluster.etcd.clientUrl });
    cluster.startAll();
  });

  afterAll(async () => {
    etcd?.close();
    await cluster?.stop();
  });

  async function onlyPrimary(): Promise<string | undefined> {
    const primaries = await cluster.primaries();
    return primaries.length === 1 ? primaries[0] : undefined;
  }

  async function streamingReplicas(primary: string): Promise<string[]> {
    const rows = await cluster.query<{ application_name: string; state: string }>(
      primary,
      'SELECT application_name, state FROM pg_stat_replication',
    );
    return rows.filter((row) => row.state === 'streaming').map((row) => row.application_name).sort();
  }

  let firstLeader = '';

  it('bootstraps one leader and two streaming replicas', async () => {
    firstLeader = await cluster.waitFor('one primary', onlyPrimary, 120_000);
    const others = cluster.members.map((member) => member.name).filter((name) => name !== firstLeader).sort();
    await cluster.waitFor('two streaming replicas', async () => {
      const streaming = await streamingReplicas(firstLeader);
      return streaming.length === 2 && streaming.join() === others.join();
    }, 120_000);
    for (const name of others) {
      await cluster.waitFor(`${name} answers /replica with 200`, async () => (await cluster.httpStatus(name, '/replica')) === 200);
    }
    await cluster.query(firstLeader, 'CREATE TABLE IF NOT EXISTS events (id serial PRIMARY KEY, note text)');
    await cluster.query(firstLeader, "INSERT INTO events (note) VALUES ('before failover')");
    const status = await cluster.status(firstLeader);
    expect(status).toMatchObject({ state: 'running', role: 'primary', patroni: { scope: 'e2e-failover', name: firstLeader } });
  });

  it('keeps Patroni keys and values in etcd', async () => {
    const prefix = '/service/e2e-failover/';
    const leader = await etcd.get(`${prefix}leader`).string();
    expect(leader).toBe(firstLeader);
    const initialize = await etcd.get(`${prefix}initialize`).string();
    const rows = await cluster.query<{ system_identifier: string }>(
      firstLeader,
      'SELECT system_identifier::text FROM pg_control_system()',
    );
    expect(initialize).toBe(rows[0]?.system_identifier);
    const member = JSON.parse((await etcd.get(`${prefix}members/${firstLeader}`).string()) ?? 'null') as Record<string, unknown>;
    const port = cluster.member(firstLeader).pgPort;
    expect(member).toMatchObject({
      conn_url: `postgres://127.0.0.1:${port}/postgres`,
      api_url: `http://127.0.0.1:${cluster.member(firstLeader).apiPort}/patroni`,
      state: 'running',
      role: 'primary',
      timeline: 1,
    });
    expect(typeof member['version']).toBe('string');
    expect(typeof member['xlog_location']).toBe('number');
    const config = JSON.parse((await etcd.get(`${prefix}config`).string()) ?? '{}') as Record<string, unknown>;
    expect(config).toMatchObject({ ttl: 10, loop_wait: 2, retry_timeout: 3 });
    const leaseOfLeader = (await etcd.get(`${prefix}leader`).exec()).kvs[0]?.lease;
    expect(leaseOfLeader).not.toBe('0');
  });

  it('skips a malformed member value in etcd without harm', async () => {
    await etcd.put('/service/e2e-failover/members/garbage').value('{this is not json');
    await cluster.waitFor('the malformed value reported', async () =>
      cluster.members.some((member) => member.log.some((line) => line.includes('members/garbage'))),
    30_000);
    expect(await onlyPrimary()).toBe(firstLeader);
    await etcd.delete().key('/service/e2e-failover/members/garbage');
  });

  it('refuses a second agent with a name already running', async () => {
    const duplicate = cluster.members.find((member) => member.name !== firstLeader)!;
    const handle = cluster.member(duplicate.name);
    const second = cluster.startExpectingExit(duplicate.name);
    const code = await new Promise<number | null>((resolveExit) => second.once('exit', (exit) => resolveExit(exit)));
    expect(code).toBe(1);
    expect(handle.log.some((line) => line.includes(`already a member named ${duplicate.name}`))).toBe(true);
    expect(handle.agent?.exitCode).toBeNull();
  });

  let secondLeader = '';

  it('fails over after kill -9 of the leader agent and postmaster', async () => {
    await cluster.crash(firstLeader);
    const survivors = cluster.members.map((member) => member.name).filter((name) => name !== firstLeader);
    secondLeader = await cluster.waitFor('a new primary among the survivors', async () => {
      const primaries = await cluster.primaries();
      return primaries.length === 1 && survivors.includes(primaries[0]!) ? primaries[0] : undefined;
    }, 90_000);
    await cluster.query(secondLeader, "INSERT INTO events (note) VALUES ('after failover')");
    const rows = await cluster.query<{ note: string }>(secondLeader, 'SELECT note FROM events ORDER BY id');
    expect(rows.map((row) => row.note)).toEqual(['before failover', 'after failover']);
    const follower = survivors.find((name) => name !== secondLeader)!;
    await cluster.waitFor(`${follower} streaming from ${secondLeader}`, async () =>
      (await streamingReplicas(secondLeader)).includes(follower),
    );
    await cluster.waitFor(`${follower} replays the new write`, async () => {
      const notes = await cluster.query<{ note: string }>(follower, 'SELECT note FROM events ORDER BY id');
      return notes.length === 2;
    });
    const timeline = (await cluster.status(secondLeader))?.['timeline'];
    expect(timeline).toBe(2);
  });

  it('rejoins the killed member as a replica on the new timeline', async () => {
    cluster.startAgent(firstLeader);
    await cluster.waitFor(`${firstLeader} streaming from ${secondLeader}`, async () =>
      (await streamingReplicas(secondLeader)).includes(firstLeader),
    120_000);
    const status = await cluster.waitFor(`${firstLeader} on timeline 2`, async () => {
      const current = await cluster.status(firstLeader);
      return current?.['timeline'] === 2 && current['role'] === 'replica' ? current : undefined;
    });
    expect(status['replication_state']).toBe('streaming');
    expect(await cluster.primaries()).toEqual([secondLeader]);
  });

  it('hands over within seconds when the leader gets SIGTERM', async () => {
    await cluster.query(secondLeader, "INSERT INTO events (note) VALUES ('before graceful stop')");
    const code = await cluster.stopAgent(secondLeader, 'SIGTERM');
    expect(code).toBe(0);
    expect(cluster.postmasterPid(secondLeader)).toBeNull();
    // The agent released the lock before exiting: nobody waits for the ttl to expire.
    const leaderAfterExit = await etcd.get('/service/e2e-failover/leader').string();
    expect(leaderAfterExit).not.toBe(secondLeader);
    const survivors = cluster.members.map((member) => member.name).filter((name) => name !== secondLeader);
    const thirdLeader = await cluster.waitFor('a new primary after SIGTERM', async () => {
      const primaries = await cluster.primaries();
      return primaries.length === 1 && survivors.includes(primaries[0]!) ? primaries[0] : undefined;
    }, 60_000);
    await cluster.query(thirdLeader, "INSERT INTO events (note) VALUES ('after graceful stop')");
    const notes = await cluster.query<{ note: string }>(thirdLeader, 'SELECT note FROM events ORDER BY id');
    expect(notes.map((row) => row.note)).toEqual(['before failover', 'after failover', 'before graceful stop', 'after graceful stop']);
  });
});
