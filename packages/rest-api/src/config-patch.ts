/**
 * `PATCH /config` and `PUT /config`: Patroni's merge of a partial configuration into the `config` key, its
 * comparison of two configurations, and a minimal check of the result's shape.
 */

type JsonObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Values compare by their Python text, as Patroni does: `30` and `"30"` are the same setting, `true` and
 * `"True"` too. Lists and objects compare by their JSON.
 */
export function settingText(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return JSON.stringify(value);
}

/**
 * Merges `patch` into a copy of `config`: `null` removes a key, objects merge recursively, other values replace
 * the old one when their text differs. `changed` says whether a write is needed.
 */
export function patchConfig(config: Readonly<JsonObject>, patch: Readonly<JsonObject>): { changed: boolean; result: JsonObject } {
  const result: JsonObject = { ...config };
  let changed = false;
  for (const [name, value] of Object.entries(patch)) {
    const present = Object.hasOwn(result, name);
    const current = result[name];
    if (value === null) {
      // Patroni counts a removal as a change only when the key held a value.
      if (present) {
        delete result[name];
        if (current !== null) changed = true;
      }
    } else if (!present) {
      result[name] = value;
      changed = true;
    } else if (isObject(value)) {
      if (isObject(current)) {
        const nested = patchConfig(current, value);
        result[name] = nested.result;
        if (nested.changed) changed = true;
      } else {
        result[name] = value;
        changed = true;
      }
    } else if (settingText(current) !== settingText(value)) {
      result[name] = value;
      changed = true;
    }
  }
  return { changed, result };
}

/** Same keys at every level and the same value texts: `PUT /config` skips the write when this holds. */
export function sameConfig(left: Readonly<JsonObject>, right: Readonly<JsonObject>): boolean {
  const leftKeys = Object.keys(left);
  if (leftKeys.length !== Object.keys(right).length || !leftKeys.every((key) => Object.hasOwn(right, key))) return false;
  return leftKeys.every((key) => {
    const value = left[key];
    const other = right[key];
    if (isObject(value)) return isObject(other) && sameConfig(value, other);
    return settingText(value) === settingText(other);
  });
}

/** Settings Patroni reads as integers: a number, or text that reads as one. */
const INTEGER_SETTINGS = [
  'ttl',
  'loop_wait',
  'retry_timeout',
  'maximum_lag_on_failover',
  'maximum_lag_on_syncnode',
  'primary_start_timeout',
  'primary_stop_timeout',
  'master_start_timeout',
  'master_stop_timeout',
  'synchronous_node_count',
  'max_timelines_history',
] as const;

const OBJECT_SETTINGS = ['postgresql', 'slots', 'standby_cluster'] as const;

/**
 * Why the dynamic configuration `config` would be refused, or null. Deliberately small: it catches what would
 * break every member's reading of the timing (a `ttl` of `"abc"`), not every typo.
 */
export function dynamicConfigProblem(config: Readonly<JsonObject>): string | null {
  for (const name of INTEGER_SETTINGS) {
    const value = config[name];
    if (value === undefined || value === null) continue;
    const numeric = typeof value === 'number' ? value : typeof value === 'string' && value.trim() !== '' ? Number(value) : NaN;
    if (!Number.isFinite(numeric)) return `${name} must be a number, got ${JSON.stringify(value)}`;
    if (numeric < 0) return `${name} must not be negative, got ${JSON.stringify(value)}`;
  }
  for (const name of OBJECT_SETTINGS) {
    const value = config[name];
    if (value !== undefined && value !== null && !isObject(value)) return `${name} must be a JSON object`;
  }
  const postgresql = config['postgresql'];
  if (isObject(postgresql)) {
    for (const name of ['parameters', 'pg_hba', 'recovery_conf'] as const) {
      const value = postgresql[name];
      if (value === undefined || value === null) continue;
      const ok = name === 'pg_hba' ? Array.isArray(value) : isObject(value);
      if (!ok) return `postgresql.${name} must be ${name === 'pg_hba' ? 'a list' : 'a JSON object'}`;
    }
  }
  const ignoreSlots = config['ignore_slots'];
  if (ignoreSlots !== undefined && ignoreSlots !== null && !Array.isArray(ignoreSlots)) return 'ignore_slots must be a list';
  return null;
}
