import { describe, expect, it } from 'vitest';
import { mergePatch, parseSelector } from './kubernetes-emulator.js';

describe('Kubernetes emulator: JSON merge patch (RFC 7386)', () => {
  it('merges maps, deletes on null, replaces lists and scalars', () => {
    const target = { metadata: { name: 'x', annotations: { a: '1', b: '2' } }, subsets: [{ addresses: [{ ip: '10.0.0.1' }] }] };
    const patch = { metadata: { annotations: { a: null, c: '3' } }, subsets: [] };
    expect(mergePatch(target, patch)).toEqual({ metadata: { name: 'x', annotations: { b: '2', c: '3' } }, subsets: [] });
    // The target is not modified.
    expect(target.metadata.annotations).toEqual({ a: '1', b: '2' });
  });

  it('creates missing maps and replaces a scalar by a map', () => {
    expect(mergePatch({ metadata: { name: 'x' } }, { metadata: { labels: { role: 'primary' } } })).toEqual({
      metadata: { name: 'x', labels: { role: 'primary' } },
    });
    expect(mergePatch({ a: 'text' }, { a: { b: 1 } })).toEqual({ a: { b: 1 } });
  });
});

describe('Kubernetes emulator: equality-based selectors', () => {
  it('parses =, ==, !=, existence and absence', () => {
    expect(parseSelector('application=pgwarden,cluster-name == demo, role!=primary,app.kubernetes.io/name,!tmp')).toEqual([
      { key: 'application', op: '=', value: 'pgwarden' },
      { key: 'cluster-name', op: '=', value: 'demo' },
      { key: 'role', op: '!=', value: 'primary' },
      { key: 'app.kubernetes.io/name', op: 'exists' },
      { key: 'tmp', op: '!exists' },
    ]);
    expect(parseSelector('')).toEqual([]);
  });

  it('rejects what it cannot parse', () => {
    expect(() => parseSelector('a in (b,c)')).toThrow(/unable to parse/);
  });
});
