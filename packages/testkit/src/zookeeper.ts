/**
 * A real ZooKeeper 3.8 (Debian's `zookeeper` package) for integration tests: one standalone server on
 * 127.0.0.1, a free port, a generated `zoo.cfg` and data directory in a temporary directory, stopped and
 * removed by `stop()` (or `await using`).
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './free-port.js';
import { startServerProcess } from './server-process.js';

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
  /** The client port; default a free one (a clash with a port taken meanwhile is then retried on another). */
  readonly port?: number;
  /** How long to wait for the server to be ready; default 30 s (a JVM starts slowly on a busy machine). */
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

/** How many times a start is tried again when the chosen port was taken before the JVM could bind it. */
const PORT_CLASH_ATTEMPTS = 3;

export async function startZooKeeper(options: ZooKeeperOptions = {}): Promise<ZooKeeperFixture> {
  const jar = options.jar ?? '/usr/share/java/zookeeper.jar';
  const java = options.java ?? '/usr/bin/java';
  if (!existsSync(jar)) {
    throw new Error(`[testkit] ${jar} is missing: install ZooKeeper with \`apt-get install -y zookeeper\``);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnFreePort(jar, java, options);
    } catch (error) {
      // Another process (another test's server) bound the port between freePort() and the JVM's bind: a
      // new port, not a retry of the same thing.
      const clash = /Address already in use/i.test((error as Error).message);
      if (options.port !== undefined || attempt >= PORT_CLASH_ATTEMPTS || !clash) throw error;
    }
  }
}

async function startOnFreePort(jar: string, java: string, options: ZooKeeperOptions): Promise<ZooKeeperFixture> {
  const port = options.port ?? (await freePort());
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
      '4lw.commands.whitelist=ruok,srvr,conf',
      // Tests write little; no need to fsync every transaction.
      'forceSync=no',
      '',
    ].join('\n'),
  );

  // The standalone server class directly: zkServer.sh would read Debian's /etc/zookeeper environment.
  const server = await startServerProcess({
    name: 'zookeeper',
    command: java,
    args: [
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
    spawnOptions: { cwd: root },
    directory: root,
    // Ready when the server on the port is this one: `imok` alone would also come from another test's
    // ZooKeeper that took the port first, and pausing ours would then freeze nothing the client talks to.
    isReady: async () => (await fourLetterWord(port, 'conf')).split('\n').some((line) => line.trim().startsWith(`dataDir=${dataDir}`)),
    startTimeoutMs: options.startTimeoutMs ?? 30_000,
  });

  return {
    endpoint: `127.0.0.1:${port}`,
    port,
    pid: server.pid,
    pause: () => server.pause(),
    resume: () => server.resume(),
    stop: () => server.stop(),
    [Symbol.asyncDispose]: () => server.stop(),
  };
}
