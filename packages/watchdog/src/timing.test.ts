import { describe, expect, it } from 'vitest';
import { DEFAULT_SAFETY_MARGIN, watchdogTimeout, watchdogTimingSlack } from './timing.js';

describe('watchdogTimeout', () => {
  it('is ttl minus the safety margin, 5 s by default', () => {
    expect(DEFAULT_SAFETY_MARGIN).toBe(5);
    expect(watchdogTimeout(30)).toBe(25);
    expect(watchdogTimeout(30, 10)).toBe(20);
    expect(watchdogTimeout(30, 0)).toBe(30);
  });

  it('is half the ttl, rounded down, when the safety margin is -1', () => {
    expect(watchdogTimeout(30, -1)).toBe(15);
    expect(watchdogTimeout(31, -1)).toBe(15);
  });

  it('slack is what is left after one loop_wait', () => {
    expect(watchdogTimingSlack(25, 10)).toBe(15);
    expect(watchdogTimingSlack(8, 10)).toBe(-2);
  });
});
