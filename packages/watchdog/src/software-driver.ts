import { silentLogger, type Clock, type Logger } from '@pgwarden/core';
import { WDIOF, type WatchdogDriver, type WatchdogSupport } from './driver.js';
import { WatchdogError } from './errors.js';

/** What the software watchdog reports when it fires. */
export interface WatchdogExpiry {
  readonly timeoutSeconds: number;
  /** Clock time (ms) of the last keepalive, or of the open/timeout change that started the countdown. */
  readonly lastKeepaliveAt: number;
  readonly expiredAt: number;
}

export interface SoftwareWatchdogDriverOptions {
  /** Drives the countdown; a test clock makes expiry deterministic. */
  clock: Clock;
  /**
   * What a hardware reset would do, e.g. kill PostgreSQL with SIGKILL so the old primary stops taking
   * writes. The driver logs the expiry loudly before calling it; errors it throws are logged.
   */
  onExpire?: (expiry: WatchdogExpiry) => void | Promise<void>;
  /** The timeout in effect before `setTimeout`, in seconds. Default 60, like softdog. */
  defaultTimeout?: number;
  /** Like the kernel's nowayout: close does not stop the countdown. Default false. */
  nowayout?: boolean;
  /** A name for logs. Default `software watchdog`. */
  name?: string;
  logger?: Logger;
}

/** The software driver, with what a test wants to look at. */
export interface SoftwareWatchdogDriver extends WatchdogDriver {
  /** True once the countdown ran out (until the next `open()`). */
  readonly expired: boolean;
  /** Seconds currently configured. */
  readonly timeoutSeconds: number;
}

const SUPPORT: WatchdogSupport = {
  options: WDIOF.SETTIMEOUT | WDIOF.MAGICCLOSE | WDIOF.KEEPALIVEPING,
  firmwareVersion: 0,
  identity: 'Software watchdog',
};

/**
 * A watchdog in the process: when no keepalive comes within the timeout it fires `onExpire`. For tests and
 * for hosts without a device. It is weaker than a real one (a frozen process cannot fire it): only a kernel
 * or hardware device resets a host whose agent hangs.
 */
export function createSoftwareWatchdogDriver(options: SoftwareWatchdogDriverOptions): SoftwareWatchdogDriver {
  const { clock } = options;
  const logger = options.logger ?? silentLogger;
  const name = options.name ?? 'software watchdog';
  let timeout = options.defaultTimeout ?? 60;
  let open = false;
  let expired = false;
  let lastKeepaliveAt = 0;
  let countdown: AbortController | null = null;

  function stopCountdown(): void {
    countdown?.abort();
    countdown = null;
  }

  async function fire(): Promise<void> {
    expired = true;
    countdown = null;
    const expiry: WatchdogExpiry = { timeoutSeconds: timeout, lastKeepaliveAt, expiredAt: clock.now() };
    logger.log('error', `[watchdog] ${name} expired: no keepalive for ${timeout} s, a hardware watchdog would reset the host now`, {
      ...expiry,
    });
    try {
      await options.onExpire?.(expiry);
    } catch (error) {
      logger.log('error', `[watchdog] ${name} expiry action failed`, { error: (error as Error).message });
    }
  }

  // Each keepalive restarts the countdown: one pending sleep at a time, aborted by the next.
  function startCountdown(): void {
    stopCountdown();
    lastKeepaliveAt = clock.now();
    const controller = new AbortController();
    countdown = controller;
    clock.sleep(timeout * 1000, controller.signal).then(
      () => (countdown === controller ? fire() : undefined),
      () => undefined,
    );
  }

  function requireOpen(): void {
    if (!open) throw new WatchdogError('WATCHDOG_CLOSED', `${name} is not open`);
    if (expired) throw new WatchdogError('WATCHDOG_EXPIRED', `${name} has expired: the host would have been reset`);
  }

  return {
    get isOpen() {
      return open;
    },
    get expired() {
      return expired;
    },
    get timeoutSeconds() {
      return timeout;
    },

    async open() {
      if (open && !expired) return;
      open = true;
      expired = false;
      startCountdown();
    },

    async getSupport() {
      // A device that cannot be stopped does not advertise magic close.
      return options.nowayout ? { ...SUPPORT, options: SUPPORT.options & ~WDIOF.MAGICCLOSE } : SUPPORT;
    },

    async setTimeout(seconds) {
      requireOpen();
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 0xffff) {
        throw new WatchdogError('WATCHDOG_IO', `invalid timeout ${seconds}: a whole number of seconds from 1 to 65535`);
      }
      timeout = seconds;
      startCountdown();
      return timeout;
    },

    async getTimeout() {
      return timeout;
    },

    async keepalive() {
      requireOpen();
      startCountdown();
    },

    async close() {
      if (!open) return;
      open = false;
      if (options.nowayout && !expired) {
        logger.log('warn', `[watchdog] ${name} closed with nowayout: it keeps counting`, { timeoutSeconds: timeout });
        return;
      }
      stopCountdown();
    },

    describe() {
      return name;
    },
  };
}
