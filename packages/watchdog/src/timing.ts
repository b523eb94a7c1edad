/** Patroni's default `watchdog.safety_margin`, in seconds. */
export const DEFAULT_SAFETY_MARGIN = 5;

/**
 * The watchdog timeout for a leader lock of `ttl` seconds: `ttl - safetyMargin`, or half the ttl when the
 * margin is -1. The host must be reset before the lock expires and another member promotes, so the margin
 * is the time a reset needs to take effect. Whole seconds, as the device takes them.
 */
export function watchdogTimeout(ttl: number, safetyMargin: number = DEFAULT_SAFETY_MARGIN): number {
  return Math.floor(safetyMargin === -1 ? ttl / 2 : ttl - safetyMargin);
}

/** Seconds left between the last keepalive of a cycle and expiry: negative means loop_wait alone can fire it. */
export function watchdogTimingSlack(timeout: number, loopWait: number): number {
  return timeout - loopWait;
}
