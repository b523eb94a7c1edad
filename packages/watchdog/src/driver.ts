/** `WDIOF_*` option bits a device reports through WDIOC_GETSUPPORT (linux/watchdog.h). */
export const WDIOF = {
  OVERHEAT: 0x0001,
  FANFAULT: 0x0002,
  EXTERN1: 0x0004,
  EXTERN2: 0x0008,
  POWERUNDER: 0x0010,
  CARDRESET: 0x0020,
  POWEROVER: 0x0040,
  /** The timeout can be set with WDIOC_SETTIMEOUT. */
  SETTIMEOUT: 0x0080,
  /** Writing 'V' before close stops the timer; without it a closed device keeps counting. */
  MAGICCLOSE: 0x0100,
  PRETIMEOUT: 0x0200,
  /** Expiry raises an alarm but does not reset the host: useless for fencing. */
  ALARMONLY: 0x0400,
  /** WDIOC_KEEPALIVE is supported (writing to the device always is). */
  KEEPALIVEPING: 0x8000,
} as const;

/** `WDIOS_*` flags for WDIOC_SETOPTIONS. */
export const WDIOS = {
  DISABLECARD: 0x0001,
  ENABLECARD: 0x0002,
  TEMPPANIC: 0x0004,
} as const;

/** What a device says about itself (WDIOC_GETSUPPORT). */
export interface WatchdogSupport {
  /** A bitmask of `WDIOF` flags. */
  readonly options: number;
  readonly firmwareVersion: number;
  /** The driver's name, e.g. `Software Watchdog` for softdog. */
  readonly identity: string;
}

export function hasOption(support: WatchdogSupport, flag: number): boolean {
  return (support.options & flag) === flag;
}

/**
 * The port a watchdog device implements. Once `open()` succeeds the device counts down: `keepalive()`
 * must come within the timeout or the host is reset. Methods throw `WatchdogError`.
 */
export interface WatchdogDriver {
  /** True between a successful `open()` and `close()`. */
  readonly isOpen: boolean;
  /** Opens the device, which starts the countdown with its current timeout. */
  open(): Promise<void>;
  getSupport(): Promise<WatchdogSupport>;
  /** Sets the timeout in whole seconds and returns the one the device took (some round it); also pings. */
  setTimeout(seconds: number): Promise<number>;
  getTimeout(): Promise<number>;
  /** Restarts the countdown. */
  keepalive(): Promise<void>;
  /** Stops the countdown where the device allows it (magic close) and closes it. */
  close(): Promise<void>;
  /** A human-readable name for logs, e.g. `Software Watchdog at /dev/watchdog1`. */
  describe(): string;
  /** Cheap check whether `open()` can be expected to work (device present and writable); absent means yes. */
  isUsable?(): boolean;
}
