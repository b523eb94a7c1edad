import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DcsUnreachableError } from '@pgwarden/core';
import type { Cluster, Logger } from '@pgwarden/core';
import { createRestApiHandler } from '../src/handler.js';
import type { NodeSnapshot, RestApiNode } from '../src/node.js';
import { startRestApiServer } from '../src/server.js';
import type { RestApiServer } from '../src/server.js';
import { clusterWith, member, primarySnapshot, replicaSnapshot } from './fixtures.js';
import { call, json } from './http-helpers.js';

/** A node whose snapshot and DCS answers each test sets. */
class FakeNode implements RestApiNode {
  current: NodeSnapshot = primarySnapshot();
  snapshotError: Error | null = null;
  dcs: Cluster | Error = clusterWith();
  loads = 0;
  snapshot(): NodeSnapshot {
    if (this.snapshotError) throw this.snapshotError;
    return this.current;
  }
  loadCluster(): Promise<Cluster> {
    this.loads++;
    return this.dcs instanceof Error ? Promise.reject(this.dcs) : Promise.resolve(this.dcs);
  }
}

const node = new FakeNode();
const logged: Array<{ level: string; message: string; fields: Record<string, unknown> | undefined }> = [];
const logger: Logger = { log: (level, message, fields) => logged.push({ level, message, fields }) };
let server: RestApiServer;
let base: string;

beforeAll(async () => {
  const handler = createRestApiHandler({ node, logger, serverHeader: 'Patroni/4.1.4', extraHeaders: { 'x-extra': 'yes' } });
  server = await startRestApiServer({ host: '127.0.0.1', port: 0, handler });
  base = server.address.url;
});
afterAll(async () => {
  await server.close();
});
beforeEach(() => {
  node.current = primarySnapshot();
  node.snapshotError = null;
  node.dcs = clusterWith();
  node.loads = 0;
  logged.length = 0;
});

describe('GET /patroni', () => {
  it('answers 200 with the member status JSON and the configured headers', async () => {
    const answer = await call(base, 'GET', '/patroni');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    expect(answer.headers['server']).toBe('Patroni/4.1.4');
    expect(answer.headers['x-extra']).toBe('yes');
    expect(json(answer)).toMatchObject({
      state: 'running',
      role: 'primary',
      xlog: { location: 0x5000060 },
      timeline: 3,
      patroni: { version: '4.1.4', scope: 'demo', name: 'node1' },
    });
  });

  it('tells why the node did what it did (pgwarden.last_decision) and shows a scheduled restart', async () => {
    node.current = replicaSnapshot({
      lastDecision: { reason: 'not_candidate', message: 'not taking part in the leader race: node3 is ahead (9 > 5)', ineligible: 'peer_ahead', at: Date.parse('2025-01-01T12:00:00Z') },
      scheduledRestart: { at: Date.parse('2025-01-01T13:00:00Z'), schedule: '2025-01-01T13:00:00.000Z', restartPending: true, postmasterStartTime: '2025-01-01 11:00:00+00' },
    });
    for (const path of ['/patroni', '/health']) {
      const body = json(await call(base, 'GET', path)) as Record<string, unknown>;
      expect(body['pgwarden']).toEqual({
        version: '0.1.0',
        last_decision: { reason: 'not_candidate', message: 'not taking part in the leader race: node3 is ahead (9 > 5)', at: '2025-01-01T12:00:00.000Z', ineligible: 'peer_ahead' },
      });
      expect(body['scheduled_restart']).toEqual({ schedule: '2025-01-01T13:00:00.000Z', restart_pending: true });
    }
  });

  it('answers 200 even when PostgreSQL is down, and routes /patroni/anything the same way', async () => {
    node.current = primarySnapshot({ state: 'stopped', postgres: null, holdsValidLock: false });
    const answer = await call(base, 'GET', '/patroni/x?lag=1');
    expect(answer.status).toBe(200);
    expect(json(answer)).toMatchObject({ state: 'stopped', role: 'primary' });
  });
});

describe('health checks', () => {
  it('answers leader paths on the primary with the status JSON as body', async () => {
    for (const path of ['/', '/primary', '/read-write', '/leader', '/read-only', '/health', '/master']) {
      const answer = await call(base, 'GET', path);
      expect([path, answer.status]).toEqual([path, 200]);
      expect(json(answer)).toMatchObject({ role: 'primary' });
    }
    for (const path of ['/replica', '/standby-leader', '/standby_leader', '/async', '/no-such-check']) {
      const answer = await call(base, 'GET', path);
      expect([path, answer.status]).toEqual([path, 503]);
      expect(json(answer)).toMatchObject({ role: 'primary', patroni: { name: 'node1' } });
    }
  });

  it('applies lag, replication_state and tag filters on /replica', async () => {
    node.current = replicaSnapshot({ tags: { zone: 'a' } });
    const cases: Array<[string, number]> = [
      ['/replica', 200],
      ['/replica?lag=1MB', 200],
      ['/replica?lag=4191', 503],
      ['/replica?lag=abc', 200],
      ['/replica?replication_state=streaming', 200],
      ['/replica?replication_state=in%20archive%20recovery', 503],
      ['/replica?tag_zone=a', 200],
      ['/replica?tag_zone=b', 503],
      ['/read-only?tag_zone=b', 503],
      ['/replica/whatever?tag_zone=a&lag=16kB', 200],
      ['/primary', 503],
    ];
    for (const [path, status] of cases) {
      expect([path, (await call(base, 'GET', path)).status]).toEqual([path, status]);
    }
  });

  it('answers HEAD and OPTIONS with the same status and no body', async () => {
    for (const method of ['HEAD', 'OPTIONS']) {
      const ok = await call(base, method, '/primary');
      expect(ok.status).toBe(200);
      expect(ok.body).toBe('');
      const no = await call(base, method, '/replica');
      expect(no.status).toBe(503);
      expect(no.body).toBe('');
      expect(no.headers['content-type']).toBeUndefined();
    }
    node.current = replicaSnapshot();
    expect((await call(base, 'HEAD', '/replica?lag=1kB')).status).toBe(503);
    expect((await call(base, 'OPTIONS', '/replica?lag=1MB')).status).toBe(200);
  });
});

describe('probes', () => {
  it('/liveness and /readiness answer a status line only', async () => {
    const live = await call(base, 'GET', '/liveness');
    expect([live.status, live.body]).toEqual([200, '']);
    node.current = primarySnapshot({ lastCycleAt: node.current.now - 60_000 });
    expect((await call(base, 'GET', '/liveness')).status).toBe(503);

    node.current = replicaSnapshot();
    const ready = await call(base, 'GET', '/readiness');
    expect([ready.status, ready.body]).toEqual([200, '']);
    expect((await call(base, 'GET', '/readiness?lag=1kB')).status).toBe(503);
    expect((await call(base, 'GET', '/readiness?lag=1kB&mode=write')).status).toBe(200);
    expect(logged.some((entry) => entry.level === 'debug' && String(entry.fields?.['reason']).includes('apply lag'))).toBe(true);
  });
});

describe('cluster views', () => {
  it('/cluster reads the DCS afresh', async () => {
    node.dcs = clusterWith({
      members: [
        member('node1', { api_url: 'http://127.0.0.1:8008/patroni', conn_url: 'postgres://127.0.0.1:5432/postgres', state: 'running', role: 'primary' }),
      ],
    });
    const answer = await call(base, 'GET', '/cluster');
    expect(answer.status).toBe(200);
    expect(json(answer)).toEqual({
      scope: 'demo',
      members: [
        { name: 'node1', role: 'leader', state: 'running', api_url: 'http://127.0.0.1:8008/patroni', host: '127.0.0.1', port: 5432 },
      ],
    });
    expect(node.loads).toBe(1);
  });

  it('/cluster answers 503 with the reason when the DCS is unreachable', async () => {
    node.dcs = new DcsUnreachableError('dcs-etcd', 'no etcd endpoint answers');
    const answer = await call(base, 'GET', '/cluster');
    expect(answer.status).toBe(503);
    expect(json(answer)).toEqual({ error: '[dcs-etcd] no etcd endpoint answers' });
    expect(logged.some((entry) => entry.level === 'warn')).toBe(true);
  });

  it('/history and /config answer from the cycle view, and read the DCS only without one', async () => {
    const history = { version: 'h', lines: [[1, 0x3000000, 'no recovery target specified', '2025-01-01T10:00:00+00:00', 'node1'] as [number, number, string, string, string]] };
    node.current = primarySnapshot({ cluster: clusterWith({ history }) });
    const historyAnswer = await call(base, 'GET', '/history');
    expect([historyAnswer.status, json(historyAnswer)]).toEqual([200, [[1, 0x3000000, 'no recovery target specified', '2025-01-01T10:00:00+00:00', 'node1']]]);
    const config = await call(base, 'GET', '/config');
    expect([config.status, json(config)]).toEqual([200, { ttl: 30, loop_wait: 10 }]);
    expect(node.loads).toBe(0);

    node.current = primarySnapshot({ cluster: null });
    node.dcs = clusterWith({ config: null });
    expect(json(await call(base, 'GET', '/history'))).toEqual([]);
    const missing = await call(base, 'GET', '/config');
    expect(missing.status).toBe(502);
    expect(node.loads).toBe(2);
  });

  it('/failsafe answers the failsafe key only when failsafe_mode is on', async () => {
    node.current = primarySnapshot({
      cluster: clusterWith({ config: { version: 'c', data: { failsafe_mode: true } }, failsafe: { node1: 'http://127.0.0.1:8008/patroni' } }),
    });
    const on = await call(base, 'GET', '/failsafe');
    expect([on.status, json(on)]).toEqual([200, { node1: 'http://127.0.0.1:8008/patroni' }]);
    node.current = primarySnapshot();
    expect((await call(base, 'GET', '/failsafe')).status).toBe(502);
  });

  it('/metrics answers Prometheus text', async () => {
    const answer = await call(base, 'GET', '/metrics');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toMatch(/^text\/plain/);
    expect(answer.body).toContain('patroni_primary{scope="demo",name="node1"} 1\n');
  });
});

describe('errors and methods', () => {
  it('answers 404 for an unknown POST path and 405 for methods a path does not take', async () => {
    const post = await call(base, 'POST', '/no-such-action');
    expect(post.status).toBe(404);
    expect(json(post)).toEqual({ error: 'no POST handler for /no-such-action' });
    const wrong = await call(base, 'POST', '/patroni');
    expect(wrong.status).toBe(405);
    expect(wrong.headers['allow']).toBe('GET, HEAD, OPTIONS');
    const unknown = await call(base, 'PROPFIND', '/patroni');
    expect(unknown.status).toBe(405);
    expect(json(unknown)).toEqual({ error: 'method PROPFIND is not supported' });
  });

  it('turns an internal failure into 500 with the reason, logged, and keeps serving', async () => {
    node.snapshotError = new Error('snapshot exploded');
    const answer = await call(base, 'GET', '/patroni');
    expect(answer.status).toBe(500);
    expect(json(answer)).toEqual({ error: 'snapshot exploded' });
    expect(logged.find((entry) => entry.level === 'error')?.fields).toMatchObject({ path: '/patroni', status: 500 });
    expect((await call(base, 'HEAD', '/')).status).toBe(500);
    node.snapshotError = null;
    expect((await call(base, 'GET', '/')).status).toBe(200);
  });
});
