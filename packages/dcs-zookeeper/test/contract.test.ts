import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CreateMode, Exception, createClient } from 'node-zookeeper-client';
import type { Client, Stat } from 'node-zookeeper-client';
import { clusterPrefix, encodeHistory, encodeStatus } from '@pgwarden/core';
import type { DcsIdentity } from '@pgwarden/core';
import { describeDcsContract, freePort } from '@pgwarden/testkit';
import { startZooKeeper } from '@pgwarden/testkit/zookeeper';
import type { ZooKeeperFixture } from '@pgwarden/testkit/zookeeper';
import { createZooKeeperDcs } from '../src/index.js';

/** A plain client, as another tool (or Patroni) would use, to look at and write znodes directly. */
class RawZooKeeper {
  readonly client: Client;
  private constructor(client: Client) {
    this.client = client;
  }

  static async connect(endpoint: string, sessionTimeout = 10_000): Promise<RawZooKeeper> {
    const client = createClient(endpoint, { sessionTimeout, retries: 0 });
    const connected = new Promise<void>((resolve) => client.once('connected', () => resolve()));
    client.connect();
    await connected;
    return new RawZooKeeper(client);
  }

  get(path: string): Promise<{ value: string; stat: Stat } | null> {
    return new Promise((resolve, reject) =>
      this.client.getData(path, (error, data, stat) => {
        if (error && (error as Exception).getCode?.() === Exception.NO_NODE) resolve(null);
        else if (error) reject(error as Error);
        else resolve({ value: data ? data.toString('utf8') : '', stat });
      }),
    );
  }

  async value(path: string): Promise<string | null> {
    return (await this.get(path))?.value ?? null;
  }

  children(path: string): Promise<string[]> {
    return new Promise((resolve, reject) =>
      this.client.getChildren(path, (error, children) => (error ? reject(error as Error) : resolve(children.sort()))),
    );
  }

  async put(path: string, value: string, mode = CreateMode.PERSISTENT): Promise<void> {
    await new Promise<void>((resolve, reject) =>
      this.client.mkdirp(path.slice(0, path.lastIndexOf('/')), (error) => (error ? reject(error as Error) : resolve())),
    );
    await new Promise<void>((resolve, reject) =>
      this.client.create(path, Buffer.from(value), mode, (error) => {
        if (!error) resolve();
        else if ((error as Exception).getCode?.() !== Exception.NODE_EXISTS) reject(error as Error);
        else this.client.setData(path, Buffer.from(value), -1, (again) => (again ? reject(again as Error) : resolve()));
      }),
    );
  }

  close(): void {
    this.client.close();
  }
}

describeDcsContract({
  name: 'ZooKeeper (ZooKeeper 3.8 on loopback)',
  async setup() {
    const zookeeper = await startZooKeeper();
    const raw = await RawZooKeeper.connect(zookeeper.endpoint);
    const closedPort = await freePort();
    return {
      ttlSeconds: 2,
      retryTimeoutSeconds: 2,
      // The server expires sessions on tick boundaries (500 ms here).
      expiryMarginMs: 1_500,
      create: (identity) => createZooKeeperDcs({ ...identity, hosts: [zookeeper.endpoint] }),
      createUnreachable: (identity) => createZooKeeperDcs({ ...identity, hosts: [`127.0.0.1:${closedPort}`] }),
      letTimePass: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      writeRaw: (identity, key, value) => raw.put(clusterPrefix(identity) + key, value),
      readRaw: (identity, key) => raw.value(clusterPrefix(identity) + key),
      async teardown() {
        raw.close();
        await zookeeper.stop();
      },
    };
  },
});

describe('ZooKeeper znode layout and sessions', () => {
  let zookeeper: ZooKeeperFixture;
  let raw: RawZooKeeper;
  beforeAll(async () => {
    zookeeper = await startZooKeeper();
    raw = await RawZooKeeper.connect(zookeeper.endpoint);
  });
  afterAll(async () => {
    raw?.close();
    await zookeeper?.stop();
  });

  const identity = (name: string, scope: string): DcsIdentity => ({ scope, name, ttl: 10, retryTimeout: 3 });
  const member = {
    conn_url: 'postgres://127.0.0.1:5432/postgres',
    api_url: 'http://127.0.0.1:8008/patroni',
    state: 'running',
    role: 'primary',
    version: '4.1.4',
    xlog_location: 50_331_808,
    timeline: 1,
  };

  it("writes Patroni's znodes and values under /service/<scope>/, leader and member ephemeral", async () => {
    await using alpha = createZooKeeperDcs({ ...identity('alpha', 'layout'), hosts: [zookeeper.endpoint] });
    expect(await alpha.initialize({ create: true, sysid: '7312345678901234567' })).toBe(true);
    expect(await Promise.all([alpha.touchMember(member), alpha.acquireLeader()])).toEqual([true, true]);
    expect(await alpha.setConfig({ ttl: 30, loop_wait: 10 }, null)).toBe(true);
    expect(await alpha.setFailover(null)).toBe(true);
    expect(await alpha.setSync({ leader: 'alpha', syncStandby: ['bravo'], quorum: 0 }, null)).not.toBe(false);
    expect(await alpha.setHistory([[1, 50_331_808, 'no recovery target specified']])).toBe(true);
    expect(await alpha.writeStatus({ optime: 50_331_808, slots: {}, retainSlots: [] })).toBe(true);
    expect(await alpha.writeFailsafe({ alpha: 'http://127.0.0.1:8008/patroni' })).toBe(true);

    expect(await raw.children('/service/layout')).toEqual([
      'config',
      'failover',
      'failsafe',
      'history',
      'initialize',
      'leader',
      'members',
      'status',
      'sync',
    ]);
    expect(await raw.children('/service/layout/members')).toEqual(['alpha']);
    expect(await raw.value('/service/layout/initialize')).toBe('7312345678901234567');
    expect(await raw.value('/service/layout/leader')).toBe('alpha');
    expect(await raw.value('/service/layout/members/alpha')).toBe(JSON.stringify(member));
    expect(await raw.value('/service/layout/config')).toBe('{"ttl":30,"loop_wait":10}');
    expect(await raw.value('/service/layout/failover')).toBe('{}');
    expect(await raw.value('/service/layout/sync')).toBe('{"leader":"alpha","sync_standby":"bravo","quorum":0}');
    expect(await raw.value('/service/layout/history')).toBe(encodeHistory([[1, 50_331_808, 'no recovery target specified']]));
    expect(await raw.value('/service/layout/status')).toBe(encodeStatus({ optime: 50_331_808, slots: {}, retainSlots: [] }));

    // Only the leader and member znodes belong to a session; both to the same one.
    const zero = Buffer.alloc(8);
    const leader = await raw.get('/service/layout/leader');
    const memberNode = await raw.get('/service/layout/members/alpha');
    expect(leader?.stat.ephemeralOwner.equals(zero)).toBe(false);
    expect(memberNode?.stat.ephemeralOwner.equals(leader?.stat.ephemeralOwner ?? zero)).toBe(true);
    for (const key of ['initialize', 'config', 'failover', 'sync', 'history', 'status', 'failsafe']) {
      expect((await raw.get(`/service/layout/${key}`))?.stat.ephemeralOwner.equals(zero), key).toBe(true);
    }
  });

  it("binds the leader znode to the given client's session, and closing that session removes leader and member", async () => {
    const own = await RawZooKeeper.connect(zookeeper.endpoint);
    const alpha = createZooKeeperDcs({ ...identity('alpha', 'owner'), client: own.client });
    const bravo = createZooKeeperDcs({ ...identity('bravo', 'owner'), hosts: [zookeeper.endpoint] });
    try {
      expect(await alpha.touchMember(member)).toBe(true);
      expect(await alpha.acquireLeader()).toBe(true);
      const leader = await raw.get('/service/owner/leader');
      expect(leader?.stat.ephemeralOwner.equals(own.client.getSessionId())).toBe(true);
      const version = (await bravo.loadCluster()).leader?.version ?? null;
      expect(version).not.toBeNull();

      const woken = bravo.watchLeader(version, 20_000);
      await alpha.close();
      // close() does not close a client it was given; the caller closing it ends the session at once.
      expect(await raw.value('/service/owner/leader')).toBe('alpha');
      own.close();
      expect(await woken).toBe(true);
      const view = await bravo.loadCluster();
      expect(view.leader).toBeNull();
      expect(view.members).toEqual([]);
    } finally {
      await bravo.close();
      own.close();
    }
  });

  it('moves a leader znode left by an older session onto the current one (renew after a restart)', async () => {
    // An earlier incarnation of alpha left a lock bound to its session, which is still alive.
    const old = await RawZooKeeper.connect(zookeeper.endpoint);
    try {
      await old.put('/service/moved/leader', 'alpha', CreateMode.EPHEMERAL);
      await using alpha = createZooKeeperDcs({ ...identity('alpha', 'moved'), hosts: [zookeeper.endpoint] });
      await using bravo = createZooKeeperDcs({ ...identity('bravo', 'moved'), hosts: [zookeeper.endpoint] });
      expect(await bravo.renewLeader()).toBe(false);
      expect(await alpha.renewLeader()).toBe(true);
      const leader = await raw.get('/service/moved/leader');
      expect(leader?.value).toBe('alpha');
      expect(leader?.stat.ephemeralOwner.equals(old.client.getSessionId())).toBe(false);
      // The old session ending no longer takes the lock with it.
      old.close();
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(await raw.value('/service/moved/leader')).toBe('alpha');
      expect(await alpha.renewLeader()).toBe(true);
    } finally {
      old.close();
    }
  });

  it('reads a cluster Patroni wrote; versions are mzxids, distinct for a re-created leader', async () => {
    await raw.put('/service/patroni/leader', 'pg1');
    await raw.put(
      '/service/patroni/members/pg1',
      '{"conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni",' +
        '"state":"running","role":"primary","version":"4.1.4"}',
    );
    await raw.put('/service/patroni/config', '{"ttl":30,"loop_wait":10,"postgresql":{"use_pg_rewind":true}}');
    await raw.put('/service/patroni/failover', 'pg1:pg2');
    await using reader = createZooKeeperDcs({ ...identity('pg2', 'patroni'), hosts: [zookeeper.endpoint] });
    const cluster = await reader.loadCluster();
    const leaderNode = await raw.get('/service/patroni/leader');
    expect(cluster.leader).toMatchObject({ name: 'pg1', version: leaderNode?.stat.mzxid.readBigUInt64BE(0).toString() });
    expect(cluster.leader?.member?.data.role).toBe('primary');
    expect(cluster.config?.data).toEqual({ ttl: 30, loop_wait: 10, postgresql: { use_pg_rewind: true } });
    expect(cluster.failover).toMatchObject({ leader: 'pg1', candidate: 'pg2' });

    // Same data version (0) after delete and create; the version pgwarden hands out still changes.
    await new Promise<void>((resolve, reject) =>
      raw.client.remove('/service/patroni/leader', -1, (error) => (error ? reject(error as Error) : resolve())),
    );
    await raw.put('/service/patroni/leader', 'pg1');
    expect((await raw.get('/service/patroni/leader'))?.stat.version).toBe(leaderNode?.stat.version);
    const again = await reader.loadCluster();
    expect(again.leader?.version).not.toBe(cluster.leader?.version);
    expect(await reader.watchLeader(cluster.leader?.version ?? null, 5_000)).toBe(true);
  });

  it('reports an outage as DcsUnreachableError within retryTimeout, then recovers with the same session', async () => {
    await using alpha = createZooKeeperDcs({ ...identity('alpha', 'outage'), retryTimeout: 1, hosts: [zookeeper.endpoint] });
    expect(await alpha.acquireLeader()).toBe(true);
    const owner = (await raw.get('/service/outage/leader'))?.stat.ephemeralOwner;
    zookeeper.pause();
    try {
      const started = Date.now();
      await expect(alpha.renewLeader()).rejects.toMatchObject({
        code: 'DCS_UNREACHABLE',
        message: expect.stringMatching(/^\[dcs-zookeeper\] renewLeader: /) as unknown,
      });
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      zookeeper.resume();
    }
    expect(await alpha.renewLeader()).toBe(true);
    expect((await raw.get('/service/outage/leader'))?.stat.ephemeralOwner.equals(owner ?? Buffer.alloc(8))).toBe(true);
  });

  it('drops a connection whose server went silent for max(loop_wait - 2, 2) s, and keeps the session after', async () => {
    const silences: Array<Record<string, unknown>> = [];
    const logger = {
      log(_level: string, message: string, fields?: Record<string, unknown>) {
        if (message.includes('silent past the read timeout')) silences.push(fields ?? {});
      },
    };
    await using alpha = createZooKeeperDcs({ ...identity('alpha', 'silent'), loopWait: 3, retryTimeout: 1, hosts: [zookeeper.endpoint], logger });
    expect(await alpha.acquireLeader()).toBe(true);
    const owner = (await raw.get('/service/silent/leader'))?.stat.ephemeralOwner;
    /** Freezes the server with no request of alpha's in flight, until alpha gives up on the connection. */
    const freezeUntilDropped = async (): Promise<Record<string, unknown>> => {
      const before = silences.length;
      zookeeper.pause();
      try {
        // No request is made: only the liveness check can notice the silence.
        for (let waited = 0; silences.length === before && waited < 20_000; waited += 100) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
        expect(silences.length, 'the silent connection was dropped').toBe(before + 1);
        await expect(alpha.renewLeader()).rejects.toMatchObject({ code: 'DCS_UNREACHABLE' });
      } finally {
        zookeeper.resume();
      }
      return silences[before] ?? {};
    };
    expect((await freezeUntilDropped())['readTimeoutMs']).toBe(2_000);
    expect(await alpha.renewLeader()).toBe(true);

    // A new loop_wait from the dynamic configuration applies to the same connection.
    alpha.setTiming({ ttl: 10, retryTimeout: 1, loopWait: 6 });
    expect((await freezeUntilDropped())['readTimeoutMs']).toBe(4_000);
    expect(await alpha.renewLeader()).toBe(true);
    expect((await raw.get('/service/silent/leader'))?.stat.ephemeralOwner.equals(owner ?? Buffer.alloc(8)), 'the same session').toBe(true);
  });

  it('refuses to start without hosts or client', () => {
    expect(() => createZooKeeperDcs(identity('alpha', 'none'))).toThrow(/^\[dcs-zookeeper\] /);
  });
});
