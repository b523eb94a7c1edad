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

/** Patroni's minimums, and the floor kept when they are switched off (the rule below still needs them). */
export const TIMING_MINIMUMS = Object.freeze({ ttl: 20, loop_wait: 1, retry_timeout: 3 });
const RELAXED_MINIMUMS = Object.freeze({ ttl: 3, loop_wait: 1, retry_timeout: 1 });

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
 * Patroni's timing rule: values below the minimums are raised to them; then, if
 * `loop_wait + 2*retry_timeout > ttl`, loop_wait is lowered (down to 1) and, when even that is not
 * enough, loop_wait becomes 1 and retry_timeout `floor((ttl - 1) / 2)`. Missing values take the defaults.
 */
export function normalizeTiming(values: Partial<Timing>, options: TimingOptions = {}): NormalizedTiming {
  const minimums = options.enforceMinimums === false ? RELAXED_MINIMUMS : TIMING_MINIMUMS;
  const warnings: string[] = [];
  const atLeast = (name: keyof Timing): number => {
    const value = values[name] ?? DYNAMIC_CONFIG_DEFAULTS[name];
    if (value >= minimums[name]) return value;
    warnings.push(`${name}=${value} can't be smaller than ${minimums[name]}, adjusting`);
    return minimums[name];
  };
  let loopWait = atLeast('loop_wait');
  let retryTimeout = atLeast('retry_timeout');
  const ttl = atLeast('ttl');
  const minLoopWait = minimums.loop_wait;
  if (minLoopWait + 2 * retryTimeout > ttl) {
    const adjustedRetry = Math.floor((ttl - minLoopWait) / 2);
    warnings.push(
      `violated the rule "loop_wait + 2*retry_timeout <= ttl" where ttl=${ttl}: adjusting loop_wait from ${loopWait} to ${minLoopWait} and retry_timeout from ${retryTimeout} to ${adjustedRetry}`,
    );
    loopWait = minLoopWait;
    retryTimeout = adjustedRetry;
  } else if (loopWait + 2 * retryTimeout > ttl) {
    const adjustedLoopWait = ttl - 2 * retryTimeout;
    warnings.push(
      `violated the rule "loop_wait + 2*retry_timeout <= ttl" where ttl=${ttl} and retry_timeout=${retryTimeout}: adjusting loop_wait from ${loopWait} to ${adjustedLoopWait}`,
    );
    loopWait = adjustedLoopWait;
  }
  return { ttl, loop_wait: loopWait, retry_timeout: retryTimeout, warnings };
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
  return { config: (options.fillDefaults === true ? mergeDefaults(dynamic) : dynamic) as DynamicConfig, warnings };
}

/** A dynamic configuration with every default filled in, as the HA loop reads it. */
export type EffectiveDynamicConfig = DynamicConfig &
  Timing & {
    maximum_lag_on_failover: number;
    maximum_lag_on_syncnode: number;
    max_timelines_history: number;
    primary_start_timeout: number;
    primary_stop_timeout: number;
    check_timeline: boolean;
    synchronous_node_count: number;
    failsafe_mode: boolean;
    postgresql: DynamicConfig['postgresql'] & { use_pg_rewind: boolean; use_slots: boolean };
  };

/**
 * The effective dynamic configuration from a DCS `/config` value (already checked): defaults filled in,
 * the legacy `master_start_timeout`/`master_stop_timeout` honoured, and the timing normalised.
 */
export function resolveDynamicConfig(
  data: DynamicConfig,
  options: TimingOptions = {},
): { config: EffectiveDynamicConfig; warnings: readonly string[] } {
  const copy: ConfigRecord = structuredClone(data);
  for (const [legacy, modern] of [
    ['master_start_timeout', 'primary_start_timeout'],
    ['master_stop_timeout', 'primary_stop_timeout'],
  ] as const) {
    if (copy[modern] === undefined && copy[legacy] !== undefined) copy[modern] = copy[legacy];
  }
  const merged = mergeDefaults(copy);
  const timing = normalizeTiming(
    {
      ttl: merged['ttl'] as number,
      loop_wait: merged['loop_wait'] as number,
      retry_timeout: merged['retry_timeout'] as number,
    },
    options,
  );
  merged['ttl'] = timing.ttl;
  merged['loop_wait'] = timing.loop_wait;
  merged['retry_timeout'] = timing.retry_timeout;
  return { config: merged as EffectiveDynamicConfig, warnings: timing.warnings };
}
