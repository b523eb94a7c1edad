import { createTestClock } from '@pgwarden/testkit';
import { describe, expect, it } from 'vitest';
import { WDIOF } from './driver.js';
import { createLinuxWatchdogDriver } from './linux-driver.js';
import { createSoftwareWatchdogDriver, type WatchdogExpiry } from './software-driver.js';
import { createFakeDevice, createRecordingLogger, type FakeDeviceOptions } from './test-support/fake-device.js';
import { createWatchdog, type WatchdogOptions } from './watchdog.js';

function setup(options: Partial<WatchdogOptions> = {}, device: FakeDeviceOptions = {}) {
  const fake = createFakeDevice(device);
  const logger = createRecordingLogger();
  const driver = createLinuxWatchdogDriver({ io: fake.io, access: () => fake.exists });
  const watchdog = createWatchdog({ mode: 'automatic', driver, logger, ...options });
  return { fake, logger, watchdog };
}

const messages = (logger: ReturnType<typeof createRecordingLogger>, level: string): string[] =>
  logger.lines.filter((line) => line.level === level).map((line) => line.message);

describe('createWatchdog: activation', () => {
  it('mode off never touches the device', async () => {
    const { fake, watchdog } = setup({ mode: 'off' });
    expect(await watchdog.activate(30)).toBe(true);
    await watchdog.keepalive();
    expect(watchdog.isRunning).toBe(false);
    expect(watchdog.isHealthy).toBe(true);
    expect(watchdog.describe()).toBe('watchdog off');
    expect(fake.calls).toEqual([]);
  });

  it('sets the timeout to ttl - safety_margin and starts counting', async () => {
    const { fake, logger, watchdog } = setup({ mode: 'required' });
    expect(await watchdog.activate(30)).toBe(true);
    expect(fake.running).toBe(true);
    expect(fake.timeout).toBe(25);
    expect(watchdog.isRunning).toBe(true);
    expect(watchdog.status()).toMatchObject({ mode: 'required', running: true, healthy: true, timeoutSeconds: 25, failure: null });
    expect(messages(logger, 'info')).toContain('[watchdog] Fake Watchdog at /dev/watchdog activated with a 25 s timeout, timing slack 15 s');
  });

  it('uses half the ttl when safety_margin is -1', async () => {
    const { fake, watchdog } = setup({ safetyMargin: -1 });
    await watchdog.activate(30);
    expect(fake.timeout).toBe(15);
  });

  it('automatic mode without a device logs and carries on', async () => {
    const { logger, watchdog } = setup({ mode: 'automatic' }, { exists: false });
    expect(await watchdog.activate(30)).toBe(true);
    expect(watchdog.isRunning).toBe(false);
    expect(watchdog.isHealthy).toBe(true);
    expect(messages(logger, 'info')).toEqual([
      '[watchdog] continuing without a watchdog: Linux watchdog device at /dev/watchdog: [watchdog] /dev/watchdog does not exist: no watchdog driver is loaded (a hardware driver, or `modprobe softdog`)',
    ]);
  });

  it('required mode without a device refuses, reports unhealthy, and does not retry until reconfigured', async () => {
    const { fake, logger, watchdog } = setup({ mode: 'required', ttl: 30 }, { exists: false });
    expect(watchdog.isHealthy).toBe(false); // known before trying: the device is missing
    expect(await watchdog.activate(30)).toBe(false);
    expect(watchdog.isHealthy).toBe(false);
    expect(watchdog.status().failure).toContain('/dev/watchdog does not exist');
    expect(messages(logger, 'error')[0]).toContain('watchdog is required but could not be activated');

    fake.exists = true;
    expect(watchdog.isHealthy).toBe(false); // the failure sticks...
    expect(await watchdog.activate(30)).toBe(false);
    expect(fake.calls.filter((call) => call.startsWith('open'))).toHaveLength(1);

    await watchdog.reconfigure(30); // ...until a reload
    expect(watchdog.isHealthy).toBe(true);
    expect(await watchdog.activate(30)).toBe(true);
    expect(watchdog.isRunning).toBe(true);
  });

  it('a file that is not a watchdog fails activation and is closed again', async () => {
    const { fake, watchdog } = setup({ mode: 'required' }, { notAWatchdog: true });
    expect(await watchdog.activate(30)).toBe(false);
    expect(fake.calls.at(-1)).toBe('close');
    expect(watchdog.isRunning).toBe(false);
  });

  it('a timeout shorter than loop_wait is unsafe: required refuses, automatic runs without', async () => {
    const required = setup({ mode: 'required', loopWait: 10, ttl: 14 });
    expect(required.watchdog.isHealthy).toBe(false);
    expect(await required.watchdog.activate(14)).toBe(false);
    expect(required.watchdog.status().failure).toBe(
      'timeout 9 s (ttl 14 s, safety_margin 5) is shorter than loop_wait 10 s: a keepalive per loop could not keep it from firing',
    );
    expect(required.fake.calls).toEqual([]);

    const automatic = setup({ mode: 'automatic', loopWait: 10 });
    expect(await automatic.watchdog.activate(14)).toBe(true);
    expect(automatic.watchdog.isRunning).toBe(false);
  });

  it('a device that rounds the timeout up is not safe enough for required mode', async () => {
    const round = (s: number): number => Math.ceil(s / 30) * 30;
    const required = setup({ mode: 'required' }, { round });
    expect(await required.watchdog.activate(30)).toBe(false);
    expect(required.fake.running).toBe(false);
    expect(required.watchdog.status().failure).toContain('took a 30 s timeout instead of 25 s');

    const automatic = setup({ mode: 'automatic' }, { round });
    expect(await automatic.watchdog.activate(30)).toBe(true);
    expect(automatic.watchdog.isRunning).toBe(true);
    expect(messages(automatic.logger, 'warn')[0]).toContain('took a 30 s timeout instead of 25 s');
  });

  it('a fixed timeout shorter than loop_wait is closed again', async () => {
    const { fake, watchdog } = setup({ mode: 'required', loopWait: 10 }, { options: WDIOF.MAGICCLOSE | WDIOF.KEEPALIVEPING, timeout: 5 });
    expect(await watchdog.activate(30)).toBe(false);
    expect(fake.calls).not.toContain('ioctl:SETTIMEOUT:25');
    expect(fake.running).toBe(false);
  });

  it('activating while running only keeps the device alive', async () => {
    const { fake, watchdog } = setup();
    await watchdog.activate(30);
    expect(await watchdog.activate(30)).toBe(true);
    expect(fake.opens).toBe(1);
    expect(fake.calls.at(-1)).toBe('ioctl:KEEPALIVE');
  });
});

describe('createWatchdog: keepalive, reconfigure, disable', () => {
  it('keepalive pings the running device and is a no-op before activation', async () => {
    const { fake, watchdog } = setup();
    await watchdog.keepalive();
    expect(fake.calls).toEqual([]);
    await watchdog.activate(30);
    await watchdog.keepalive();
    expect(fake.calls.at(-1)).toBe('ioctl:KEEPALIVE');
  });

  it('a new ttl reaches a running device with the next keepalive', async () => {
    const { fake, logger, watchdog } = setup();
    await watchdog.activate(30);
    await watchdog.reconfigure(60);
    expect(fake.timeout).toBe(25);
    await watchdog.keepalive();
    expect(fake.timeout).toBe(55);
    expect(fake.calls.slice(-2)).toEqual(['ioctl:SETTIMEOUT:55', 'ioctl:KEEPALIVE']);
    expect(watchdog.status().timeoutSeconds).toBe(55);
    expect(messages(logger, 'info')).toContain('[watchdog] Fake Watchdog at /dev/watchdog updated with a 55 s timeout, timing slack 45 s');
    await watchdog.reconfigure(60, { safetyMargin: -1 });
    await watchdog.keepalive();
    expect(fake.timeout).toBe(30);
  });

  it('disable stops the device with a magic close; twice is harmless', async () => {
    const { fake, watchdog } = setup();
    await watchdog.activate(30);
    await watchdog.disable();
    expect(fake.running).toBe(false);
    expect(fake.calls.slice(-2)).toEqual(['write:V', 'close']);
    expect(watchdog.isRunning).toBe(false);
    await watchdog.disable();
    await watchdog.keepalive(); // after disable: nothing to keep alive
    expect(fake.calls.at(-1)).toBe('close');
  });

  it('a device that cannot be stopped gets a last keepalive and a warning', async () => {
    const { fake, logger, watchdog } = setup({}, { options: WDIOF.SETTIMEOUT | WDIOF.KEEPALIVEPING, nowayout: true });
    await watchdog.activate(30);
    expect(messages(logger, 'warn')[0]).toContain('cannot be stopped once opened');
    await watchdog.disable();
    expect(fake.running).toBe(true);
    expect(fake.calls.slice(-3)).toEqual(['ioctl:KEEPALIVE', 'ioctl:SETOPTIONS:1', 'close']);
    expect(messages(logger, 'warn')).toContain('[watchdog] Fake Watchdog at /dev/watchdog cannot be stopped: the host is reset in 25 s');
  });

  it('mode off through a reload closes the device at once', async () => {
    const { fake, watchdog } = setup();
    await watchdog.activate(30);
    await watchdog.reconfigure(30, { mode: 'off' });
    expect(fake.running).toBe(false);
    expect(watchdog.mode).toBe('off');
  });

  it('after a reload an active leader retries the device at its next keepalive', async () => {
    const { fake, watchdog } = setup({ mode: 'automatic' }, { exists: false });
    expect(await watchdog.activate(30)).toBe(true);
    fake.exists = true;
    await watchdog.keepalive();
    expect(watchdog.isRunning).toBe(false);
    await watchdog.reconfigure(30);
    await watchdog.keepalive();
    expect(watchdog.isRunning).toBe(true);
    expect(fake.timeout).toBe(25);
  });

  it('keepalive failures are logged, not thrown', async () => {
    const { fake, logger, watchdog } = setup();
    await watchdog.activate(30);
    fake.io.keepalive = () => {
      throw Object.assign(new Error('EIO'), { code: 'EIO' });
    };
    await watchdog.keepalive();
    expect(messages(logger, 'error')[0]).toBe('[watchdog] keepalive to Fake Watchdog at /dev/watchdog failed');
  });

  it('dispose disables the device; activate afterwards is an error', async () => {
    const { fake, watchdog } = setup();
    await watchdog.activate(30);
    await watchdog[Symbol.asyncDispose]();
    expect(fake.running).toBe(false);
    await expect(watchdog.activate(30)).rejects.toThrow('[watchdog] activate() after dispose');
  });
});

describe('createWatchdog with the software driver', () => {
  function software() {
    const clock = createTestClock(0);
    const expiries: WatchdogExpiry[] = [];
    const driver = createSoftwareWatchdogDriver({ clock, onExpire: (e) => void expiries.push(e) });
    const watchdog = createWatchdog({ mode: 'required', driver, loopWait: 10 });
    return { clock, expiries, watchdog };
  }

  it('a leader that renews every loop_wait is never reset', async () => {
    const { clock, expiries, watchdog } = software();
    expect(await watchdog.activate(30)).toBe(true);
    for (let loop = 0; loop < 30; loop++) {
      await clock.advance(10_000);
      await watchdog.keepalive();
    }
    expect(expiries).toEqual([]);
  });

  it('a hung leader is reset ttl - safety_margin after its last renewal, before the lock expires', async () => {
    const { clock, expiries, watchdog } = software();
    await watchdog.activate(30);
    await clock.advance(10_000);
    await watchdog.keepalive(); // the last successful renewal, at t = 10 s; the lock now lasts until 40 s
    await clock.advance(24_999);
    expect(expiries).toEqual([]);
    await clock.advance(1);
    expect(expiries).toEqual([{ timeoutSeconds: 25, lastKeepaliveAt: 10_000, expiredAt: 35_000 }]);
  });

  it('a demoted member (disabled) is not reset when keepalives stop', async () => {
    const { clock, expiries, watchdog } = software();
    await watchdog.activate(30);
    await watchdog.disable();
    await clock.advance(120_000);
    expect(expiries).toEqual([]);
  });
});
