/** Runs the operator tools as an operator would: pgwardenctl from the build, Patroni's patronictl from Debian. */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';

export const PGWARDENCTL_BIN = resolve(import.meta.dirname, '../../../packages/ctl/bin/pgwardenctl.js');
export const PATRONICTL_BIN = '/usr/bin/patronictl';

export interface RunResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** The environment of the test process without anything that would configure the tools behind the test's back. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined || key === 'NODE_PATH' || key.startsWith('PATRONI') || key.startsWith('VITEST') || key.startsWith('PG') || key === 'DCS_URL') continue;
    env[key] = value;
  }
  return { ...env, ...extra };
}

export function run(command: string, args: readonly string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(command, [...args], { env: options.env ?? cleanEnv(), stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
    child.once('error', reject);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolveRun({ code, stdout, stderr });
    });
    child.stdin.end(options.input ?? '');
  });
}

export function pgwardenctl(args: readonly string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(process.execPath, [PGWARDENCTL_BIN, ...args], options);
}

export function patronictl(args: readonly string[], options: { env?: Record<string, string>; input?: string; timeoutMs?: number } = {}): Promise<RunResult> {
  return run(PATRONICTL_BIN, args, options);
}

/** `list -f json` rows, as both tools print them. */
export interface ListRow {
  readonly Cluster: string;
  readonly Member: string;
  readonly Host: string;
  readonly Role: string;
  readonly State: string;
  readonly TL?: number;
}

export function parseList(result: RunResult): ListRow[] {
  if (result.code !== 0) throw new Error(`list failed (${result.code}): ${result.stderr}${result.stdout}`);
  return JSON.parse(result.stdout) as ListRow[];
}

export function describeRun(result: RunResult): string {
  return `exit ${result.code}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`;
}
