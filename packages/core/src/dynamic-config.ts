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
  /** `synchronous_mode`: off, on (priority: FIRST n), or quorum (ANY k). */
  readonly synchronousMode: 'off' | 'on' | 'quorum';
  /** Keep commits waiting rather than fall back to asynchronous when no synchronous standby is left. */
  readonly synchronousModeStrict: boolean;
  readonly synchronousNodeCount: number;
  /** Bytes a standby may lag to stay synchronous; -1 for no limit. */
  readonly maximumLagOnSyncnode: number;
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

/** Floors kept when the minimums are switched off for test clusters: the rule below still needs them. */
const RELAXED_MINIMUMS = { ttl: 3, loop_wait: 1, retry_timeout: 1 } as const;

/**
 * Patroni's rule: values below the minimums are raised; then, if `loop_wait + 2*retry_timeout > ttl`, loop_wait
 * is lowered, and when even loop_wait 1 is not enough, retry_timeout becomes `floor((ttl - 1) / 2)`.
 * `enforceMinimums: false` lets test clusters run with a short ttl.
 */
export function normalizeTiming(
  raw: { ttl?: unknown; loop_wait?: unknown; retry_timeout?: unknown },
  options: { enforceMinimums?: boolean } = {},
): { timing: Timing; warnings: string[] } {
  const minimums = options.enforceMinimums === false ? RELAXED_MINIMUMS : TIMING_MINIMUMS;
  const warnings: string[] = [];
  const atLeast = (name: keyof typeof TIMING_MINIMUMS): number => {
    const value = Math.floor(numberOr(raw[name], DYNAMIC_DEFAULTS[name]));
    if (value >= minimums[name]) return value;
    warnings.push(`${name}=${value} can't be smaller than ${minimums[name]}, adjusting`);
    return minimums[name];
  };
  let loopWait = atLeast('loop_wait');
  let retryTimeout = atLeast('retry_timeout');
  const ttl = atLeast('ttl');
  if (minimums.loop_wait + 2 * retryTimeout > ttl) {
    const adjustedRetry = Math.floor((ttl - minimums.loop_wait) / 2);
    warnings.push(
      `violated the rule "loop_wait + 2*retry_timeout <= ttl" where ttl=${ttl}: adjusting loop_wait from ${loopWait} to ${minimums.loop_wait} and retry_timeout from ${retryTimeout} to ${adjustedRetry}`,
    );
    loopWait = minimums.loop_wait;
    retryTimeout = adjustedRetry;
  } else if (loopWait + 2 * retryTimeout > ttl) {
    const adjustedLoopWait = ttl - 2 * retryTimeout;
    warnings.push(
      `violated the rule "loop_wait + 2*retry_timeout <= ttl" where ttl=${ttl} and retry_timeout=${retryTimeout}: adjusting loop_wait from ${loopWait} to ${adjustedLoopWait}`,
    );
    loopWait = adjustedLoopWait;
  }
  return { timing: { ttl, loopWait, retryTimeout }, warnings };
}

/**
 * Seconds a demoting primary may take to stop before its postmaster is killed: primary_stop_timeout, which
 * Patroni applies in synchronous mode only (a hung walsender must not keep a switchover waiting for ever).
 */
export function primaryStopKillAfter(dynamic: DynamicConfig): number | undefined {
  return dynamic.synchronousMode !== 'off' && dynamic.primaryStopTimeout > 0 ? dynamic.primaryStopTimeout : undefined;
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
    synchronousMode: synchronousModeOf(data['synchronous_mode']),
    synchronousModeStrict: boolOr(data['synchronous_mode_strict'], false),
    synchronousNodeCount: Math.max(1, Math.floor(numberOr(data['synchronous_node_count'], 1))),
    maximumLagOnSyncnode: numberOr(data['maximum_lag_on_syncnode'], -1),
    warnings,
  };
}

function synchronousModeOf(value: unknown): 'off' | 'on' | 'quorum' {
  if (typeof value === 'string' && value.toLowerCase() === 'quorum') return 'quorum';
  return boolOr(value, false) ? 'on' : 'off';
}
