/**
 * User scripts around PostgreSQL's life: callbacks (`<command> <action> <role> <scope>`, one at a time, a new one
 * ending the previous) and the `pre_promote` fencing script, whose failure stops a promotion.
 */
import type { ChildProcess } from 'node:child_process';
import { spawn } from 'node:child_process';
import { parse } from 'shell-quote';
import type { CallbackAction, Logger } from '@pgwarden/core';

export interface ScriptSettings {
  readonly scope: string;
  readonly callbacks: Partial<Record<CallbackAction, string>>;
  readonly prePromote: string | undefined;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly logger: Logger;
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
  #running: ChildProcess | null = null;

  constructor(private readonly settings: ScriptSettings) {}

  /** Fires the callback for `action` if one is configured; never waits for it. */
  runCallback(action: CallbackAction, role: string): boolean {
    const command = this.settings.callbacks[action];
    if (!command) return true;
    const [file, ...args] = argv(command);
    if (!file) return false;
    if (this.#running && this.#running.exitCode === null) this.#running.kill('SIGKILL');
    this.settings.logger.log('info', `running callback ${action}`, { role });
    const child = spawn(file, [...args, action, role, this.settings.scope], { env: scriptEnv(this.settings.env), stdio: 'ignore' });
    child.on('error', (error) => this.settings.logger.log('warn', `callback ${action} failed to start: ${error.message}`));
    this.#running = child;
    return true;
  }

  /** Runs `pre_promote` to the end: true when it exited 0 or none is configured. */
  async runPrePromote(): Promise<boolean> {
    const command = this.settings.prePromote;
    if (!command) return true;
    const [file, ...args] = argv(command);
    if (!file) return false;
    this.settings.logger.log('info', 'running pre_promote');
    return new Promise((resolve) => {
      const child = spawn(file, args, { env: scriptEnv(this.settings.env), stdio: 'ignore' });
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
