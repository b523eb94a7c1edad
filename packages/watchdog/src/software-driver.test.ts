import { createTestClock } from '@pgwarden/testkit';
import { describe, expect, it } from 'vitest';
import { isWatchdogError } from './errors.js';
import { createSoftwareWatchdogDriver, type WatchdogExpiry } from './software-driver.js';
import { createRecordingLogger } from './test-support/fake-device.js';

function setup(extra: { nowayout?: boolean; onExpire?: (e: WatchdogExpiry) => void } = {}) {
  const clock = createTestClock(1_000_000);
  const expiries: WatchdogExpiry[] = [];
  const logger = createRecordingLogger();
  const driver = createSoftwareWatchdogDriver({
    clock,
    logger,
    onExpire: extra.onExpire ?? ((e) => void expiries.push(e)),
    ...(extra.nowayout !== undefined && { nowayout: extra.nowayout }),
  });
  return { clock, driver, expiries, logger };
}

describe('software watchdog driver', () => {
  it('fires when no keepalive comes within the timeout, not a moment before', async () => {
    const { clock, driver, expiries, logger } = setup();
    await driver.open();
    await driver.setTimeout(25);
    await clock.advance(24_999);
    expect(expiries).toEqual([]);
    await clock.advance(1);
    expect(expiries).toEqual([{ timeoutSeconds: 25, lastKeepaliveAt: 1_000_000, expiredAt: 1_025_000 }]);
    expect(driver.expired).toBe(true);
    expect(logger.lines).toContainEqual({
      level: 'error',
      message: '[watchdog] software watchdog expired: no keepalive for 25 s, a hardware watchdog would reset the host now',
    });
  });

  it('does not fire while keepalives come in time', async () => {
    const { clock, driver, expiries } = setup();
    await driver.open();
    await driver.setTimeout(25);
    for (let loop = 0; loop < 20; loop++) {
      await clock.advance(10_000);
      await driver.keepalive();
    }
    expect(expiries).toEqual([]);
    await clock.advance(25_000);
    expect(expiries).toHaveLength(1);
    expect(expiries[0]?.lastKeepaliveAt).toBe(1_200_000);
  });

  it('counts from the default timeout once opened, and a new timeout restarts the countdown', async () => {
    const { clock, driver, expiries } = setup();
    await driver.open();
    expect(await driver.getTimeout()).toBe(60);
    await clock.advance(50_000);
    await driver.setTimeout(15);
    await clock.advance(14_000);
    expect(expiries).toEqual([]);
    await clock.advance(1_000);
    expect(expiries).toHaveLength(1);
  });

  it('magic close stops the countdown; nowayout does not', async () => {
    const stopped = setup();
    await stopped.driver.open();
    await stopped.driver.close();
    await stopped.clock.advance(120_000);
    expect(stopped.expiries).toEqual([]);
    expect(stopped.clock.pendingSleeps()).toBe(0);

    const kept = setup({ nowayout: true });
    await kept.driver.open();
    expect(await kept.driver.getSupport()).toMatchObject({ identity: 'Software watchdog' });
    await kept.driver.close();
    await kept.clock.advance(60_000);
    expect(kept.expiries).toHaveLength(1);
  });

  it('takes no keepalive after expiry and needs to be open', async () => {
    const { clock, driver } = setup();
    await expect(driver.keepalive()).rejects.toSatisfy((e: unknown) => isWatchdogError(e, 'WATCHDOG_CLOSED'));
    await driver.open();
    await clock.advance(60_000);
    await expect(driver.keepalive()).rejects.toSatisfy((e: unknown) => isWatchdogError(e, 'WATCHDOG_EXPIRED'));
  });

  it('logs a failing expiry action instead of throwing it away silently', async () => {
    const { clock, driver, logger } = setup({
      onExpire: () => {
        throw new Error('kill failed');
      },
    });
    await driver.open();
    await clock.advance(60_000);
    expect(logger.lines.at(-1)).toEqual({ level: 'error', message: '[watchdog] software watchdog expiry action failed' });
  });
});
