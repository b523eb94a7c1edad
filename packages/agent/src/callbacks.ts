/**
 * User scripts around PostgreSQL's life: callbacks (`<command> <action> <role> <scope>`, one at a time, a new one
 * killing the previous one with its children; on_reload on its own line) and the `pre_promote` fencing script,
 * whose failure stops a promotion. Which callback fires when is the core's decision (core's ha/callbacks.ts).
 */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { spawn as spawnProcess } from 'node:child_process';
import { parse } from 'shell-quote';
import type { CallbackAction, Logger } from '@pgwarden/core';

export interface ScriptSettings {
  readonly scope: string;
  readonly callbacks: Partial<Record<CallbackAction, string>>;
  readonly prePromote: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
  /** Starts a process (tests replace it); default node's `spawn`. */
  readonly spawn?: (file: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
  /** Sends a signal to a process group (tests replace it); default `process.kill(-pgid, signal)`. */
  readonly killGroup?: (pgid: number, signal: NodeJS.Signals) => void;
}

function argv(command: string): string[] {
  return parse(command).filter((part): part is string => typeof part === 'string');
}

/** The environment of user scripts: no PATRONI_* secrets. */
function scriptEnv(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const clean: Record<string, string> = {};
  for (const [key, value] of Object.entries(env)) if (value !== undefined && !key.startsWith('PATRONI_')) clean[key] = value;
  return clean;
}

export class ScriptRunner {
  /** The callback still running, if any; on_reload has its own (Patroni runs it on a separate executor). */
  #running: ChildProcess | null = null;
  #reloading: ChildProcess | null = null;
  readonly #spawn: NonNullable<ScriptSettings['spawn']>;
  readonly #killGroup: NonNullable<ScriptSettings['killGroup']>;

  constructor(private readonly settings: ScriptSettings) {
    this.#spawn = settings.spawn ?? ((file, args, options) => spawnProcess(file, args, options));
    this.#killGroup = settings.killGroup ?? ((pgid, signal) => process.kill(-pgid, signal));
  }

  /** Fires the callback for `action` if one is configured; never waits for it. */
  runCallback(action: CallbackAction, role: string): boolean {
    const command = this.settings.callbacks[action];
    if (!command) return true;
    const [file, ...args] = argv(command);
    if (!file) return false;
    const reload = action === 'on_reload';
    this.#kill(reload ? this.#reloading : this.#running);
    this.settings.logger.log('info', `running callback ${action}`, { role });
    // Its own process group: killing it reaches the children a shell script started.
    const child = this.#spawn(file, [...args, action, role, this.settings.scope], { env: scriptEnv(this.settings.env), stdio: 'ignore', detached: true });
    child.on('error', (error) => this.settings.logger.log('warn', `callback ${action} failed to start: ${error.message}`));
    child.on('exit', () => {
      if (this.#running === child) this.#running = null;
      if (this.#reloading === child) this.#reloading = null;
    });
    if (reload) this.#reloading = child;
    else this.#running = child;
    return true;
  }

  /** Kills a callback still running, with every process of its group. */
  #kill(child: ChildProcess | null): void {
    if (!child || child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
    try {
      this.#killGroup(child.pid, 'SIGKILL');
    } catch {
      child.kill('SIGKILL');
    }
    this.settings.logger.log('warn', `killed callback pid ${child.pid}: it was still running when the next one started`);
  }

  /** Runs `pre_promote` to the end: true when it exited 0 or none is configured. */
  async runPrePromote(): Promise<boolean> {
    const command = this.settings.prePromote;
    if (!command) return true;
    const [file, ...args] = argv(command);
    if (!file) return false;
    this.settings.logger.log('info', 'running pre_promote');
    return new Promise((resolve) => {
      const child = this.#spawn(file, args, { env: scriptEnv(this.settings.env), stdio: 'ignore' });
      child.on('error', (error) => {
        this.settings.logger.log('warn', `pre_promote failed to start: ${error.message}`);
        resolve(false);
      });
      child.on('exit', (code) => {
        if (code !== 0) this.settings.logger.log('warn', `pre_promote exited with ${code}: not promoting`);
        resolve(code === 0);
      });
    });
  }
}
