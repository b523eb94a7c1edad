/**
 * Certifies the PostgreSQL-table plugin with the published conformance suite, against a throwaway
 * PostgreSQL 15 on a free loopback port, then checks what only this store shows: the rows it writes.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Client, Pool } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterPrefix } from '@pgwarden/core';
import type { DcsIdentity } from '@pgwarden/core';
import { describeDcsContract } from '@pgwarden/testkit';
import { freePort, makeTempDir, postgresBinDir, unprivilegedUser } from '@pgwarden/testkit/postgres';
import { createPostgresTableDcs } from '../src/index.js';

interface Server {
  readonly connection: string;
  /** Freezes (SIGSTOP) or thaws (SIGCONT) the postmaster and every backend: a server that stops answering. */
  freeze(frozen: boolean): void;
  stop(): Promise<void>;
}

/** initdb + postgres as the unprivileged OS user, trust auth on 127.0.0.1 only. */
async function startPostgres(): Promise<Server> {
  const root = await makeTempDir('pgwarden-pgtable-');
  const user = unprivilegedUser();
  const asUser = { uid: user.uid, gid: user.gid, cwd: root };
  const data = join(root, 'data');
  await promisify(execFile)(
    join(postgresBinDir(), 'initdb'),
    ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync'],
    asUser,
  );
  const port = await freePort();
  const child: ChildProcess = spawn(
    join(postgresBinDir(), 'postgres'),
    ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${root}`, '-c', 'fsync=off'],
    { ...asUser, stdio: 'ignore' },
  );
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const connection = `postgres://postgres@127.0.0.1:${port}/postgres`;
  const freeze = (frozen: boolean): void => {
    if (child.pid === undefined || child.exitCode !== null) return;
    // Every backend is its own process group leader: signal the postmaster's children one by one.
    let children: string[] = [];
    try {
      children = execFileSync('pgrep', ['-P', String(child.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean);
    } catch {
      // pgrep exits 1 when the postmaster has no child left
    }
    for (const pid of [child.pid, ...children.map(Number)]) {
      try {
        process.kill(pid, frozen ? 'SIGSTOP' : 'SIGCONT');
      } catch (error) {
        // A backend that ended between pgrep and the signal needs none.
        if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
      }
    }
  };
  const stop = async (): Promise<void> => {
    freeze(false);
    if (child.exitCode === null) child.kill('SIGINT'); // fast shutdown
    await exited;
    await rm(root, { recursive: true, force: true });
  };
  const deadline = Date.now() + 30_000;
  for (;;) {
    const probe = new Client({ connectionString: connection });
    try {
      await probe.connect();
      await probe.end();
      return { connection, freeze, stop };
    } catch (error) {
      await probe.end().catch(() => {});
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`PostgreSQL did not start on port ${port}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}

let server: Server;
let raw: Pool;

beforeAll(async () => {
  server = await startPostgres();
  raw = new Pool({ connectionString: server.connection, max: 2 });
});

afterAll(async () => {
  await raw?.end();
  await server?.stop();
});

describeDcsContract({
  name: 'a plain PostgreSQL table (PostgreSQL 15 on loopback)',
  async setup() {
    const closedPort = await freePort();
    // The first operation creates the table, view and trigger; writeRaw needs them before any case runs.
    await using bootstrap = createPostgresTableDcs({ scope: 'schema', name: 'setup', ttl: 2, retryTimeout: 2, connection: server.connection });
    await bootstrap.loadCluster();
    return {
      ttlSeconds: 2,
      retryTimeoutSeconds: 2,
      // Expiry is exact (judged by now() on every read); the margin covers scheduling on a busy machine.
      expiryMarginMs: 500,
      create: (identity) => createPostgresTableDcs({ ...identity, connection: server.connection }),
      createUnreachable: (identity) =>
        createPostgresTableDcs({ ...identity, connection: `postgres://postgres@127.0.0.1:${closedPort}/postgres` }),
      letTimePass: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      async writeRaw(identity, key, value) {
        await raw.query(
          `INSERT INTO pgwarden_dcs_kv (key, value, version) VALUES ($1, $2, nextval('pgwarden_dcs_version'))
           ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, version = EXCLUDED.version, lease = NULL`,
          [clusterPrefix(identity) + key, value],
        );
      },
      async readRaw(identity, key) {
        const result = await raw.query<{ value: string }>('SELECT value FROM pgwarden_dcs_live WHERE key = $1', [
          clusterPrefix(identity) + key,
        ]);
        return result.rows[0]?.value ?? null;
      },
    };
  },
});

describe('the table layout', () => {
  const identity = (name: string, scope: string): DcsIdentity => ({ scope, name, ttl: 10, retryTimeout: 3 });

  it("holds Patroni's keys and values; leader and member share one lease of ttl seconds", async () => {
    await using alpha = createPostgresTableDcs({ ...identity('alpha', 'layout'), connection: server.connection, table: 'layout_dcs' });
    const member = { conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: 'http://127.0.0.1:8008/patroni', state: 'running', role: 'primary', version: '4.1.4' };
    expect(await alpha.initialize({ create: true, sysid: '7312345678901234567' })).toBe(true);
    expect(await Promise.all([alpha.touchMember(member), alpha.acquireLeader()])).toEqual([true, true]);
    expect(await alpha.setFailover(null)).toBe(true);

    const rows = await raw.query<{ key: string; value: string; lease: string | null; ttl: number | null }>(
      `SELECT k.key, k.value, k.lease::text,
         round(extract(epoch FROM (l.expires_at - now())))::int AS ttl
       FROM layout_dcs_kv k LEFT JOIN layout_dcs_lease l ON l.id = k.lease ORDER BY k.key`,
    );
    expect(rows.rows.map(({ key, value }) => [key, value])).toEqual([
      ['/service/layout/failover', '{}'],
      ['/service/layout/initialize', '7312345678901234567'],
      ['/service/layout/leader', 'alpha'],
      ['/service/layout/members/alpha', JSON.stringify(member)],
    ]);
    const byKey = new Map(rows.rows.map((row) => [row.key, row]));
    const lease = byKey.get('/service/layout/leader')?.lease;
    expect(lease).not.toBeNull();
    // Concurrent calls shared one lease refresh.
    expect(byKey.get('/service/layout/members/alpha')?.lease).toBe(lease);
    expect(byKey.get('/service/layout/leader')?.ttl).toBe(10);
    expect(byKey.get('/service/layout/initialize')?.lease).toBeNull();
  });

  it('reports a server that stops answering as DcsUnreachableError within retryTimeout, then recovers', async () => {
    await using alpha = createPostgresTableDcs({ ...identity('alpha', 'outage'), retryTimeout: 1, connection: server.connection });
    expect(await alpha.acquireLeader()).toBe(true);
    server.freeze(true);
    try {
      const started = performance.now();
      await expect(alpha.renewLeader()).rejects.toMatchObject({ name: 'DcsUnreachableError', code: 'DCS_UNREACHABLE' });
      expect(performance.now() - started).toBeLessThan(1_000 + 2_000);
    } finally {
      server.freeze(false);
    }
    // The connection that hung was destroyed, not handed back to the pool: the next call gets a fresh one.
    expect(await alpha.renewLeader()).toBe(true);
  });
});
