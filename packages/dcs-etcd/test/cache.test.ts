/**
 * The watch-fed cache against a real etcd: what reaches etcd is counted from its own /metrics
 * (`grpc_server_started_total`, one per RPC), so these tests fail if reads stop coming from the cache or if
 * the cache is trusted when it should not be.
 */
import { createServer, connect } from 'node:net';
import type { Server, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Etcd3 } from 'etcd3';
import { DcsUnreachableError } from '@pgwarden/core';
import type { DcsIdentity, MemberData } from '@pgwarden/core';
import { startEtcd } from '@pgwarden/testkit/etcd';
import type { EtcdFixture } from '@pgwarden/testkit/etcd';
import { createEtcdDcs } from '../src/index.js';

let etcd: EtcdFixture;
let raw: Etcd3;
let scopes = 0;

beforeAll(async () => {
  etcd = await startEtcd();
  raw = new Etcd3({ hosts: etcd.clientUrl });
});
afterAll(async () => {
  raw.close();
  await etcd.stop();
});

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** RPCs etcd has started, per method, since it started. */
async function rpcs(): Promise<Record<string, number>> {
  const text = await (await fetch(`${etcd.clientUrl}/metrics`)).text();
  const counts: Record<string, number> = {};
  for (const line of text.split('\n')) {
    if (!line.startsWith('grpc_server_started_total{')) continue;
    const method = /grpc_method="([^"]+)"/.exec(line)?.[1] ?? '?';
    counts[method] = (counts[method] ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return counts;
}

/** RPCs per method started between two scrapes (methods with none left out). */
function since(before: Record<string, number>, after: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [method, count] of Object.entries(after)) if (count - (before[method] ?? 0) > 0) out[method] = count - (before[method] ?? 0);
  return out;
}

function identity(name: string, extra: Partial<DcsIdentity> = {}): DcsIdentity {
  return { scope: `cache-${++scopes}`, name, ttl: 10, retryTimeout: 2, ...extra };
}

const member = (port: number): MemberData => ({
  conn_url: `postgres://127.0.0.1:${port}/postgres`,
  api_url: `http://127.0.0.1:${port + 1000}/patroni`,
  state: 'running',
  role: 'replica',
  version: '4.1.4',
});

/** Reads until one is answered without a Range (the watch starts with the second read and takes a moment). */
async function warm(dcs: { loadCluster(): Promise<unknown> }): Promise<void> {
  await dcs.loadCluster();
  for (let attempt = 0; attempt < 100; attempt++) {
    const before = await rpcs();
    await dcs.loadCluster();
    if (!since(before, await rpcs()).Range) return;
    await sleep(50);
  }
  throw new Error('the cache never took over from range reads');
}

/** Reads until `ready` holds (the watch delivers asynchronously); fails the test after a few seconds. */
async function readUntil<T>(read: () => Promise<T>, ready: (value: T) => boolean): Promise<T> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const value = await read();
    if (ready(value)) return value;
    await sleep(50);
  }
  throw new Error('the cache never showed the change');
}

/** A TCP relay to etcd that can be cut (every connection dropped, new ones refused) and restored. */
async function relay(): Promise<{ endpoint: string; cut(): void; restore(): void; close(): Promise<void> }> {
  const [host, port] = etcd.endpoint.split(':') as [string, string];
  const sockets = new Set<Socket>();
  let open = true;
  const server: Server = createServer((inbound) => {
    if (!open) {
      inbound.destroy();
      return;
    }
    const outbound = connect(Number(port), host);
    for (const socket of [inbound, outbound]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => {});
    }
    inbound.pipe(outbound).pipe(inbound);
    inbound.on('close', () => outbound.destroy());
    outbound.on('close', () => inbound.destroy());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address !== 'object') throw new Error('relay has no port');
  return {
    endpoint: `127.0.0.1:${address.port}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe('the watch-fed cache', () => {
  it('answers loadCluster and watchLeader from one prefix watch, and sees other clients through it', async () => {
    const alphaIdentity = identity('alpha');
    await using alpha = createEtcdDcs({ ...alphaIdentity, hosts: [etcd.endpoint] });
    await using bravo = createEtcdDcs({ ...alphaIdentity, name: 'bravo', hosts: [etcd.endpoint] });
    const prefix = bravo.clusterPrefix;
    expect(await alpha.acquireLeader()).toBe(true);
    await warm(bravo);

    const before = await rpcs();
    const view = await bravo.loadCluster();
    expect(view.leader?.name).toBe('alpha');

    // Another process's write reaches the cache through the watch, without a read.
    await raw.put(`${prefix}config`).value('{"ttl":10}');
    const seen = await readUntil(() => bravo.loadCluster(), (cluster) => cluster.config !== null);
    expect(seen.config?.data).toEqual({ ttl: 10 });

    // A write through another Dcs of this process is visible to the very next read.
    expect(await alpha.touchMember(member(5432))).toBe(true);
    expect((await bravo.loadCluster()).members.map((entry) => entry.name)).toEqual(['alpha']);

    // watchLeader waits on the cache: a timeout, then a wake-up on release, and no new etcd watch for either.
    expect(await bravo.watchLeader(view.leader?.version ?? null, 200)).toBe(false);
    const woken = bravo.watchLeader(view.leader?.version ?? null, 10_000);
    expect(await alpha.releaseLeader()).toBe(true);
    expect(await woken).toBe(true);
    expect((await bravo.loadCluster()).leader).toBeNull();

    const { LeaseKeepAlive: _keepalive, ...used } = since(before, await rpcs());
    // alpha's member put and release txn, the raw client's put; no Range, no Watch (a keep-alive may or may not be due).
    expect(used).toEqual({ Put: 2, Txn: 1 });
  });

  it('sees a lease expiry as a delete on the watch', async () => {
    const shortLived = identity('alpha', { ttl: 2 });
    const alpha = createEtcdDcs({ ...shortLived, hosts: [etcd.endpoint] });
    await using bravo = createEtcdDcs({ ...shortLived, name: 'bravo', hosts: [etcd.endpoint] });
    await alpha.touchMember(member(5432));
    expect(await alpha.acquireLeader()).toBe(true);
    await alpha.close(); // stops refreshing the lease
    const version = (await bravo.loadCluster()).leader?.version ?? null;
    expect(version).not.toBeNull();
    expect(await bravo.watchLeader(version, 10_000)).toBe(true);
    const view = await bravo.loadCluster();
    expect(view.leader).toBeNull();
    expect(view.members).toEqual([]);
  });

  it('refreshes the lease once per cycle and skips rewriting an unchanged member key', async () => {
    const alphaIdentity = identity('alpha');
    await using alpha = createEtcdDcs({ ...alphaIdentity, hosts: [etcd.endpoint] });
    expect(await alpha.acquireLeader()).toBe(true);
    expect(await alpha.touchMember(member(5432))).toBe(true);
    await warm(alpha);
    await sleep(1_000); // the last keep-alive is more than a second old

    const before = await rpcs();
    await alpha.loadCluster();
    expect(await alpha.touchMember(member(5432))).toBe(true);
    expect(await alpha.renewLeader()).toBe(true);
    // One keep-alive shared by both; the cache, current to the keep-alive's revision, vouches for the lock.
    expect(since(before, await rpcs())).toEqual({ LeaseKeepAlive: 1 });

    const changed = { ...member(5432), state: 'stopped' };
    expect(await alpha.touchMember(changed)).toBe(true);
    expect(await raw.get(`${alpha.clusterPrefix}members/alpha`).string()).toBe(JSON.stringify(changed));
    expect((await alpha.loadCluster()).members[0]?.data).toEqual(changed);
  });

  it('does not renew a lock whose key was deleted just before, even from a warm cache', async () => {
    await using alpha = createEtcdDcs({ ...identity('alpha'), hosts: [etcd.endpoint] });
    expect(await alpha.acquireLeader()).toBe(true);
    await warm(alpha);
    await sleep(1_000); // the renewal sends its own keep-alive
    await raw.delete().key(`${alpha.clusterPrefix}leader`);
    expect(await alpha.renewLeader()).toBe(false);
    expect((await alpha.loadCluster()).leader).toBeNull();
  });

  it('opens no watch for a one-shot reader', async () => {
    await using reader = createEtcdDcs({ ...identity('reader'), hosts: [etcd.endpoint] });
    const before = await rpcs();
    await reader.loadCluster();
    await sleep(200);
    expect(since(before, await rpcs())).toEqual({ Range: 1 });
  });

  it('reads etcd again after a failed compare-and-set', async () => {
    await using alpha = createEtcdDcs({ ...identity('alpha'), hosts: [etcd.endpoint] });
    expect(await alpha.setConfig({ ttl: 30 }, null)).toBe(true);
    await warm(alpha);
    let before = await rpcs();
    await alpha.loadCluster();
    expect(since(before, await rpcs())).toEqual({});

    expect(await alpha.setConfig({ ttl: 40 }, null)).toBe(false);
    before = await rpcs();
    expect((await alpha.loadCluster()).config?.data).toEqual({ ttl: 30 });
    expect(since(before, await rpcs())).toEqual({ Range: 1 });
  });

  it('falls back to reads when the watch breaks: DcsUnreachableError while etcd is cut off, then recovery', async () => {
    const proxy = await relay();
    try {
      const alphaIdentity = identity('alpha');
      await using bravo = createEtcdDcs({ ...alphaIdentity, name: 'bravo', hosts: [proxy.endpoint] });
      await raw.put(`${bravo.clusterPrefix}leader`).value('alpha');
      await warm(bravo);
      const version = (await bravo.loadCluster()).leader?.version ?? null;
      const waiting = bravo.watchLeader(version, 30_000);

      proxy.cut();
      await sleep(300); // the watch stream sees its connection drop
      const started = performance.now();
      await expect(bravo.loadCluster()).rejects.toBeInstanceOf(DcsUnreachableError);
      expect(performance.now() - started).toBeLessThan(2_000 + 1_000);

      // A change made while the watch was down is found when it is re-established, and wakes the waiter.
      await raw.put(`${bravo.clusterPrefix}leader`).value('charlie');
      proxy.restore();
      expect(await waiting).toBe(true);
      const before = await rpcs();
      const view = await readUntil(() => bravo.loadCluster(), () => true);
      expect(view.leader?.name).toBe('charlie');
      await sleep(200);
      await raw.put(`${bravo.clusterPrefix}config`).value('{"ttl":30}');
      await readUntil(() => bravo.loadCluster(), (cluster) => cluster.config !== null);
      // The watch carries changes again: at most the one read that re-seeded the cache.
      expect(since(before, await rpcs()).Range ?? 0).toBeLessThanOrEqual(1);
    } finally {
      await proxy.close();
    }
  });
});
