/**
 * Which user callback fires when, with which role: Patroni 4.x's rules, decided here so that the branches of
 * the cycle only act (stop, start tasks, follow) and this module announces what they did.
 *
 * | event                                                   | callbacks, in order                                  |
 * | ------------------------------------------------------- | ---------------------------------------------------- |
 * | bootstrap of a new cluster finished                     | `on_start primary`                                   |
 * | replica created (clone) and started                     | `on_start replica`                                   |
 * | agent started while postgres runs: first cycle          | `on_start <role>`                                    |
 * | postgres started after a crash / stop (same role)       | `on_start <role>`                                    |
 * | promotion (`pg_ctl promote`)                            | `on_role_change primary`                             |
 * | demotion (lock lost, switchover, not healthiest, no watchdog, DCS unreachable) | `on_stop primary` when it stopped postgres, then once postgres runs again `on_role_change replica` (never `on_start`) |
 * | a lock holder's start/restart failed (primary or standby leader) | `on_role_change demoted`                   |
 * | restart (`POST /restart`, scheduled restart)            | `on_restart <role>` only (no on_stop, no on_start)   |
 * | follow a new leader: configuration reloaded / restarted | `on_reload <role>` / `on_restart <role>`             |
 * | replica stopped to rewind, reinitialized, logical slots copied | `on_stop replica`, then `on_start replica`    |
 * | `standby_cluster` added to a primary's config (demote-cluster) | `on_stop primary`, `on_role_change standby_leader` |
 * | agent shutdown (SIGTERM), postgres stopped              | `on_stop <role>` (none while paused)                 |
 * | `POST /reload`, SIGHUP, changed postgres parameters     | `on_reload <role>` once `pg_ctl reload` succeeded    |
 *
 * A new callback kills the one still running (its whole process group); on_reload runs on its own and only
 * replaces an earlier on_reload. No callback runs during bootstrap.
 *
 * Known differences from Patroni: its switchover `on_stop` may name `demoted` (when it saw the shutdown
 * checkpoint before the postmaster exited), ours names `primary`; demote-cluster announces its role change
 * when the start begins, Patroni when it ends; a standby cluster's new leader created by clone announces
 * `on_start replica`, then `on_role_change standby_leader` (Patroni: `on_start standby_leader`); a change of
 * `synchronous_standby_names` does not announce `on_reload` (the driver does not say whether it changed).
 */
import type { MemberRole } from '../model.js';
import type { PostgresObservation } from '../postgres.js';
import type { CallbackAction, Effect, TaskSpec, TaskState } from './effects.js';
import { perform } from './effects.js';

/** What the callback rules remember between cycles. */
export interface CallbackMemory {
  /** A lifecycle callback (on_start, on_stop, on_restart, on_role_change) fired since the agent started. */
  readonly fired: boolean;
  /** This member stopped being a primary: its next start announces `on_role_change`, not `on_start`. */
  readonly roleChangePending: boolean;
  /** The background task that starts postgres: what its success announces, and the role it starts as. */
  readonly task: { readonly action: 'on_start' | 'on_restart' | null; readonly role: string } | null;
}

export const INITIAL_CALLBACK_MEMORY: CallbackMemory = { fired: false, roleChangePending: false, task: null };

/** What the rules read from a cycle (the cycle's context fits this shape). */
export interface CallbackView {
  readonly pg: PostgresObservation;
  readonly task: TaskState | null;
  readonly iAmLeader: boolean;
  /** Non-null in a standby cluster: its lock holder is the `standby_leader`. */
  readonly standby: object | null;
  readonly memory: { readonly callbacks?: CallbackMemory; readonly lastRole: MemberRole | null };
  /** False where Patroni skips its first-cycle on_start (the store could not be read). */
  readonly firstCycleStart?: boolean;
}

/** The part of a branch's outcome these rules read and extend. */
export interface CallbackOutcome {
  readonly decision: { readonly reason: string };
  readonly role?: MemberRole;
  readonly stopped?: boolean;
  readonly memory?: object;
}

const LIFECYCLE: ReadonlySet<CallbackAction> = new Set(['on_start', 'on_stop', 'on_restart', 'on_role_change']);

/** The role a callback names for this member as postgres runs now. */
export function callbackRole(pg: PostgresObservation, view: Pick<CallbackView, 'iAmLeader' | 'standby'>): string {
  if (pg.role === 'primary') return 'primary';
  return view.standby && view.iAmLeader ? 'standby_leader' : 'replica';
}

/** The role a started task brings postgres up as. */
function taskRole(spec: TaskSpec, view: CallbackView): string {
  const role = spec.kind === 'bootstrap' ? 'primary' : spec.kind === 'start' || spec.kind === 'restart' ? spec.role : 'replica';
  return role === 'replica' && view.standby && view.iAmLeader ? 'standby_leader' : role;
}

/**
 * Runs one branch of the cycle and fires the callbacks its actions call for: `on_stop` right after each stop
 * of a running postgres, `on_reload`/`on_restart` after a follow changed the recovery settings, and at the
 * end what a finished task, a demotion or the first cycle announce.
 */
export function* withLifecycleCallbacks<T extends CallbackOutcome>(
  view: CallbackView,
  step: Generator<Effect, T, unknown>,
): Generator<Effect, T, unknown> {
  let memory: CallbackMemory = view.memory.callbacks ?? INITIAL_CALLBACK_MEMORY;
  const startedBefore = memory.task;
  const fire = function* (action: CallbackAction, role: string) {
    yield* perform('callback.run', { action, role });
    if (LIFECYCLE.has(action)) memory = { ...memory, fired: true };
  };
  const role = callbackRole(view.pg, view);
  let running = view.pg.running;
  let taskStarted = false;
  let followCallback: CallbackAction | null = null;
  let roleChangeAnnounced = false;

  let next = step.next();
  while (!next.done) {
    const effect = next.value;
    const result: unknown = yield effect;
    switch (effect.kind) {
      case 'pg.stop':
        // Every stop the cycle makes is announced, as Patroni does; a restart stops inside its task, silently.
        if (result === true && running) {
          running = false;
          yield* fire('on_stop', role);
        }
        break;
      case 'pg.follow': {
        const followed = result as { changed: boolean; restarted: boolean } | null;
        // Held back: a role change announced in the same step replaces it (Patroni blocks these then).
        if (followed?.changed && running) followCallback = followed.restarted ? 'on_restart' : 'on_reload';
        break;
      }
      case 'callback.run':
        if (LIFECYCLE.has(effect.action)) memory = { ...memory, fired: true };
        if (effect.action === 'on_role_change') {
          followCallback = null;
          roleChangeAnnounced = true;
        }
        break;
      case 'task.start':
        if (result === true) {
          taskStarted = true;
          const spec = effect.task;
          // The copy of logical slots stops postgres and starts it again as Patroni's stop and start would.
          const action = spec.kind === 'restart' && !spec.installSlots ? 'on_restart' : 'on_start';
          memory = { ...memory, task: { action, role: taskRole(spec, view) } };
          if (running && (spec.kind === 'reinitialize' || (spec.kind === 'restart' && spec.installSlots))) {
            running = false;
            yield* fire('on_stop', role);
          }
        }
        break;
      default:
        break;
    }
    next = step.next(result);
  }
  const outcome = next.value;
  // The step announced the role its task starts postgres in (demote-cluster): the start says nothing more.
  if (taskStarted && roleChangeAnnounced && memory.task) memory = { ...memory, task: { ...memory.task, action: null } };

  if (followCallback) yield* fire(followCallback, role);
  const ended = taskEndCallback(view, outcome, { ...memory, task: startedBefore });
  // A task started in this very step (a reinitialize after a failed rewind) keeps its own record.
  memory = taskStarted ? { ...ended.memory, task: memory.task } : ended.memory;
  if (ended.callback) yield* fire(ended.callback.action, ended.callback.role);
  if (outcome.role === 'demoted') memory = { ...memory, roleChangePending: true };
  // Patroni's first successful cycle: an agent that found postgres running announces it once.
  if (view.firstCycleStart !== false && !memory.fired && !taskStarted && !view.task && view.pg.running && view.pg.accepting && running && !outcome.stopped) {
    yield* fire('on_start', role);
  }
  return { ...outcome, memory: { ...outcome.memory, callbacks: memory } };
}

/** What a background task that just ended announces, and the memory after it. */
export function taskEndCallback(
  view: CallbackView,
  outcome: CallbackOutcome,
  memory: CallbackMemory,
): { memory: CallbackMemory; callback: { action: CallbackAction; role: string } | null } {
  const task = view.task;
  if (!task || task.state === 'running') return { memory, callback: null };
  const started = memory.task;
  const done = { ...memory, task: null };
  if (task.kind === 'bootstrap') {
    // Nothing runs during bootstrap; the new primary is announced once it holds the lock.
    return { memory: done, callback: outcome.decision.reason === 'bootstrap_succeeded' ? { action: 'on_start', role: 'primary' } : null };
  }
  if (task.state === 'succeeded') {
    const role = view.pg.running ? callbackRole(view.pg, view) : (started?.role ?? 'replica');
    // A former primary back as a replica only announces its new role (Patroni's follow with change_role).
    if (memory.roleChangePending) return { memory: { ...done, roleChangePending: false }, callback: { action: 'on_role_change', role } };
    if (started && started.action === null) return { memory: done, callback: null };
    return { memory: done, callback: { action: task.kind === 'restart' ? (started?.action ?? 'on_restart') : 'on_start', role } };
  }
  if ((task.kind === 'start' || task.kind === 'restart') && view.iAmLeader && (started?.role === 'primary' || started?.role === 'standby_leader')) {
    // The lock holder could not bring its primary back: it gives the role up (Patroni's post_recover).
    return { memory: done, callback: { action: 'on_role_change', role: 'demoted' } };
  }
  if (task.kind === 'start' && memory.roleChangePending) {
    // Patroni's follow announces the new role whether or not the start succeeded.
    return { memory: { ...done, roleChangePending: false }, callback: { action: 'on_role_change', role: 'replica' } };
  }
  return { memory: done, callback: null };
}
