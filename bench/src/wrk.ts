/** REST throughput and latency with wrk (Debian package), bounded in time, on loopback. */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface WrkResult {
  readonly url: string;
  readonly requestsPerSecond: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly requests: number;
  readonly non2xx: number;
  readonly socketErrors: string | null;
  /** wrk's "read" socket errors; with `Connection: close` an HTTP/1.0 server that closes first counts one per request. */
  readonly readErrors: number;
  /** wrk's connect, write and timeout socket errors (a timeout is a request unanswered within `--timeout`). */
  readonly connectErrors: number;
  readonly writeErrors: number;
  readonly timeouts: number;
}

export interface WrkOptions {
  readonly connections?: number;
  readonly threads?: number;
  /**
   * `close`: one new TCP connection per request (`-H "Connection: close"`), as HAProxy's health checks do;
   * `keep-alive` (default): each wrk connection is reused for every request.
   */
  readonly connection?: 'keep-alive' | 'close';
}

export async function runWrk(url: string, seconds: number, options: WrkOptions = {}): Promise<WrkResult> {
  const { connections = 16, threads = 2, connection = 'keep-alive' } = options;
  const headers = connection === 'close' ? ['-H', 'Connection: close'] : [];
  const { stdout } = await run('wrk', [`-t${threads}`, `-c${connections}`, `-d${seconds}s`, '--timeout', '2s', '--latency', ...headers, url], {
    timeout: (seconds + 30) * 1000,
  });
  return parseWrk(url, stdout);
}

function toMs(value: string): number {
  const match = /^([\d.]+)(us|ms|s|m)$/.exec(value.trim());
  if (!match) return NaN;
  const amount = Number(match[1]);
  switch (match[2]) {
    case 'us':
      return amount / 1000;
    case 'ms':
      return amount;
    case 's':
      return amount * 1000;
    default:
      return amount * 60_000;
  }
}

export function parseWrk(url: string, output: string): WrkResult {
  const percentile = (p: string) => toMs(new RegExp(`^\\s+${p}%\\s+(\\S+)`, 'm').exec(output)?.[1] ?? '');
  return {
    url,
    requestsPerSecond: Number(/Requests\/sec:\s+([\d.]+)/.exec(output)?.[1] ?? NaN),
    p50Ms: percentile('50'),
    p99Ms: percentile('99'),
    requests: Number(/(\d+) requests in/.exec(output)?.[1] ?? NaN),
    non2xx: Number(/Non-2xx or 3xx responses:\s+(\d+)/.exec(output)?.[1] ?? 0),
    socketErrors: /Socket errors:.*$/m.exec(output)?.[0] ?? null,
    readErrors: Number(/Socket errors:.*\bread (\d+)/m.exec(output)?.[1] ?? 0),
    connectErrors: Number(/Socket errors:.*\bconnect (\d+)/m.exec(output)?.[1] ?? 0),
    writeErrors: Number(/Socket errors:.*\bwrite (\d+)/m.exec(output)?.[1] ?? 0),
    timeouts: Number(/Socket errors:.*\btimeout (\d+)/m.exec(output)?.[1] ?? 0),
  };
}

export interface PacedLoad {
  /** Open connections, each one a health checker (an HAProxy instance checking this server). */
  readonly connections: number;
  /** Mean pause between one answer and the next request of a connection, ms (HAProxy's `inter`). */
  readonly intervalMs: number;
  /** `close` (default): a new TCP connection per request, as HAProxy's checks; `keep-alive`: one per checker. */
  readonly connection?: 'close' | 'keep-alive';
}

export interface PacedResult extends WrkResult {
  readonly connections: number;
  readonly intervalMs: number;
  readonly connection: 'close' | 'keep-alive';
  readonly seconds: number;
  /** connections x 1000 / intervalMs: what the checkers ask for when every answer is instant. */
  readonly targetPerSecond: number;
}

/**
 * Health-check traffic instead of saturation: `connections` checkers, each sending one request, waiting for the
 * answer, then pausing a random 0.5-1.5 x `intervalMs` (wrk's Lua `delay()`, which also staggers the first requests,
 * so the checkers do not fire in lockstep), by default on a new TCP connection per request as HAProxy's checks. wrk's
 * latency is from the request's first byte to the answer, so the pause is not counted; connecting is not counted
 * either (a checker that cannot connect shows as a connect error and as fewer requests than the target rate).
 * With `close`, wrk reconnects right after an answer and pauses on the open connection, so the server holds about `connections`
 * idle sockets, which HAProxy (connecting when it checks) would not make it hold.
 */
export async function runWrkPaced(url: string, seconds: number, load: PacedLoad): Promise<PacedResult> {
  const dir = mkdtempSync(join(tmpdir(), 'pgwarden-bench-wrk-'));
  try {
    const script = join(dir, 'paced.lua');
    writeFileSync(
      script,
      [
        `local interval = ${Math.round(load.intervalMs)}`,
        'function setup(thread) thread:set("seed", math.random(1, 1000000)) end',
        'function init(args) math.randomseed(seed or os.time()) end',
        'function delay() return math.floor(interval * (0.5 + math.random())) end',
        '',
      ].join('\n'),
    );
    // One thread: the checkers are idle most of the time, and a second thread would only take CPU from the servers.
    const close = (load.connection ?? 'close') === 'close' ? ['-H', 'Connection: close'] : [];
    const args = ['-t1', `-c${load.connections}`, `-d${seconds}s`, '--timeout', '2s', '--latency', '-s', script, ...close, url];
    const { stdout } = await run('wrk', args, { timeout: (seconds + 30) * 1000 });
    return {
      ...parseWrk(url, stdout),
      connections: load.connections,
      intervalMs: load.intervalMs,
      connection: load.connection ?? 'close',
      seconds,
      targetPerSecond: Math.round((load.connections * 1000) / load.intervalMs),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
