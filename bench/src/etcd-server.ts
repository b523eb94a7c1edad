/**
 * etcd 3.4 for one cluster, on the run's fixed client and peer ports (the testkit's fixture draws its own), with
 * the same flags as `@pgwarden/testkit/etcd`: one member on 127.0.0.1, a fresh data directory, removed on stop.
 */
import type { ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { killQuietly, spawnTracked, trackTempRoot, waitExit } from './proc.js';

export interface BenchEtcd {
  /** `127.0.0.1:<port>`, the form of the YAML's `etcd3.hosts`. */
  readonly endpoint: string;
  readonly clientUrl: string;
  readonly pid: number;
  /** Stops the server, waits for it to exit and removes its data directory. Safe to call twice. */
  stop(): Promise<void>;
}

async function healthy(clientUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = (await response.json()) as { health?: unknown };
    return response.ok && body.health === 'true';
  } catch {
    return false;
  }
}

export async function startEtcdOn(clientPort: number, peerPort: number, startTimeoutMs = 20_000): Promise<BenchEtcd> {
  const dataDir = await mkdtemp(join(tmpdir(), 'pgwarden-bench-etcd-'));
  trackTempRoot(dataDir);
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const name = 'pgwarden-bench';
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) if (value !== undefined && !key.startsWith('ETCD')) env[key] = value;
  const child: ChildProcess = spawnTracked(
    '/usr/bin/etcd',
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
    { env, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString().split('\n').filter(Boolean));
    output.splice(0, Math.max(0, output.length - 20));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  let stopped: Promise<void> | undefined;
  const stop = () =>
    (stopped ??= (async () => {
      killQuietly(child.pid, 'SIGTERM');
      if (!(await waitExit(child, 5_000))) {
        killQuietly(child.pid, 'SIGKILL');
        await waitExit(child, 5_000);
      }
      await rm(dataDir, { recursive: true, force: true });
    })());
  const deadline = Date.now() + startTimeoutMs;
  while (!(await healthy(clientUrl))) {
    const exited = child.exitCode !== null || child.signalCode !== null;
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`[bench] etcd on ${clientPort}/${peerPort} ${exited ? 'exited' : 'did not become healthy in time'}:\n${output.join('\n')}`);
    }
    await delay(100);
  }
  return { endpoint: `127.0.0.1:${clientPort}`, clientUrl, pid: child.pid ?? -1, stop };
}
