import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresObservation } from '@pgwarden/core';
import { freePort, makeTempDir, postgresBinDir, unprivilegedUser } from '@pgwarden/testkit/postgres';
import { createPostgresDriver, type PostgresDriver } from '../src/index.js';

const superuser = { username: 'postgres', password: 'superpass' };
let root: string;
let port: number;
let driver: PostgresDriver;

async function sql(text: string): Promise<void> {
  const client = new Client({ host: '127.0.0.1', port, database: 'postgres', user: superuser.username, password: superuser.password });
  await client.connect();
  try {
    await client.query(text);
  } finally {
    await client.end();
  }
}

async function waitForObservation(predicate: (observation: PostgresObservation) => boolean): Promise<PostgresObservation> {
  const deadline = Date.now() + 20_000;
  let last = await driver.observe();
  while (!predicate(last)) {
    if (Date.now() > deadline) throw new Error(`condition not reached: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    last = await driver.observe();
  }
  return last;
}

beforeAll(async () => {
  root = await makeTempDir('pgwarden-driver-pending-');
  port = await freePort();
  const user = unprivilegedUser();
  driver = createPostgresDriver({
    name: 'pg-pending',
    scope: 'driver-pending-test',
    dataDir: join(root, 'data'),
    binDir: postgresBinDir(),
    listen: { host: '127.0.0.1', port },
    connectAddress: { host: '127.0.0.1', port },
    authentication: { superuser, replication: { username: 'replicator', password: 'replpass' } },
    parameters: { shared_buffers: '16MB', max_connections: 20, fsync: 'off' },
    pgpass: join(root, 'pgpass'),
    initdb: [{ encoding: 'UTF8' }],
    osUser: { uid: user.uid, gid: user.gid },
    pgCtlTimeout: 30,
  });
  await driver.bootstrap({ progress: () => undefined });
});

afterAll(async () => {
  if (driver) {
    await driver.stop({ mode: 'immediate' }).catch(() => undefined);
    await driver[Symbol.asyncDispose]();
  }
  if (root) await rm(root, { recursive: true, force: true });
});

describe('pending restart reason on a real server', () => {
  it('has none while the server runs with its files', async () => {
    const observation = await waitForObservation((o) => o.accepting);
    expect(observation.pendingRestart).toBe(false);
    expect(observation).not.toHaveProperty('pendingRestartReason');
  });

  it('names old and new values of what we changed and of what changed behind our back', async () => {
    // 4096 pages of 8kB: PostgreSQL shows it as 32MB, and so does the reason.
    await driver.applySettings({ parameters: { shared_buffers: 4096, max_connections: 20, fsync: 'off' } });
    await sql('ALTER SYSTEM SET max_prepared_transactions = 5');
    await sql('SELECT pg_catalog.pg_reload_conf()');
    const observation = await waitForObservation((o) => Object.keys(o.pendingRestartReason ?? {}).length === 2);
    expect(observation.pendingRestart).toBe(true);
    expect(observation.pendingRestartReason).toEqual({
      max_prepared_transactions: { old_value: '0', new_value: '5' },
      shared_buffers: { old_value: '16MB', new_value: '32MB' },
    });
  });

  it('clears it after a restart', async () => {
    expect(await driver.restart({ role: 'primary', upstream: null, timeout: 30 })).toBe(true);
    const observation = await waitForObservation((o) => o.accepting);
    expect(observation.pendingRestart).toBe(false);
    expect(observation).not.toHaveProperty('pendingRestartReason');
  });
});
