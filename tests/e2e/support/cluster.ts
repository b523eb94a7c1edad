/**
 * A real cluster for end-to-end tests: one DCS (etcd by default) and N pgwarden agents, each with its own PostgreSQL 15, all
 * on loopback, started and stopped by the test. Agents run from the built package (`pnpm build` first).
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pg from 'pg';
import type { EtcdFixture } from '@pgwarden/testkit/etcd';
import { startEtcd } from '@pgwarden/testkit/etcd';
import { freePort, makeTempDir, memberConfigYaml, TEST_SUPERUSER, unprivilegedUser } from '@pgwarden/testkit/postgres';

const AGENT_BIN = resolve(import.meta.dirname, '../../../packages/agent/bin/pgwarden.cjs');
const LOG_LINES_KEPT = 400;
/** Full agent logs stay here after the run, for a failure's post-mortem. */
const LOG_DIR = join(tmpdir(), 'pgwarden-e2e-logs');

export const SUPERUSER = TEST_SUPERUSER;

export interface MemberHandle {
  readonly name: string;
  readonly dir: string;
  readonly dataDir: string;
  readonly configFile: string;
  readonly pgPort: number;
  readonly apiPort: number;
  agent: ChildProcess | null;
  readonly log: string[];
}

export interface TimingProfile {
  readonly ttl: number;
  readonly loopWait: number;
  readonly retryTimeout: number;
}

/** The store the agents use: its YAML section and how to stop it. Default: a fresh etcd. */
export interface DcsServer {
  /** The configuration section, e.g. `etcd3:\n  hosts: 127.0.0.1:2379\n`. */
  readonly yaml: string;
  stop(): Promise<void>;
}

export async function startEtcdServer(): Promise<DcsServer & { readonly etcd: EtcdFixture }> {
  const etcd = await startEtcd();
  return { etcd, yaml: `etcd3:\n  hosts: ${etcd.endpoint}\n`, stop: () => etcd.stop() };
}

export interface ClusterOptions {
  readonly dcs?: DcsServer;
  readonly scope?: string;
  readonly members?: number;
  readonly timing?: TimingProfile;
  readonly usePgRewind?: boolean;
  /** Extra `bootstrap.dcs` keys, as YAML lines indented by four spaces (e.g. `    synchronous_mode: true`). */
  readonly dynamicYaml?: string;
  /** Per-member extra YAML appended to its config, e.g. tags. */
  readonly extraYaml?: (index: number) => string;
}

export class LocalCluster {
  readonly members: MemberHandle[] = [];
  /** Agents that exited without a test asking them to: waitFor fails at once instead of timing out. */
  readonly unexpectedExits: string[] = [];
  private readonly expectedExits = new WeakSet<ChildProcess>();

  private constructor(
    readonly dcs: DcsServer,
    readonly scope: string,
    readonly root: string,
  ) {}

  static async create(options: ClusterOptions = {}): Promise<LocalCluster> {
    if (!existsSync(resolve(AGENT_BIN, '../../dist/index.js'))) {
      throw new Error('the agent is not built: run `pnpm build` before the end-to-end tests');
    }
    mkdirSync(LOG_DIR, { recursive: true });
    const dcs = options.dcs ?? (await startEtcdServer());
    const root = await makeTempDir('pgwarden-e2e');
    const cluster = new LocalCluster(dcs, options.scope ?? 'e2e', root);
    const timing = options.timing ?? { ttl: 10, loopWait: 2, retryTimeout: 3 };
    const count = options.members ?? 3;
    for (let index = 0; index < count; index++) {
      const name = `node${index}`;
      const dir = join(root, name);
      await mkdir(dir, { mode: 0o700 });
      if (process.getuid?.() === 0) await chown(dir, unprivilegedUser().uid, unprivilegedUser().gid);
      const pgPort = await freePort();
      const apiPort = await freePort();
      const member: MemberHandle = {
        name,
        dir,
        dataDir: join(dir, 'data'),
        configFile: join(dir, 'pgwarden.yml'),
        pgPort,
        apiPort,
        agent: null,
        log: [],
      };
      await writeFile(member.configFile, memberYaml(cluster, member, timing, options, index));
      cluster.members.push(member);
    }
    return cluster;
  }

  member(name: string): MemberHandle {
    const member = this.members.find((candidate) => candidate.name === name);
    if (!member) throw new Error(`no member ${name}`);
    return member;
  }

  /** Starts an agent that is expected to exit by itself (e.g. refused at start-up). */
  startExpectingExit(name: string): ChildProcess {
    const member = this.member(name);
    const previous = member.agent;
    const child = this.startAgent(name);
    this.expectedExits.add(child);
    member.agent = previous;
    return child;
  }

  startAgent(name: string, extraArgs: string[] = []): ChildProcess {
    const member = this.member(name);
    const child = spawn(process.execPath, [AGENT_BIN, ...extraArgs, member.configFile], {
      env: { ...cleanEnv(), PGWARDEN_ALLOW_SHORT_TTL: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const logFile = join(LOG_DIR, `${this.scope}-${name}.log`);
    const keep = (chunk: Buffer) => {
      appendFileSync(logFile, chunk);
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        member.log.push(line);
        if (member.log.length > LOG_LINES_KEPT) member.log.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', (code, signal) => {
      if (member.agent === child && !this.expectedExits.has(child)) this.unexpectedExits.push(`${name} exited (${code ?? signal})`);
    });
    member.agent = child;
    return child;
  }

  startAll(): void {
    for (const member of this.members) this.startAgent(member.name);
  }

  /** Resolves with the exit code once the agent is gone. */
  async stopAgent(name: string, signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 60_000): Promise<number | null> {
    const member = this.member(name);
    const child = member.agent;
    if (!child || child.exitCode !== null || child.signalCode !== null) return child?.exitCode ?? null;
    const exited = new Promise<number | null>((resolveExit) => child.once('exit', (code) => resolveExit(code)));
    this.expectedExits.add(child);
    child.kill(signal);
    const code = await Promise.race([exited, delay(timeoutMs).then(() => 'timeout' as const)]);
    if (code === 'timeout') {
      child.kill('SIGKILL');
      throw new Error(`${name}: agent did not stop within ${timeoutMs} ms after ${signal}`);
    }
    member.agent = null;
    return code;
  }

  postmasterPid(name: string): number | null {
    const pidFile = join(this.member(name).dataDir, 'postmaster.pid');
    if (!existsSync(pidFile)) return null;
    const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : null;
  }

  /** Whether the postmaster of the member's data directory is alive (a pid file can outlive a crash). */
  postmasterAlive(name: string): boolean {
    const pid = this.postmasterPid(name);
    if (!pid) return false;
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  }

  /** kill -9 of the postmaster only: PostgreSQL crashes under a live agent. */
  killPostmaster(name: string): void {
    const postmaster = this.postmasterPid(name);
    if (!postmaster) throw new Error(`${name}: no postmaster to kill`);
    process.kill(postmaster, 'SIGKILL');
  }

  /** kill -9 of the agent and its postmaster: the member vanishes without any chance to clean up. */
  async crash(name: string): Promise<void> {
    const postmaster = this.postmasterPid(name);
    await this.stopAgent(name, 'SIGKILL');
    if (postmaster) {
      try {
        process.kill(postmaster, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  async status(name: string): Promise<Record<string, unknown> | null> {
    return this.getJson(name, '/patroni');
  }

  async getJson(name: string, path: string): Promise<Record<string, unknown> | null> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.member(name).apiPort}${path}`, { signal: AbortSignal.timeout(2000) });
      return (await response.json()) as Record<string, unknown>;
    } catch {
      return null;
    }
  }

  async httpStatus(name: string, path: string, method = 'GET'): Promise<number | null> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.member(name).apiPort}${path}`, { method, signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return null;
    }
  }

  /** Any request to a member's REST API, JSON body in, status and text out. */
  async request(name: string, method: string, path: string, body?: unknown, timeoutMs = 60_000): Promise<{ status: number; text: string }> {
    const response = await fetch(`http://127.0.0.1:${this.member(name).apiPort}${path}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    return { status: response.status, text: await response.text() };
  }

  /** Names of the members whose `GET /primary` answers 200. */
  async primaries(): Promise<string[]> {
    const answers = await Promise.all(this.members.map(async (member) => ((await this.httpStatus(member.name, '/primary')) === 200 ? member.name : null)));
    return answers.filter((name): name is string => name !== null);
  }

  async query<T extends pg.QueryResultRow = Record<string, unknown>>(name: string, sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: this.member(name).pgPort,
      user: SUPERUSER.username,
      password: SUPERUSER.password,
      database: 'postgres',
      connectionTimeoutMillis: 3000,
      statement_timeout: 5000,
    });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  /** Polls until `check` returns a value other than undefined/false; fails with the agents' recent logs. */
  async waitFor<T>(description: string, check: () => Promise<T | undefined | false | null>, timeoutMs = 90_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      if (this.unexpectedExits.length) throw new Error(`${this.unexpectedExits.join(', ')} while waiting for ${description}\n${this.recentLogs()}`);
      try {
        const value = await check();
        if (value !== undefined && value !== false && value !== null) return value;
      } catch (error) {
        lastError = error;
      }
      await delay(250);
    }
    throw new Error(`timed out after ${timeoutMs} ms waiting for ${description}${lastError ? ` (last error: ${lastError instanceof Error ? lastError.message : JSON.stringify(lastError)})` : ''}\n${this.recentLogs()}`);
  }

  recentLogs(lines = 25): string {
    return this.members.map((member) => `--- ${member.name}\n${member.log.slice(-lines).join('\n')}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (member) => {
        try {
          await this.stopAgent(member.name, 'SIGTERM', 30_000);
        } catch {
          // it was killed by stopAgent
        }
        const postmaster = this.postmasterPid(member.name);
        if (postmaster) {
          try {
            process.kill(postmaster, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }),
    );
    await this.dcs.stop();
    await rm(this.root, { recursive: true, force: true });
  }
}

function cleanEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    // NODE_PATH (set by pnpm for the test runner) would let the agent find modules a user's shell would not.
    if (value !== undefined && key !== 'NODE_PATH' && !key.startsWith('PATRONI_') && !key.startsWith('VITEST') && !key.startsWith('PG')) env[key] = value;
  }
  return env;
}

function memberYaml(cluster: LocalCluster, member: MemberHandle, timing: TimingProfile, options: ClusterOptions, index: number): string {
  return memberConfigYaml({
    scope: cluster.scope,
    name: member.name,
    apiPort: member.apiPort,
    pgPort: member.pgPort,
    dir: member.dir,
    dataDir: member.dataDir,
    dcsYaml: cluster.dcs.yaml,
    timing,
    ...(options.usePgRewind === undefined ? {} : { usePgRewind: options.usePgRewind }),
    ...(options.dynamicYaml === undefined ? {} : { dynamicYaml: options.dynamicYaml }),
    ...(options.extraYaml ? { extraYaml: options.extraYaml(index) } : {}),
  });
}
