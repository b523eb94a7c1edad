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
const ports: number[] = [];
const primaryPort = (): number => ports[0]!;

async function makeDriver(name: string, createReplicaMethods?: readonly ReplicaMethod[]) {
  const port = await freePort();
  ports.push(port);
  const user = unprivilegedUser();
  const driver = createPostgresDriver({
    name,
    scope: 'replica-methods',
    dataDir: join(root, name, 'data'),
    binDir: postgresBinDir(),
    listen: { host: '127.0.0.1', port },
    connectAddress: { host: '127.0.0.1', port },
    authentication,
    parameters: { shared_buffers: '16MB', max_connections: 20, fsync: 'off' },
    pgpass: join(root, name, 'pgpass'),
    initdb: [{ encoding: 'UTF8' }],
    osUser: { uid: user.uid, gid: user.gid },
    pgCtlTimeout: 30,
    ...(createReplicaMethods ? { createReplicaMethods } : {}),
  });
  drivers.push(driver);
  return { driver, upstream: { name, host: '127.0.0.1', port } };
}

beforeAll(async () => {
  root = await makeTempDir('pgwarden-replica-methods-');
});

afterAll(async () => {
  for (const driver of drivers) {
    await driver.stop({ mode: 'immediate' }).catch(() => undefined);
    await driver[Symbol.asyncDispose]();
  }
  if (root) await rm(root, { recursive: true, force: true });
});

describe('create_replica_methods', () => {
  it('falls through a failing method to a user command run with Patroni’s arguments', async () => {
    const primary = await makeDriver('pg-primary');
    await primary.driver.bootstrap({ progress: () => undefined });

    // A stand-in for pgBackRest or WAL-G: records its arguments, then copies the primary with pg_basebackup.
    const script = join(root, 'restore.sh');
    const argsFile = join(root, 'restore-args.txt');
    await writeFile(
      script,
      `#!/bin/sh
set -e
printf '%s\\n' "$@" > '${argsFile}'
for arg in "$@"; do
  case "$arg" in
    --datadir=*) datadir="\${arg#--datadir=}" ;;
    --connstring=*) connstring="\${arg#--connstring=}" ;;
  esac
done
'${postgresBinDir()}/pg_basebackup' -D "$datadir" -X stream -d "$connstring"
`,
    );
    await chmod(script, 0o755);
    const user = unprivilegedUser();
    if (process.getuid?.() === 0) await chown(script, user.uid, user.gid);

    const methods: ReplicaMethod[] = [
      { name: 'broken', command: '/bin/false', keepData: false, noParams: true, params: {} },
      { name: 'restore', command: script, keepData: false, noParams: false, params: { stanza: 'main' } },
    ];
    const replica = await makeDriver('pg-replica', methods);
    const steps: string[] = [];
    await replica.driver.cloneFrom(primary.upstream, { progress: (message) => steps.push(message) });
    expect(steps).toContain('running restore');
    expect(steps.at(-1)).toBe('cloned');

    const args = (await readFile(argsFile, 'utf8')).trim().split('\n');
    expect(args).toEqual(
      expect.arrayContaining(['--stanza=main', '--scope=replica-methods', '--role=replica', `--datadir=${join(root, 'pg-replica', 'data')}`]),
    );
    expect(args.find((arg) => arg.startsWith('--connstring='))).toContain(`port=${primary.upstream.port}`);

    expect(await replica.driver.start({ role: 'replica', upstream: primary.upstream, timeout: 30 })).toBe(true);
    const observed = await replica.driver.observe();
    expect(observed.role).toBe('replica');
    expect(observed.systemId).toBe((await primary.driver.observe()).systemId);
  });

  it('uses methods asked for by name (a standby cluster’s list): a name without a local section is the command', async () => {
    const source = { name: 'pg-primary', host: '127.0.0.1', port: primaryPort() };
    const replica = await makeDriver('pg-replica-2');
    await replica.driver.cloneFrom(source, { methods: [join(root, 'restore.sh')] });
    const args = (await readFile(join(root, 'restore-args.txt'), 'utf8')).trim().split('\n');
    expect(args).toContain(`--datadir=${join(root, 'pg-replica-2', 'data')}`);
    expect(args.some((arg) => arg.startsWith('--stanza='))).toBe(false);
  });
});
