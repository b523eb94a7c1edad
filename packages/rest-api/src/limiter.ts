/**
 * At most `maxInFlight` slow requests (DCS reads, writes, waits) run at once, in the spirit of Patroni's
 * `restapi.thread_pool_size`; up to `maxQueued` more wait their turn in arrival order; the rest are refused.
 * Health checks answer from the snapshot and never take a slot.
 */
export interface Limiter {
  /**
   * A release function once a slot is free, or null right away when the queue is full. Aborting `signal`
   * (the client went away) takes a waiting request out of the queue; the promise then resolves null.
   */
  acquire(signal?: AbortSignal): Promise<(() => void) | null>;
  readonly inFlight: number;
  readonly queued: number;
}

export function createLimiter(maxInFlight: number, maxQueued: number): Limiter {
  let inFlight = 0;
  const waiting: Array<{ grant: () => void }> = [];

  const release = (): void => {
    const next = waiting.shift();
    if (next) next.grant();
    else inFlight--;
  };
  const slot = (): (() => void) => {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      release();
    };
  };

  return {
    acquire(signal) {
      if (signal?.aborted) return Promise.resolve(null);
      if (inFlight < maxInFlight) {
        inFlight++;
        return Promise.resolve(slot());
      }
      if (waiting.length >= maxQueued) return Promise.resolve(null);
      return new Promise((resolve) => {
        const entry = {
          grant: () => {
            signal?.removeEventListener('abort', onAbort);
            // The slot passes from the releaser to this request: inFlight stays the same.
            resolve(slot());
          },
        };
        const onAbort = (): void => {
          const index = waiting.indexOf(entry);
          if (index >= 0) waiting.splice(index, 1);
          resolve(null);
        };
        signal?.addEventListener('abort', onAbort, { once: true });
        waiting.push(entry);
      });
    },
    get inFlight() {
      return inFlight;
    },
    get queued() {
      return waiting.length;
    },
  };
}
