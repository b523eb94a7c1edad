/** `postgresql.before_stop`: run before every stop of a running server; a failing script does not prevent the stop. */
import { chmod, chown, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeTempDir, postgresBinDir, unprivilegedUser } from '@pgwarden/testkit/postgres';
import { createPostgresDriver, type PostgresDriver } from '../src/index.js';

let root: string;
let driver: PostgresDriver;
let dataDir: string;
let record: string;

const calls = async (): Promise<string[]> => (await readFile(record, 'utf8')).split('\n').filter(Boolean);

beforeAll(async () => {
  root = await makeTempDir('pgwarden-driver-before-stop-');
  dataDir = join(root, 'data');
  record = join(root, 'calls.txt');
  const script = join(root, 'before-stop.sh');
  const user = unprivilegedUser();
  // Records its arguments, its user and whether the postmaster was still up, then fails.
  await writeFile(script, `#!/bin/sh\necho "args=$# uid=$(id -u) running=$(test -f '${dataDir}/postmaster.pid' && echo yes || echo no)" >> '${record}'\nexit 3\n`);
  await chmod(script, 0o755);
  await writeFile(record, '');
  await chown(record, user.uid, user.gid);
  const port = await freePort();
  driver = createPostgresDriver({
    name: 'pg-before-stop',
    scope: 'driver-before-stop-test',
    dataDir,
    binDir: postgresBinDir(),
    listen: { host: '127.0.0.1', port },
    connectAddress: { host: '127.0.0.1', port },
    authentication: { superuser: { username: 'postgres', password: 'superpass' }, replication: { username: 'replicator', password: 'replpass' } },
    parameters: { shared_buffers: '16MB', max_connections: 20, fsync: 'off' },
    pgpass: join(root, 'pgpass'),
    osUser: { uid: user.uid, gid: user.gid },
    pgCtlTimeout: 30,
    beforeStop: `${script} --ignored-by-nothing`,
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

describe('before_stop', () => {
  it('runs as the PostgreSQL user while the server is still up, and its failure does not prevent the stop', async () => {
    const before = (await calls()).length;
    expect(await driver.stop({ mode: 'fast' })).toBe(true);
    expect((await driver.observe()).running).toBe(false);
    expect((await calls()).slice(before)).toEqual([`args=1 uid=${unprivilegedUser().uid} running=yes`]);
  });

  it('does not run when there is nothing to stop', async () => {
    const before = (await calls()).length;
    expect(await driver.stop({ mode: 'fast' })).toBe(true);
    expect((await calls()).length).toBe(before);
  });

  it('runs before the stop of a restart too', async () => {
    expect(await driver.start({ role: 'primary', upstream: null, timeout: 30 })).toBe(true);
    const before = (await calls()).length;
    expect(await driver.restart({ role: 'primary', upstream: null, timeout: 30 })).toBe(true);
    expect((await calls()).slice(before)).toHaveLength(1);
    expect((await driver.observe()).accepting).toBe(true);
  });
});
