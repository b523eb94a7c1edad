/** `pgwarden [configfile]`, `pgwarden --validate-config FILE`, `pgwarden --version`: argv in, exit code out. */
import { stat } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { PGWARDEN_VERSION, PATRONI_COMPAT_VERSION, isPgwardenError } from '@pgwarden/core';
import type { PgwardenConfig } from '@pgwarden/config';
import { loadConfig, redactConfig } from '@pgwarden/config';
import { runAgent } from './agent.js';
import { systemClock } from './clock.js';
import { createAgentLogger } from './logging.js';

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
  // Start every libuv pool thread now (the first asynchronous call starts them all), not on a request path later.
  await stat(process.cwd()).catch(() => undefined);
  logger.log('debug', `thread pool started with ${process.env['UV_THREADPOOL_SIZE'] ?? 4} threads`);
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
