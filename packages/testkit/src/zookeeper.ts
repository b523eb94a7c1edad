/**
 * A real ZooKeeper 3.8 (Debian's `zookeeper` package) for integration tests: one standalone server on
 * 127.0.0.1, a free port, a generated `zoo.cfg` and data directory in a temporary directory, stopped and
 * removed by `stop()` (or `await using`).
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from './etcd.js';

export interface ZooKeeperOptions {
  /** The server jar; its manifest names the other jars. Default `/usr/share/java/zookeeper.jar` (Debian). */
  readonly jar?: string;
  /** The java binary; default `/usr/bin/java`. */
  readonly java?: string;
  /** ZooKeeper's tick in ms; sessions expire on tick boundaries. Default 500. */
  readonly tickTimeMs?: number;
  /** Smallest session timeout the server grants, in ms; default 1000 (tests use a ttl of 2 s). */
  readonly minSessionTimeoutMs?: number;
  /** Largest session timeout the server grants, in ms; default 60000 (the server's own default is 20 ticks). */
  readonly maxSessionTimeoutMs?: number;
  /** How long to wait for the server to answer `ruok`; default 30 s (a JVM starts slowly on a busy machine). */
  readonly startTimeoutMs?: number;
}

export interface ZooKeeperFixture extends AsyncDisposable {
  /** `127.0.0.1:<port>`, the form `createZooKeeperDcs({ hosts })` takes. */
  readonly endpoint: string;
  readonly port: number;
  readonly pid: number;
  /** Freezes the server (SIGSTOP): clients see it hang, as in a network partition. */
  pause(): void;
  /** Lets a paused server run again (SIGCONT). */
  resume(): void;
  /** Stops the server and removes its directory. Safe to call twice. */
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

/** Sends a four-letter command and returns the answer ('' when the server does not answer). */
function fourLetterWord(port: number, word: string, timeoutMs = 1_000): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    let answer = '';
    const done = (): void => {
      socket.destroy();
      resolve(answer);
    };
    socket.setTimeout(timeoutMs, done);
    socket.on('connect', () => socket.write(word));
    socket.on('data', (chunk: Buffer) => {
      answer += chunk.toString('utf8');
    });
    socket.on('end', done);
    socket.on('error', done);
  });
}

export async function startZooKeeper(options: ZooKeeperOptions = {}): Promise<ZooKeeperFixture> {
  const jar = options.jar ?? '/usr/share/java/zookeeper.jar';
  const java = options.java ?? '/usr/bin/java';
  if (!existsSync(jar)) {
    throw new Error(`[testkit] ${jar} is missing: install ZooKeeper with \`apt-get install -y zookeeper\``);
  }
  const port = await freePort();
  const root = await mkdtemp(join(tmpdir(), 'pgwarden-zookeeper-'));
  const dataDir = join(root, 'data');
  await mkdir(dataDir);
  const config = join(root, 'zoo.cfg');
  await writeFile(
    config,
    [
      `tickTime=${options.tickTimeMs ?? 500}`,
      `dataDir=${dataDir}`,
      `clientPort=${port}`,
      'clientPortAddress=127.0.0.1',
      'maxClientCnxns=0',
      `minSessionTimeout=${options.minSessionTimeoutMs ?? 1_000}`,
      `maxSessionTimeout=${options.maxSessionTimeoutMs ?? 60_000}`,
      // No Jetty admin server (it would take port 8080), and only the health probe among the 4lw commands.
      'admin.enableServer=false',
      '4lw.commands.whitelist=ruok,srvr',
      // Tests write little; no need to fsync every transaction.
      'forceSync=no',
      '',
    ].join('\n'),
  );

  // The standalone server class directly: zkServer.sh would read Debian's /etc/zookeeper environment.
  const child = spawn(
    java,
    [
      '-Xmx256m',
      '-Xss512k',
      '-XX:+UseSerialGC',
      '-XX:TieredStopAtLevel=1',
      '-Dzookeeper.jmx.log4j.disable=true',
      '-Dzookeeper.admin.enableServer=false',
      '-cp',
      jar,
      'org.apache.zookeeper.server.ZooKeeperServerMain',
      config,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
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
      await rm(root, { recursive: true, force: true });
    })();
    return stopped;
  }

  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while ((await fourLetterWord(port, 'ruok')) !== 'imok') {
    if (exitCode !== null || Date.now() > deadline) {
      const why = exitCode !== null ? `exited (${String(exitCode)})` : 'did not answer ruok in time';
      await stop();
      throw new Error(`[testkit] zookeeper ${why}:\n${output.join('\n')}`);
    }
    await delay(100);
  }

  return {
    endpoint: `127.0.0.1:${port}`,
    port,
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
