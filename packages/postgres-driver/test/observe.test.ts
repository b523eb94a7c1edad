import { rm } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeTempDir, postgresBinDir, unprivilegedUser } from '@pgwarden/testkit/postgres';
import { createChildProcessRunner, createPostgresDriver, type PostgresDriver, type ProcessRunner } from '../src/index.js';

const superuser = { username: 'postgres', password: 'superpass' };
let root: string;
let driver: PostgresDriver;
const commands: string[] = [];

/** The real runner, recording which programs ran. */
function countingRunner(): ProcessRunner {
  const real = createChildProcessRunner();
  return {
    run(request) {
      commands.push(basename(request.command));
      return real.run(request);
    },
  };
}

const controlDataRuns = (): number => commands.filter((command) => command === 'pg_controldata').length;

beforeAll(async () => {
  root = await makeTempDir('pgwarden-driver-observe-');
  const port = await freePort();
  const user = unprivilegedUser();
  driver = createPostgresDriver({
    name: 'pg-observe',
    scope: 'driver-observe-test',
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
    runner: countingRunner(),
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

describe('observing a server', () => {
  it('reads pg_controldata once while the same running server is observed again and again', async () => {
    const first = await driver.observe();
    expect(first.running).toBe(true);
    expect(first.systemId).toMatch(/^\d+$/);
    const runsAfterFirst = controlDataRuns();
    for (let cycle = 0; cycle < 3; cycle++) {
      const again = await driver.observe();
      expect(again.systemId).toBe(first.systemId);
    }
    expect(controlDataRuns()).toBe(runsAfterFirst);
  });

  it('reads it again once the server is down, where the control state matters', async () => {
    const before = controlDataRuns();
    await driver.stop({ mode: 'fast' });
    const stopped = await driver.observe();
    expect(stopped.running).toBe(false);
    expect(stopped.controlState).toBe('shut down');
    expect(controlDataRuns()).toBe(before + 1);
  });
});
