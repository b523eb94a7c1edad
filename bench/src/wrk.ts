/** REST throughput and latency with wrk (Debian package), bounded in time, on loopback. */
import { execFile } from 'node:child_process';
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
  };
}
