import { describe, expect, it } from 'vitest';
import { WDIOF, WDIOS } from './driver.js';
import { isWatchdogError } from './errors.js';
import { createLinuxWatchdogDriver, loadWatchdogAddon } from './linux-driver.js';
import { createFakeDevice, type FakeDeviceOptions } from './test-support/fake-device.js';

function setup(options: FakeDeviceOptions = {}, device = '/dev/watchdog') {
  const fake = createFakeDevice(options);
  return { fake, driver: createLinuxWatchdogDriver({ device, io: fake.io, access: () => fake.exists }) };
}

describe('Linux watchdog driver', () => {
  it.each([
    [{ exists: false }, '/dev/watchdog does not exist'],
    [{ openError: 'EACCES' }, 'no write access to /dev/watchdog'],
    [{ openError: 'EBUSY' }, 'already open in another process'],
  ] as const)('explains why the device cannot be opened (%o)', async (options, message) => {
    const { driver } = setup(options);
    const error = await driver.open().catch((e: unknown) => e);
    expect(isWatchdogError(error, 'WATCHDOG_UNAVAILABLE')).toBe(true);
    expect((error as Error).message).toContain(`[watchdog] `);
    expect((error as Error).message).toContain(message);
    expect(driver.isOpen).toBe(false);
  });

  it('rejects a file that is not a watchdog device (ENOTTY)', async () => {
    const { driver } = setup({ notAWatchdog: true });
    await driver.open();
    await expect(driver.getSupport()).rejects.toThrow('/dev/watchdog is not a watchdog device');
  });

  it('sets and reads the timeout through the ioctls and reports what the device took', async () => {
    const { fake, driver } = setup({ round: (s) => Math.ceil(s / 4) * 4 });
    await driver.open();
    expect(await driver.setTimeout(25)).toBe(28);
    expect(await driver.getTimeout()).toBe(28);
    expect(fake.calls).toEqual(['open:/dev/watchdog', 'ioctl:SETTIMEOUT:25', 'ioctl:GETTIMEOUT']);
  });

  it.each([0, -1, 1.5, 65536])('refuses the timeout %d before asking the device', async (seconds) => {
    const { fake, driver } = setup();
    await driver.open();
    await expect(driver.setTimeout(seconds)).rejects.toThrow('invalid timeout');
    expect(fake.calls).toEqual(['open:/dev/watchdog']);
  });

  it('pings with WDIOC_KEEPALIVE when supported, else with a write', async () => {
    const ping = setup();
    await ping.driver.open();
    await ping.driver.getSupport();
    await ping.driver.keepalive();
    expect(ping.fake.calls.at(-1)).toBe('ioctl:KEEPALIVE');

    const write = setup({ options: WDIOF.SETTIMEOUT | WDIOF.MAGICCLOSE });
    await write.driver.open();
    await write.driver.getSupport();
    await write.driver.keepalive();
    expect(write.fake.calls.at(-1)).toBe('write:1');
  });

  it('magic close: writes V before closing, so the timer stops', async () => {
    const { fake, driver } = setup();
    await driver.open();
    await driver.getSupport();
    await driver.close();
    expect(fake.calls.slice(-2)).toEqual(['write:V', 'close']);
    expect(fake.running).toBe(false);
    expect(driver.isOpen).toBe(false);
    await driver.close(); // closing twice is harmless
  });

  it('without magic close it asks the card to stop with WDIOS_DISABLECARD', async () => {
    const { fake, driver } = setup({ options: WDIOF.SETTIMEOUT });
    await driver.open();
    await driver.getSupport();
    await driver.close();
    expect(fake.calls.slice(-2)).toEqual([`ioctl:SETOPTIONS:${WDIOS.DISABLECARD}`, 'close']);
    expect(fake.running).toBe(false);
  });

  it('a nowayout device keeps counting after close', async () => {
    const { fake, driver } = setup({ nowayout: true });
    await driver.open();
    await driver.close();
    expect(fake.running).toBe(true);
  });

  it('needs an open device for ioctls', async () => {
    const { driver } = setup();
    await expect(driver.getTimeout()).rejects.toSatisfy((e: unknown) => isWatchdogError(e, 'WATCHDOG_CLOSED'));
    await expect(driver.keepalive()).rejects.toThrow('/dev/watchdog is not open');
  });

  it('describes itself with the identity the device reports', async () => {
    const { driver } = setup({ identity: 'iTCO_wdt' }, '/dev/watchdog1');
    expect(driver.describe()).toBe('Linux watchdog device at /dev/watchdog1');
    await driver.open();
    await driver.getSupport();
    expect(driver.describe()).toBe('iTCO_wdt at /dev/watchdog1');
  });

  it('isUsable follows write access to the device', () => {
    const { fake, driver } = setup();
    expect(driver.isUsable?.()).toBe(true);
    fake.exists = false;
    expect(driver.isUsable?.()).toBe(false);
  });

  it('a missing addon is an explicit error, quoting the build failure when there was one', () => {
    expect(() => loadWatchdogAddon('/nonexistent/addon.node', '/nonexistent/note.txt')).toThrow(
      /native addon not available at \/nonexistent\/addon.node .*build:native/,
    );
    expect(() => loadWatchdogAddon('/nonexistent/addon.node', '/nonexistent/note.txt', 'darwin')).toThrow(
      'the Linux watchdog driver does not run on darwin',
    );
  });
});
