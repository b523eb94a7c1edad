/**
 * A test server as a child process: started, awaited until ready, frozen and thawed for outage tests, and
 * stopped (TERM, then KILL) with its directory removed. Servers still running when the test process exits are
 * killed, so a dying run leaves nothing behind.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { setTimeout as delay } from 'node:timers/promises';

const OUTPUT_LINES_KEPT = 40;

const running = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const child of running) child.kill('SIGKILL');
  });
}

export interface ServerProcessOptions {
  /** For messages: `etcd`, `zookeeper`. */
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly spawnOptions?: Omit<SpawnOptions, 'stdio'>;
  /** Removed when the server stops. */
  readonly directory: string;
  /** Polled every 100 ms until true. */
  readonly isReady: () => Promise<boolean>;
  readonly startTimeoutMs: number;
}

export interface ServerProcess {
  readonly pid: number;
  /** SIGSTOP: clients see the server hang, as in a network partition. */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Safe to call twice. */
  stop(): Promise<void>;
}

export async function startServerProcess(options: ServerProcessOptions): Promise<ServerProcess> {
  const child = spawn(options.command, [...options.args], { ...options.spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
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
    const done = (code: number | string) => {
      exitCode = code;
      running.delete(child);
      resolve();
    };
    child.once('exit', (code, signal) => done(code ?? signal ?? 'unknown'));
    child.once('error', (error) => done(error.message));
  });

  let paused = false;
  let stopped: Promise<void> | undefined;
  const stop = (): Promise<void> =>
    (stopped ??= (async () => {
      if (exitCode === null) {
        if (paused) child.kill('SIGCONT');
        child.kill('SIGTERM');
        const ended = await Promise.race([exited.then(() => true), delay(5_000, false)]);
        if (!ended) {
          child.kill('SIGKILL');
          await exited;
        }
      }
      await rm(options.directory, { recursive: true, force: true });
    })());

  const deadline = Date.now() + options.startTimeoutMs;
  while (!(await options.isReady())) {
    if (exitCode !== null || Date.now() > deadline) {
      const why = exitCode !== null ? `exited (${String(exitCode)})` : 'did not become ready in time';
      await stop();
      throw new Error(`[testkit] ${options.name} ${why}:\n${output.join('\n')}`);
    }
    await delay(100);
  }

  return {
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
  };
}
