import { describe, expect, it } from 'vitest';
import { ConsulApiError, ConsulState, SESSION_TTL_MULTIPLIER, parseGoDuration } from './consul-emulator.js';
import { createTestClock } from './memory-dcs-clock.js';

const text = (value: string): Buffer => Buffer.from(value, 'utf8');

function newState() {
  const clock = createTestClock(1_000_000);
  const state = new ConsulState({ clock, sessionTtlMinMs: 1_000 });
  return { clock, state };
}

describe('Consul emulator state', () => {
  it('parses Go durations as Consul does', () => {
    expect(parseGoDuration('15s')).toBe(15_000);
    expect(parseGoDuration('7.5s')).toBe(7_500);
    expect(parseGoDuration('1m30s')).toBe(90_000);
    expect(parseGoDuration('1ms')).toBe(1);
    expect(parseGoDuration('0')).toBe(0);
    expect(parseGoDuration('15')).toBeNull();
    expect(parseGoDuration('s')).toBeNull();
  });

  it('cas=0 creates only, cas=N writes only at that ModifyIndex', () => {
    const { state } = newState();
    expect(state.putKey('a', text('1'), { cas: 0 })).toBe(true);
    expect(state.putKey('a', text('2'), { cas: 0 })).toBe(false);
    const first = state.getKey('a').entry!;
    expect(first).toMatchObject({ createIndex: first.modifyIndex, lockIndex: 0, flags: 0 });
    expect(state.putKey('a', text('3'), { cas: first.modifyIndex + 1 })).toBe(false);
    expect(state.putKey('a', text('3'), { cas: first.modifyIndex })).toBe(true);
    const second = state.getKey('a').entry!;
    expect(second.value.toString()).toBe('3');
    expect(second.modifyIndex).toBeGreaterThan(first.modifyIndex);
    expect(second.createIndex).toBe(first.createIndex);
    // cas=N on an absent key fails; a cas delete needs the current index, and of an absent key succeeds.
    expect(state.putKey('b', text('x'), { cas: 5 })).toBe(false);
    expect(state.deleteKey('a', { cas: first.modifyIndex })).toBe(false);
    expect(state.deleteKey('a', { cas: second.modifyIndex })).toBe(true);
    expect(state.getKey('a').entry).toBeUndefined();
    expect(state.deleteKey('a', { cas: 1 })).toBe(true);
  });

  it('acquire is exclusive per session, release only by the holder, a plain write keeps the holder', () => {
    const { state } = newState();
    const one = state.createSession({ TTL: '10s', Behavior: 'delete', LockDelay: '0s' });
    const two = state.createSession({ TTL: '10s', Behavior: 'delete', LockDelay: '0s' });
    expect(state.putKey('lock', text('one'), { acquire: one.id })).toBe(true);
    expect(state.getKey('lock').entry).toMatchObject({ session: one.id, lockIndex: 1 });
    expect(state.putKey('lock', text('two'), { acquire: two.id })).toBe(false);
    // Re-acquiring by the holder updates the value but not the LockIndex.
    expect(state.putKey('lock', text('one again'), { acquire: one.id })).toBe(true);
    expect(state.getKey('lock').entry).toMatchObject({ session: one.id, lockIndex: 1 });
    expect(state.putKey('lock', text('plain'))).toBe(true);
    expect(state.getKey('lock').entry?.session).toBe(one.id);
    expect(state.putKey('lock', text('x'), { release: two.id })).toBe(false);
    expect(state.putKey('lock', text('released'), { release: one.id })).toBe(true);
    expect(state.getKey('lock').entry).toMatchObject({ session: undefined, lockIndex: 1 });
    expect(state.getKey('lock').entry?.value.toString()).toBe('released');
    expect(state.putKey('lock', text('two'), { acquire: two.id })).toBe(true);
    expect(state.getKey('lock').entry).toMatchObject({ session: two.id, lockIndex: 2 });
    expect(() => state.putKey('lock', text('?'), { acquire: 'no-such-session' })).toThrow(ConsulApiError);
  });

  it('invalidates a session exactly 2 x TTL after its last renewal; behavior=delete deletes its keys', async () => {
    const { clock, state } = newState();
    const session = state.createSession({ TTL: '5s', Behavior: 'delete', LockDelay: '0s' });
    expect(SESSION_TTL_MULTIPLIER).toBe(2);
    state.putKey('held', text('v'), { acquire: session.id });
    state.putKey('free', text('v'));
    await clock.advance(9_000);
    expect(state.renewSession(session.id)).not.toBeNull();
    await clock.advance(9_999);
    expect(state.getKey('held').entry?.session).toBe(session.id);
    await clock.advance(1);
    expect(state.getKey('held').entry).toBeUndefined();
    expect(state.getKey('free').entry).toBeDefined();
    expect(state.renewSession(session.id)).toBeNull();
    expect(() => state.putKey('held', text('v'), { acquire: session.id })).toThrow(/invalid session/);
  });

  it('behavior=release releases the keys, and lock-delay holds off a new acquire', async () => {
    const { clock, state } = newState();
    const session = state.createSession({ TTL: '10s', LockDelay: '3s' });
    expect(session.behavior).toBe('release');
    state.putKey('held', text('v'), { acquire: session.id });
    const before = state.getKey('held').entry!;
    expect(state.destroySession(session.id)).toBe(true);
    const after = state.getKey('held').entry!;
    expect(after.session).toBeUndefined();
    expect(after.modifyIndex).toBeGreaterThan(before.modifyIndex);
    const next = state.createSession({ TTL: '10s' });
    expect(state.putKey('held', text('w'), { acquire: next.id })).toBe(false);
    await clock.advance(3_000);
    expect(state.putKey('held', text('w'), { acquire: next.id })).toBe(true);
  });

  it('refuses TTLs outside [session_ttl_min, 24h] and unknown checks', () => {
    const { state } = newState();
    expect(() => state.createSession({ TTL: '0.5s' })).toThrow(/Invalid Session TTL/);
    expect(() => state.createSession({ TTL: '25h' })).toThrow(/Invalid Session TTL/);
    expect(() => state.createSession({ TTL: '10s', Checks: ['service:nope'] })).toThrow(/Missing check/);
    expect(state.createSession({ TTL: '10s', Checks: [] }).checks).toEqual([]);
    expect(state.createSession({}).checks).toEqual(['serfHealth']);
  });

  it('reports the key ModifyIndex, else the table index; prefix reads see deletes', () => {
    const { state } = newState();
    state.putKey('p/a', text('1'));
    state.putKey('p/b', text('2'));
    state.putKey('q', text('3'));
    const a = state.getKey('p/a');
    expect(a.index).toBe(a.entry?.modifyIndex);
    expect(state.getKey('absent').index).toBe(state.getKey('q').entry?.modifyIndex);
    const listed = state.listPrefix('p/');
    expect(listed.entries.map((entry) => entry.key)).toEqual(['p/a', 'p/b']);
    expect(listed.index).toBe(state.getKey('p/b').entry?.modifyIndex);
    state.deleteKey('p/b');
    expect(state.listPrefix('p/').index).toBeGreaterThan(listed.index);
    state.deleteKey('p/', { recurse: true });
    expect(state.listPrefix('p/').entries).toEqual([]);
    expect(state.getKey('q').entry).toBeDefined();
  });

  it('a blocking query wakes when the index passes, including on a session expiry, or at its wait', async () => {
    const { clock, state } = newState();
    const session = state.createSession({ TTL: '2s', Behavior: 'delete', LockDelay: '0s' });
    state.putKey('leader', text('alpha'), { acquire: session.id });
    const start = state.getKey('leader').index;

    // Unrelated writes and renewals do not move a present key's index.
    let woken = false;
    const watch = state.block(() => state.getKey('leader'), start, 60_000).then((result) => {
      woken = true;
      return result;
    });
    state.putKey('other', text('x'));
    state.renewSession(session.id);
    await clock.advance(1_000);
    expect(woken).toBe(false);
    await clock.advance(3_000);
    state.reap();
    const result = await watch;
    expect(result.entry).toBeUndefined();
    expect(result.index).toBeGreaterThan(start);

    // Nothing changes: the query returns at its wait, with the same index.
    const idle = state.block(() => state.getKey('other'), state.getKey('other').index, 5_000);
    await clock.advance(5_000);
    expect((await idle).index).toBe(state.getKey('other').index);

    // index 0, or an index already passed, answers at once.
    expect((await state.block(() => state.getKey('other'), 0, 60_000)).entry?.value.toString()).toBe('x');
    expect((await state.block(() => state.getKey('other'), 1, 60_000)).entry).toBeDefined();
  });

  it('an aborted blocking query returns the current result at once', async () => {
    const { state } = newState();
    state.putKey('k', text('v'));
    const controller = new AbortController();
    const watch = state.block(() => state.getKey('k'), state.getKey('k').index, 60_000, controller.signal);
    controller.abort();
    expect((await watch).entry?.value.toString()).toBe('v');
  });
});
