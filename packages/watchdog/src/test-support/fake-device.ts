import { WDIOF, WDIOS, type WatchdogSupport } from '../driver.js';
import type { WatchdogDeviceIo } from '../linux-driver.js';

function errno(code: string, syscall: string): Error {
  return Object.assign(new Error(`${syscall}: ${code}`), { code });
}

export interface FakeDeviceOptions {
  /** Absent devices fail open with ENOENT. */
  exists?: boolean;
  /** What open fails with, e.g. 'EACCES' or 'EBUSY'. */
  openError?: string;
  /** WDIOC_GETSUPPORT fails with ENOTTY: a file that is not a watchdog. */
  notAWatchdog?: boolean;
  options?: number;
  identity?: string;
  timeout?: number;
  /** Maps a requested timeout to the one the "hardware" takes. */
  round?: (seconds: number) => number;
  /** The kernel's nowayout: close never stops the timer. */
  nowayout?: boolean;
}

/** The kernel's side of /dev/watchdog, as far as the driver can observe it. */
export interface FakeDevice {
  readonly io: WatchdogDeviceIo;
  /** The timer counts (opened and not stopped). */
  readonly running: boolean;
  readonly timeout: number;
  readonly opens: number;
  /** Every call the driver made, e.g. `write:V`, `ioctl:KEEPALIVE`. */
  readonly calls: string[];
  exists: boolean;
}

export function createFakeDevice(options: FakeDeviceOptions = {}): FakeDevice {
  const support: WatchdogSupport = {
    options: options.options ?? WDIOF.SETTIMEOUT | WDIOF.MAGICCLOSE | WDIOF.KEEPALIVEPING,
    firmwareVersion: 0,
    identity: options.identity ?? 'Fake Watchdog',
  };
  const state = {
    exists: options.exists ?? true,
    running: false,
    timeout: options.timeout ?? 60,
    opens: 0,
    calls: [] as string[],
  };
  let fd: number | null = null;
  let expectClose = false;

  function check(handle: number, syscall: string): void {
    if (handle !== fd) throw errno('EBADF', syscall);
  }

  const io: WatchdogDeviceIo = {
    open(path) {
      state.calls.push(`open:${path}`);
      if (!state.exists) throw errno('ENOENT', 'open');
      if (options.openError) throw errno(options.openError, 'open');
      if (fd !== null) throw errno('EBUSY', 'open');
      state.opens += 1;
      fd = 10 + state.opens;
      state.running = true;
      expectClose = false;
      return fd;
    },
    close(handle) {
      check(handle, 'close');
      state.calls.push('close');
      if (expectClose && !options.nowayout) state.running = false;
      fd = null;
    },
    write(handle, data) {
      check(handle, 'write');
      state.calls.push(`write:${data}`);
      expectClose = data.includes('V') && (support.options & WDIOF.MAGICCLOSE) !== 0;
      return data.length;
    },
    getSupport(handle) {
      check(handle, 'ioctl');
      state.calls.push('ioctl:GETSUPPORT');
      if (options.notAWatchdog) throw errno('ENOTTY', 'ioctl(WDIOC_GETSUPPORT)');
      return support;
    },
    setTimeout(handle, seconds) {
      check(handle, 'ioctl');
      state.calls.push(`ioctl:SETTIMEOUT:${seconds}`);
      if ((support.options & WDIOF.SETTIMEOUT) === 0) throw errno('EOPNOTSUPP', 'ioctl(WDIOC_SETTIMEOUT)');
      state.timeout = options.round ? options.round(seconds) : seconds;
      return state.timeout;
    },
    getTimeout(handle) {
      check(handle, 'ioctl');
      state.calls.push('ioctl:GETTIMEOUT');
      return state.timeout;
    },
    keepalive(handle) {
      check(handle, 'ioctl');
      state.calls.push('ioctl:KEEPALIVE');
      if ((support.options & WDIOF.KEEPALIVEPING) === 0) throw errno('EOPNOTSUPP', 'ioctl(WDIOC_KEEPALIVE)');
    },
    setOptions(handle, flags) {
      check(handle, 'ioctl');
      state.calls.push(`ioctl:SETOPTIONS:${flags}`);
      if (flags & WDIOS.DISABLECARD) {
        if (options.nowayout) throw errno('EBUSY', 'ioctl(WDIOC_SETOPTIONS)');
        state.running = false;
      }
    },
  };

  return {
    io,
    get running() {
      return state.running;
    },
    get timeout() {
      return state.timeout;
    },
    get opens() {
      return state.opens;
    },
    get calls() {
      return state.calls;
    },
    get exists() {
      return state.exists;
    },
    set exists(value: boolean) {
      state.exists = value;
    },
  };
}

/** A logger that keeps what it is told, for assertions. */
export function createRecordingLogger(): { log: (level: string, message: string, fields?: Record<string, unknown>) => void; lines: Array<{ level: string; message: string }> } {
  const lines: Array<{ level: string; message: string }> = [];
  return { lines, log: (level, message) => lines.push({ level, message }) };
}
