import { describe, expect, it } from 'vitest';
import { dynamicConfigProblem, patchConfig, sameConfig, settingText } from './config-patch.js';

describe('patchConfig', () => {
  it('merges objects recursively, removes keys given null and leaves the input alone', () => {
    const config = { ttl: 30, postgresql: { parameters: { max_connections: 100, work_mem: '4MB' }, use_pg_rewind: true } };
    const { changed, result } = patchConfig(config, {
      loop_wait: 5,
      postgresql: { parameters: { max_connections: 200, work_mem: null } },
    });
    expect(changed).toBe(true);
    expect(result).toEqual({ ttl: 30, loop_wait: 5, postgresql: { parameters: { max_connections: 200 }, use_pg_rewind: true } });
    expect(config.postgresql.parameters).toEqual({ max_connections: 100, work_mem: '4MB' });
  });

  it('sees no change when values only differ in type, as Patroni compares their text', () => {
    expect(patchConfig({ ttl: 30, pause: true }, { ttl: '30', pause: 'True' }).changed).toBe(false);
    expect(patchConfig({ ttl: 30 }, { missing: null }).changed).toBe(false);
    expect(patchConfig({ ttl: 30, gone: null }, { gone: null })).toEqual({ changed: false, result: { ttl: 30 } });
  });

  it('replaces a scalar with an object and an object with a scalar', () => {
    expect(patchConfig({ standby_cluster: 'x' }, { standby_cluster: { host: 'h' } }).result).toEqual({ standby_cluster: { host: 'h' } });
    expect(patchConfig({ slots: { a: { type: 'physical' } } }, { slots: [] }).result).toEqual({ slots: [] });
  });
});

describe('sameConfig', () => {
  it('compares keys at every level and values by their text', () => {
    expect(sameConfig({ ttl: 30, postgresql: { parameters: { a: 1 } } }, { ttl: '30', postgresql: { parameters: { a: '1' } } })).toBe(true);
    expect(sameConfig({ ttl: 30 }, { ttl: 30, loop_wait: 10 })).toBe(false);
    expect(sameConfig({ a: { b: 1 } }, { a: null })).toBe(false);
    expect(sameConfig({ a: [1] }, { a: [2] })).toBe(false);
  });

  it('writes values as Python would print them', () => {
    expect([settingText(null), settingText(true), settingText(false), settingText(1.5), settingText([1])]).toEqual([
      'None',
      'True',
      'False',
      '1.5',
      '[1]',
    ]);
  });
});

describe('dynamicConfigProblem', () => {
  it('accepts numbers and numeric text for the timing settings', () => {
    expect(dynamicConfigProblem({ ttl: 30, loop_wait: '10', retry_timeout: null, postgresql: { parameters: {}, pg_hba: [] } })).toBeNull();
  });

  it('refuses what would break every member', () => {
    expect(dynamicConfigProblem({ ttl: 'abc' })).toBe('ttl must be a number, got "abc"');
    expect(dynamicConfigProblem({ loop_wait: -1 })).toBe('loop_wait must not be negative, got -1');
    expect(dynamicConfigProblem({ maximum_lag_on_failover: true })).toMatch(/must be a number/);
    expect(dynamicConfigProblem({ postgresql: 'x' })).toBe('postgresql must be a JSON object');
    expect(dynamicConfigProblem({ postgresql: { parameters: [] } })).toBe('postgresql.parameters must be a JSON object');
    expect(dynamicConfigProblem({ postgresql: { pg_hba: 'host all all' } })).toBe('postgresql.pg_hba must be a list');
    expect(dynamicConfigProblem({ ignore_slots: {} })).toBe('ignore_slots must be a list');
  });
});
