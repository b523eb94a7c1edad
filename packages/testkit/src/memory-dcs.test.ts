import { describe, expect, it } from 'vitest';
import { DcsUnreachableError, clusterPrefix } from '@pgwarden/core';
import type { DcsIdentity } from '@pgwarden/core';
import { createMemoryDcs, createMemoryStore } from './memory-dcs.js';
import type { MemoryStore } from './memory-dcs.js';
import { createTestClock } from './memory-dcs-clock.js';
import { describeDcsContract } from './dcs-contract.js';

describeDcsContract({
  name: 'in-memory (virtual clock)',
  setup() {
    const clock = createTestClock(1_700_000_000_000);
    const store = createMemoryStore({ clock });
    const unreachable = createMemoryStore({ clock });
    unreachable.setReachable(false);
    return {
      ttlSeconds: 10,
      create: (identity) => createMemoryDcs({ ...identity, store }),
      createUnreachable: (identity) => createMemoryDcs({ ...identity, store: unreachable }),
      letTimePass: (ms) => clock.advance(ms),
      async writeRaw(identity, key, value) {
        store.writeRaw(clusterPrefix(identity) + key, value);
      },
      async readRaw(identity, key) {
        return store.readRaw(clusterPrefix(identity) + key);
      },
    };
  },
});

describe('memory store', () => {
  const identity = (name: string): DcsIdentity => ({ scope: 'demo', name, ttl: 30, retryTimeout: 10 });

  function setup(): { store: MemoryStore; advance: (ms: number) => Promise<void> } {
    const clock = createTestClock();
    return { store: createMemoryStore({ clock }), advance: (ms) => clock.advance(ms) };
  }

  it('throws DcsUnreachableError while unreachable and recovers after', async () => {
    const { store } = setup();
    const alpha = createMemoryDcs({ ...identity('alpha'), store });
    store.setReachable(false);
    await expect(alpha.loadCluster()).rejects.toBeInstanceOf(DcsUnreachableError);
    await expect(alpha.acquireLeader()).rejects.toThrow(/^\[dcs-memory\] /);
    await expect(alpha.watchLeader(null, 1_000)).rejects.toBeInstanceOf(DcsUnreachableError);
    store.setReachable(true);
    expect(await alpha.acquireLeader()).toBe(true);
  });

  it('keeps Patroni key paths under the namespace', async () => {
    const { store } = setup();
    const alpha = createMemoryDcs({ ...identity('alpha'), namespace: 'pg/', store });
    await alpha.touchMember({ state: 'running' });
    await alpha.acquireLeader();
    expect(store.keys()).toEqual(['/pg/demo/leader', '/pg/demo/members/alpha']);
    expect(store.readRaw('/pg/demo/leader')).toBe('alpha');
  });

  it('issues increasing revisions as versions', async () => {
    const { store } = setup();
    const alpha = createMemoryDcs({ ...identity('alpha'), store });
    const first = await alpha.setSync({ leader: 'alpha', syncStandby: [], quorum: 0 }, null);
    await alpha.touchMember({ state: 'running' });
    const second = await alpha.setSync({ leader: 'alpha', syncStandby: ['b'], quorum: 0 }, first || null);
    expect(Number(second)).toBeGreaterThan(Number(first));
    expect(store.revision()).toBe(Number(second));
  });

  it('expires the lock exactly at ttl, judged by the injected clock', async () => {
    const { store, advance } = setup();
    const alpha = createMemoryDcs({ ...identity('alpha'), store });
    const bravo = createMemoryDcs({ ...identity('bravo'), store });
    expect(await alpha.acquireLeader()).toBe(true);
    await advance(29_999);
    expect(await bravo.acquireLeader()).toBe(false);
    await advance(1);
    expect(await bravo.acquireLeader()).toBe(true);
  });

  it('rejects a store it did not make', () => {
    expect(() => createMemoryDcs({ ...identity('alpha'), store: { ...setup().store } })).toThrow(TypeError);
  });
});
