import { describe, expect, it } from 'vitest';
import { createTestClock } from '@pgwarden/testkit';
import { TaskRunner } from './tasks.js';

function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('TaskRunner', () => {
  it('runs one task at a time and hands its end to exactly one cycle', async () => {
    const gate = deferred();
    const runner = new TaskRunner(() => gate.promise, createTestClock(1000));
    expect(runner.start({ kind: 'bootstrap' })).toBe(true);
    expect(runner.start({ kind: 'bootstrap' })).toBe(false);
    expect(runner.take()).toMatchObject({ kind: 'bootstrap', state: 'running', startedAt: 1000 });
    const ended = runner.waitForEnd(60_000);
    gate.resolve();
    expect(await ended).toMatchObject({ kind: 'bootstrap', state: 'succeeded' });
    expect(runner.take()).toMatchObject({ state: 'succeeded' });
    expect(runner.take()).toBeNull();
  });

  it('reports a failure with its message, and cancels through the signal', async () => {
    const runner = new TaskRunner(
      (_spec, signal) =>
        new Promise<void>((_resolve, reject) => signal.addEventListener('abort', () => reject(new Error('aborted by request')))),
      createTestClock(),
    );
    runner.start({ kind: 'clone', source: { name: 'a', host: 'h', port: 1 } });
    await runner.cancel();
    expect(runner.take()).toMatchObject({ kind: 'clone', state: 'failed', error: 'aborted by request' });
  });

  it('waitForEnd answers null when nothing runs', async () => {
    const runner = new TaskRunner(() => Promise.resolve(), createTestClock());
    expect(await runner.waitForEnd(10)).toBeNull();
  });
});
