import { describe, expect, it } from 'vitest';
import { buildEnvironmentConfig } from './env.js';
import { parseConfig } from './load.js';
import { POSTGRES0_YML, withLine } from './test-fixtures.js';

describe('restapi.authenticate_reads (pgwarden extension)', () => {
  it('is off unless set, and reads as a boolean', () => {
    expect(parseConfig(POSTGRES0_YML, 'postgres0.yml').restapi.authenticate_reads).toBeUndefined();
    const on = withLine(POSTGRES0_YML, '  connect_address: 127.0.0.1:8008', '  connect_address: 127.0.0.1:8008\n  authenticate_reads: true');
    expect(parseConfig(on, 'postgres0.yml').restapi.authenticate_reads).toBe(true);
    const bad = withLine(POSTGRES0_YML, '  connect_address: 127.0.0.1:8008', '  connect_address: 127.0.0.1:8008\n  authenticate_reads: sometimes');
    expect(() => parseConfig(bad, 'postgres0.yml')).toThrow(/restapi\.authenticate_reads: expected a boolean/);
  });

  it('refuses to guard reads with nothing to check them against', () => {
    const noAuth = withLine(
      POSTGRES0_YML,
      '  authentication:\n    username: patroni\n    password: api-secret\n',
      '  authenticate_reads: true\n',
    );
    expect(() => parseConfig(noAuth, 'postgres0.yml')).toThrow(/restapi\.authenticate_reads: needs restapi\.authentication, allowlist or verify_client/);
  });

  it('comes from PATRONI_RESTAPI_AUTHENTICATE_READS too', () => {
    const { config, issues } = buildEnvironmentConfig({ PATRONI_RESTAPI_AUTHENTICATE_READS: 'on' });
    expect(issues).toEqual([]);
    expect(config).toEqual({ restapi: { authenticate_reads: true } });
  });
});
