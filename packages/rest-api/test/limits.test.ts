import { once } from 'node:events';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { createRestApiHandler } from '../src/handler.js';
import { startRestApiServer } from '../src/server.js';
import { FakeOperations, OperationsNode } from './fake-operations.js';
import { primarySnapshot } from './fixtures.js';
import { raw, send, statusLine } from './http-helpers.js';

interface Limits {
  maxBodyBytes?: number;
  maxConcurrentRequests?: number;
  maxQueuedRequests?: number;
  requestTimeoutMs?: number;
  headersTimeoutMs?: number;
}

async function serve(limits: Limits, logged: string[] = []) {
  const ops = new FakeOperations();
  await ops.seed();
  const node = new OperationsNode(ops);
  node.current = primarySnapshot({ cluster: await ops.dcs.loadCluster() });
  const { requestTimeoutMs, headersTimeoutMs, ...handlerLimits } = limits;
  const handler = createRestApiHandler({ node, ...handlerLimits, logger: { log: (_level, message) => logged.push(message) } });
  const server = await startRestApiServer({
    host: '127.0.0.1',
    port: 0,
    handler,
    ...(requestTimeoutMs === undefined ? {} : { requestTimeoutMs }),
    ...(headersTimeoutMs === undefined ? {} : { headersTimeoutMs }),
  });
  return { server, ops };
}

describe('limits', () => {
  it('answers 413 to an oversized body, announced or streamed, and closes the connection', async () => {
    const { server, ops } = await serve({ maxBodyBytes: 1024 });
    await using _ = server;
    const big = { ttl: 30, filler: 'x'.repeat(2000) };
    const announced = await send(server.address.url, 'PATCH', '/config', { body: big });
    expect([announced.status, announced.body]).toEqual([413, 'the request body is larger than 1024 bytes']);
    expect(announced.headers['connection']).toBe('close');
    const streamed = await raw(server.address.port, [
      'PATCH /config HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n',
      `7d0\r\n${'y'.repeat(2000)}\r\n`,
    ]);
    expect(statusLine(streamed)).toBe('HTTP/1.1 413 Payload Too Large');
    expect(ops.configWrites).toBe(0);
    expect((await send(server.address.url, 'PATCH', '/config', { body: { ttl: 40 } })).status).toBe(200);
  });

  it('answers 408 to a request that arrives too slowly, and keeps serving', async () => {
    const { server, ops } = await serve({ requestTimeoutMs: 300, headersTimeoutMs: 300 });
    await using _ = server;
    const slowBody = await raw(server.address.port, ['PATCH /config HTTP/1.1\r\nHost: x\r\nContent-Length: 20\r\n\r\n{"ttl":'], { readMs: 5000 });
    expect(statusLine(slowBody)).toBe('HTTP/1.1 408 Request Timeout');
    expect(slowBody).toContain('the request took too long to arrive');
    const slowHead = await raw(server.address.port, ['GET /patroni HTTP/1.1\r\nHost: x\r\n'], { readMs: 5000 });
    expect(statusLine(slowHead)).toBe('HTTP/1.1 408 Request Timeout');
    expect(ops.configWrites).toBe(0);
    expect((await send(server.address.url, 'GET', '/patroni')).status).toBe(200);
  });

  it('keeps the connection of a health check alive (regression: every GET answered Connection: close)', async () => {
    const { server } = await serve({});
    await using _ = server;
    const answer = await raw(server.address.port, ['GET /patroni HTTP/1.1\r\nHost: x\r\n\r\n'], { readMs: 200 });
    expect(statusLine(answer)).toBe('HTTP/1.1 200 OK');
    expect(answer.toLowerCase()).toContain('connection: keep-alive');
  });

  it('answers 400 with a reason to a malformed request', async () => {
    const { server } = await serve({});
    await using _ = server;
    const garbage = await raw(server.address.port, ['THIS IS NOT HTTP\r\n\r\n']);
    expect(statusLine(garbage)).toBe('HTTP/1.1 400 Bad Request');
    expect(garbage).toContain('malformed request');
    const badLength = await raw(server.address.port, ['POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n']);
    expect(statusLine(badLength)).toBe('HTTP/1.1 400 Bad Request');
    expect((await send(server.address.url, 'GET', '/patroni')).status).toBe(200);
  });

  it('runs N slow requests at once, queues a bounded number, refuses the rest with 503; health checks never wait', async () => {
    const { server, ops, logged, base, first, open } = await oneSlotTaken();
    await using _ = server;
    const second = send(base, 'POST', '/restart');
    await until(() => logged.includes('[rest-api] request waits for a slot'));
    const third = await send(base, 'POST', '/restart');
    expect([third.status, third.body, third.headers['retry-after']]).toEqual([503, 'too many requests in progress: retry later', '1']);
    // The snapshot routes answer while every slot is taken.
    for (const path of ['/patroni', '/primary', '/liveness', '/readiness', '/metrics']) {
      expect([path, (await send(base, 'GET', path)).status]).toEqual([path, 200]);
    }
    expect((await send(base, 'HEAD', '/replica')).status).toBe(503);
    expect(ops.submitted).toHaveLength(1);
    open();
    expect((await first).status).toBe(200);
    expect((await second).status).toBe(200);
    expect(ops.submitted).toHaveLength(2);
  });

  it('takes a queued request out of the queue when its client goes away', async () => {
    const { server, ops, logged, base, first, open } = await oneSlotTaken();
    await using _ = server;
    const leaving = connect(server.address.port, '127.0.0.1');
    await once(leaving, 'connect');
    leaving.write('POST /restart HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n');
    await until(() => logged.includes('[rest-api] request waits for a slot'));
    leaving.destroy();
    // Its place in the queue is free again: the next one waits (instead of 503) and runs once the slot frees.
    const logCount = logged.length;
    const next = send(base, 'POST', '/restart');
    await until(() => logged.slice(logCount).includes('[rest-api] request waits for a slot'));
    open();
    expect((await first).status).toBe(200);
    expect((await next).status).toBe(200);
    expect(ops.submitted).toHaveLength(2);
  });
});

/** One request slot and one queue place; a POST /restart holds the slot until `open()`. */
async function oneSlotTaken() {
  const logged: string[] = [];
  const { server, ops } = await serve({ maxConcurrentRequests: 1, maxQueuedRequests: 1 }, logged);
  let open!: () => void;
  ops.taskGate = new Promise((resolve) => (open = resolve));
  const base = server.address.url;
  const first = send(base, 'POST', '/restart');
  await until(() => ops.waits.length === 1);
  return { server, ops, logged, base, first, open };
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await pause(5);
}
