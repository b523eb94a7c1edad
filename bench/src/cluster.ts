/**
 * One 3-member cluster on loopback, run either by pgwarden agents or by Patroni 3.0.2, with the same PostgreSQL 15,
 * a fresh etcd, the same YAML (Patroni's format, which pgwarden reads unchanged), the same settings.
 */
import type { ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { appendFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, realpathSync, statSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import { makeTempDir, memberConfigYaml, TEST_SUPERUSER, unprivilegedUser } from '@pgwarden/testkit/postgres';
import type { BenchEtcd } from './etcd-server.js';
import { startEtcdOn } from './etcd-server.js';
import type { BenchPorts } from './ports.js';
import { allocatePorts, waitPortsBindable } from './ports.js';
import { killQuietly, postmasterPid, processesUnder, spawnTracked, trackDataDir, trackTempRoot, waitExit } from './proc.js';

export const REPO_ROOT = resolve(import.meta.dirname, '../../..');
export const AGENT_BIN = join(REPO_ROOT, 'packages/agent/bin/pgwarden.cjs');
export const PATRONI_BIN = '/usr/bin/patroni';
export const LOG_DIR = join(REPO_ROOT, 'bench/results/logs');
const SUPERUSER = TEST_SUPERUSER;

export type Implementation = 'pgwarden' | 'patroni';

export interface TimingProfile {
  readonly name: string;
  readonly ttl: number;
  readonly loopWait: number;
  readonly retryTimeout: number;
}

export const PROFILES: Readonly<Record<string, TimingProfile>> = {
  fast: { name: 'fast', ttl: 10, loopWait: 2, retryTimeout: 4 },
  default: { name: 'default', ttl: 30, loopWait: 10, retryTimeout: 10 },
};

export interface Member {
  readonly name: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly configFile: string;
  readonly pgPort: number;
  readonly apiPort: number;
  process: ChildProcess | null;
  readonly logFile: string;
  /** Lines of the agent's output that report an HA cycle, since the start. */
  cycleLines: number;
}

export interface ClusterOptions {
  readonly implementation: Implementation;
  readonly profile: TimingProfile;
  readonly members?: number;
  readonly scope?: string;
  /** The agent's entry point; default the workspace build (see `snapshotAgentBuild`). */
  readonly agentBin?: string;
  /** Wraps the agent's command line, e.g. `prlimit --as=... --`. */
  readonly wrap?: (command: string, args: string[]) => [string, string[]];
  /** Called with each agent's pid right after it is spawned (e.g. to move it into a cgroup). */
  readonly onSpawn?: (member: Member, pid: number) => void;
  /**
   * The run's ports (see ports.ts), shared by every cluster of the run so both implementations listen on the same
   * ones; default: drawn for this cluster alone.
   */
  readonly ports?: BenchPorts;
}

/** How long the ports of the previous cluster, and its processes, may take to go away. */
const RELEASE_TIMEOUT_MS = 30_000;

/** Patroni logs "no action. I am ..." or "... the leader with the lock"; pgwarden "Lock owner: ...; I am ...". */
const CYCLE_LINE = /Lock owner: |no action\. +I am |I am \(.*\), the leader with the lock|: promoted self to leader|following a different leader|acquired session lock as a leader/;

export class BenchCluster {
  readonly members: Member[] = [];
  private readonly pools = new Map<string, pg.Client>();

  private constructor(
    readonly options: ClusterOptions,
    readonly etcd: BenchEtcd,
    readonly root: string,
    readonly scope: string,
    readonly ports: BenchPorts,
  ) {}

  get implementation(): Implementation {
    return this.options.implementation;
  }

  static async create(options: ClusterOptions): Promise<BenchCluster> {
    mkdirSync(LOG_DIR, { recursive: true });
    const count = options.members ?? 3;
    const ports = options.ports ?? (await allocatePorts(count));
    if (ports.members.length < count) throw new Error(`[bench] ${count} members but ports for ${ports.members.length}`);
    // The previous cluster of the run used the same ports: they must be free again before anything starts.
    await waitPortsBindable(ports, RELEASE_TIMEOUT_MS);
    const etcd = await startEtcdOn(ports.etcdClient, ports.etcdPeer);
    let root: string | undefined;
    try {
      root = await makeTempDir(`pgwarden-bench-${options.implementation}`);
      trackTempRoot(root);
      const cluster = new BenchCluster(options, etcd, root, options.scope ?? 'bench', ports);
      const user = unprivilegedUser();
      for (let index = 0; index < count; index++) {
        const name = `node${index}`;
        const dir = join(root, name);
        await mkdir(dir, { mode: 0o700 });
        if (process.getuid?.() === 0) await chown(dir, user.uid, user.gid);
        const member: Member = {
          name,
          dir,
          dataDir: join(dir, 'data'),
          configFile: join(dir, 'config.yml'),
          pgPort: ports.members[index]!.pg,
          apiPort: ports.members[index]!.api,
          process: null,
          logFile: join(LOG_DIR, `${options.implementation}-${options.profile.name}-${cluster.scope}-${name}.log`),
          cycleLines: 0,
        };
        await writeFile(member.configFile, memberYaml(cluster, member));
        if (process.getuid?.() === 0) await chown(member.configFile, user.uid, user.gid);
        await writeFile(member.logFile, '');
        trackDataDir(member.dataDir);
        cluster.members.push(member);
      }
      return cluster;
    } catch (error) {
      await etcd.stop();
      if (root) await rm(root, { recursive: true, force: true });
      throw error;
    }
  }

  member(name: string): Member {
    const found = this.members.find((member) => member.name === name);
    if (!found) throw new Error(`[bench] no member ${name}`);
    return found;
  }

  start(name: string): ChildProcess {
    const member = this.member(name);
    let command: string;
    let args: string[];
    const env = cleanEnv();
    const spawnUser: { uid?: number; gid?: number } = {};
    if (this.implementation === 'pgwarden') {
      command = process.execPath;
      args = [this.options.agentBin ?? AGENT_BIN, member.configFile];
      // The fast profile runs below Patroni's ttl minimum of 20 s; pgwarden allows it only when asked.
      env['PGWARDEN_ALLOW_SHORT_TTL'] = '1';
    } else {
      command = PATRONI_BIN;
      args = [member.configFile];
      env['HOME'] = member.dir;
      // PostgreSQL refuses root, and Patroni starts it itself: Patroni runs as the database's user.
      if (process.getuid?.() === 0) {
        const user = unprivilegedUser();
        spawnUser.uid = user.uid;
        spawnUser.gid = user.gid;
      }
    }
    if (this.options.wrap) [command, args] = this.options.wrap(command, args);
    // Working directory in the member's folder: every process the agent starts (PostgreSQL moves to its data
    // directory) then shows a cwd under the cluster's root, which is how stopAll checks that none is left.
    const child = spawnTracked(command, args, { env, cwd: member.dir, stdio: ['ignore', 'pipe', 'pipe'], ...spawnUser });
    const keep = (chunk: Buffer) => {
      appendFileSync(member.logFile, chunk);
      for (const line of chunk.toString().split('\n')) if (CYCLE_LINE.test(line)) member.cycleLines++;
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    member.process = child;
    if (child.pid) this.options.onSpawn?.(member, child.pid);
    return child;
  }

  startAll(): void {
    for (const member of this.members) this.start(member.name);
  }

  agentPid(name: string): number | null {
    return this.member(name).process?.pid ?? null;
  }

  postmasterPid(name: string): number | null {
    return postmasterPid(this.member(name).dataDir);
  }

  /** kill -9 of the agent and its postmaster: the member vanishes with no chance to clean up. */
  async crash(name: string): Promise<void> {
    const member = this.member(name);
    const postmaster = this.postmasterPid(name);
    const child = member.process;
    killQuietly(child?.pid, 'SIGKILL');
    killQuietly(postmaster, 'SIGKILL');
    if (child) await waitExit(child, 10_000);
    member.process = null;
    this.dropClient(name);
  }

  /** SIGTERM and wait; SIGKILL if it does not exit in time. Resolves with whether it exited by itself. */
  async stop(name: string, timeoutMs = 60_000): Promise<boolean> {
    const member = this.member(name);
    const child = member.process;
    if (!child) return true;
    killQuietly(child.pid, 'SIGTERM');
    const exited = await waitExit(child, timeoutMs);
    if (!exited) {
      killQuietly(child.pid, 'SIGKILL');
      await waitExit(child, 5_000);
    }
    member.process = null;
    this.dropClient(name);
    return exited;
  }

  async httpStatus(name: string, path: string, timeoutMs = 1_000, init: RequestInit = {}): Promise<number | null> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.member(name).apiPort}${path}`, { ...init, signal: AbortSignal.timeout(timeoutMs) });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return null;
    }
  }

  async primaries(timeoutMs = 1_000): Promise<string[]> {
    const answers = await Promise.all(this.members.map(async (member) => ((await this.httpStatus(member.name, '/primary', timeoutMs)) === 200 ? member.name : null)));
    return answers.filter((name): name is string => name !== null);
  }

  /** A kept connection per member; dropped on any error so the next use reconnects. */
  async query<T extends pg.QueryResultRow = Record<string, unknown>>(name: string, sql: string, timeoutMs = 1_000): Promise<T[]> {
    let client = this.pools.get(name);
    if (!client) {
      client = new pg.Client({
        host: '127.0.0.1',
        port: this.member(name).pgPort,
        user: SUPERUSER.username,
        password: SUPERUSER.password,
        database: 'postgres',
        connectionTimeoutMillis: timeoutMs,
        query_timeout: timeoutMs,
      });
      client.on('error', () => this.dropClient(name));
      this.pools.set(name, client);
      try {
        await client.connect();
      } catch (error) {
        this.dropClient(name);
        throw error;
      }
    }
    try {
      return (await client.query<T>(sql)).rows;
    } catch (error) {
      this.dropClient(name);
      throw error;
    }
  }

  dropClient(name: string): void {
    const client = this.pools.get(name);
    if (!client) return;
    this.pools.delete(name);
    client.end().catch(() => undefined);
  }

  /** One member answers GET /primary 200 and its pg_stat_replication shows every other member streaming. */
  async healthy(): Promise<string | null> {
    const primaries = await this.primaries();
    if (primaries.length !== 1) return null;
    const leader = primaries[0]!;
    try {
      const rows = await this.query<{ n: string }>(leader, "SELECT count(*) AS n FROM pg_stat_replication WHERE state = 'streaming'");
      return Number(rows[0]?.n) === this.members.length - 1 ? leader : null;
    } catch {
      return null;
    }
  }

  async waitHealthy(timeoutMs: number, pollMs = 100): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const leader = await this.healthy();
      if (leader) return leader;
      const dead = this.members.filter((member) => member.process && member.process.exitCode !== null);
      if (dead.length) throw new Error(`[bench] ${dead.map((member) => member.name).join(', ')} exited; see ${LOG_DIR}`);
      await delay(pollMs);
    }
    throw new Error(`[bench] ${this.implementation}: no leader with ${this.members.length - 1} streaming replicas within ${timeoutMs} ms; logs in ${LOG_DIR}`);
  }

  async stopAll(): Promise<void> {
    for (const name of this.pools.keys()) this.dropClient(name);
    await Promise.all(this.members.map((member) => this.stop(member.name, 30_000)));
    for (const member of this.members) killQuietly(this.postmasterPid(member.name), 'SIGKILL');
    try {
      await this.waitProcessesGone();
    } finally {
      await this.etcd.stop();
      await rm(this.root, { recursive: true, force: true });
    }
  }

  /**
   * Waits (bounded) until no process runs in the cluster's folder any more (agents, PostgreSQL and its children,
   * Patroni's helpers); SIGKILLs what is left after half the time; throws naming what survived.
   */
  private async waitProcessesGone(): Promise<void> {
    const started = Date.now();
    let killed = false;
    for (;;) {
      const left = processesUnder(realpathSync(this.root));
      if (!left.length) return;
      const waited = Date.now() - started;
      if (waited > RELEASE_TIMEOUT_MS) {
        throw new Error(`[bench] ${this.implementation}: processes of the stopped cluster still running: ${left.map((entry) => `${entry.pid} ${entry.command}`).join('; ')}`);
      }
      if (!killed && waited > RELEASE_TIMEOUT_MS / 2) {
        killed = true;
        for (const entry of left) killQuietly(entry.pid, 'SIGKILL');
      }
      await delay(200);
    }
  }
}

/**
 * The agent runs from the packages' dist/ folders, which a concurrent `turbo run build` empties and refills: wait
 * (bounded) until every package's dist/index.js exists and has not changed for a few seconds.
 */
export async function waitForStableBuild(timeoutMs = 180_000): Promise<void> {
  const packagesDir = join(REPO_ROOT, 'packages');
  const manifest = (dir: string) => JSON.parse(readFileSync(join(packagesDir, dir, 'package.json'), 'utf8')) as { name?: string; dependencies?: Record<string, string> };
  const dirs = readdirSync(packagesDir).filter((dir) => existsSync(join(packagesDir, dir, 'package.json')));
  const byName = new Map(dirs.map((dir) => [manifest(dir).name ?? dir, dir]));
  // The agent and the workspace packages it loads (its DCS plugins included), not every package of the repository.
  const needed = ['agent', ...Object.keys(manifest('agent').dependencies ?? {}).map((name) => byName.get(name)).filter((dir): dir is string => dir !== undefined)];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const unstable = needed.filter((dir) => {
      const entry = join(packagesDir, dir, 'dist/index.js');
      return !existsSync(entry) || Date.now() - statSync(entry).mtimeMs < 5_000;
    });
    if (!unstable.length) return;
    if (Date.now() > deadline) throw new Error(`[bench] packages not built (or still building): ${unstable.join(', ')}; run \`pnpm turbo run build\``);
    await delay(1_000);
  }
}

/**
 * Copies the built agent and the workspace packages it loads (dist, bin, package.json, their node_modules links) to a
 * temporary directory, so that a `turbo run build` elsewhere in the workspace during the run cannot swap half of the
 * code under agents being restarted. Third-party modules still come from the workspace's node_modules.
 */
export async function snapshotAgentBuild(): Promise<{ agentBin: string; root: string }> {
  const release = await holdSharedBuildLock();
  try {
    return await copyAgentBuild();
  } finally {
    release();
  }
}

/** The workspace's build lock (`flock -x` around every build): held shared while the build is copied. */
const BUILD_LOCK = '/tmp/pgwarden-build.lock';

/**
 * Takes the build lock shared through a `flock` child that holds it until its stdin closes; bounded wait. Where
 * flock is missing, returns at once (waitForStableBuild still guards against a build in progress).
 */
async function holdSharedBuildLock(timeoutMs = 600_000): Promise<() => void> {
  const child = spawnTracked('flock', ['-s', '-w', String(Math.ceil(timeoutMs / 1000)), BUILD_LOCK, 'sh', '-c', 'echo locked; exec cat >/dev/null'], {
    stdio: ['pipe', 'pipe', 'ignore'],
  });
  const locked = await new Promise<boolean>((resolveLock) => {
    child.stdout?.once('data', () => resolveLock(true));
    child.once('exit', () => resolveLock(false));
    child.once('error', () => resolveLock(false));
  });
  if (!locked) {
    if (child.exitCode === 1) throw new Error(`[bench] could not take ${BUILD_LOCK} (shared) within ${timeoutMs / 1000} s: a build is running`);
    return () => undefined;
  }
  return () => {
    child.stdin?.end();
  };
}

async function copyAgentBuild(): Promise<{ agentBin: string; root: string }> {
  await waitForStableBuild();
  const root = mkdtempSync(join(tmpdir(), 'pgwarden-bench-build-'));
  trackTempRoot(root);
  symlinkSync(join(REPO_ROOT, 'node_modules'), join(root, 'node_modules'));
  const packagesDir = join(REPO_ROOT, 'packages');
  for (const dir of readdirSync(packagesDir)) {
    const source = join(packagesDir, dir);
    if (!existsSync(join(source, 'package.json'))) continue;
    const target = join(root, 'packages', dir);
    mkdirSync(target, { recursive: true });
    cpSync(join(source, 'package.json'), join(target, 'package.json'));
    for (const part of ['dist', 'bin', 'node_modules']) {
      if (existsSync(join(source, part))) cpSync(join(source, part), join(target, part), { recursive: true, verbatimSymlinks: true });
    }
  }
  return { agentBin: join(root, 'packages/agent/bin/pgwarden.cjs'), root };
}

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value !== undefined && key !== 'NODE_PATH' && !key.startsWith('PATRONI_') && !key.startsWith('PGWARDEN_') && !key.startsWith('PG') && !key.startsWith('npm_')) env[key] = value;
  }
  return env;
}

function memberYaml(cluster: BenchCluster, member: Member): string {
  return memberConfigYaml({
    scope: cluster.scope,
    name: member.name,
    apiPort: member.apiPort,
    pgPort: member.pgPort,
    dir: member.dir,
    dataDir: member.dataDir,
    dcsYaml: `etcd3:\n  hosts: ${cluster.etcd.endpoint}\n`,
    timing: cluster.options.profile,
  });
}

export function patroniVersion(): string | null {
  try {
    return execFileSync(PATRONI_BIN, ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}
