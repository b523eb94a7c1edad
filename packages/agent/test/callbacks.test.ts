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
