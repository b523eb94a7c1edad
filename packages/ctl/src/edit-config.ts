/** `edit-config`: changes from `--set`/`--pg`, from a YAML file, or from an editor, and the diff shown before writing. */
import { createTwoFilesPatch } from 'diff';
import { parse as parseYaml } from 'yaml';
import { patchConfig } from '@pgwarden/rest-api';
import { CtlError } from './errors.js';
import { toYaml } from './format.js';

type JsonObject = Record<string, unknown>;

const isObject = (value: unknown): value is JsonObject => typeof value === 'object' && value !== null && !Array.isArray(value);

/** The configuration as the operator edits it: YAML, keys sorted. */
export function formatConfigForEditing(data: unknown): string {
  return toYaml(data);
}

/** A YAML scalar as `yaml.safe_load` reads it from the command line (`30`, `on`, `null`, `'x'`). */
export function parseValue(text: string): unknown {
  try {
    return parseYaml(text, { version: '1.1' }) as unknown;
  } catch (error) {
    throw new CtlError(`cannot parse the value ${JSON.stringify(text)} as YAML: ${(error as Error).message}`, { cause: error });
  }
}

function setPath(config: JsonObject, path: readonly string[], value: unknown, prefix: readonly string[]): void {
  // PostgreSQL parameter names may hold dots (`auto_explain.log_min_duration`): below postgresql.parameters the
  // rest of the path is one name.
  const effective = prefix.length === 2 && prefix[0] === 'postgresql' && prefix[1] === 'parameters' ? [path.join('.')] : path;
  const [key, ...rest] = effective as [string, ...string[]];
  if (rest.length === 0) {
    if (value === null) Reflect.deleteProperty(config, key);
    else config[key] = value;
    return;
  }
  if (!isObject(config[key])) config[key] = {};
  const child = config[key] as JsonObject;
  setPath(child, rest, value, [...prefix, key]);
  if (Object.keys(child).length === 0) Reflect.deleteProperty(config, key);
}

/** Applies `key.path=value` pairs (values are YAML; `null` removes the key) to a copy of `data`. */
export function applyConfigChanges(data: Readonly<JsonObject>, pairs: readonly string[]): JsonObject {
  const changed = structuredClone(data) as JsonObject;
  for (const pair of pairs) {
    const at = pair.indexOf('=');
    if (!pair || at < 0) throw new CtlError(`invalid parameter setting ${JSON.stringify(pair)}: expected key.path=value`);
    const keyPath = pair.slice(0, at).trim();
    if (keyPath === '' || keyPath.split('.').some((part) => part === '')) throw new CtlError(`invalid parameter setting ${JSON.stringify(pair)}: empty key`);
    setPath(changed, keyPath.split('.'), parseValue(pair.slice(at + 1)), []);
  }
  return changed;
}

/** `--pg name=value` is `--set postgresql.parameters.name=value`. */
export function pgPairs(pairs: readonly string[]): string[] {
  return pairs.map((pair) => `postgresql.parameters.${pair.trimStart()}`);
}

/** Parses an edited or supplied YAML document; it must be a mapping (an empty document is an empty mapping). */
export function parseConfigDocument(text: string, source: string): JsonObject {
  let value: unknown;
  try {
    value = parseYaml(text, { version: '1.1' });
  } catch (error) {
    throw new CtlError(`${source}: not valid YAML: ${(error as Error).message}`, { cause: error });
  }
  if (value === null || value === undefined) return {};
  if (!isObject(value)) throw new CtlError(`${source}: expected a YAML mapping at the top level`);
  return value;
}

/** Merges a YAML document into `data` the way `PATCH /config` does (`null` removes a key, mappings merge). */
export function applyConfigDocument(data: Readonly<JsonObject>, text: string, source: string): JsonObject {
  return patchConfig(data, parseConfigDocument(text, source)).result;
}

/** Deep equality of two JSON values, key order ignored. */
export function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((item, index) => sameJson(item, b[index]));
  if (isObject(a) && isObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((key) => Object.hasOwn(b, key) && sameJson(a[key], b[key]));
  }
  return false;
}

/** A unified diff of the configuration before and after, without the file header lines. */
export function configDiff(before: string, after: string): string {
  const patch = createTwoFilesPatch('', '', before.replace(/\n*$/, '\n'), after.replace(/\n*$/, '\n'), '', '', { context: 3 });
  const lines = patch.split('\n');
  // createTwoFilesPatch starts with an "Index"/"===" pair and ---/+++ lines; patronictl shows ---/+++ then hunks.
  const start = lines.findIndex((line) => line.startsWith('---'));
  return `${lines.slice(start).filter((line, index, all) => !(index === all.length - 1 && line === '')).join('\n')}\n`;
}
