/** A replica created with no member to copy (`no_leader` methods): the command runs with an empty --connstring. */
import { chmod, chown, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, makeTempDir, postgresBinDir, unprivilegedUser } from '@pgwarden/testkit/postgres';
import { createPostgresDriver, type PostgresDriver, type ReplicaMethod } from '../src/index.js';

const authentication = {
  superuser: { username: 'postgres', password: 'superpass' },
  replication: { username: 'replicator', password: 'replpass' },
};

let root: string;
const drivers: PostgresDriver[] = [];

async function makeDriver(name: string, createReplicaMethods?: readonly ReplicaMethod[]) {
  const port = await freePort();
  const user = unprivilegedUser();
  const driver = createPostgresDriver({
    name,
    scope: 'no-leader-clone',
    dataDir: join(root, name, 'data'),
    binDir: postgresBinDir(),
    listen: { host: '127.0.0.1', port },
    connectAddress: { host: '127.0.0.1', port },
    authentication,
    parameters: { shared_buffers: '16MB', max_connections: 20, fsync: 'off' },
    pgpass: join(root, name, 'pgpass'),
    osUser: { uid: user.uid, gid: user.gid },
    pgCtlTimeout: 30,
    ...(createReplicaMethods ? { createReplicaMethods } : {}),
  });
  drivers.push(driver);
  return { driver, port };
}

beforeAll(async () => {
  root = await makeTempDir('pgwarden-no-leader-clone-');
});

afterAll(async () => {
  for (const driver of drivers) {
    await driver.stop({ mode: 'immediate' }).catch(() => undefined);
    await driver[Symbol.asyncDispose]();
  }
  if (root) await rm(root, { recursive: true, force: true });
});

describe('cloneFrom without a source', () => {
  it('runs a no_leader method with an empty --connstring, then starts read-only with no upstream', async () => {
    // The "backup server": a primary the restore script knows by itself, as a backup repository would be.
    const backup = await makeDriver('pg-backup');
    await backup.driver.bootstrap({ progress: () => undefined });

    const script = join(root, 'restore-latest.sh');
    const argsFile = join(root, 'restore-args.txt');
    await writeFile(
      script,
      `#!/bin/sh
set -e
printf '%s\\n' "$@" > '${argsFile}'
for arg in "$@"; do
  case "$arg" in --datadir=*) datadir="\${arg#--datadir=}" ;; esac
done
PGPASSWORD=replpass '${postgresBinDir()}/pg_basebackup' -D "$datadir" -X stream -d 'host=127.0.0.1 port=${backup.port} user=replicator'
`,
    );
    await chmod(script, 0o755);
    const user = unprivilegedUser();
    if (process.getuid?.() === 0) await chown(script, user.uid, user.gid);

    const methods: ReplicaMethod[] = [
      { name: 'basebackup' },
      { name: 'restore', command: script, keepData: false, noParams: false, params: {} },
    ];
    const replica = await makeDriver('pg-restored', methods);
    // basebackup needs a member to copy: without one it fails at once.
    await expect(replica.driver.cloneFrom(null, { methods: ['basebackup'] })).rejects.toThrow(/needs a member to copy from/);
    await replica.driver.cloneFrom(null, { methods: ['restore'] });

    const args = (await readFile(argsFile, 'utf8')).trim().split('\n');
    expect(args).toContain('--connstring=');
    expect(args).toContain('--role=replica');

    expect(await replica.driver.start({ role: 'replica', upstream: null, timeout: 30 })).toBe(true);
    const observed = await replica.driver.observe();
    expect(observed.role).toBe('replica');
    expect(observed.upstream).toBeNull();
    expect(observed.systemId).toBe((await backup.driver.observe()).systemId);
  });
});
