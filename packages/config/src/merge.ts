import { formatPath } from './errors.js';
import type { KeyPath } from './errors.js';

export type ConfigRecord = Record<string, unknown>;

export function isRecord(value: unknown): value is ConfigRecord {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** Which source last set each key path; the longest recorded prefix of a path names its source. */
export class Origins {
  private readonly byPath = new Map<string, string>();
  private readonly envVars = new Map<string, string>();

  constructor(private readonly fallback: string) {}

  record(path: KeyPath, source: string, value: unknown): void {
    const key = formatPath(path);
    this.byPath.set(key, source);
    this.envVars.delete(key);
    if (isRecord(value)) {
      for (const [name, child] of Object.entries(value)) this.record([...path, name], source, child);
    }
  }

  /** Names the environment variable behind a path already recorded. */
  recordEnvVar(path: KeyPath, envVar: string): void {
    this.envVars.set(formatPath(path), envVar);
  }

  /** The source of a path and, when it came from the environment, the variable's name. */
  lookup(path: KeyPath): { source: string; envVar?: string } {
    for (let length = path.length; length >= 0; length -= 1) {
      const key = formatPath(path.slice(0, length));
      const source = this.byPath.get(key);
      if (source !== undefined) {
        const envVar = this.envVars.get(key);
        return envVar === undefined ? { source } : { source, envVar };
      }
    }
    return { source: this.fallback };
  }
}

/**
 * Deep-merges `patch` into `target` the way Patroni layers config files and the environment: mappings
 * merge key by key, anything else replaces, and a `null` removes the key. Mutates and returns `target`.
 */
export function patchConfig(
  target: ConfigRecord,
  patch: ConfigRecord,
  origins?: { origins: Origins; source: string; path?: KeyPath },
): ConfigRecord {
  for (const [name, value] of Object.entries(patch)) {
    const path = [...(origins?.path ?? []), name];
    if (value === null || value === undefined) {
      Reflect.deleteProperty(target, name);
      continue;
    }
    const current = target[name];
    if (isRecord(value) && isRecord(current)) {
      patchConfig(current, value, origins && { ...origins, path });
      continue;
    }
    target[name] = isRecord(value) ? structuredClone(value) : value;
    origins?.origins.record(path, origins.source, value);
  }
  return target;
}
