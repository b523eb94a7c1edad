/**
 * restapi.authenticate_reads (a pgwarden extension): the agent's REST API asks for credentials on reads too.
 * runAgent with the in-memory Dcs and a PostgreSQL that never answers; only the REST API listens, on loopback.
 */
import { describe, expect, it } from 'vitest';
import type { Logger } from '@pgwarden/core';
import { parseConfig } from '@pgwarden/config';
import type { PostgresDriver } from '@pgwarden/postgres-driver';
import { createMemoryDcs, createMemoryStore, createTestClock, freePort } from '@pgwarden/testkit';
import { runAgent } from '../src/agent.js';

/** Every call fails: the loop keeps running and the REST API answers from an empty snapshot. */
const absentPostgres = new Proxy({} as PostgresDriver, {
  get: (_target, property) =>
    property === Symbol.asyncDispose ? () => Promise.resolve() : () => Promise.reject(new Error('[test] no PostgreSQL here')),
});

async function withAgent(extraRestapi: string, work: (url: string) => Promise<void>): Promise<void> {
  const port = await freePort();
  const config = parseConfig(
    `scope: reads
name: member0
restapi:
  listen: 127.0.0.1:${port}
  connect_address: 127.0.0.1:${port}
  authentication: {username: admin, password: s3cret}
${extraRestapi}
etcd3:
  hosts: 127.0.0.1:1
postgresql:
  listen: 127.0.0.1:1
  connect_address: 127.0.0.1:1
  data_dir: /nonexistent/authenticate-reads-test
  authentication:
    superuser: {username: postgres, password: secret}
    replication: {username: replicator, password: secret}
watchdog:
  mode: off
`,
    'reads.yml',
  );
  const clock = createTestClock(1_700_000_000_000);
  const dcs = createMemoryDcs({ store: createMemoryStore({ clock }), scope: 'reads', namespace: '/service', name: 'member0', ttl: 30, retryTimeout: 10 });
  const logger: Logger = { log: () => undefined };
  const controller = new AbortController();
  const running = runAgent(config, { clock, logger, signal: controller.signal, env: {}, dcs, postgres: absentPostgres });
  try {
    const url = `http://127.0.0.1:${port}`;
    for (let attempt = 0; ; attempt++) {
      try {
        await fetch(`${url}/liveness`, { method: 'GET' });
        break;
      } catch (error) {
        if (attempt > 200) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    await work(url);
  } finally {
    controller.abort();
    await running.catch(() => undefined);
  }
}

const basic = `Basic ${Buffer.from('admin:s3cret').toString('base64')}`;

describe('restapi.authenticate_reads', () => {
  it('answers reads without credentials when off, as Patroni does', async () => {
    await withAgent('', async (url) => {
      expect((await fetch(`${url}/patroni`)).status).not.toBe(401);
    });
  });

  it('asks for basic auth on GET and HEAD when on, and serves them with credentials', async () => {
    await withAgent('  authenticate_reads: true', async (url) => {
      const anonymous = await fetch(`${url}/patroni`);
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic /);
      expect((await fetch(`${url}/health`, { method: 'HEAD' })).status).toBe(401);
      const wrong = await fetch(`${url}/cluster`, { headers: { authorization: `Basic ${Buffer.from('admin:nope').toString('base64')}` } });
      expect(wrong.status).toBe(401);
      const allowed = await fetch(`${url}/patroni`, { headers: { authorization: basic } });
      expect(allowed.status).not.toBe(401);
      expect(((await allowed.json()) as { patroni: { name: string } }).patroni.name).toBe('member0');
    });
  });
});
