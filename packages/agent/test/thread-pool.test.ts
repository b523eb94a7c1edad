/**
 * The `pgwarden` launcher (bin/pgwarden.cjs, run from the build) sizes libuv's pool from the configuration before the
 * pool starts. Checked from outside: the agent's thread count in /proc/<pid>/task for different settings. Only
 * differences are compared, so the threads Node itself starts (V8's, the main one) do not matter.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const LAUNCHER = resolve(import.meta.dirname, '../bin/pgwarden.cjs');

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
  const address = server.address();
  await new Promise<void>((done) => server.close(() => done()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

interface Running {
  readonly child: ChildProcess;
  output: string;
}

/** Output lines of the agent matching `pattern`, waiting until at least `count` have appeared or the process exits. */
async function waitForLines(running: Running, pattern: RegExp, count: number): Promise<string[]> {
  const matching = () => running.output.split('\n').filter((line) => pattern.test(line));
  while (matching().length < count) {
    if (running.child.exitCode !== null || running.child.signalCode !== null) {
      throw new Error(`the agent exited before logging ${String(pattern)}:\n${running.output}`);
    }
    await new Promise((done) => setTimeout(done, 50));
  }
  return matching();
}

async function threadsOf(pid: number): Promise<number> {
  return (await readdir(`/proc/${pid}/task`)).length;
}

async function stop(running: Running): Promise<void> {
  const { child } = running;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((done) => child.once('exit', done));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

describe('pgwarden launcher: libuv thread pool sized from thread_pool_size', () => {
  let dir: string;
  let base: string;
  const started: Running[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pgwarden-threads-'));
    // etcd on a closed port: the agent starts (pool, warm-up, REST) and keeps retrying the DCS, no PostgreSQL needed.
    const [rest, pg, etcd] = [await freePort(), await freePort(), await freePort()];
    base = [
      'scope: threads',
      'name: m1',
      'log: {level: DEBUG}',
      'restapi:',
      `  listen: 127.0.0.1:${rest}`,
      `  connect_address: 127.0.0.1:${rest}`,
      'etcd3:',
      `  hosts: 127.0.0.1:${etcd}`,
      'postgresql:',
      `  listen: 127.0.0.1:${pg}`,
      `  connect_address: 127.0.0.1:${pg}`,
      `  data_dir: ${join(dir, 'data')}`,
      '  authentication:',
      '    superuser: {username: postgres, password: x}',
      '    replication: {username: rep, password: x}',
      '',
    ].join('\n');
  });

  afterAll(async () => {
    await Promise.all(started.map(stop));
    await rm(dir, { recursive: true, force: true });
  });

  /** Starts the agent, waits for its thread pool line, returns the logged size and the process's thread count. */
  async function measure(args: string[], env: Record<string, string>): Promise<{ logged: string; threads: number; running: Running }> {
    const clean = Object.fromEntries(
      Object.entries(process.env).filter(([name]) => !name.startsWith('PATRONI_') && name !== 'UV_THREADPOOL_SIZE' && name !== 'NODE_OPTIONS'),
    );
    const child = spawn(process.execPath, [LAUNCHER, ...args], { env: { ...clean, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    const running: Running = { child, output: '' };
    started.push(running);
    child.stdout?.on('data', (chunk: Buffer) => (running.output += chunk.toString()));
    child.stderr?.on('data', (chunk: Buffer) => (running.output += chunk.toString()));
    const [logged] = await waitForLines(running, /thread pool:/, 1);
    return { logged: logged ?? '', threads: await threadsOf(child.pid ?? 0), running };
  }

  it('gives the pool the configured size from a file, a directory, PATRONI_CONFIGURATION and PATRONI_THREAD_POOL_SIZE', async () => {
    const file = join(dir, 'member.yml');
    await writeFile(file, `${base}thread_pool_size: 6   # a comment after the value\n`);
    const configDir = join(dir, 'conf.d');
    await mkdir(configDir);
    await writeFile(join(configDir, '00-base.yml'), `${base}thread_pool_size: 20\n`);
    await writeFile(join(configDir, '10-override.yaml'), 'thread_pool_size: 11\n');

    const fromFile = await measure([file], {});
    await stop(fromFile.running);
    const fromDirectory = await measure([configDir], {});
    await stop(fromDirectory.running);
    const fromInline = await measure([], { PATRONI_CONFIGURATION: `${base}thread_pool_size: 8\n` });
    await stop(fromInline.running);
    const fromVariable = await measure([file], { PATRONI_THREAD_POOL_SIZE: '9' });

    expect(fromFile.logged).toContain('thread pool: 6 threads (thread_pool_size 6);');
    expect(fromDirectory.logged).toContain('thread pool: 11 threads (thread_pool_size 11);');
    expect(fromInline.logged).toContain('thread pool: 8 threads (thread_pool_size 8);');
    expect(fromVariable.logged).toContain('thread pool: 9 threads (thread_pool_size 9);');
    expect(fromDirectory.threads - fromFile.threads).toBe(11 - 6);
    expect(fromInline.threads - fromFile.threads).toBe(8 - 6);
    expect(fromVariable.threads - fromFile.threads).toBe(9 - 6);

    // The count does not move while the agent works: retries against the unreachable DCS, each a round of pool jobs.
    const { running } = fromVariable;
    await waitForLines(running, /etcd request failed, retrying|waiting for the DCS/, 3);
    expect(await threadsOf(running.child.pid ?? 0)).toBe(fromVariable.threads);
    await stop(running);
  });

  it('raises a setting below 5 to 5, as Patroni does', async () => {
    const small = join(dir, 'small.yml');
    const five = join(dir, 'five.yml');
    await writeFile(small, `${base}thread_pool_size: 2\n`);
    await writeFile(five, `${base}thread_pool_size: 5\n`);
    const fromSmall = await measure([small], {});
    await stop(fromSmall.running);
    const fromFive = await measure([five], {});
    await stop(fromFive.running);
    expect(fromSmall.logged).toContain('thread pool: 5 threads (thread_pool_size 5)');
    expect(fromSmall.threads).toBe(fromFive.threads);
  });
});
