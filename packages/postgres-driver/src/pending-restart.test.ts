import { describe, expect, it } from 'vitest';
import { formatInBaseUnit, pendingRestartReasonFrom } from './pending-restart.js';

describe('formatInBaseUnit', () => {
  it('shows integers in base units the way PostgreSQL does', () => {
    expect(formatInBaseUnit('16384', 'integer', '8kB')).toBe('128MB');
    expect(formatInBaseUnit('32768', 'integer', '8kB')).toBe('256MB');
    expect(formatInBaseUnit('1000', 'integer', '8kB')).toBe('8000kB');
    expect(formatInBaseUnit('1024', 'integer', 'MB')).toBe('1GB');
    expect(formatInBaseUnit('120000', 'integer', 'ms')).toBe('2min');
    expect(formatInBaseUnit('1500', 'integer', 'ms')).toBe('1500ms');
    expect(formatInBaseUnit('30', 'integer', 's')).toBe('30s');
  });

  it('leaves everything else as it is', () => {
    expect(formatInBaseUnit('256MB', 'integer', '8kB')).toBe('256MB');
    expect(formatInBaseUnit('100', 'integer', null)).toBe('100');
    expect(formatInBaseUnit('-1', 'integer', 'kB')).toBe('-1');
    expect(formatInBaseUnit('0', 'integer', 'ms')).toBe('0');
    expect(formatInBaseUnit('on', 'bool', null)).toBe('on');
    expect(formatInBaseUnit('0.5', 'real', 'ms')).toBe('0.5');
    expect(formatInBaseUnit('10', 'integer', 'furlong')).toBe('10');
  });
});

describe('pendingRestartReasonFrom', () => {
  it('takes the new value from the files, then from what was written, else ?', () => {
    const rows = [
      { name: 'max_connections', old_value: '100', unit: null, vartype: 'integer', file_value: '200' },
      { name: 'shared_buffers', old_value: '128MB', unit: '8kB', vartype: 'integer', file_value: null },
      { name: 'wal_level', old_value: 'replica', unit: null, vartype: 'enum', file_value: null },
    ];
    const written = new Map([['shared_buffers', '32768']]);
    expect(pendingRestartReasonFrom(rows, written)).toEqual({
      max_connections: { old_value: '100', new_value: '200' },
      shared_buffers: { old_value: '128MB', new_value: '256MB' },
      wal_level: { old_value: 'replica', new_value: '?' },
    });
  });

  it('is empty without rows', () => {
    expect(pendingRestartReasonFrom([], new Map())).toEqual({});
  });
});
