import { describe, expect, it } from 'vitest';
import { parseConfig } from './load.js';
import { POSTGRES0_YML, withLine } from './test-fixtures.js';
import {
  DYNAMIC_CONFIG_DEFAULTS,
  normalizeTiming,
  timingOptionsFromEnv,
  toDynamicConfig,
  toDynamicConfigWithWarnings,
} from './timing.js';

describe('normalizeTiming', () => {
  it('keeps valid values and fills defaults', () => {
    expect(normalizeTiming({ ttl: 30, loop_wait: 10, retry_timeout: 10 })).toEqual({ ttl: 30, loop_wait: 10, retry_timeout: 10, warnings: [] });
    expect(normalizeTiming({})).toEqual({ ttl: 30, loop_wait: 10, retry_timeout: 10, warnings: [] });
  });

  it("raises values below Patroni's minimums", () => {
    const timing = normalizeTiming({ ttl: 10, loop_wait: 0, retry_timeout: 2 });
    expect(timing).toMatchObject({ ttl: 20, loop_wait: 1, retry_timeout: 3 });
    expect(timing.warnings).toEqual([
      "loop_wait=0 can't be smaller than 1, adjusting",
      "retry_timeout=2 can't be smaller than 3, adjusting",
      "ttl=10 can't be smaller than 20, adjusting",
    ]);
  });

  it('lowers loop_wait first when loop_wait + 2*retry_timeout > ttl', () => {
    const timing = normalizeTiming({ ttl: 30, loop_wait: 15, retry_timeout: 10 });
    expect(timing).toMatchObject({ ttl: 30, loop_wait: 10, retry_timeout: 10 });
    expect(timing.warnings).toEqual([
      'violated the rule "loop_wait + 2*retry_timeout <= ttl" where ttl=30 and retry_timeout=10: adjusting loop_wait from 15 to 10',
    ]);
  });

  it('then sets loop_wait to 1 and retry_timeout to floor((ttl-1)/2)', () => {
    const timing = normalizeTiming({ ttl: 20, loop_wait: 10, retry_timeout: 12 });
    expect(timing).toMatchObject({ ttl: 20, loop_wait: 1, retry_timeout: 9 });
    expect(timing.warnings).toHaveLength(1);
    expect(timing.warnings[0]).toMatch(/adjusting loop_wait from 10 to 1 and retry_timeout from 12 to 9/);
  });

  it('lets short test timings through when minimums are not enforced, still keeping the rule', () => {
    expect(normalizeTiming({ ttl: 10, loop_wait: 2, retry_timeout: 4 }, { enforceMinimums: false })).toEqual({
      ttl: 10,
      loop_wait: 2,
      retry_timeout: 4,
      warnings: [],
    });
    expect(normalizeTiming({ ttl: 6, loop_wait: 2, retry_timeout: 4 }, { enforceMinimums: false })).toMatchObject({
      ttl: 6,
      loop_wait: 1,
      retry_timeout: 2,
    });
    expect(normalizeTiming({ ttl: 1, loop_wait: 0, retry_timeout: 0 }, { enforceMinimums: false })).toMatchObject({
      ttl: 3,
      loop_wait: 1,
      retry_timeout: 1,
    });
  });

  it('reads PGWARDEN_ALLOW_SHORT_TTL=1 from the environment', () => {
    expect(timingOptionsFromEnv({ PGWARDEN_ALLOW_SHORT_TTL: '1' })).toEqual({ enforceMinimums: false });
    expect(timingOptionsFromEnv({ PGWARDEN_ALLOW_SHORT_TTL: 'yes' })).toEqual({ enforceMinimums: true });
    expect(timingOptionsFromEnv({})).toEqual({ enforceMinimums: true });
  });
});

describe('toDynamicConfig', () => {
  it('writes bootstrap.dcs as given, like Patroni, without mutating the configuration', () => {
    const config = parseConfig(POSTGRES0_YML, 'p.yml');
    const dynamic = toDynamicConfig(config);
    expect(dynamic).toEqual(config.bootstrap.dcs);
    expect(dynamic).not.toBe(config.bootstrap.dcs);
  });

  it('applies the timing rule, writing back only what was given or changed', () => {
    const config = parseConfig(withLine(withLine(POSTGRES0_YML, '    ttl: 30\n', ''), '    retry_timeout: 10', '    retry_timeout: 15'), 'p.yml');
    const { config: dynamic, warnings } = toDynamicConfigWithWarnings(config);
    expect(dynamic).toMatchObject({ loop_wait: 1, retry_timeout: 14 });
    expect(dynamic.ttl).toBeUndefined();
    expect(warnings).toHaveLength(1);
    expect(config.bootstrap.dcs.retry_timeout).toBe(15);
  });

  it('keeps short test timings with enforceMinimums false, and fills every default on request', () => {
    const text = withLine(withLine(withLine(POSTGRES0_YML, '    ttl: 30', '    ttl: 10'), '    loop_wait: 10', '    loop_wait: 2'), '    retry_timeout: 10', '    retry_timeout: 4');
    const config = parseConfig(text, 'p.yml');
    expect(toDynamicConfig(config)).toMatchObject({ ttl: 20, loop_wait: 2, retry_timeout: 4 });
    const dynamic = toDynamicConfig(config, { enforceMinimums: false, fillDefaults: true });
    expect(dynamic).toEqual({
      ...DYNAMIC_CONFIG_DEFAULTS,
      ttl: 10,
      loop_wait: 2,
      retry_timeout: 4,
      postgresql: {
        use_pg_rewind: true,
        use_slots: true,
        parameters: { max_connections: 100, wal_level: 'replica' },
      },
    });
  });
});
