/**
 * The dynamic (cluster-wide) configuration kept in the `config` key, resolved with Patroni's defaults and
 * its timing rule, so every member reads the same numbers out of the same JSON.
 */

export interface Timing {
  /** Seconds a leader lock lives without renewal. */
  readonly ttl: number;
  /** Seconds between HA cycles. */
  readonly loopWait: number;
  /** Seconds a store operation may retry before the store counts as unreachable. */
  readonly retryTimeout: number;
}

export interface DynamicConfig {
  readonly timing: Timing;
  readonly maximumLagOnFailover: number;
  readonly checkTimeline: boolean;
  readonly primaryStartTimeout: number;
  readonly primaryStopTimeout: number;
  readonly pause: boolean;
  readonly usePgRewind: boolean;
  readonly useSlots: boolean;
  readonly parameters: Readonly<Record<string, unknown>>;
  /** Adjustments the timing rule made, to be logged. */
  readonly warnings: readonly string[];
}

export const DYNAMIC_DEFAULTS = {
  ttl: 30,
  loop_wait: 10,
  retry_timeout: 10,
  maximum_lag_on_failover: 1_048_576,
  primary_start_timeout: 300,
  primary_stop_timeout: 0,
  check_timeline: false,
} as const;

export const TIMING_MINIMUMS = { ttl: 20, loop_wait: 1, retry_timeout: 3 } as const;

function numberOr(value: unknown, fallback: number): number {
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  if (typeof value === 'string' && value.trim() !== '' && Number.isFinite(Number(value))) return Number(value);
  return fallback;
}

function boolOr(value: unknown, fallback: boolean): boolean {
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const lower = value.toLowerCase();
    if (['true', 'on', 'yes', '1'].includes(lower)) return true;
    if (['false', 'off', 'no', '0'].includes(lower)) return false;
  }
  return fallback;
}

/**
 * Patroni's rule: values below the minimums are raised, and `loop_wait + 2 * retry_timeout <= ttl` is restored by
 * lowering loop_wait first, then retry_timeout. `enforceMinimums: false` lets test clusters run with a short ttl.
 */
export function normalizeTiming(
  raw: { ttl?: unknown; loop_wait?: unknown; retry_timeout?: unknown },
  options: { enforceMinimums?: boolean } = {},
): { timing: Timing; warnings: string[] } {
  const warnings: string[] = [];
  const enforce = options.enforceMinimums ?? true;
  let ttl = Math.floor(numberOr(raw.ttl, DYNAMIC_DEFAULTS.ttl));
  let loopWait = Math.floor(numberOr(raw.loop_wait, DYNAMIC_DEFAULTS.loop_wait));
  let retryTimeout = Math.floor(numberOr(raw.retry_timeout, DYNAMIC_DEFAULTS.retry_timeout));
  const floors = enforce ? TIMING_MINIMUMS : { ttl: 2, loop_wait: 1, retry_timeout: 1 };
  if (ttl < floors.ttl) {
    warnings.push(`ttl ${ttl} is below the minimum ${floors.ttl}: using ${floors.ttl}`);
    ttl = floors.ttl;
  }
  if (loopWait < floors.loop_wait) {
    warnings.push(`loop_wait ${loopWait} is below the minimum ${floors.loop_wait}: using ${floors.loop_wait}`);
    loopWait = floors.loop_wait;
  }
  if (retryTimeout < floors.retry_timeout) {
    warnings.push(`retry_timeout ${retryTimeout} is below the minimum ${floors.retry_timeout}: using ${floors.retry_timeout}`);
    retryTimeout = floors.retry_timeout;
  }
  if (loopWait + 2 * retryTimeout > ttl) {
    const lowered = Math.max(1, ttl - 2 * retryTimeout);
    if (lowered !== loopWait) warnings.push(`loop_wait + 2*retry_timeout > ttl: loop_wait lowered to ${lowered}`);
    loopWait = lowered;
    if (loopWait + 2 * retryTimeout > ttl) {
      retryTimeout = Math.floor((ttl - 1) / 2);
      warnings.push(`loop_wait + 2*retry_timeout > ttl: retry_timeout lowered to ${retryTimeout}`);
    }
  }
  return { timing: { ttl, loopWait, retryTimeout }, warnings };
}

export function resolveDynamicConfig(
  data: Readonly<Record<string, unknown>>,
  options: { enforceMinimums?: boolean } = {},
): DynamicConfig {
  const { timing, warnings } = normalizeTiming(data, options);
  const postgresql =
    typeof data['postgresql'] === 'object' && data['postgresql'] !== null
      ? (data['postgresql'] as Record<string, unknown>)
      : {};
  const parameters =
    typeof postgresql['parameters'] === 'object' && postgresql['parameters'] !== null
      ? (postgresql['parameters'] as Record<string, unknown>)
      : {};
  return {
    timing,
    maximumLagOnFailover: numberOr(data['maximum_lag_on_failover'], DYNAMIC_DEFAULTS.maximum_lag_on_failover),
    checkTimeline: boolOr(data['check_timeline'], DYNAMIC_DEFAULTS.check_timeline),
    primaryStartTimeout: numberOr(
      data['primary_start_timeout'] ?? data['master_start_timeout'],
      DYNAMIC_DEFAULTS.primary_start_timeout,
    ),
    primaryStopTimeout: numberOr(
      data['primary_stop_timeout'] ?? data['master_stop_timeout'],
      DYNAMIC_DEFAULTS.primary_stop_timeout,
    ),
    pause: boolOr(data['pause'], false),
    usePgRewind: boolOr(postgresql['use_pg_rewind'], false),
    useSlots: boolOr(postgresql['use_slots'], true),
    parameters,
    warnings,
  };
}
