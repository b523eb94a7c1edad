/**
 * Graceful stop (SIGTERM): stop PostgreSQL first, then release the lock, so a replica can take over at once
 * instead of waiting for the lock to expire, and never while this primary still accepts writes.
 */
import type { Decision } from './decision.js';
import { decision } from './decision.js';
import type { Effect } from './effects.js';
import { perform } from './effects.js';
import type { HaMemory } from './cycle.js';

export function* shutdownSequence(input: {
  memory: HaMemory;
  now: number;
  paused: boolean;
  watchdogRunning?: boolean;
  /** primary_stop_timeout when it applies (see `primaryStopKillAfter`). */
  primaryStopKillAfter?: number;
}): Generator<Effect, Decision, unknown> {
  if (input.paused) {
    if (input.watchdogRunning) yield* perform('watchdog.disable', {});
    // Maintenance mode: the operator owns PostgreSQL; leave it running and the lock where it is.
    return decision('shutdown_complete', 'paused: leaving postgres running and the leader lock in place');
  }
  const pg = yield* perform('pg.observe', {});
  if (pg.running) {
    const killAfter = pg.role === 'primary' ? input.primaryStopKillAfter : undefined;
    const stopped = yield* perform('pg.stop', killAfter === undefined ? { mode: 'fast' } : { mode: 'fast', killAfter });
    // Patroni announces every stop of a running postgres with the role it had (ha/callbacks.ts).
    const role = pg.role === 'primary' ? 'primary' : input.memory.lastRole === 'standby_leader' ? 'standby_leader' : 'replica';
    if (stopped) yield* perform('callback.run', { action: 'on_stop', role });
    // Only once postgres is down may the host stop counting; a failed stop keeps the watchdog armed.
    if (stopped && input.watchdogRunning) yield* perform('watchdog.disable', {});
    if (!stopped) {
      // Keeping the lock is safer than handing it over while our postmaster may still take writes.
      return decision('shutdown_kept_lock', 'postgres did not stop: keeping the leader lock until it expires');
    }
  }
  const holdsLock = input.memory.lockValidUntil !== null && input.memory.lockValidUntil > input.now;
  if (holdsLock) {
    const released = yield* perform('dcs.releaseLeader', {});
    if (released.ok && released.value) return decision('shutdown_released_lock', 'postgres stopped; released the leader lock');
    return decision('shutdown_kept_lock', 'postgres stopped; the leader lock could not be released and will expire');
  }
  return decision('shutdown_complete', 'postgres stopped');
}
