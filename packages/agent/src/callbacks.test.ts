import { EventEmitter } from 'node:events';
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { Logger } from '@pgwarden/core';
import { ScriptRunner } from './callbacks.js';

/** A child process that runs until the test ends it. */
class FakeChild extends EventEmitter {
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  readonly killed: string[] = [];
  constructor(readonly pid: number) {
    super();
  }
  kill(signal: NodeJS.Signals): boolean {
    this.killed.push(signal);
    return true;
  }
  exit(code: number): void {
    this.exitCode = code;
    this.emit('exit', code, null);
  }
}

function harness(options: { callbacks?: Record<string, string>; prePromote?: string; env?: Record<string, string | undefined> } = {}) {
  const spawned: Array<{ file: string; args: readonly string[]; options: SpawnOptions; child: FakeChild }> = [];
  const groupKills: Array<[number, string]> = [];
  const logs: string[] = [];
  const logger: Logger = { log: (_level, message) => void logs.push(message) };
  const runner = new ScriptRunner({
    scope: 'demo',
    callbacks: options.callbacks ?? { on_start: '/usr/local/bin/cb.sh --flag "two words"', on_stop: 'cb', on_role_change: 'cb', on_reload: 'reload-cb' },
    prePromote: options.prePromote,
    env: options.env ?? { PATH: '/usr/bin', HOME: '/root' },
    logger,
    spawn: (file, args, spawnOptions) => {
      const child = new FakeChild(1000 + spawned.length);
      spawned.push({ file, args, options: spawnOptions, child });
      return child as unknown as ChildProcess;
    },
    killGroup: (pgid, signal) => void groupKills.push([pgid, signal]),
  });
  return { runner, spawned, groupKills, logs };
}

describe('ScriptRunner callbacks', () => {
  it('runs `<command> <action> <role> <scope>`, the command split as a shell would', () => {
    const { runner, spawned } = harness();
    expect(runner.runCallback('on_start', 'replica')).toBe(true);
    expect(spawned).toHaveLength(1);
    expect(spawned[0]!.file).toBe('/usr/local/bin/cb.sh');
    expect(spawned[0]!.args).toEqual(['--flag', 'two words', 'on_start', 'replica', 'demo']);
    // Its own process group, so that killing it reaches what the script started.
    expect(spawned[0]!.options.detached).toBe(true);
  });

  it('passes the environment without PATRONI_* variables (they may hold secrets)', () => {
    const { runner, spawned } = harness({ env: { PATH: '/usr/bin', PATRONI_SUPERUSER_PASSWORD: 'secret', LANG: 'C', EMPTY: undefined } });
    runner.runCallback('on_start', 'primary');
    expect(spawned[0]!.options.env).toEqual({ PATH: '/usr/bin', LANG: 'C' });
  });

  it('does nothing for an action without a command', () => {
    const { runner, spawned } = harness();
    expect(runner.runCallback('on_restart', 'replica')).toBe(true);
    expect(spawned).toHaveLength(0);
  });

  it('kills the process group of a callback still running when the next one starts', () => {
    const { runner, spawned, groupKills } = harness();
    runner.runCallback('on_stop', 'primary');
    runner.runCallback('on_role_change', 'replica');
    expect(groupKills).toEqual([[1000, 'SIGKILL']]);
    expect(spawned.map((entry) => entry.args.slice(-3).join(' '))).toEqual(['on_stop primary demo', 'on_role_change replica demo']);
  });

  it('leaves a callback that has ended alone', () => {
    const { runner, spawned, groupKills } = harness();
    runner.runCallback('on_stop', 'primary');
    spawned[0]!.child.exit(0);
    runner.runCallback('on_role_change', 'replica');
    expect(groupKills).toEqual([]);
  });

  it('runs on_reload on its own: it neither kills nor is killed by the other callbacks, only an earlier on_reload', () => {
    const { runner, groupKills } = harness();
    runner.runCallback('on_start', 'replica');
    runner.runCallback('on_reload', 'replica');
    expect(groupKills).toEqual([]);
    runner.runCallback('on_role_change', 'primary');
    expect(groupKills).toEqual([[1000, 'SIGKILL']]);
    runner.runCallback('on_reload', 'primary');
    expect(groupKills).toEqual([
      [1000, 'SIGKILL'],
      [1001, 'SIGKILL'],
    ]);
  });

  it('falls back to killing the process itself when its group cannot be signalled', () => {
    const spawned: FakeChild[] = [];
    const runner = new ScriptRunner({
      scope: 'demo',
      callbacks: { on_start: 'cb', on_stop: 'cb' },
      prePromote: undefined,
      env: {},
      logger: { log: () => undefined },
      spawn: () => {
        const child = new FakeChild(7);
        spawned.push(child);
        return child as unknown as ChildProcess;
      },
      killGroup: () => {
        throw new Error('ESRCH');
      },
    });
    runner.runCallback('on_start', 'replica');
    runner.runCallback('on_stop', 'replica');
    expect(spawned[0]!.killed).toEqual(['SIGKILL']);
  });

  it('refuses an empty command', () => {
    const { runner, spawned } = harness({ callbacks: { on_start: '   ' } });
    expect(runner.runCallback('on_start', 'replica')).toBe(false);
    expect(spawned).toHaveLength(0);
  });
});

describe('ScriptRunner pre_promote', () => {
  it('waits for the script and reports its exit status', async () => {
    const { runner, spawned } = harness({ prePromote: 'fence.sh --now' });
    const ok = runner.runPrePromote();
    expect(spawned[0]!.file).toBe('fence.sh');
    expect(spawned[0]!.args).toEqual(['--now']);
    spawned[0]!.child.exit(0);
    expect(await ok).toBe(true);
    const refused = runner.runPrePromote();
    spawned[1]!.child.exit(1);
    expect(await refused).toBe(false);
  });

  it('is true without a script', async () => {
    const { runner } = harness();
    expect(await runner.runPrePromote()).toBe(true);
  });
});
