import { describe, expect, it } from 'vitest';
import { libuvThreadPoolSize, wantedThreadPoolSize } from './thread-pool.js';

describe('thread pool sizes', () => {
  it('asks for thread_pool_size, at least 5 as in Patroni, at most libuv cap', () => {
    expect(wantedThreadPoolSize(undefined)).toBe(5);
    expect(wantedThreadPoolSize(2)).toBe(5);
    expect(wantedThreadPoolSize(9)).toBe(9);
    expect(wantedThreadPoolSize(5000)).toBe(1024);
  });

  it('reads UV_THREADPOOL_SIZE as libuv does', () => {
    expect(libuvThreadPoolSize(undefined)).toBe(4);
    expect(libuvThreadPoolSize('')).toBe(4);
    expect(libuvThreadPoolSize('9')).toBe(9);
    expect(libuvThreadPoolSize(' 12abc')).toBe(12);
    expect(libuvThreadPoolSize('abc')).toBe(1);
    expect(libuvThreadPoolSize('0')).toBe(1);
    expect(libuvThreadPoolSize('-3')).toBe(1);
    expect(libuvThreadPoolSize('4096')).toBe(1024);
  });
});
