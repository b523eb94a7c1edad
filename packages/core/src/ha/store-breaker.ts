/**
 * Once a store call fails in a cycle, the cycle's other store calls are answered "failed" at once instead of
 * being sent. Each would wait out retry_timeout again, so a leader whose lock was renewed just before the store
 * went away could spend several retry_timeouts in one cycle and still run read-write past its lease.
 */
import type { Effect } from './effects.js';

export interface StoreBreaker {
  /** A store call failed in this cycle; later ones were skipped. */
  tripped: boolean;
  /** The failure came after a successful `dcs.load`: the cycle went on deciding with the store gone. */
  trippedAfterLoad: boolean;
}

export function newStoreBreaker(): StoreBreaker {
  return { tripped: false, trippedAfterLoad: false };
}

const SKIPPED = { ok: false, error: 'skipped: the DCS failed earlier in this cycle' } as const;

function isStoreCall(effect: Effect): boolean {
  return effect.kind.startsWith('dcs.');
}

function failed(result: unknown): boolean {
  return typeof result === 'object' && result !== null && (result as { ok?: unknown }).ok === false;
}

/** Runs `inner`, passing its effects through until a store call fails, then answering further store calls itself. */
export function* withStoreBreaker<T>(inner: Generator<Effect, T, unknown>, breaker: StoreBreaker): Generator<Effect, T, unknown> {
  let loaded = false;
  let step = inner.next();
  while (!step.done) {
    const effect = step.value;
    if (isStoreCall(effect) && breaker.tripped) {
      step = inner.next(SKIPPED);
      continue;
    }
    const result: unknown = yield effect;
    if (isStoreCall(effect) && failed(result)) {
      breaker.tripped = true;
      if (loaded) breaker.trippedAfterLoad = true;
    } else if (effect.kind === 'dcs.load') {
      loaded = true;
    }
    step = inner.next(result);
  }
  return step.value;
}
