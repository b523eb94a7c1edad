import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { isPgwardenError } from '@pgwarden/core';
import { startRestApiServer } from '../src/server.js';
import { call } from './http-helpers.js';

const hello = (_req: unknown, res: { end(body: string): void }): void => res.end('hello');

describe('startRestApiServer', () => {
  it('serves the handler and closes with await using', async () => {
    let url: string;
    {
      await using server = await startRestApiServer({ host: '127.0.0.1', port: 0, handler: hello });
      url = server.address.url;
      expect(server.address.host).toBe('127.0.0.1');
      expect((await call(url, 'GET', '/')).body).toBe('hello');
    }
    await expect(call(url, 'GET', '/')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('closes when its signal aborts, and close() is idempotent', async () => {
    const controller = new AbortController();
    const server = await startRestApiServer({ host: '127.0.0.1', port: 0, handler: hello, signal: controller.signal });
    controller.abort();
    await server.close();
    await server.close();
    await expect(call(server.address.url, 'GET', '/')).rejects.toThrow(/ECONNREFUSED/);
  });

  it('refuses to start with an aborted signal', async () => {
    await expect(
      startRestApiServer({ host: '127.0.0.1', port: 0, handler: hello, signal: AbortSignal.abort() }),
    ).rejects.toThrow();
  });

  it('reports a busy port as a typed error', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const { port } = busy.address() as AddressInfo;
    try {
      const failure: unknown = await startRestApiServer({ host: '127.0.0.1', port, handler: hello }).catch((error: unknown) => error);
      expect(isPgwardenError(failure, 'CONFIG_INVALID')).toBe(true);
      expect(String(failure)).toMatch(/\[rest-api\] cannot listen on 127\.0\.0\.1:\d+: .*EADDRINUSE/);
    } finally {
      await new Promise((resolve) => busy.close(resolve));
    }
  });

  it('cuts an idle half-open connection on close after the grace period', async () => {
    const server = await startRestApiServer({ host: '127.0.0.1', port: 0, handler: hello, closeGraceMs: 100 });
    const socket = connect(server.address.port, '127.0.0.1');
    await new Promise((resolve) => socket.once('connect', resolve));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n'); // headers never finish
    const closedAt = new Promise<number>((resolve) => socket.once('close', () => resolve(Date.now())));
    const started = Date.now();
    await server.close();
    expect((await closedAt) - started).toBeLessThan(2000);
  });

  it('rejects oversized headers', async () => {
    await using server = await startRestApiServer({ host: '127.0.0.1', port: 0, handler: hello });
    const status = await new Promise<string>((resolve) => {
      const socket = connect(server.address.port, '127.0.0.1', () => {
        socket.write(`GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`);
      });
      let data = '';
      socket.on('data', (chunk) => (data += chunk.toString()));
      socket.on('close', () => resolve(data.split('\r\n')[0] ?? ''));
    });
    expect(status).toBe('HTTP/1.1 431 Request Header Fields Too Large');
  });
});
