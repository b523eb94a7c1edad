import { silentLogger, type Logger } from '@pgwarden/core';
import { hasOption, WDIOF, type WatchdogDriver } from './driver.js';
import { WatchdogError } from './errors.js';
import { createLinuxWatchdogDriver } from './linux-driver.js';
import { DEFAULT_SAFETY_MARGIN, watchdogTimeout } from './timing.js';

/** `watchdog.mode`: never use one, use one when the device works, or refuse leadership without one. */
export type WatchdogMode = 'off' | 'automatic' | 'required';

export interface WatchdogOptions {
  mode: WatchdogMode;
  /** The Linux device when no `driver` is given. Default `/dev/watchdog`. */
  device?: string;
  /** Seconds between the watchdog firing and the leader lock expiring; -1 means a timeout of ttl/2. Default 5. */
  safetyMargin?: number;
  /** `loop_wait` in seconds: a timeout shorter than one loop cannot be kept alive. Default 10. */
  loopWait?: number;
  /** The leader ttl known at start, so `isHealthy` can judge the timing before the first `activate`. */
  ttl?: number;
  /** Default: the Linux `/dev/watchdog` driver on `device` (nothing is opened before `activate`). */
  driver?: WatchdogDriver;
  logger?: Logger;
}

/** Settings a reload may change along with the ttl. */
export interface WatchdogChanges {
  mode?: WatchdogMode;
  safetyMargin?: number;
  loopWait?: number;
}

/** A snapshot for logs, metrics and the REST API. */
export interface WatchdogStatus {
  readonly mode: WatchdogMode;
  readonly running: boolean;
  readonly healthy: boolean;
  /** The timeout the device runs with, in seconds, while running. */
  readonly timeoutSeconds: number | null;
  /** Why the last activation failed; cleared by `reconfigure`. */
  readonly failure: string | null;
  readonly device: string;
}

/**
 * The leader's dead man's switch. Protocol for the HA loop: `activate(ttl)` before promoting (or after
 * bootstrap) and refuse leadership when it returns false; `keepalive()` after every successful leader-lock
 * renewal; `disable()` after demoting, when paused, and at shutdown once PostgreSQL is stopped;
 * `reconfigure(ttl, changes)` when the configuration changes. Driver errors are logged, never thrown.
 */
export interface Watchdog extends AsyncDisposable {
  readonly mode: WatchdogMode;
  /** The device is open and counting. */
  readonly isRunning: boolean;
  /**
   * False when mode is `required` and the watchdog cannot do its job: the device is not usable, the last
   * activation failed, or the timing is unsafe. The member must then not race for leadership and reports
   * `watchdog_failed: true` in `/patroni`.
   */
  readonly isHealthy: boolean;
  /**
   * Opens the device and sets its timeout for a lock of `ttlSeconds`. Resolves false only when the mode is
   * `required` and no safe watchdog could be set up: the caller must then not be (or stay) the leader. In
   * `automatic` mode a failure is logged and it resolves true. Calling it while running only keeps the
   * device in step with the configuration.
   */
  activate(ttlSeconds: number): Promise<boolean>;
  /** Restarts the countdown; applies a pending timeout change first. No-op when not running. */
  keepalive(): Promise<void>;
  /** Stops the countdown (magic close) and closes the device. No-op when not running. */
  disable(): Promise<void>;
  /**
   * Takes a new ttl (and reloaded settings). A running device gets the new timeout at the next
   * `keepalive`, so it starts together with a fresh lock; mode `off` closes it at once. It also clears a
   * remembered activation failure: the next activation tries the device again.
   */
  reconfigure(ttlSeconds: number, changes?: WatchdogChanges): Promise<void>;
  /** The device for log lines, e.g. `Software Watchdog at /dev/watchdog`. */
  describe(): string;
  status(): WatchdogStatus;
}

const DEFAULT_LOOP_WAIT = 10;

export function createWatchdog(options: WatchdogOptions): Watchdog {
  const logger = options.logger ?? silentLogger;
  const driver = options.driver ?? createLinuxWatchdogDriver({ ...(options.device !== undefined && { device: options.device }), logger });
  let mode = options.mode;
  let safetyMargin = options.safetyMargin ?? DEFAULT_SAFETY_MARGIN;
  let loopWait = options.loopWait ?? DEFAULT_LOOP_WAIT;
  let ttl: number | null = options.ttl ?? null;
  // `active`: the HA loop wants a watchdog (activated, not disabled), whether or not a device is running.
  let active = false;
  let retryOnKeepalive = false;
  let failure: string | null = null;
  let canBeDisabled = true;
  let canSetTimeout = true;
  /** The timeout asked for at activation or at the last change, and the one the device took. */
  let wanted: number | null = null;
  let inEffect: number | null = null;
  let disposed = false;
  let queue: Promise<unknown> = Promise.resolve();

  // One operation at a time: the HA loop, a reload and shutdown may call in concurrently.
  function serialized<T>(operation: () => Promise<T>): Promise<T> {
    const next = queue.then(operation, operation);
    queue = next.catch(() => undefined);
    return next;
  }

  const log = (level: 'debug' | 'info' | 'warn' | 'error', message: string, fields?: Record<string, unknown>): void =>
    logger.log(level, `[watchdog] ${message}`, fields);

  function timeoutFor(ttlSeconds: number): number {
    return watchdogTimeout(ttlSeconds, safetyMargin);
  }

  async function closeQuietly(): Promise<void> {
    try {
      await driver.close();
    } catch (error) {
      log('error', `error while closing ${driver.describe()}`, { error: (error as Error).message });
    }
    inEffect = null;
    wanted = null;
  }

  /** Records why activation failed; in required mode that refuses leadership. */
  function failed(reason: string): boolean {
    failure = reason;
    if (mode === 'required') {
      log('error', `watchdog is required but could not be activated: ${reason}`);
      return false;
    }
    log('info', `continuing without a watchdog: ${reason}`);
    return true;
  }

  async function start(ttlSeconds: number): Promise<boolean> {
    const timeout = timeoutFor(ttlSeconds);
    if (timeout < 1 || timeout < loopWait) {
      return failed(
        `timeout ${timeout} s (ttl ${ttlSeconds} s, safety_margin ${safetyMargin}) is shorter than loop_wait ${loopWait} s: ` +
          'a keepalive per loop could not keep it from firing',
      );
    }
    let actual: number;
    try {
      await driver.open();
      const support = await driver.getSupport();
      canBeDisabled = hasOption(support, WDIOF.MAGICCLOSE);
      canSetTimeout = hasOption(support, WDIOF.SETTIMEOUT);
      if (canSetTimeout) await driver.setTimeout(timeout);
      actual = await driver.getTimeout();
    } catch (error) {
      await closeQuietly();
      return failed(`${driver.describe()}: ${(error as Error).message}`);
    }
    if (actual < loopWait) {
      // It would fire between two keepalives of a healthy loop.
      if (canBeDisabled) {
        await closeQuietly();
        return failed(`${driver.describe()} runs with a ${actual} s timeout, shorter than loop_wait ${loopWait} s`);
      }
      log('error', `${driver.describe()} runs with a ${actual} s timeout, shorter than loop_wait ${loopWait} s, and cannot be stopped`);
    }
    if (actual > timeout) {
      const reason = `${driver.describe()} took a ${actual} s timeout instead of ${timeout} s: the host may still run after the lock expires`;
      if (mode === 'required') {
        await closeQuietly();
        return failed(reason);
      }
      log('warn', reason);
    }
    if (!canBeDisabled) {
      log('warn', `${driver.describe()} cannot be stopped once opened: the host is reset whenever keepalives stop, even after demotion`);
    }
    failure = null;
    wanted = timeout;
    inEffect = actual;
    log('info', `${driver.describe()} activated with a ${actual} s timeout, timing slack ${timeout - loopWait} s`, {
      timeoutSeconds: actual,
      ttl: ttlSeconds,
      loopWait,
    });
    return true;
  }

  async function activateNow(ttlSeconds: number): Promise<boolean> {
    ttl = ttlSeconds;
    active = true;
    retryOnKeepalive = false;
    if (mode === 'off') return true;
    if (driver.isOpen) {
      await refresh();
      return true;
    }
    if (failure !== null) {
      // Tried and failed with this configuration: no retry (and no log flood) until reconfigure.
      if (mode === 'required') {
        log('error', `watchdog is required but could not be activated: ${failure}`);
        return false;
      }
      return true;
    }
    return start(ttlSeconds);
  }

  /** Keeps a running device alive, applying a changed timeout on the way. */
  async function refresh(): Promise<void> {
    try {
      const timeout = ttl === null ? wanted : timeoutFor(ttl);
      if (timeout !== null && timeout !== wanted && canSetTimeout) {
        inEffect = await driver.setTimeout(timeout);
        wanted = timeout;
        log('info', `${driver.describe()} updated with a ${inEffect} s timeout, timing slack ${timeout - loopWait} s`, {
          timeoutSeconds: inEffect,
        });
      }
      await driver.keepalive();
    } catch (error) {
      log('error', `keepalive to ${driver.describe()} failed`, { error: (error as Error).message });
    }
  }

  function healthy(): boolean {
    if (mode !== 'required') return true;
    if (failure !== null) return false;
    if (ttl !== null) {
      const timeout = timeoutFor(ttl);
      if (timeout < 1 || timeout < loopWait) return false;
    }
    if (driver.isOpen) return true;
    return driver.isUsable?.() ?? true;
  }

  async function stop(): Promise<void> {
    if (!driver.isOpen) return;
    if (!canBeDisabled) {
      // One last keepalive gives the operator the whole timeout before the reset.
      try {
        await driver.keepalive();
      } catch (error) {
        log('error', `keepalive to ${driver.describe()} failed`, { error: (error as Error).message });
      }
      log('warn', `${driver.describe()} cannot be stopped: the host is reset in ${inEffect ?? '?'} s`);
    }
    await closeQuietly();
    log('info', `${driver.describe()} disabled`);
  }

  return {
    get mode() {
      return mode;
    },
    get isRunning() {
      return driver.isOpen;
    },
    get isHealthy() {
      return healthy();
    },

    activate(ttlSeconds) {
      if (disposed) return Promise.reject(new WatchdogError('WATCHDOG_CLOSED', 'activate() after dispose'));
      return serialized(() => activateNow(ttlSeconds));
    },

    keepalive() {
      return serialized(async () => {
        if (disposed || !active || mode === 'off') return;
        if (driver.isOpen) await refresh();
        else if (retryOnKeepalive && ttl !== null) {
          // A reload asked to try again: do it right after a lock refresh, as a fresh activation.
          retryOnKeepalive = false;
          await start(ttl);
        }
      });
    },

    disable() {
      return serialized(async () => {
        active = false;
        retryOnKeepalive = false;
        await stop();
      });
    },

    reconfigure(ttlSeconds, changes = {}) {
      return serialized(async () => {
        ttl = ttlSeconds;
        if (changes.safetyMargin !== undefined) safetyMargin = changes.safetyMargin;
        if (changes.loopWait !== undefined) loopWait = changes.loopWait;
        if (changes.mode !== undefined && changes.mode !== mode) {
          log('info', `mode changes from ${mode} to ${changes.mode}`);
          mode = changes.mode;
        }
        failure = null;
        if (mode === 'off') {
          await stop();
          return;
        }
        if (active && !driver.isOpen) retryOnKeepalive = true;
      });
    },

    describe() {
      return mode === 'off' ? 'watchdog off' : driver.describe();
    },

    status() {
      return {
        mode,
        running: driver.isOpen,
        healthy: healthy(),
        timeoutSeconds: driver.isOpen ? inEffect : null,
        failure,
        device: driver.describe(),
      };
    },

    async [Symbol.asyncDispose]() {
      if (disposed) return;
      await serialized(async () => {
        active = false;
        await stop();
      });
      disposed = true;
    },
  };
}
