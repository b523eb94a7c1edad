import { PgwardenError } from '@pgwarden/core';

/** Where a configuration value came from: a file path, `PATRONI_CONFIGURATION`, or `environment`. */
export type ConfigSource = string;

export const ENVIRONMENT_SOURCE = 'environment';

/** One problem found in the configuration. `key` is a dotted path (`bootstrap.dcs.ttl`, `bootstrap.initdb[1]`). */
export interface ConfigIssue {
  readonly source: ConfigSource;
  readonly key: string;
  readonly message: string;
  /** The environment variable that supplied the value, when one did. */
  readonly envVar?: string;
  /** 1-based position, for YAML syntax errors. */
  readonly line?: number;
  readonly column?: number;
}

/** Same shape as an issue; the configuration is still usable (unknown keys, adjusted values...). */
export type ConfigWarning = ConfigIssue;

export function formatIssue(issue: ConfigIssue): string {
  const where = issue.line === undefined ? issue.source : `${issue.source}:${issue.line}:${issue.column ?? 1}`;
  const key = issue.key === '' ? '' : `${issue.key}: `;
  const via = issue.envVar === undefined ? '' : ` (from ${issue.envVar})`;
  return `${where}: ${key}${issue.message}${via}`;
}

/** The configuration is invalid. `issues` lists every problem found; the message starts with the first. */
export class ConfigError extends PgwardenError {
  readonly source: ConfigSource;
  readonly key: string;
  readonly issues: readonly ConfigIssue[];

  constructor(issues: readonly [ConfigIssue, ...ConfigIssue[]], options?: { cause?: unknown }) {
    const [first, ...rest] = issues;
    const more = rest.map((issue) => `\n  ${formatIssue(issue)}`).join('');
    super('config', 'CONFIG_INVALID', `${formatIssue(first)}${more}`, options);
    this.name = 'ConfigError';
    this.source = first.source;
    this.key = first.key;
    this.issues = issues;
  }
}

export type PathSegment = string | number;
export type KeyPath = readonly PathSegment[];

export function formatPath(path: KeyPath): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else text += text === '' ? segment : `.${segment}`;
  }
  return text;
}

export function throwIfIssues(issues: readonly ConfigIssue[], options?: { cause?: unknown }): void {
  const [first, ...rest] = issues;
  if (first) throw new ConfigError([first, ...rest], options);
}
