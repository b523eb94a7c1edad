import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { silentLogger } from '@pgwarden/core';
import type { Logger } from '@pgwarden/core';
import { ConfigError, ENVIRONMENT_SOURCE, formatIssue } from './errors.js';
import type { ConfigIssue, ConfigWarning } from './errors.js';
import { buildEnvironmentConfig, CONFIGURATION_ENV_VAR } from './env.js';
import type { Environment } from './env.js';
import { isRecord, Origins, patchConfig } from './merge.js';
import type { ConfigRecord } from './merge.js';
import type { PgwardenConfig } from './types.js';
import { validateConfigWithWarnings } from './validate.js';
import { parseYaml } from './yaml.js';

export interface LoadConfigOptions {
  /** A YAML file, or a directory whose `*.yml`/`*.yaml` files are merged in sorted order. */
  readonly file?: string;
  /** Default `process.env`. Never modified. */
  readonly env?: Environment;
  /** Receives each warning at level `warn`, with `source` and `key` fields. */
  readonly logger?: Logger;
  /** Home directory for the default `postgresql.pgpass`; default `os.homedir()`. */
  readonly homeDir?: string;
}

export interface ConfigResult {
  readonly config: PgwardenConfig;
  readonly warnings: readonly ConfigWarning[];
}

function fail(issue: ConfigIssue, cause?: unknown): never {
  throw new ConfigError([issue], cause === undefined ? undefined : { cause });
}

function asMapping(value: unknown, source: string): ConfigRecord {
  if (value === null || value === undefined) return {};
  if (!isRecord(value)) fail({ source, key: '', message: 'expected a mapping at the top level of the document' });
  return value;
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    return fail({ source: path, key: '', message: `cannot read: ${(error as Error).message}` }, error);
  }
}

interface Layered {
  readonly raw: ConfigRecord;
  readonly origins: Origins;
  readonly warnings: ConfigWarning[];
}

function loadPath(path: string): Layered {
  let isDirectory: boolean;
  try {
    isDirectory = statSync(path).isDirectory();
  } catch (error) {
    return fail({ source: path, key: '', message: `cannot read: ${(error as Error).message}` }, error);
  }
  const origins = new Origins(path);
  const warnings: ConfigWarning[] = [];
  const raw: ConfigRecord = {};
  const files = isDirectory
    ? readdirSync(path, { withFileTypes: true })
        .filter((entry) => entry.isFile() && (entry.name.endsWith('.yml') || entry.name.endsWith('.yaml')))
        .map((entry) => entry.name)
        .sort()
        .map((name) => join(path, name))
    : [path];
  if (files.length === 0) fail({ source: path, key: '', message: 'the directory holds no *.yml or *.yaml file' });
  for (const file of files) {
    const parsed = parseYaml(readText(file), file);
    warnings.push(...parsed.warnings);
    patchConfig(raw, asMapping(parsed.value, file), { origins, source: file });
  }
  return { raw, origins, warnings };
}

function applyEnvironment(layered: Layered, env: Environment): void {
  const environment = buildEnvironmentConfig(env);
  const [first, ...rest] = environment.issues;
  if (first) throw new ConfigError([first, ...rest]);
  patchConfig(layered.raw, environment.config, { origins: layered.origins, source: ENVIRONMENT_SOURCE });
  for (const { path, envVar } of environment.envVars) layered.origins.recordEnvVar(path, envVar);
  for (const { section, key, value, envVar } of environment.dcsAuth) {
    const target = layered.raw[section];
    if (!isRecord(target)) {
      layered.warnings.push({ source: ENVIRONMENT_SOURCE, key: `${section}.${key}`, envVar, message: `ignored: no ${section} section is configured` });
      continue;
    }
    target[key] = value;
    layered.origins.record([section, key], ENVIRONMENT_SOURCE, value);
    layered.origins.recordEnvVar([section, key], envVar);
  }
}

function finish(layered: Layered, source: string, options: LoadConfigOptions): ConfigResult {
  const validated = validateConfigWithWarnings(layered.raw, source, {
    origins: layered.origins,
    ...(options.homeDir === undefined ? {} : { homeDir: options.homeDir }),
  });
  const warnings = [...layered.warnings, ...validated.warnings];
  const logger = options.logger ?? silentLogger;
  for (const warning of warnings) {
    logger.log('warn', `[config] ${formatIssue(warning)}`, { source: warning.source, key: warning.key });
  }
  return { config: validated.config, warnings };
}

/**
 * Loads the local configuration as Patroni does: the YAML file (or directory) with `PATRONI_*`
 * variables applied over it; else the YAML in `PATRONI_CONFIGURATION` alone; else the variables alone.
 * Throws a `ConfigError` listing every problem.
 */
export function loadConfigWithWarnings(options: LoadConfigOptions): ConfigResult {
  const env = options.env ?? process.env;
  if (options.file !== undefined) {
    const layered = loadPath(options.file);
    applyEnvironment(layered, env);
    return finish(layered, options.file, options);
  }
  const inline = env[CONFIGURATION_ENV_VAR];
  if (inline !== undefined && inline !== '') {
    const parsed = parseYaml(inline, CONFIGURATION_ENV_VAR);
    const origins = new Origins(CONFIGURATION_ENV_VAR);
    const layered: Layered = { raw: {}, origins, warnings: [...parsed.warnings] };
    patchConfig(layered.raw, asMapping(parsed.value, CONFIGURATION_ENV_VAR), { origins, source: CONFIGURATION_ENV_VAR });
    return finish(layered, CONFIGURATION_ENV_VAR, options);
  }
  const layered: Layered = { raw: {}, origins: new Origins(ENVIRONMENT_SOURCE), warnings: [] };
  applyEnvironment(layered, env);
  return finish(layered, ENVIRONMENT_SOURCE, options);
}

export function loadConfig(options: LoadConfigOptions): PgwardenConfig {
  return loadConfigWithWarnings(options).config;
}

export interface ParseConfigOptions {
  readonly logger?: Logger;
  readonly homeDir?: string;
}

/** Parses YAML text named `source` (for messages), applies `env` over it when given, and validates. */
export function parseConfigWithWarnings(text: string, source: string, env?: Environment, options: ParseConfigOptions = {}): ConfigResult {
  const parsed = parseYaml(text, source);
  const origins = new Origins(source);
  const layered: Layered = { raw: {}, origins, warnings: [...parsed.warnings] };
  patchConfig(layered.raw, asMapping(parsed.value, source), { origins, source });
  if (env !== undefined) applyEnvironment(layered, env);
  return finish(layered, source, options);
}

export function parseConfig(text: string, source: string, env?: Environment, options: ParseConfigOptions = {}): PgwardenConfig {
  return parseConfigWithWarnings(text, source, env, options).config;
}
