import { describe, expect, it } from 'vitest';
import { KvCache } from './kv-cache.js';
import type { CachedKv } from './kv-cache.js';

const kv = (key: string, value: string, revision: number, lease = '0'): CachedKv => ({
  key: Buffer.from(key),
  value: Buffer.from(value),
  mod_revision: String(revision),
  create_revision: String(revision),
  lease,
});
const put = (key: string, value: string, revision: number) => ({ type: 'PUT', kv: kv(key, value, revision) });
const del = (key: string, revision: number) => ({ type: 'DELETE', kv: kv(key, '', revision) });
const view = (cache: KvCache) => Object.fromEntries(cache.values().map((entry) => [entry.key.toString(), entry.value.toString()]));

describe('KvCache', () => {
  it('is unseeded until a snapshot, then follows events in key order', () => {
    const cache = new KvCache();
    expect(cache.seeded).toBe(false);
    cache.applySnapshot([kv('/s/b', '1', 3), kv('/s/a', '1', 2)], 5n);
    expect(cache.seeded).toBe(true);
    expect(cache.revision).toBe(5n);
    cache.applyEvents([put('/s/c', '1', 6), del('/s/a', 7)]);
    expect(cache.values().map((entry) => entry.key.toString())).toEqual(['/s/b', '/s/c']);
    expect(cache.revision).toBe(7n);
  });

  it('ignores events a newer snapshot already holds', () => {
    const cache = new KvCache();
    cache.applySnapshot([kv('/s/a', 'new', 9)], 10n);
    cache.applyEvents([put('/s/a', 'old', 4), del('/s/a', 8), put('/s/b', 'gone', 7)]);
    expect(view(cache)).toEqual({ '/s/a': 'new' });
    expect(cache.revision).toBe(10n);
  });

  it('keeps events newer than a snapshot that arrives late', () => {
    const cache = new KvCache();
    cache.applySnapshot([kv('/s/a', '1', 2), kv('/s/b', '1', 3)], 3n);
    // The watch runs ahead of a re-seed read taken at revision 5.
    cache.applyEvents([put('/s/a', '2', 6), del('/s/b', 7), put('/s/c', '1', 8)]);
    cache.applySnapshot([kv('/s/a', '1', 2), kv('/s/b', '2', 5), kv('/s/d', '1', 4)], 5n);
    expect(view(cache)).toEqual({ '/s/a': '2', '/s/c': '1', '/s/d': '1' });
    expect(cache.revision).toBe(8n);
  });

  it('drops keys a snapshot no longer has, and never goes back to an older snapshot', () => {
    const cache = new KvCache();
    cache.applySnapshot([kv('/s/a', '1', 2), kv('/s/b', '1', 3)], 3n);
    cache.applySnapshot([kv('/s/b', '1', 3)], 6n);
    expect(view(cache)).toEqual({ '/s/b': '1' });
    cache.applySnapshot([kv('/s/a', '1', 2), kv('/s/b', '1', 3)], 4n);
    expect(view(cache)).toEqual({ '/s/b': '1' });
  });

  it('tells listeners which keys changed, and about batches that changed nothing', () => {
    const cache = new KvCache();
    const heard: string[][] = [];
    const stop = cache.onChange((keys) => heard.push([...keys]));
    cache.applySnapshot([kv('/s/leader', 'a', 2)], 2n);
    cache.applyEvents([put('/s/leader', 'a', 2)]);
    cache.applyEvents([del('/s/leader', 3)]);
    stop();
    cache.applyEvents([put('/s/leader', 'b', 4)]);
    expect(heard).toEqual([['/s/leader'], [], ['/s/leader']]);
    expect(cache.get('/s/leader')?.value.toString()).toBe('b');
  });
});
