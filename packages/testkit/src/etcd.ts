/**
 * A real etcd 3.4 for integration tests: one member on 127.0.0.1, free ports, a temporary data directory,
 * stopped and removed by `stop()` (or `await using`).
 */
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { startServerProcess } from './server-process.js';

export { freePort } from './free-port.js';

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
  const server = await startServerProcess({
    name: 'etcd',
    command: binary,
    args: [
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
    spawnOptions: { env: childEnvironment() },
    directory: dataDir,
    isReady: () => isHealthy(clientUrl),
    startTimeoutMs: options.startTimeoutMs ?? 20_000,
  });

  return {
    endpoint: `127.0.0.1:${clientPort}`,
    clientUrl,
    pid: server.pid,
    pause: () => server.pause(),
    resume: () => server.resume(),
    stop: () => server.stop(),
    [Symbol.asyncDispose]: () => server.stop(),
  };
}
