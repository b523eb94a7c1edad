import { describe, expect, it } from 'vitest';
import { applyConfigChanges, applyConfigDocument, configDiff, formatConfigForEditing, parseConfigDocument, pgPairs, sameJson } from './edit-config.js';

const config = { ttl: 30, loop_wait: 10, postgresql: { parameters: { max_connections: 100 }, use_pg_rewind: true } };

describe('edit-config changes', () => {
  it('sets dotted paths with YAML values and removes keys set to null', () => {
    const changed = applyConfigChanges(config, ['ttl=40', 'postgresql.use_pg_rewind=null', 'synchronous_mode=on', 'tags.x.y="1"']);
    expect(changed).toEqual({ ttl: 40, loop_wait: 10, synchronous_mode: true, postgresql: { parameters: { max_connections: 100 } }, tags: { x: { y: '1' } } });
    expect(config.ttl).toBe(30);
  });

  it('keeps dotted PostgreSQL parameter names whole and prunes emptied mappings', () => {
    expect(applyConfigChanges(config, pgPairs(['auto_explain.log_min_duration=100ms']))).toMatchObject({
      postgresql: { parameters: { 'auto_explain.log_min_duration': '100ms', max_connections: 100 } },
    });
    expect(applyConfigChanges({ a: { b: 1 } }, ['a.b=null'])).toEqual({});
  });

  it('rejects pairs without a key or an equals sign', () => {
    expect(() => applyConfigChanges(config, ['ttl'])).toThrow(/invalid parameter setting "ttl"/);
    expect(() => applyConfigChanges(config, ['a..b=1'])).toThrow(/empty key/);
  });

  it('merges a YAML document like PATCH /config and replaces with --replace', () => {
    expect(applyConfigDocument(config, 'loop_wait: 5\npostgresql:\n  parameters:\n    work_mem: 8MB\n  use_pg_rewind: null\n', 'f')).toEqual({
      ttl: 30,
      loop_wait: 5,
      postgresql: { parameters: { max_connections: 100, work_mem: '8MB' } },
    });
    expect(parseConfigDocument('', 'f')).toEqual({});
    expect(() => parseConfigDocument('- a\n', 'f')).toThrow(/mapping/);
  });

  it('compares configurations regardless of key order', () => {
    expect(sameJson({ a: 1, b: [1, { c: 2 }] }, { b: [1, { c: 2 }], a: 1 })).toBe(true);
    expect(sameJson({ a: 1 }, { a: '1' })).toBe(false);
  });

  it('shows a unified diff of the YAML', () => {
    const before = formatConfigForEditing(config);
    const after = formatConfigForEditing(applyConfigChanges(config, ['ttl=40']));
    expect(configDiff(before, after)).toBe(
      ['--- ', '+++ ', '@@ -3,4 +3,4 @@', '   parameters:', '     max_connections: 100', '   use_pg_rewind: true', '-ttl: 30', '+ttl: 40', ''].join('\n'),
    );
  });
});
