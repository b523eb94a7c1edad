/**
 * libuv's thread pool at start-up: which size it has, and a warm-up that makes sure it exists before any request needs
 * it.
 */
import { readdirSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';

/** Patroni's default and minimum for `thread_pool_size`. */
export const DEFAULT_THREAD_POOL_SIZE = 5;
/** libuv's cap on UV_THREADPOOL_SIZE. */
export const LIBUV_MAX_THREADPOOL_SIZE = 1024;

/** The pool size `thread_pool_size` asks for, as bin/pgwarden.cjs computes it (at least 5, at most libuv's cap). */
export function wantedThreadPoolSize(threadPoolSize: number | undefined): number {
  return Math.min(LIBUV_MAX_THREADPOOL_SIZE, Math.max(DEFAULT_THREAD_POOL_SIZE, threadPoolSize ?? DEFAULT_THREAD_POOL_SIZE));
}

/** The size libuv gives its pool for this UV_THREADPOOL_SIZE value (C `atoi` semantics, 4 when unset, 1 at least). */
export function libuvThreadPoolSize(value: string | undefined): number {
  if (value === undefined || value === '') return 4;
  const match = /^\s*([+-]?\d+)/.exec(value);
  const parsed = match ? Number.parseInt(match[1] ?? '0', 10) : 0;
  if (parsed <= 0) return 1;
  return Math.min(LIBUV_MAX_THREADPOOL_SIZE, parsed);
}

/** Threads of this process, from /proc/self/task; null where there is no procfs. */
export function processThreadCount(): number | null {
  try {
    return readdirSync('/proc/self/task').length;
  } catch {
    return null;
  }
}

export interface WarmUpResult {
  /** Jobs submitted. */
  readonly jobs: number;
  /** Threads of the whole process after the warm-up (/proc/self/task); null without procfs. */
  readonly processThreads: number | null;
}

/**
 * Submits `jobs` small file-system jobs at once. libuv creates every pool thread when the pool gets its first job, so
 * after this the pool is complete (if it was not already): a thread that cannot be created fails here, at start-up,
 * and not on a request path later.
 */
export async function warmUpThreadPool(jobs: number): Promise<WarmUpResult> {
  await Promise.all(Array.from({ length: jobs }, () => stat(tmpdir()).catch(() => undefined)));
  return { jobs, processThreads: processThreadCount() };
}
