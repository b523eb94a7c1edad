import { TIMING_MINIMUMS, normalizeTiming as normalizeCoreTiming } from '@pgwarden/core';
import type { Environment } from './env.js';
import { isRecord } from './merge.js';
import type { ConfigRecord } from './merge.js';
import type { DynamicConfig, PgwardenConfig } from './types.js';

/** Set to `1` to let ttl/loop_wait/retry_timeout go below Patroni's minimums (fast test clusters only). */
export const ALLOW_SHORT_TTL_ENV_VAR = 'PGWARDEN_ALLOW_SHORT_TTL';

/** Patroni's defaults for the dynamic configuration (DCS `/config`), used where a key is absent. */
export const DYNAMIC_CONFIG_DEFAULTS = Object.freeze({
  ttl: 30,
  loop_wait: 10,
  retry_timeout: 10,
  maximum_lag_on_failover: 1048576,
  maximum_lag_on_syncnode: -1,
  max_timelines_history: 0,
  primary_start_timeout: 300,
  primary_stop_timeout: 0,
  check_timeline: false,
  synchronous_mode: false,
  synchronous_mode_strict: false,
  synchronous_node_count: 1,
  failsafe_mode: false,
  member_slots_ttl: '30min',
  postgresql: Object.freeze({ use_pg_rewind: false, use_slots: true }),
} as const);

/** Patroni's minimums; the timing rule itself lives in core, shared with the HA loop. */
export { TIMING_MINIMUMS };

export interface Timing {
  readonly ttl: number;
  readonly loop_wait: number;
  readonly retry_timeout: number;
}

export interface NormalizedTiming extends Timing {
  /** One line per adjustment made, for the log. Empty when the values were already valid. */
  readonly warnings: readonly string[];
}

export interface TimingOptions {
  /** Raise values below Patroni's minimums (ttl 20, loop_wait 1, retry_timeout 3). Default true. */
  readonly enforceMinimums?: boolean;
}

/** `{ enforceMinimums: false }` when `PGWARDEN_ALLOW_SHORT_TTL=1` is set, else Patroni's behaviour. */
export function timingOptionsFromEnv(env: Environment): TimingOptions {
  return { enforceMinimums: env[ALLOW_SHORT_TTL_ENV_VAR] !== '1' };
}

/**
 * Patroni's timing rule (core's `normalizeTiming`) in the configuration's own spelling: values below the
 * minimums are raised, then `loop_wait + 2*retry_timeout <= ttl` is restored. Missing values take the defaults.
 */
export function normalizeTiming(values: Partial<Timing>, options: TimingOptions = {}): NormalizedTiming {
  const { timing, warnings } = normalizeCoreTiming(values, options);
  return { ttl: timing.ttl, loop_wait: timing.loopWait, retry_timeout: timing.retryTimeout, warnings };
}

export interface DynamicConfigOptions extends TimingOptions {
  /** Also write every default of {@link DYNAMIC_CONFIG_DEFAULTS} into the result. Default false, like Patroni. */
  readonly fillDefaults?: boolean;
}

function applyTiming(config: ConfigRecord, options: TimingOptions): readonly string[] {
  const pick = (key: keyof Timing): number | undefined => {
    const value = config[key];
    return typeof value === 'number' ? value : undefined;
  };
  const given: { -readonly [K in keyof Timing]?: number } = {};
  for (const key of ['ttl', 'loop_wait', 'retry_timeout'] as const) {
    const value = pick(key);
    if (value !== undefined) given[key] = value;
  }
  const timing = normalizeTiming(given, options);
  // Like Patroni, only the values that were given or had to change are written back.
  for (const key of ['ttl', 'loop_wait', 'retry_timeout'] as const) {
    if (given[key] !== undefined || timing[key] !== DYNAMIC_CONFIG_DEFAULTS[key]) config[key] = timing[key];
  }
  return timing.warnings;
}

function mergeDefaults(config: ConfigRecord): ConfigRecord {
  const postgresql = isRecord(config['postgresql']) ? config['postgresql'] : {};
  return { ...DYNAMIC_CONFIG_DEFAULTS, ...config, postgresql: { ...DYNAMIC_CONFIG_DEFAULTS.postgresql, ...postgresql } };
}

/**
 * The initial DCS `/config` value from `bootstrap.dcs`. Patroni writes what the user gave, with the timing
 * adjusted by {@link normalizeTiming}; `fillDefaults` adds every Patroni default as well.
 */
export function toDynamicConfig(config: PgwardenConfig, options: DynamicConfigOptions = {}): DynamicConfig {
  return toDynamicConfigWithWarnings(config, options).config;
}

export function toDynamicConfigWithWarnings(
  config: PgwardenConfig,
  options: DynamicConfigOptions = {},
): { config: DynamicConfig; warnings: readonly string[] } {
  const dynamic: ConfigRecord = structuredClone(config.bootstrap.dcs);
  const warnings = applyTiming(dynamic, options);
  return { config: (options.fillDefaults === true ? mergeDefaults(dynamic) : dynamic), warnings };
}
