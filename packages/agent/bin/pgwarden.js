#!/usr/bin/env node
// libuv starts its whole thread pool at the first asynchronous call and never grows it: size it here, before
// anything runs, from `thread_pool_size` (Patroni's setting, at least 5), so no thread is ever created later.
import { readFileSync } from 'node:fs';

function threadPoolSize() {
  const fromEnv = Number(process.env.PATRONI_THREAD_POOL_SIZE);
  if (Number.isInteger(fromEnv) && fromEnv > 0) return Math.max(5, fromEnv);
  const file = process.argv.slice(2).find((arg) => !arg.startsWith('-'));
  try {
    const match = file && /^thread_pool_size:\s*(\d+)\s*$/m.exec(readFileSync(file, 'utf8'));
    if (match) return Math.max(5, Number(match[1]));
  } catch {
    // the agent reports an unreadable file itself
  }
  return 5;
}

process.env.UV_THREADPOOL_SIZE ??= String(threadPoolSize());
const { main } = await import('../dist/index.js');
process.exitCode = await main(process.argv.slice(2));
