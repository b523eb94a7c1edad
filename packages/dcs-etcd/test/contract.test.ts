import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { clusterPrefix } from '@pgwarden/core';
import type { DcsIdentity } from '@pgwarden/core';
import { describeDcsContract, freePort } from '@pgwarden/testkit';
import { startEtcd } from '@pgwarden/testkit/etcd';
import type { EtcdFixture } from '@pgwarden/testkit/etcd';
import { createEtcdDcs } from '../src/index.js';

describeDcsContract({
  name: 'etcd v3 (etcd 3.4 on loopback)',
  async setup() {
    const etcd = await startEtcd();
    const raw = new Etcd3({ hosts: etcd.clientUrl });
    const closedPort = await freePort();
    return {
      ttlSeconds: 2,
      retryTimeoutSeconds: 2,
      // etcd checks lease expiry every 500 ms.
      expiryMarginMs: 1_500,
      create: (identity) => createEtcdDcs({ ...identity, hosts: [etcd.endpoint] }),
      createUnreachable: (identity) => createEtcdDcs({ ...identity, hosts: [`127.0.0.1:${closedPort}`] }),
      letTimePass: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      async writeRaw(identity, key, value) {
        await raw.put(clusterPrefix(identity) + key).value(value);
      },
      readRaw: (identity, key) => raw.get(clusterPrefix(identity) + key).string(),
      async teardown() {
        raw.close();
        await etcd.stop();
      },
    };
  },
});

describe('etcd key layout', () => {
  let etcd: EtcdFixture;
  let raw: Etcd3;
  beforeAll(async () => {
    etcd = await startEtcd();
    raw = new Etcd3({ hosts: etcd.clientUrl });
  });
  afterAll(async () => {
    raw.close();
    await etcd.stop();
  });

  const identity = (name: string): DcsIdentity => ({ scope: 'layout', name, ttl: 10, retryTimeout: 3 });

  it("writes Patroni's keys and values under /service/<scope>/", async () => {
    await using alpha = createEtcdDcs({ ...identity('alpha'), client: raw });
    const member = {
      conn_url: 'postgres://127.0.0.1:5432/postgres',
      api_url: 'http://127.0.0.1:8008/patroni',
      state: 'running',
      role: 'primary',
      version: '4.1.4',
      xlog_location: 50_331_808,
      timeline: 1,
    };
    expect(await alpha.initialize({ create: true, sysid: '7312345678901234567' })).toBe(true);
    // Concurrent calls share one lease grant.
    expect(await Promise.all([alpha.touchMember(member), alpha.acquireLeader()])).toEqual([true, true]);
    expect(await alpha.setFailover(null)).toBe(true);
    expect(await alpha.setSync({ leader: 'alpha', syncStandby: ['bravo'], quorum: 0 }, null)).not.toBe(false);

    expect(await raw.getAll().prefix('/service/layout/').strings()).toEqual({
      '/service/layout/initialize': '7312345678901234567',
      '/service/layout/members/alpha': JSON.stringify(member),
      '/service/layout/leader': 'alpha',
      '/service/layout/failover': '{}',
      '/service/layout/sync': '{"leader":"alpha","sync_standby":"bravo","quorum":0}',
    });

    // The leader and member keys share one lease with the member's ttl; no other key has one.
    const leader = await raw.get('/service/layout/leader').exec();
    const memberKey = await raw.get('/service/layout/members/alpha').exec();
    const lease = leader.kvs[0]?.lease;
    expect(lease).not.toBe('0');
    expect(memberKey.kvs[0]?.lease).toBe(lease);
    const config = await raw.get('/service/layout/initialize').exec();
    expect(config.kvs[0]?.lease).toBe('0');
    const granted = await raw.leaseClient.leaseTimeToLive({ ID: lease ?? '0' });
    expect(Number(granted.grantedTTL)).toBe(10);
  });

  it('reads a cluster that Patroni wrote, and a version is the mod_revision', async () => {
    await raw.put('/service/patroni/leader').value('pg1');
    await raw
      .put('/service/patroni/members/pg1')
      .value(
        '{"conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni",' +
          '"state":"running","role":"primary","version":"4.1.4"}',
      );
    await raw.put('/service/patroni/config').value('{"ttl":30,"loop_wait":10,"postgresql":{"use_pg_rewind":true}}');
    await raw.put('/service/patroni/failover').value('pg1:pg2');
    await using reader = createEtcdDcs({ ...identity('pg2'), scope: 'patroni', hosts: [etcd.endpoint] });
    const cluster = await reader.loadCluster();
    const leaderKey = await raw.get('/service/patroni/leader').exec();
    expect(cluster.leader).toMatchObject({ name: 'pg1', version: leaderKey.kvs[0]?.mod_revision });
    expect(cluster.leader?.member?.data.role).toBe('primary');
    expect(cluster.config?.data).toEqual({ ttl: 30, loop_wait: 10, postgresql: { use_pg_rewind: true } });
    expect(cluster.failover).toMatchObject({ leader: 'pg1', candidate: 'pg2' });
  });

  it('loses the lock when the agent stops refreshing its lease (no background keep-alive)', async () => {
    await using alpha = createEtcdDcs({ ...identity('alpha'), scope: 'hung', ttl: 2, hosts: [etcd.endpoint] });
    expect(await alpha.acquireLeader()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    expect(await raw.get('/service/hung/leader').string()).toBeNull();
  });

  it('reports an outage as DcsUnreachableError within retryTimeout, then recovers', async () => {
    const outage = { ...identity('alpha'), scope: 'outage', ttl: 10, retryTimeout: 1 };
    await using alpha = createEtcdDcs({ ...outage, hosts: [etcd.endpoint] });
    expect(await alpha.acquireLeader()).toBe(true);
    // A keep-alive younger than a second already extended the lease and may vouch for the lock without a request
    // (once the watch has caught up): let it age, so the renewal below has to reach the store.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    etcd.pause();
    try {
      const started = Date.now();
      await expect(alpha.renewLeader()).rejects.toMatchObject({
        code: 'DCS_UNREACHABLE',
        message: expect.stringMatching(/^\[dcs-etcd\] renewLeader: /) as unknown,
      });
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      etcd.resume();
    }
    expect(await alpha.renewLeader()).toBe(true);
  });

  it('refuses to start without hosts or client', () => {
    expect(() => createEtcdDcs(identity('alpha'))).toThrow(/^\[dcs-etcd\] /);
  });
});
