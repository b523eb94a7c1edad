/**
 * A Patroni 3.0.2 cluster (Debian's `patroni`) for compatibility tests: one etcd and N `patroni` processes, each
 * with its own PostgreSQL 15, run as the `postgres` OS user, on loopback ports chosen by the test.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { chown, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { EtcdFixture } from '@pgwarden/testkit/etcd';
import { startEtcd } from '@pgwarden/testkit/etcd';
import { freePort, makeTempDir, memberConfigYaml, unprivilegedUser } from '@pgwarden/testkit/postgres';
import { cleanEnv } from './run.js';

export const PATRONI_BIN = '/usr/bin/patroni';

export interface PatroniMember {
  readonly name: string;
  readonly dir: string;
  readonly configFile: string;
  readonly pgPort: number;
  readonly apiPort: number;
  process: ChildProcess | null;
  readonly log: string[];
}

export class PatroniCluster {
  readonly members: PatroniMember[] = [];

  private constructor(
    readonly etcd: EtcdFixture,
    readonly scope: string,
    readonly root: string,
  ) {}

  static async create(options: { scope: string; members?: number }): Promise<PatroniCluster> {
    const etcd = await startEtcd();
    const root = await makeTempDir('pgwarden-compat-patroni');
    const cluster = new PatroniCluster(etcd, options.scope, root);
    const user = unprivilegedUser();
    for (let index = 0; index < (options.members ?? 3); index++) {
      const name = `patroni${index}`;
      const dir = join(root, name);
      await mkdir(dir, { mode: 0o700 });
      if (process.getuid?.() === 0) await chown(dir, user.uid, user.gid);
      const member: PatroniMember = { name, dir, configFile: join(dir, 'patroni.yml'), pgPort: await freePort(), apiPort: await freePort(), process: null, log: [] };
      await writeFile(member.configFile, cluster.yaml(member));
      if (process.getuid?.() === 0) await chown(member.configFile, user.uid, user.gid);
      cluster.members.push(member);
    }
    return cluster;
  }

  // Patroni 3.0.2 enforces ttl >= 20; loop_wait + 2 * retry_timeout <= ttl.
  private yaml(member: PatroniMember): string {
    return memberConfigYaml({
      scope: this.scope,
      name: member.name,
      apiPort: member.apiPort,
      pgPort: member.pgPort,
      dir: member.dir,
      dcsYaml: `etcd3:\n  hosts: ${this.etcd.endpoint}\n`,
      timing: { ttl: 20, loopWait: 2, retryTimeout: 3 },
      logYaml: 'log:\n  level: INFO\n',
    });
  }


  member(name: string): PatroniMember {
    const member = this.members.find((candidate) => candidate.name === name);
    if (!member) throw new Error(`no member ${name}`);
    return member;
  }

  start(name: string): void {
    const member = this.member(name);
    const user = unprivilegedUser();
    const child = spawn(PATRONI_BIN, [member.configFile], {
      env: cleanEnv({ HOME: member.dir }),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(process.getuid?.() === 0 ? { uid: user.uid, gid: user.gid } : {}),
      cwd: member.dir,
    });
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString().split('\n')) {
        if (!line) continue;
        member.log.push(line);
        if (member.log.length > 200) member.log.shift();
      }
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    member.process = child;
  }

  startAll(): void {
    for (const member of this.members) this.start(member.name);
  }

  async httpStatus(name: string, path: string): Promise<number | null> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.member(name).apiPort}${path}`, { signal: AbortSignal.timeout(2000) });
      await response.arrayBuffer();
      return response.status;
    } catch {
      return null;
    }
  }

  async primaries(): Promise<string[]> {
    const answers = await Promise.all(this.members.map(async (member) => ((await this.httpStatus(member.name, '/primary')) === 200 ? member.name : null)));
    return answers.filter((name): name is string => name !== null);
  }

  async waitFor<T>(description: string, check: () => Promise<T | undefined | false | null>, timeoutMs = 120_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    let lastError: unknown = null;
    while (Date.now() < deadline) {
      const exited = this.members.filter((member) => member.process && member.process.exitCode !== null);
      if (exited.length > 0) throw new Error(`${exited.map((m) => m.name).join(', ')} exited while waiting for ${description}\n${this.recentLogs()}`);
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

  recentLogs(lines = 20): string {
    return this.members.map((member) => `--- ${member.name}\n${member.log.slice(-lines).join('\n')}`).join('\n');
  }

  async stop(): Promise<void> {
    await Promise.all(
      this.members.map(async (member) => {
        const child = member.process;
        if (child && child.exitCode === null && child.signalCode === null) {
          const exited = new Promise((resolve) => child.once('exit', resolve));
          child.kill('SIGTERM');
          const outcome = await Promise.race([exited, delay(30_000).then(() => 'timeout')]);
          if (outcome === 'timeout') child.kill('SIGKILL');
        }
        const pidFile = join(member.dir, 'data', 'postmaster.pid');
        if (existsSync(pidFile)) {
          const pid = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
          try {
            if (pid > 0) process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }),
    );
    await this.etcd.stop();
    await rm(this.root, { recursive: true, force: true });
  }
}
