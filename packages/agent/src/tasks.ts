/**
 * One background task at a time (bootstrap, clone, rewind, start...): the HA cycle starts it and observes its
 * state; a finished state is handed to exactly one cycle, then forgotten.
 */
import type { Clock, TaskKind, TaskSpec, TaskState } from '@pgwarden/core';

export type TaskWork = (spec: TaskSpec, signal: AbortSignal) => Promise<void>;

export class TaskRunner {
  #state: TaskState | null = null;
  #controller: AbortController | null = null;
  #running: Promise<void> | null = null;
  readonly #listeners = new Set<() => void>();

  constructor(
    private readonly work: TaskWork,
    private readonly clock: Clock,
  ) {}

  /** The task for the next cycle: running, or finished and not yet seen. */
  take(): TaskState | null {
    const state = this.#state;
    if (state && state.state !== 'running') this.#state = null;
    return state;
  }

  peek(): TaskState | null {
    return this.#state;
  }

  start(spec: TaskSpec): boolean {
    if (this.#state?.state === 'running') return false;
    const startedAt = this.clock.now();
    const controller = new AbortController();
    this.#controller = controller;
    this.#state = { kind: spec.kind, state: 'running', startedAt };
    this.#running = this.work(spec, controller.signal).then(
      () => this.#finish({ kind: spec.kind, state: 'succeeded', startedAt }),
      (error: unknown) =>
        this.#finish({ kind: spec.kind, state: 'failed', startedAt, error: error instanceof Error ? error.message : String(error) }),
    );
    return true;
  }

  /** Called when a task ends, so the loop can run a cycle at once. */
  onFinish(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  runningKind(): TaskKind | null {
    return this.#state?.state === 'running' ? this.#state.kind : null;
  }

  /** The final state of the running task once it ends; null when none runs or the timeout passes first. */
  waitForEnd(timeoutMs: number): Promise<TaskState | null> {
    if (this.#state?.state !== 'running') return Promise.resolve(null);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        stop();
        resolve(null);
      }, timeoutMs);
      const stop = this.onFinish(() => {
        clearTimeout(timer);
        stop();
        resolve(this.#state);
      });
    });
  }

  /** Aborts the running task and waits for it to settle. */
  async cancel(): Promise<void> {
    this.#controller?.abort(new Error('task cancelled'));
    await this.#running;
  }

  #finish(state: TaskState): void {
    this.#state = state;
    this.#controller = null;
    for (const listener of this.#listeners) listener();
  }
}
