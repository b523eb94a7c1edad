import { readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeTempDir, postgresBinDir, unprivilegedUser } from '@pgwarden/testkit/postgres';
import { createPostgresDriver, type PostgresDriver } from '../src/index.js';

let root: string;
let driver: PostgresDriver;
let dataDir: string;

async function postmasterPid(): Promise<number> {
  return parseInt((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0] ?? '', 10);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

beforeAll(async () => {
  root = await makeTempDir('pgwarden-driver-stop-');
  dataDir = join(root, 'data');
  const port = await freePort();
  const user = unprivilegedUser();
  driver = createPostgresDriver({
    name: 'pg-stop',
    scope: 'driver-stop-test',
    dataDir,
    binDir: postgresBinDir(),
    listen: { host: '127.0.0.1', port },
    connectAddress: { host: '127.0.0.1', port },
    authentication: { superuser: { username: 'postgres', password: 'superpass' }, replication: { username: 'replicator', password: 'replpass' } },
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

describe('stopping postgres that will not stop, and a data directory set aside', () => {
  it('reports failure without killAfterTimeout, and kills the postmaster with it', async () => {
    const pid = await postmasterPid();
    process.kill(pid, 'SIGSTOP'); // a postmaster that cannot finish its shutdown
    try {
      expect(await driver.stop({ mode: 'fast', timeout: 1 })).toBe(false);
      expect(alive(pid)).toBe(true);
      expect(await driver.stop({ mode: 'fast', timeout: 1, killAfterTimeout: true })).toBe(true);
      expect((await driver.observe()).running).toBe(false);
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGCONT');
    }
    // The data directory recovers from the kill like from a crash.
    expect(await driver.start({ role: 'primary', upstream: null, timeout: 30 })).toBe(true);
    expect((await driver.observe()).accepting).toBe(true);
  });

  it('moves a stopped data directory aside as <data_dir>.failed, replacing an older one', async () => {
    await expect(driver.moveDataDirectoryAside()).rejects.toThrow(/running server/);
    expect(await driver.stop({ mode: 'fast' })).toBe(true);
    expect(await driver.moveDataDirectoryAside()).toBe(`${dataDir}.failed`);
    expect((await driver.observe()).dataDirectory).toBe('missing');
    expect((await stat(join(`${dataDir}.failed`, 'PG_VERSION'))).isFile()).toBe(true);
    expect(await driver.moveDataDirectoryAside()).toBeNull();
  });
});
