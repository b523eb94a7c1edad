import { mkdtemp, mkdir, readFile, rm, stat, writeFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isPgwardenError, type Clock } from '@pgwarden/core';
import { createPostgresDriver, type PostgresDriverOptions } from './driver.js';
import type { ProcessRunner, RunRequest, RunResult } from './runner.js';

type Script = (request: RunRequest) => Partial<RunResult> | Promise<Partial<RunResult>>;

function scriptedRunner(scripts: Record<string, Script>) {
  const calls: RunRequest[] = [];
  const runner: ProcessRunner = {
    async run(request) {
      calls.push(request);
      const script = scripts[basename(request.command)];
      if (!script) throw new Error(`unexpected command ${request.command}`);
      return { exitCode: 0, signal: null, stdout: '', stderr: '', ...(await script(request)) };
    },
  };
  return { runner, calls };
}

function recordingClock() {
  const sleeps: number[] = [];
  const clock: Clock = { now: () => 0, sleep: async (ms) => void sleeps.push(ms) };
  return { clock, sleeps };
}

const controlData = (state: string) =>
  `Database system identifier:           7300000000000000001\nDatabase cluster state:               ${state}\n`;

let root: string;
let dataDir: string;

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'pgwarden-driver-unit-'));
  dataDir = join(root, 'data');
});

afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

function options(extra: Partial<PostgresDriverOptions>): PostgresDriverOptions {
  return {
    name: 'node-1.dc',
    scope: 'demo',
    dataDir,
    binDir: '/pg/bin',
    listen: { host: '0.0.0.0', port: 5432 },
    connectAddress: { host: '10.0.0.1', port: 5432 },
    authentication: {
      superuser: { username: 'postgres', password: 'su' },
      replication: { username: 'replicator', password: 'rep:secret' },
    },
    pgpass: join(root, 'pgpass'),
    env: { PATH: '/usr/bin', PATRONI_SCOPE: 'x', PG_MALLOC_ARENA_MAX: '2' },
    ...extra,
  };
}

const upstream = { name: 'node-0', host: '10.0.0.9', port: 5433 };

describe('cloneFrom', () => {
  it('retries pg_basebackup once after 5 s on a wiped directory, then writes the standby configuration', async () => {
    let attempt = 0;
    const { runner, calls } = scriptedRunner({
      pg_basebackup: async (request) => {
        attempt++;
        if (attempt === 1) {
          await writeFile(join(dataDir, 'partial'), 'x');
          return { exitCode: 1, stderr: 'pg_basebackup: error: connection refused' };
        }
        await writeFile(join(dataDir, 'PG_VERSION'), '15\n');
        await writeFile(join(dataDir, 'postgresql.conf'), "port = 1\n");
        await mkdir(join(dataDir, 'pg_replslot', 'stale'), { recursive: true });
        request.onLine?.('12345/67890 kB (18%), 0/1 tablespace', 'stderr');
        return {};
      },
    });
    const { clock, sleeps } = recordingClock();
    const driver = createPostgresDriver(options({ runner, clock }));
    const progress: Array<[string, Record<string, unknown> | undefined]> = [];
    await driver.cloneFrom(upstream, { progress: (message, fields) => progress.push([message, fields]) });

    expect(sleeps).toEqual([5000]);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.command).toBe('/pg/bin/pg_basebackup');
    expect(calls[1]!.args).toEqual([
      `--pgdata=${dataDir}`,
      '-X',
      'stream',
      `--dbname=host=10.0.0.9 port=5433 user=replicator passfile=${join(root, 'pgpass')} application_name=pgwarden_basebackup_node-1.dc sslmode=prefer`,
      '--checkpoint=fast',
      '--progress',
    ]);
    expect(progress).toContainEqual(['pg_basebackup', { line: '12345/67890 kB (18%), 0/1 tablespace', percent: 18 }]);

    const files = await readdir(dataDir);
    expect(files).not.toContain('partial');
    expect(files).toEqual(expect.arrayContaining(['standby.signal', 'postgresql.base.conf', 'pg_hba.conf']));
    expect(await readdir(join(dataDir, 'pg_replslot'))).toEqual([]);
    expect(await readFile(join(dataDir, 'postgresql.base.conf'), 'utf8')).toBe('port = 1\n');
    expect((await stat(dataDir)).mode & 0o777).toBe(0o700);

    const conf = await readFile(join(dataDir, 'postgresql.conf'), 'utf8');
    expect(conf).toContain(
      `primary_conninfo = 'host=10.0.0.9 port=5433 user=replicator passfile=${join(root, 'pgpass')} application_name=node-1.dc sslmode=prefer'`,
    );
    expect(conf).toContain("primary_slot_name = 'node_1_dc'");
    expect(conf).toContain("recovery_target_timeline = 'latest'");
    expect(conf).toContain("cluster_name = 'demo'");
    expect(conf).toContain("listen_addresses = '0.0.0.0'");

    const pgpass = await stat(join(root, 'pgpass'));
    expect(pgpass.mode & 0o777).toBe(0o600);
    expect(await readFile(join(root, 'pgpass'), 'utf8')).toBe('10.0.0.9:5433:*:replicator:rep\\:secret\n');

    const observation = await driver.observe().catch((error: unknown) => error);
    // pg_controldata is not scripted here: the observation still comes back.
    expect(observation).toMatchObject({
      dataDirectory: 'initialized',
      systemId: null,
      running: false,
      standbySignal: true,
      upstream: { host: '10.0.0.9', port: 5433, applicationName: 'node-1.dc' },
    });
  });

  it('asks a multi-host upstream (a standby cluster behind several hosts) for the primary, with a passfile line per host', async () => {
    const { runner } = scriptedRunner({
      pg_basebackup: async () => {
        await writeFile(join(dataDir, 'PG_VERSION'), '15\n');
        return {};
      },
    });
    const driver = createPostgresDriver(options({ runner, clock: recordingClock().clock }));
    await driver.cloneFrom({ name: 'remote_member', host: '10.0.0.8,10.0.0.9', port: 5433, slotName: null }, {});
    const conf = await readFile(join(dataDir, 'postgresql.conf'), 'utf8');
    expect(conf).toContain(
      `primary_conninfo = 'host=10.0.0.8,10.0.0.9 port=5433 user=replicator passfile=${join(root, 'pgpass')} application_name=node-1.dc sslmode=prefer target_session_attrs=read-write'`,
    );
    expect(conf).not.toContain('primary_slot_name');
    expect(await readFile(join(root, 'pgpass'), 'utf8')).toBe('10.0.0.8:5433:*:replicator:rep\\:secret\n10.0.0.9:5433:*:replicator:rep\\:secret\n');
  });

  it('gives up after two attempts with the binary, exit code and stderr in the error', async () => {
    const { runner } = scriptedRunner({
      pg_basebackup: () => ({ exitCode: 1, stderr: 'line 1\npg_basebackup: error: FATAL: no pg_hba.conf entry' }),
    });
    const driver = createPostgresDriver(options({ runner, clock: recordingClock().clock }));
    const error = await driver.cloneFrom(upstream, {}).catch((caught: unknown) => caught);
    expect(isPgwardenError(error, 'PG_COMMAND_FAILED')).toBe(true);
    expect((error as Error).message).toMatch(/^\[postgres-driver\] pg_basebackup failed with exit code 1: .*no pg_hba.conf entry/s);
    expect(await readdir(dataDir)).toEqual([]);
  });

  it('refuses to clone over an initialized data directory', async () => {
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'PG_VERSION'), '15\n');
    const driver = createPostgresDriver(options({ runner: scriptedRunner({}).runner }));
    await expect(driver.cloneFrom(upstream, {})).rejects.toThrow(/initialized/);
  });
});

describe('rewindFrom', () => {
  async function initializedDataDir() {
    await mkdir(dataDir, { mode: 0o700 });
    await writeFile(join(dataDir, 'PG_VERSION'), '15\n');
    await writeFile(join(dataDir, 'standby.signal'), '');
  }

  it('runs single-user crash recovery first after an unclean shutdown, and reports when no rewind was needed', async () => {
    await initializedDataDir();
    let pgpassDuringRewind = '';
    const { runner, calls } = scriptedRunner({
      pg_controldata: () => ({ stdout: controlData('in production') }),
      postgres: () => ({}),
      pg_rewind: async () => ({
        stdout: (pgpassDuringRewind = await readFile(join(root, 'pgpass'), 'utf8')),
        stderr: 'pg_rewind: source and target cluster are on the same timeline\npg_rewind: no rewind required\n',
      }),
    });
    const driver = createPostgresDriver(
      options({
        runner,
        usePgRewind: true,
        authentication: {
          superuser: { username: 'postgres', password: 'su' },
          replication: { username: 'replicator', password: 'rep' },
          rewind: { username: 'rewinder', password: 'rw' },
        },
        parameters: { restore_command: 'cp /archive/%f %p' },
      }),
    );
    expect(await driver.rewindFrom(upstream, {})).toEqual({ rewound: false });

    expect(calls.map((call) => basename(call.command))).toEqual(['pg_controldata', 'postgres', 'pg_rewind']);
    expect(calls[1]!.args).toEqual(['--single', '-D', dataDir, '-c', 'archive_mode=on', '-c', 'archive_command=false', 'postgres']);
    expect(calls[1]!.stdin).toBeUndefined();
    expect(calls[2]!.args).toEqual([
      '-D',
      dataDir,
      `--source-server=host=10.0.0.9 port=5433 user=rewinder dbname=postgres passfile=${join(root, 'pgpass')} sslmode=prefer`,
      '--progress',
      '--restore-target-wal',
    ]);
    // While pg_rewind runs the passfile holds the rewind user; afterwards only what the standby needs.
    expect(pgpassDuringRewind).toBe('10.0.0.9:5433:*:rewinder:rw\n10.0.0.9:5433:*:replicator:rep\n');
    expect(await readFile(join(root, 'pgpass'), 'utf8')).toBe('10.0.0.9:5433:*:replicator:rep\n');
    // Standby configuration written again for the new upstream.
    expect(await readFile(join(dataDir, 'postgresql.conf'), 'utf8')).toContain('host=10.0.0.9 port=5433 user=replicator');
    expect((await readdir(dataDir)).includes('standby.signal')).toBe(true);
  });

  it('skips crash recovery after a clean shutdown and cleans pg_replslot after a rewind', async () => {
    await initializedDataDir();
    await mkdir(join(dataDir, 'pg_replslot', 'old'), { recursive: true });
    const { runner, calls } = scriptedRunner({
      pg_controldata: () => ({ stdout: controlData('shut down') }),
      pg_rewind: () => ({ stderr: 'pg_rewind: servers diverged at WAL location 0/3000000 on timeline 1\npg_rewind: Done!\n' }),
    });
    const driver = createPostgresDriver(options({ runner, usePgRewind: true }));
    expect(await driver.rewindFrom(upstream, {})).toEqual({ rewound: true });
    expect(calls.map((call) => basename(call.command))).toEqual(['pg_controldata', 'pg_rewind']);
    expect(calls[1]!.args).not.toContain('--restore-target-wal');
    expect(calls[1]!.args[2]).toContain('user=postgres');
    expect(await readdir(join(dataDir, 'pg_replslot'))).toEqual([]);
  });

  it('is refused unless usePgRewind is set', async () => {
    await initializedDataDir();
    const driver = createPostgresDriver(options({ runner: scriptedRunner({}).runner }));
    const error = await driver.rewindFrom(upstream, {}).catch((caught: unknown) => caught);
    expect(isPgwardenError(error, 'CONFIG_INVALID')).toBe(true);
  });
});

describe('processes', () => {
  it('strips PATRONI_* from the environment, maps PG_MALLOC_ARENA_MAX and sets PGPASSFILE', async () => {
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'PG_VERSION'), '15\n');
    const { runner, calls } = scriptedRunner({ pg_controldata: () => ({ stdout: controlData('shut down') }) });
    const driver = createPostgresDriver(options({ runner }));
    const observation = await driver.observe();
    expect(observation).toMatchObject({ systemId: '7300000000000000001', controlState: 'shut down', accepting: false });
    const env = calls[0]!.env;
    expect(env['PATRONI_SCOPE']).toBeUndefined();
    expect(env['PG_MALLOC_ARENA_MAX']).toBeUndefined();
    expect(env['MALLOC_ARENA_MAX']).toBe('2');
    expect(env['PGPASSFILE']).toBe(join(root, 'pgpass'));
    expect(env['LC_ALL']).toBe('C');
  });

  it('unsets MALLOC_ARENA_MAX when PG_MALLOC_ARENA_MAX is empty', async () => {
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'PG_VERSION'), '15\n');
    const { runner, calls } = scriptedRunner({ pg_controldata: () => ({ stdout: controlData('shut down') }) });
    const driver = createPostgresDriver(
      options({ runner, env: { MALLOC_ARENA_MAX: '4', PG_MALLOC_ARENA_MAX: '' } }),
    );
    await driver.observe();
    expect(calls[0]!.env['MALLOC_ARENA_MAX']).toBeUndefined();
  });

  it('runs binaries as osUser only when running as root', async () => {
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'PG_VERSION'), '15\n');
    const { runner, calls } = scriptedRunner({ pg_controldata: () => ({ stdout: controlData('shut down') }) });
    const osUser = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
    await createPostgresDriver(options({ runner, osUser })).observe();
    if (process.getuid?.() === 0) expect(calls[0]).toMatchObject({ uid: osUser.uid, gid: osUser.gid });
    else expect(calls[0]!.uid).toBeUndefined();
  });

  it('passes filtered initdb options, the superuser and a password file to initdb', async () => {
    let pwfileContent = '';
    const { runner, calls } = scriptedRunner({
      initdb: async (request) => {
        const pwfile = request.args.find((arg) => arg.startsWith('--pwfile='))!.slice('--pwfile='.length);
        pwfileContent = await readFile(pwfile, 'utf8');
        return { exitCode: 1, stderr: 'initdb: error: stop here' };
      },
    });
    const driver = createPostgresDriver(
      options({ runner, initdb: ['data-checksums', { encoding: 'UTF8' }, 'nosync', { pgdata: '/elsewhere' }] }),
    );
    await expect(driver.bootstrap({})).rejects.toThrow(/initdb failed with exit code 1: initdb: error: stop here/);
    expect(calls[0]!.args.slice(0, 5)).toEqual([
      '-D',
      dataDir,
      '--username=postgres',
      '--data-checksums',
      '--encoding=UTF8',
    ]);
    expect(calls[0]!.args).toHaveLength(6);
    expect(pwfileContent).toBe('su\n');
  });

  it('refuses to bootstrap over an existing data directory', async () => {
    await mkdir(dataDir);
    await writeFile(join(dataDir, 'PG_VERSION'), '15\n');
    const driver = createPostgresDriver(options({ runner: scriptedRunner({}).runner }));
    await expect(driver.bootstrap({})).rejects.toThrow(/cannot bootstrap/);
  });

  it('observes a missing data directory without running anything', async () => {
    const { runner, calls } = scriptedRunner({});
    const observation = await createPostgresDriver(options({ runner })).observe();
    expect(observation).toMatchObject({ dataDirectory: 'missing', running: false, accepting: false, upstream: null });
    expect(calls).toEqual([]);
  });
});
