/** What went wrong with a watchdog; a closed list so callers (and later core's error table) can switch on it. */
export type WatchdogErrorCode =
  /** The device cannot be used at all: missing, no permission, busy, not a watchdog, no native addon, not Linux. */
  | 'WATCHDOG_UNAVAILABLE'
  /** An ioctl or write on an open device failed. */
  | 'WATCHDOG_IO'
  /** An operation needs an open device and it is closed. */
  | 'WATCHDOG_CLOSED'
  /** The software watchdog fired: it takes no keepalive any more. */
  | 'WATCHDOG_EXPIRED';

/** A failure of a watchdog driver; the message starts with `[watchdog]`. */
export class WatchdogError extends Error {
  readonly code: WatchdogErrorCode;
  readonly component = 'watchdog';

  constructor(code: WatchdogErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[watchdog] ${message}`, options);
    this.name = 'WatchdogError';
    this.code = code;
  }
}

export function isWatchdogError(error: unknown, code?: WatchdogErrorCode): error is WatchdogError {
  return error instanceof WatchdogError && (code === undefined || error.code === code);
}
