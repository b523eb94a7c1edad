import { describe, expect, it } from 'vitest';
import { createLimiter } from './limiter.js';

describe('createLimiter', () => {
  it('runs up to maxInFlight, queues up to maxQueued in order, refuses the rest', async () => {
    const limiter = createLimiter(2, 1);
    const first = await limiter.acquire();
    const second = await limiter.acquire();
    expect(first && second).toBeTruthy();
    const order: string[] = [];
    const third = limiter.acquire().then((release) => {
      order.push('third');
      return release;
    });
    expect(await limiter.acquire()).toBeNull();
    expect([limiter.inFlight, limiter.queued]).toEqual([2, 1]);
    first!();
    first!(); // releasing twice frees one slot only
    const releaseThird = await third;
    expect(order).toEqual(['third']);
    expect([limiter.inFlight, limiter.queued]).toEqual([2, 0]);
    second!();
    releaseThird!();
    expect(limiter.inFlight).toBe(0);
  });

  it('drops a waiting request whose client went away', async () => {
    const limiter = createLimiter(1, 1);
    const held = await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    controller.abort();
    expect(await waiting).toBeNull();
    expect(limiter.queued).toBe(0);
    expect(await limiter.acquire(AbortSignal.abort())).toBeNull();
    held!();
    expect(limiter.inFlight).toBe(0);
  });
});
