/**
 * The `pgwarden` binary's contract, spawned from the build as users run it: --help, --version, --validate-config,
 * and that a bad configuration starts nothing (no data directory, no listener) and exits non-zero.
 */
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '@pgwarden/testkit';

const PACKAGE_DIR = resolve(import.meta.dirname, '..');

/** The bin through package.json's `bin` field: it may be an ESM script or a CommonJS launcher. */
function agentBin(): string {
  const manifest = JSON.parse(readFileSync(join(PACKAGE_DIR, 'package.json'), 'utf8')) as { bin?: string | Record<string, string> };
  const bin = typeof manifest.bin === 'string' ? manifest.bin : manifest.bin?.['pgwarden'];
  if (!bin) throw new Error('packages/agent/package.json has no `pgwarden` bin');
  const path = resolve(PACKAGE_DIR, bin);
  if (!existsSync(join(PACKAGE_DIR, 'dist', 'index.js'))) throw new Error('the agent is not built: run the build before this test');
  return path;
}

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * The environment of a shell, not of the test runner: no PATRONI_*, PG* or VITEST* variables, and no NODE_PATH (pnpm
 * sets it for the runner, and it would let the agent find modules a user's `pgwarden` cannot).
 */
function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === 'NODE_PATH') continue;
    if (!key.startsWith('PATRONI_') && !key.startsWith('VITEST') && !key.startsWith('PG')) env[key] = value;
  }
  return { ...env, ...extra };
}

function pgwarden(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [agentBin(), ...args], { env: cleanEnv(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolveRun({ code, stdout, stderr }));
  });
}

/** True when something accepts connections on the port. */
function listening(port: number): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolveProbe(true);
    });
    socket.once('error', () => resolveProbe(false));
  });
}

let dir = '';
let apiPort = 0;
let pgPort = 0;
let dataDir = '';

function configYaml(overrides: { loopWait?: string; retryTimeout?: number } = {}): string {
  return `scope: cli-test
name: member0
restapi:
  listen: 127.0.0.1:${apiPort}
  connect_address: 127.0.0.1:${apiPort}
etcd3:
  hosts: 127.0.0.1:1
bootstrap:
  dcs:
    ttl: 30
    loop_wait: ${overrides.loopWait ?? '10'}
    retry_timeout: ${overrides.retryTimeout ?? 10}
postgresql:
  listen: 127.0.0.1:${pgPort}
  connect_address: 127.0.0.1:${pgPort}
  data_dir: ${dataDir}
  authentication:
    superuser:
      username: postgres
      password: secret
    replication:
      username: replicator
      password: secret
watchdog:
  mode: off
`;
}

async function configFile(name: string, text: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

/** Nothing of the member exists or listens: the agent stopped before doing anything. */
async function expectNothingStarted(): Promise<void> {
  expect(existsSync(dataDir)).toBe(false);
  expect(await listening(apiPort)).toBe(false);
  expect(await listening(pgPort)).toBe(false);
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'pgwarden-cli-'));
  dataDir = join(dir, 'data');
  apiPort = await freePort();
  pgPort = await freePort();
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('pgwarden binary', () => {
  it('resolves the bin from package.json next to the build', () => {
    expect(existsSync(agentBin())).toBe(true);
    expect(dirname(agentBin())).toBe(join(PACKAGE_DIR, 'bin'));
  });

  it('prints its version and exits 0', async () => {
    const run = await pgwarden(['--version']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^pgwarden \d+\.\d+\.\d+\S* \(Patroni \d+\.\d+\.\d+ compatible\)\n$/);
  });

  it('prints its usage with --help and exits 0', async () => {
    const run = await pgwarden(['--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toContain('usage: pgwarden [CONFIG_FILE]');
    expect(run.stdout).toContain('--validate-config CONFIG_FILE');
  });

  it('refuses an unknown option with exit code 2 and the usage', async () => {
    const run = await pgwarden(['--no-such-option']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--no-such-option');
    expect(run.stderr).toContain('usage: pgwarden');
  });

  it('--validate-config accepts a good file, exits 0 and starts nothing', async () => {
    const file = await configFile('good.yml', configYaml());
    const run = await pgwarden(['--validate-config', file]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toBe(`${file}: configuration is valid\n`);
    await expectNothingStarted();
  });

  it('--validate-config without a file exits 2', async () => {
    const run = await pgwarden(['--validate-config']);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--validate-config needs a configuration file');
  });

  it('--validate-config names the file and the key of a wrongly typed value', async () => {
    const file = await configFile('typed.yml', configYaml({ loopWait: 'often' }));
    const run = await pgwarden(['--validate-config', file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`${file}: bootstrap.dcs.loop_wait: `);
    expect(run.stderr).toContain('"often"');
  });

  it('--validate-config points at file:line of a YAML syntax error', async () => {
    // Line 5 is indented under a scalar: the error is reported where the mapping went wrong, line 4.
    const file = await configFile('syntax.yml', 'scope: cli-test\nname: member0\nrestapi:\n  listen: 127.0.0.1:8008\n    bad: indent\n');
    const run = await pgwarden(['--validate-config', file]);
    expect(run.code).toBe(1);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`${file}:4:`);
    expect(run.stderr).toContain('YAML syntax error');
  });

  it('--validate-config names the PATRONI_* variable of a bad environment value', async () => {
    const file = await configFile('env.yml', configYaml());
    const run = await pgwarden(['--validate-config', file], { PATRONI_RESTAPI_REQUEST_QUEUE_SIZE: 'lots' });
    expect(run.code).toBe(1);
    expect(run.stderr).toContain('restapi.request_queue_size');
    expect(run.stderr).toContain('(from PATRONI_RESTAPI_REQUEST_QUEUE_SIZE)');
  });

  it('a bad configuration without --validate-config exits non-zero before starting anything', async () => {
    const typed = await configFile('run-typed.yml', configYaml({ loopWait: 'often' }));
    const run = await pgwarden([typed]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`${typed}: bootstrap.dcs.loop_wait: `);
    await expectNothingStarted();

    const good = await configFile('run-env.yml', configYaml());
    const fromEnv = await pgwarden([good], { PATRONI_RESTAPI_REQUEST_QUEUE_SIZE: 'lots' });
    expect(fromEnv.code).toBe(1);
    expect(fromEnv.stderr).toContain('PATRONI_RESTAPI_REQUEST_QUEUE_SIZE');
    await expectNothingStarted();
  });

  it('SIGTERM while waiting for an unreachable DCS exits 0 and leaves nothing behind', async () => {
    // Nothing listens on the store's port: the agent keeps waiting for it at start-up, before anything else.
    const deadStore = await freePort();
    const text = configYaml({ retryTimeout: 2 }).replace('hosts: 127.0.0.1:1', `hosts: 127.0.0.1:${deadStore}`);
    const file = await configFile('sigterm.yml', text);
    const child = spawn(process.execPath, [agentBin(), file], {
      env: cleanEnv({ PGWARDEN_ALLOW_SHORT_TTL: '1' }),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    try {
      await new Promise<void>((resolveWaiting, reject) => {
        const onData = (chunk: Buffer) => {
          output += chunk.toString();
          // Logged once the store failed to answer for retry_timeout: the signal handlers are in place by then.
          if (output.includes('waiting for the DCS')) resolveWaiting();
        };
        child.stdout.on('data', onData);
        child.stderr.on('data', onData);
        void exited.then((code) => reject(new Error(`the agent exited (${code}) before it waited for the DCS:\n${output}`)));
      });
      child.kill('SIGTERM');
      const code = await exited;
      expect(output).toContain('received SIGTERM');
      expect(output).not.toContain('fatal');
      expect(code).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
    await expectNothingStarted();
  });

  it('a missing configuration file is an error naming it', async () => {
    const missing = join(dir, 'missing.yml');
    const run = await pgwarden(['--validate-config', missing]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(missing);
  });
});
