/**
 * A real etcd 3.4 for integration tests: one member on 127.0.0.1, free ports, a temporary data directory,
 * stopped and removed by `stop()` (or `await using`).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (address && typeof address === 'object') resolve(address.port);
        else reject(new Error('[testkit] could not read the port of a probe socket'));
      });
    });
  });
}

export interface EtcdOptions {
  /** Path of the etcd binary; default `/usr/bin/etcd`. */
  readonly binary?: string;
  /** How long to wait for the server to report healthy; default 20 s. */
  readonly startTimeoutMs?: number;
}

export interface EtcdFixture extends AsyncDisposable {
  /** `127.0.0.1:<port>`, the form `createEtcdDcs({ hosts })` takes. */
  readonly endpoint: string;
  /** `http://127.0.0.1:<port>`. */
  readonly clientUrl: string;
  readonly pid: number;
  /** Freezes the server (SIGSTOP): clients see it hang, as in a network partition. */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
  /** Stops the server and removes its data directory. Safe to call twice. */
  stop(): Promise<void>;
}

const OUTPUT_LINES_KEPT = 40;

/** Started servers that the process must not leave behind if a test run dies before `stop()`. */
const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

function childEnvironment(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('ETCD')) env[key] = value;
  return env;
}

async function isHealthy(clientUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = (await response.json()) as { health?: unknown };
    return response.ok && body.health === 'true';
  } catch {
    return false;
  }
}

export async function startEtcd(options: EtcdOptions = {}): Promise<EtcdFixture> {
  const binary = options.binary ?? '/usr/bin/etcd';
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const dataDir = await mkdtemp(join(tmpdir(), 'pgwarden-etcd-'));
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const name = 'pgwarden-test';
  const child = spawn(
    binary,
    [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${name}=${peerUrl}`,
      '--initial-cluster-state=new',
      '--logger=zap',
      '--log-outputs=stderr',
      '--log-level=warn',
    ],
    { env: childEnvironment(), stdio: ['ignore', 'pipe', 'pipe'] },
  );
  running.add(child);
  installExitHook();

  const output: string[] = [];
  const keep = (chunk: Buffer): void => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    output.splice(0, Math.max(0, output.length - OUTPUT_LINES_KEPT));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let exitCode: number | string | null = null;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exitCode = code ?? signal ?? 'unknown';
      running.delete(child);
      resolve();
    });
    child.once('error', (error) => {
      exitCode = error.message;
      running.delete(child);
      resolve();
    });
  });

  let paused = false;
  let stopped: Promise<void> | undefined;
  async function stop(): Promise<void> {
    stopped ??= (async () => {
      if (exitCode === null) {
        if (paused) child.kill('SIGCONT');
        child.kill('SIGTERM');
        const killed = await Promise.race([exited.then(() => true), delay(5_000, false)]);
        if (!killed) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      await rm(dataDir, { recursive: true, force: true });
    })();
    return stopped;
  }

  const deadline = Date.now() + (options.startTimeoutMs ?? 20_000);
  while (!(await isHealthy(clientUrl))) {
    if (exitCode !== null || Date.now() > deadline) {
      const why = exitCode !== null ? `exited (${String(exitCode)})` : 'did not become healthy in time';
      await stop();
      throw new Error(`[testkit] etcd ${why}:\n${output.join('\n')}`);
    }
    await delay(100);
  }

  return {
    endpoint: `127.0.0.1:${clientPort}`,
    clientUrl,
    pid: child.pid ?? -1,
    pause() {
      paused = true;
      child.kill('SIGSTOP');
    },
    resume() {
      paused = false;
      child.kill('SIGCONT');
    },
    stop,
    [Symbol.asyncDispose]: stop,
  };
}
