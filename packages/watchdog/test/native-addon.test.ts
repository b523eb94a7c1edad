import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { createLinuxWatchdogDriver, createWatchdog, isWatchdogError, loadNativeWatchdogIo } from '../src/index.js';

const packageDir = dirname(dirname(fileURLToPath(import.meta.url)));
const scratch = mkdtempSync(join(tmpdir(), 'pgwarden-watchdog-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

// There is no /dev/watchdog in CI (and softdog cannot be loaded in a container): these tests prove the
// addon is built, loads, and turns the kernel's answers into clear errors on real file descriptors.
describe('native addon', () => {
  it('is built at install and loads', () => {
    const io = loadNativeWatchdogIo();
    for (const call of ['open', 'close', 'write', 'getSupport', 'setTimeout', 'getTimeout', 'keepalive', 'setOptions'] as const) {
      expect(typeof io[call]).toBe('function');
    }
  });

  it('reports errno codes from the system calls', () => {
    const io = loadNativeWatchdogIo();
    expect(() => io.open(join(scratch, 'missing'))).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open' }));
    expect(() => io.close(-1)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });

  it('a missing device is a clear WATCHDOG_UNAVAILABLE error', async () => {
    const device = join(scratch, 'watchdog');
    const driver = createLinuxWatchdogDriver({ device });
    expect(driver.isUsable?.()).toBe(false);
    const error = await driver.open().catch((e: unknown) => e);
    expect(isWatchdogError(error, 'WATCHDOG_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toBe(
      `[watchdog] ${device} does not exist: no watchdog driver is loaded (a hardware driver, or \`modprobe softdog\`)`,
    );
  });

  it('a file that is not a watchdog is refused by the ioctl (ENOTTY) and closed with the magic character', async () => {
    const device = join(scratch, 'not-a-watchdog');
    writeFileSync(device, '');
    const driver = createLinuxWatchdogDriver({ device });
    await driver.open();
    expect(driver.isOpen).toBe(true);
    await expect(driver.getSupport()).rejects.toThrow(`${device} is not a watchdog device (WDIOC_GETSUPPORT: ENOTTY)`);
    await driver.keepalive(); // without support information it pings by writing
    await driver.close();
    expect(driver.isOpen).toBe(false);
    expect(readFileSync(device, 'utf8')).toBe('1V');
  });

  it('required mode refuses leadership without a device, automatic carries on', async () => {
    const device = join(scratch, 'absent');
    await using required = createWatchdog({ mode: 'required', device, ttl: 30 });
    expect(required.isHealthy).toBe(false);
    expect(await required.activate(30)).toBe(false);
    await using automatic = createWatchdog({ mode: 'automatic', device });
    expect(await automatic.activate(30)).toBe(true);
    expect(automatic.isRunning).toBe(false);
  });
});

describe('install script', () => {
  it('never fails the install: a skipped build leaves a note the driver quotes', () => {
    const note = join(packageDir, 'native', 'build-failure.txt');
    const existed = existsSync(note);
    try {
      const result = spawnSync(process.execPath, [join(packageDir, 'scripts', 'build-native.mjs')], {
        env: { ...process.env, PGWARDEN_WATCHDOG_SKIP_NATIVE: '1' },
        encoding: 'utf8',
      });
      expect(result.status).toBe(0);
      expect(result.stderr).toContain('native addon not built (PGWARDEN_WATCHDOG_SKIP_NATIVE=1)');
      expect(readFileSync(note, 'utf8')).toBe('PGWARDEN_WATCHDOG_SKIP_NATIVE=1\n');
    } finally {
      if (!existed) rmSync(note, { force: true });
    }
  });
});
