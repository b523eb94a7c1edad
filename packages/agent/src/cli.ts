/** `pgwarden [configfile]`, `pgwarden --validate-config FILE`, `pgwarden --version`: argv in, exit code out. */
import { parseArgs } from 'node:util';
import { PGWARDEN_VERSION, PATRONI_COMPAT_VERSION, isPgwardenError } from '@pgwarden/core';
import type { Logger } from '@pgwarden/core';
import type { PgwardenConfig } from '@pgwarden/config';
import { loadConfig, redactConfig } from '@pgwarden/config';
import { runAgent } from './agent.js';
import { systemClock } from './clock.js';
import { createAgentLogger } from './logging.js';
import { libuvThreadPoolSize, wantedThreadPoolSize, warmUpThreadPool } from './thread-pool.js';

const USAGE = `usage: pgwarden [CONFIG_FILE]
       pgwarden --validate-config CONFIG_FILE
       pgwarden --version

Starts the pgwarden agent for one PostgreSQL member, configured by a Patroni-format
YAML file (or a directory of them, or PATRONI_* environment variables).`;

export async function main(argv: readonly string[], env: Record<string, string | undefined> = process.env): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: [...argv],
      allowPositionals: true,
      options: {
        'validate-config': { type: 'boolean' },
        version: { type: 'boolean', short: 'V' },
        help: { type: 'boolean', short: 'h' },
      },
    });
  } catch (error) {
    process.stderr.write(`pgwarden: ${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (values.version) {
    process.stdout.write(`pgwarden ${PGWARDEN_VERSION} (Patroni ${PATRONI_COMPAT_VERSION} compatible)\n`);
    return 0;
  }
  if (positionals.length > 1) {
    process.stderr.write(`pgwarden: expected one configuration file, got ${positionals.length}\n${USAGE}\n`);
    return 2;
  }
  const file = positionals[0];
  if (values['validate-config'] && !file) {
    process.stderr.write(`pgwarden: --validate-config needs a configuration file\n`);
    return 2;
  }

  let config: PgwardenConfig;
  try {
    config = loadConfig({ ...(file ? { file } : {}), env });
  } catch (error) {
    process.stderr.write(`pgwarden: invalid configuration: ${(error as Error).message}\n`);
    return 1;
  }
  if (values['validate-config']) {
    process.stdout.write(`${file}: configuration is valid\n`);
    return 0;
  }

  const logger = createAgentLogger({ level: config.log.level, type: config.log.type });
  await logThreadPool(config, logger);
  logger.log('debug', 'configuration', { config: redactConfig(config) });
  const controller = new AbortController();
  const stop = (signal: NodeJS.Signals) => {
    if (controller.signal.aborted) return;
    logger.log('info', `received ${signal}`);
    controller.abort();
  };
  const reloads = new EventTarget();
  const reload = () => {
    logger.log('info', 'received SIGHUP');
    reloads.dispatchEvent(new Event('reload'));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', reload);
  try {
    await runAgent(config, { clock: systemClock, logger, signal: controller.signal, env, reloadSignal: reloads });
    return 0;
  } catch (error) {
    logger.log('error', isPgwardenError(error) ? error.message : `fatal: ${(error as Error).stack ?? String(error)}`);
    return 1;
  } finally {
    process.off('SIGTERM', stop);
    process.off('SIGINT', stop);
    process.off('SIGHUP', reload);
  }
}

/**
 * Makes sure libuv's pool is started (bin/pgwarden.cjs sized it before it started) and logs its size against what
 * `thread_pool_size` asks for, with the process's thread count from /proc.
 */
async function logThreadPool(config: PgwardenConfig, logger: Logger): Promise<void> {
  const size = libuvThreadPoolSize(process.env['UV_THREADPOOL_SIZE']);
  const wanted = wantedThreadPoolSize(config.thread_pool_size);
  const source = (globalThis as Record<symbol, unknown>)[Symbol.for('pgwarden.threadPoolSource')];
  const warm = await warmUpThreadPool(size);
  const threads = warm.processThreads === null ? 'no /proc' : `${warm.processThreads} threads in the process`;
  if (source === undefined) {
    logger.log('warn', `thread pool: ${size} threads, not sized from thread_pool_size (${wanted}): start pgwarden with bin/pgwarden.cjs (the pgwarden command); ${threads}`);
  } else if (source === 'UV_THREADPOOL_SIZE') {
    logger.log('info', `thread pool: ${size} threads from UV_THREADPOOL_SIZE (thread_pool_size would give ${wanted}); ${threads}`);
  } else {
    logger.log(size === wanted ? 'info' : 'warn', `thread pool: ${size} threads (thread_pool_size ${wanted}); ${threads}`);
  }
}
