import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, writeFile, chmod } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '@pgwarden/core';
import { ScriptRunner } from '../src/callbacks.js';

async function script(body: string): Promise<{ path: string; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'pgwarden-callbacks-'));
  const path = join(dir, 'hook.sh');
  await writeFile(path, `#!/bin/sh\n${body}\n`);
  await chmod(path, 0o755);
  return { path, dir };
}

describe('callbacks and pre_promote', () => {
  it('calls a callback with action, role and scope, without PATRONI_ variables', async () => {
    const { path, dir } = await script(`echo "$@ $PATRONI_SECRET" > "$(dirname "$0")/out"`);
    const runner = new ScriptRunner({ scope: 'demo', callbacks: { on_role_change: `${path} --flag` }, prePromote: undefined, env: { PATH: process.env['PATH'], PATRONI_SECRET: 'x' }, logger: silentLogger });
    expect(runner.runCallback('on_role_change', 'primary')).toBe(true);
    let out = '';
    for (let attempt = 0; attempt < 100 && !out; attempt++) {
      out = await readFile(join(dir, 'out'), 'utf8').catch(() => '');
      if (!out) await delay(20);
    }
    expect(out.trim()).toBe('--flag on_role_change primary demo');
  });

  it('kills a callback still running, with the processes it started, when the next one begins', async () => {
    // The first call starts a background child, records its pid and keeps running; the second records its action.
    const { path, dir } = await script(
      `if [ "$1" = on_stop ]; then sleep 300 & echo $! > "$(dirname "$0")/child"; wait; else echo "$1 $2" > "$(dirname "$0")/out"; fi`,
    );
    const runner = new ScriptRunner({ scope: 'demo', callbacks: { on_stop: path, on_role_change: path }, prePromote: undefined, env: { PATH: process.env['PATH'] }, logger: silentLogger });
    runner.runCallback('on_stop', 'primary');
    let child = '';
    for (let attempt = 0; attempt < 100 && !child; attempt++) {
      child = (await readFile(join(dir, 'child'), 'utf8').catch(() => '')).trim();
      if (!child) await delay(20);
    }
    const pid = Number(child);
    expect(pid).toBeGreaterThan(0);
    // Killed but not yet reaped (a zombie) counts as gone: reaping is up to whoever adopted it.
    const alive = () => {
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(' ')[2] !== 'Z';
      } catch {
        return false;
      }
    };
    expect(alive()).toBe(true);
    runner.runCallback('on_role_change', 'replica');
    let out = '';
    for (let attempt = 0; attempt < 100 && (!out || alive()); attempt++) {
      out = await readFile(join(dir, 'out'), 'utf8').catch(() => '');
      await delay(20);
    }
    expect(out.trim()).toBe('on_role_change replica');
    expect(alive()).toBe(false);
  });

  it('does nothing for an unconfigured callback', () => {
    const runner = new ScriptRunner({ scope: 'demo', callbacks: {}, prePromote: undefined, env: {}, logger: silentLogger });
    expect(runner.runCallback('on_start', 'replica')).toBe(true);
  });

  it('pre_promote decides by its exit code', async () => {
    const ok = await script('exit 0');
    const failing = await script('exit 3');
    const base = { scope: 'demo', callbacks: {}, env: { PATH: process.env['PATH'] }, logger: silentLogger };
    expect(await new ScriptRunner({ ...base, prePromote: ok.path }).runPrePromote()).toBe(true);
    expect(await new ScriptRunner({ ...base, prePromote: failing.path }).runPrePromote()).toBe(false);
    expect(await new ScriptRunner({ ...base, prePromote: '/nonexistent/fence' }).runPrePromote()).toBe(false);
    expect(await new ScriptRunner({ ...base, prePromote: undefined }).runPrePromote()).toBe(true);
  });
});
