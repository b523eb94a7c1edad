import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Cluster } from '@pgwarden/core';
import { createRestApiHandler } from '../src/handler.js';
import type { NodeSnapshot } from '../src/node.js';
import { fetchMemberStatus, parseMemberStatus, probePeers } from '../src/peer.js';
import { startRestApiServer } from '../src/server.js';
import type { RestApiServer } from '../src/server.js';
import { primarySnapshot, replicaSnapshot } from './fixtures.js';

let current: NodeSnapshot = primarySnapshot();
let api: RestApiServer;
/** Answers whatever the test asks on /raw/<kind>, and never answers on /hang. */
let odd: Server;
let oddUrl: string;
const hanging: Socket[] = [];

function listen(server: Server): Promise<string> {
  return new Promise((resolve) => {
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

beforeAll(async () => {
  const handler = createRestApiHandler({
    node: { snapshot: () => current, loadCluster: (): Promise<Cluster> => Promise.reject(new Error('unused')) },
  });
  api = await startRestApiServer({ host: '127.0.0.1', port: 0, handler });
  odd = createServer((req, res) => {
    if (req.url === '/hang') {
      hanging.push(req.socket);
      return;
    }
    if (req.url === '/html') {
      res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>');
      return;
    }
    if (req.url === '/cut') {
      res.writeHead(200, { 'content-length': '1000' });
      res.write('{"state":');
      setTimeout(() => req.socket.destroy(), 10);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end('[1,2]');
  });
  oddUrl = await listen(odd);
});

afterAll(async () => {
  await api.close();
  for (const socket of hanging) socket.destroy();
  await new Promise((resolve) => odd.close(resolve));
});

describe('fetchMemberStatus against a pgwarden REST API', () => {
  it('reads a primary: role, state, WAL position, timeline, tags', async () => {
    current = primarySnapshot({ tags: { nofailover: true } });
    const result = await fetchMemberStatus(`${api.address.url}/patroni`, { timeoutMs: 2000 });
    expect(result.reachable).toBe(true);
    if (!result.reachable) return;
    expect(result.status).toEqual({
      role: 'primary',
      state: 'running',
      inRecovery: false,
      walPosition: 0x5000060,
      timeline: 3,
      tags: { nofailover: true },
      watchdogFailed: false,
      replicationState: null,
    });
    expect(result.raw['patroni']).toEqual({ version: '4.1.4', scope: 'demo', name: 'node1' });
  });

  it('reads a replica: max(received, replayed), watchdog failure', async () => {
    current = replicaSnapshot({ watchdogFailed: true });
    const result = await fetchMemberStatus(`${api.address.url}/patroni`, { timeoutMs: 2000 });
    expect(result).toMatchObject({
      reachable: true,
      status: { role: 'replica', inRecovery: true, walPosition: 0x5000000, watchdogFailed: true, replicationState: 'streaming' },
    });
  });

  it('counts a member whose PostgreSQL does not answer as unusable, as Patroni does', async () => {
    current = primarySnapshot({ state: 'stopped', postgres: null });
    const result = await fetchMemberStatus(`${api.address.url}/patroni`, { timeoutMs: 2000 });
    expect(result).toEqual({ reachable: false, error: 'the answer has no WAL position (PostgreSQL does not answer)' });
  });

  it('probePeers answers core PeerStatus values, in order', async () => {
    current = replicaSnapshot();
    const peers = await probePeers(
      [
        { name: 'node2', apiUrl: `${api.address.url}/patroni` },
        { name: 'gone', apiUrl: 'http://127.0.0.1:1/patroni' },
      ],
      { timeoutMs: 2000 },
    );
    expect(peers[0]).toEqual({
      name: 'node2',
      reachable: true,
      role: 'replica',
      state: 'running',
      walPosition: 0x5000000,
      timeline: 3,
      tags: {},
      watchdogFailed: false,
    });
    expect(peers[1]).toMatchObject({ name: 'gone', reachable: false });
  });
});

describe('fetchMemberStatus failures never throw', () => {
  it('an unreachable port', async () => {
    const closed = createServer();
    const url = await listen(closed);
    await new Promise((resolve) => closed.close(resolve));
    const result = await fetchMemberStatus(`${url}/patroni`, { timeoutMs: 2000 });
    expect(result.reachable).toBe(false);
    if (!result.reachable) expect(result.error).toMatch(/ECONNREFUSED/);
  });

  it('a member that never answers hits the hard timeout', async () => {
    const started = Date.now();
    const result = await fetchMemberStatus(`${oddUrl}/hang`, { timeoutMs: 200 });
    const elapsed = Date.now() - started;
    expect(result).toEqual({ reachable: false, error: `no answer from ${new URL(oddUrl).host} within 200 ms` });
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(2000);
  });

  it('an abort signal ends the wait', async () => {
    const controller = new AbortController();
    const pending = fetchMemberStatus(`${oddUrl}/hang`, { timeoutMs: 10_000, signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await pending).toEqual({ reachable: false, error: 'aborted' });
    expect(await fetchMemberStatus(`${oddUrl}/hang`, { timeoutMs: 10_000, signal: controller.signal })).toEqual({
      reachable: false,
      error: 'aborted',
    });
  });

  it('answers that are not a member status, cut connections and bad URLs', async () => {
    expect(await fetchMemberStatus(`${oddUrl}/html`, { timeoutMs: 2000 })).toEqual({
      reachable: false,
      error: `invalid JSON from ${oddUrl}/html`,
    });
    expect(await fetchMemberStatus(`${oddUrl}/array`, { timeoutMs: 2000 })).toEqual({
      reachable: false,
      error: 'the answer is not a JSON object',
    });
    const cut = await fetchMemberStatus(`${oddUrl}/cut`, { timeoutMs: 2000 });
    expect(cut.reachable).toBe(false);
    expect(await fetchMemberStatus('not a url', { timeoutMs: 2000 })).toEqual({ reachable: false, error: 'not a URL: not a url' });
    expect(await fetchMemberStatus('ftp://host/patroni', { timeoutMs: 2000 })).toEqual({
      reachable: false,
      error: 'unsupported scheme in ftp://host/patroni',
    });
  });
});

describe('parseMemberStatus', () => {
  it('accepts the legacy `wal` section and a primary reported only by xlog.location', () => {
    expect(parseMemberStatus({ role: 'master', wal: { location: 10 } })).toMatchObject({
      reachable: true,
      status: { inRecovery: false, walPosition: 10, timeline: null, tags: {} },
    });
    expect(parseMemberStatus({ xlog: { location: 7 } })).toMatchObject({ status: { inRecovery: false, walPosition: 7, role: null } });
    expect(parseMemberStatus({ role: 'replica', xlog: { received_location: 5, replayed_location: 9 } })).toMatchObject({
      status: { inRecovery: true, walPosition: 9 },
    });
  });
});
