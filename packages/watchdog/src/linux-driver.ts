import { accessSync, constants, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { silentLogger, type Logger } from '@pgwarden/core';
import { hasOption, WDIOF, WDIOS, type WatchdogDriver, type WatchdogSupport } from './driver.js';
import { WatchdogError } from './errors.js';

export const DEFAULT_WATCHDOG_DEVICE = '/dev/watchdog';

/**
 * The system calls the Linux driver makes, on a file descriptor. The native addon implements it;
 * tests inject a fake. Calls are synchronous and throw errors carrying an errno `code` (ENOENT, ...).
 */
export interface WatchdogDeviceIo {
  open(path: string): number;
  close(fd: number): void;
  write(fd: number, data: string): number;
  getSupport(fd: number): WatchdogSupport;
  /** WDIOC_SETTIMEOUT: returns the timeout the device took. */
  setTimeout(fd: number, seconds: number): number;
  getTimeout(fd: number): number;
  /** WDIOC_KEEPALIVE. */
  keepalive(fd: number): void;
  /** WDIOC_SETOPTIONS with `WDIOS` flags. */
  setOptions(fd: number, flags: number): void;
}

const ADDON_URL = new URL('../native/build/Release/pgwarden_watchdog.node', import.meta.url);
const FAILURE_URL = new URL('../native/build-failure.txt', import.meta.url);

let nativeIo: { io: WatchdogDeviceIo } | { error: WatchdogError } | undefined;

/**
 * Loads the native addon built at install time (node-gyp). Throws `WATCHDOG_UNAVAILABLE` saying why
 * when it is missing: wrong platform, or the build's own failure message.
 */
export function loadNativeWatchdogIo(): WatchdogDeviceIo {
  if (nativeIo === undefined) {
    try {
      nativeIo = { io: loadWatchdogAddon(fileURLToPath(ADDON_URL), fileURLToPath(FAILURE_URL)) };
    } catch (error) {
      nativeIo = { error: error as WatchdogError };
    }
  }
  if ('error' in nativeIo) throw nativeIo.error;
  return nativeIo.io;
}

/** Loads the addon at `addonPath`; on failure the error quotes the build's note at `failureNotePath`. */
export function loadWatchdogAddon(addonPath: string, failureNotePath: string, platform: string = process.platform): WatchdogDeviceIo {
  if (platform !== 'linux') {
    throw new WatchdogError('WATCHDOG_UNAVAILABLE', `the Linux watchdog driver does not run on ${platform}`);
  }
  try {
    return createRequire(import.meta.url)(addonPath) as WatchdogDeviceIo;
  } catch (cause) {
    let why: string;
    try {
      why = `the install-time build said: ${readFileSync(failureNotePath, 'utf8').trim()}`;
    } catch {
      why = 'rebuild it with `pnpm run build:native` in @pgwarden/watchdog (needs python3, make and a C compiler)';
    }
    const first = String((cause as Error).message).split('\n')[0];
    const message = `native addon not available at ${addonPath} (${first}); ${why}`;
    throw new WatchdogError('WATCHDOG_UNAVAILABLE', message, { cause });
  }
}

export interface LinuxWatchdogDriverOptions {
  /** Default `/dev/watchdog`. */
  device?: string;
  /** The system-call layer; default the native addon, loaded at `open()`. */
  io?: WatchdogDeviceIo;
  /** Checks write access to the device for `isUsable()`; default `fs.accessSync(device, W_OK)`. */
  access?: (device: string) => boolean;
  logger?: Logger;
}

function errnoOf(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function openFailure(device: string, cause: unknown): WatchdogError {
  const errno = errnoOf(cause);
  const hint =
    errno === 'ENOENT'
      ? `${device} does not exist: no watchdog driver is loaded (a hardware driver, or \`modprobe softdog\`)`
      : errno === 'EACCES' || errno === 'EPERM'
        ? `no write access to ${device}: give the agent's user write access (e.g. a udev rule)`
        : errno === 'EBUSY'
          ? `${device} is already open in another process (a watchdog daemon?): only one may hold it`
          : `cannot open ${device}: ${(cause as Error).message}`;
  return new WatchdogError('WATCHDOG_UNAVAILABLE', hint, { cause });
}

/** `/dev/watchdog` through the kernel's watchdog API. */
export function createLinuxWatchdogDriver(options: LinuxWatchdogDriverOptions = {}): WatchdogDriver {
  const device = options.device ?? DEFAULT_WATCHDOG_DEVICE;
  const logger = options.logger ?? silentLogger;
  const access =
    options.access ??
    ((path: string): boolean => {
      try {
        accessSync(path, constants.W_OK);
        return true;
      } catch {
        return false;
      }
    });
  let io: WatchdogDeviceIo | undefined = options.io;
  let fd: number | null = null;
  let support: WatchdogSupport | null = null;

  function openFd(): number {
    if (fd === null) throw new WatchdogError('WATCHDOG_CLOSED', `${device} is not open`);
    return fd;
  }

  function ioctl<T>(what: string, call: (io: WatchdogDeviceIo, fd: number) => T): T {
    const handle = openFd();
    try {
      return call(io as WatchdogDeviceIo, handle);
    } catch (cause) {
      if (errnoOf(cause) === 'ENOTTY') {
        throw new WatchdogError('WATCHDOG_UNAVAILABLE', `${device} is not a watchdog device (${what}: ENOTTY)`, { cause });
      }
      throw new WatchdogError('WATCHDOG_IO', `${what} on ${device} failed: ${(cause as Error).message}`, { cause });
    }
  }

  function readSupport(): WatchdogSupport {
    support ??= ioctl('WDIOC_GETSUPPORT', (dev, handle) => dev.getSupport(handle));
    return support;
  }

  return {
    get isOpen() {
      return fd !== null;
    },

    isUsable() {
      if (process.platform !== 'linux' && !options.io) return false;
      if (!options.io) {
        try {
          loadNativeWatchdogIo();
        } catch {
          return false;
        }
      }
      return access(device);
    },

    async open() {
      if (fd !== null) return;
      io ??= loadNativeWatchdogIo();
      try {
        fd = io.open(device);
      } catch (cause) {
        throw openFailure(device, cause);
      }
      support = null;
    },

    async getSupport() {
      return readSupport();
    },

    async setTimeout(seconds) {
      if (!Number.isInteger(seconds) || seconds < 1 || seconds > 0xffff) {
        throw new WatchdogError('WATCHDOG_IO', `invalid timeout ${seconds}: a whole number of seconds from 1 to 65535`);
      }
      return ioctl('WDIOC_SETTIMEOUT', (dev, handle) => dev.setTimeout(handle, seconds));
    },

    async getTimeout() {
      return ioctl('WDIOC_GETTIMEOUT', (dev, handle) => dev.getTimeout(handle));
    },

    async keepalive() {
      // WDIOC_KEEPALIVE only where the device advertises it; a write pings every device.
      const ping = support !== null && hasOption(support, WDIOF.KEEPALIVEPING);
      if (ping) ioctl('WDIOC_KEEPALIVE', (dev, handle) => dev.keepalive(handle));
      else ioctl('keepalive write', (dev, handle) => dev.write(handle, '1'));
    },

    async close() {
      if (fd === null) return;
      const handle = fd;
      const dev = io as WatchdogDeviceIo;
      let failure: unknown;
      try {
        // 'V' tells the kernel the close is deliberate so it stops the timer (WDIOF_MAGICCLOSE); a device
        // without magic close is asked to stop through WDIOS_DISABLECARD instead. With nowayout neither works.
        if (support === null || hasOption(support, WDIOF.MAGICCLOSE)) dev.write(handle, 'V');
        else {
          try {
            dev.setOptions(handle, WDIOS.DISABLECARD);
          } catch (cause) {
            logger.log('warn', `[watchdog] ${device} refused WDIOS_DISABLECARD: it keeps counting after close`, {
              error: (cause as Error).message,
            });
          }
        }
      } catch (cause) {
        failure = cause;
      }
      try {
        dev.close(handle);
      } catch (cause) {
        failure ??= cause;
      }
      fd = null;
      if (failure !== undefined) {
        throw new WatchdogError('WATCHDOG_IO', `closing ${device} failed: ${(failure as Error).message}`, { cause: failure });
      }
    },

    describe() {
      let name = 'Linux watchdog device';
      if (support !== null && support.identity !== '') {
        name = support.identity + (support.firmwareVersion ? ` (firmware ${support.firmwareVersion})` : '');
      }
      return `${name} at ${device}`;
    },
  };
}
