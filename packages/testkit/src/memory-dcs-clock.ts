import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Clock } from '@pgwarden/core';

/** A `Clock` whose time moves only when a test says so: TTLs and loop waits without real sleeps. */
export interface TestClock extends Clock {
  /**
   * Moves time forward by `ms`, waking sleepers in due order; each woken sleeper's follow-up work runs
   * (and may sleep again) before time moves past the next timer. Await it.
   */
  advance(ms: number): Promise<void>;
  /** How many sleeps are waiting. */
  pendingSleeps(): number;
}

interface Sleeper {
  readonly due: number;
  readonly order: number;
  readonly resolve: () => void;
}

/** Lets pending promise reactions (and what they schedule) run before the clock moves on. */
async function settle(): Promise<void> {
  await nextTurn();
}

export function createTestClock(start = 0): TestClock {
  let now = start;
  let order = 0;
  const sleepers = new Set<Sleeper>();

  function earliestDue(limit: number): Sleeper | undefined {
    let earliest: Sleeper | undefined;
    for (const sleeper of sleepers) {
      if (sleeper.due > limit) continue;
      if (!earliest || sleeper.due < earliest.due || (sleeper.due === earliest.due && sleeper.order < earliest.order)) {
        earliest = sleeper;
      }
    }
    return earliest;
  }

  return {
    now: () => now,
    sleep(ms, signal) {
      return new Promise<void>((resolve, reject) => {
        if (signal?.aborted) {
          reject(signal.reason as Error);
          return;
        }
        const onAbort = (): void => {
          sleepers.delete(sleeper);
          reject(signal?.reason as Error);
        };
        const sleeper: Sleeper = {
          due: now + Math.max(0, ms),
          order: order++,
          resolve: () => {
            signal?.removeEventListener('abort', onAbort);
            resolve();
          },
        };
        sleepers.add(sleeper);
        signal?.addEventListener('abort', onAbort, { once: true });
      });
    },
    async advance(ms) {
      const target = now + Math.max(0, ms);
      await settle();
      for (;;) {
        const next = earliestDue(target);
        if (!next) break;
        sleepers.delete(next);
        now = Math.max(now, next.due);
        next.resolve();
        await settle();
      }
      now = target;
      await settle();
    },
    pendingSleeps: () => sleepers.size,
  };
}
