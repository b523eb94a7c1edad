import { describe, expect, it } from 'vitest';
import { createTestClock } from './memory-dcs-clock.js';

describe('createTestClock', () => {
  it('starts where told and moves only on advance', async () => {
    const clock = createTestClock(1_000);
    expect(clock.now()).toBe(1_000);
    await clock.advance(250);
    expect(clock.now()).toBe(1_250);
  });

  it('wakes sleepers in due order, each at its own time', async () => {
    const clock = createTestClock();
    const woke: [string, number][] = [];
    void clock.sleep(300).then(() => woke.push(['late', clock.now()]));
    void clock.sleep(100).then(() => woke.push(['early', clock.now()]));
    await clock.advance(99);
    expect(woke).toEqual([]);
    await clock.advance(500);
    expect(woke).toEqual([
      ['early', 100],
      ['late', 300],
    ]);
    expect(clock.now()).toBe(599);
  });

  it('runs a sleeper that sleeps again within one advance', async () => {
    const clock = createTestClock();
    let ticks = 0;
    void (async () => {
      for (let index = 0; index < 3; index++) {
        await clock.sleep(10);
        ticks++;
      }
    })();
    await clock.advance(25);
    expect(ticks).toBe(2);
    await clock.advance(5);
    expect(ticks).toBe(3);
    expect(clock.pendingSleeps()).toBe(0);
  });

  it('rejects a sleep with the abort reason and forgets it', async () => {
    const clock = createTestClock();
    const controller = new AbortController();
    const sleep = clock.sleep(1_000, controller.signal);
    controller.abort(new Error('stop'));
    await expect(sleep).rejects.toThrow('stop');
    expect(clock.pendingSleeps()).toBe(0);
    await expect(clock.sleep(1, AbortSignal.abort(new Error('early')))).rejects.toThrow('early');
  });
});
