import { setTimeout as delay } from 'node:timers/promises';
import type { Clock } from '@pgwarden/core';

/** The real clock, the only one the agent wires; everything below it takes a Clock. */
export const systemClock: Clock = {
  now: () => Date.now(),
  sleep: (ms, signal) => delay(ms, undefined, signal ? { signal } : undefined),
};
