import { describe, expect, it } from 'vitest';
import type { MalformedValue } from './codec.js';
import { buildCluster, decodeFailover, encodeFailover, encodeSync, decodeSync, decodeStatus } from './codec.js';
import { formatLsn, parseLsn } from './lsn.js';
import { normalizeTiming, resolveDynamicConfig } from './dynamic-config.js';
import { slotNameForMember } from './postgres.js';

describe('buildCluster', () => {
  it('reports a malformed member value and keeps the others', () => {
    const malformed: MalformedValue[] = [];
    const cluster = buildCluster(
      {
        leader: { value: 'node1', version: '5' },
        members: [
          { name: 'node1', value: '{"conn_url":"postgres://127.0.0.1:5432/postgres","role":"primary"}', version: '3' },
          { name: 'node2', value: '{not json', version: '4' },
        ],
        config: { value: '[1,2]', version: '2' },
      },
      (value) => malformed.push(value),
    );
    expect(cluster.members.map((member) => member.name)).toEqual(['node1']);
    expect(cluster.leader?.member?.data.role).toBe('primary');
    expect(cluster.config).toBeNull();
    expect(malformed.map((value) => value.key)).toEqual(['members/node2', 'config']);
  });

  it('reads the legacy member URL form', () => {
    const cluster = buildCluster({
      members: [{ name: 'old', value: 'postgres://10.0.0.1:5432/postgres?application_name=http://10.0.0.1:8008/patroni', version: '1' }],
    });
    expect(cluster.members[0]?.data).toEqual({ conn_url: 'postgres://10.0.0.1:5432/postgres', api_url: 'http://10.0.0.1:8008/patroni' });
  });
});

describe('values', () => {
  it('round-trips failover, with `{}` as none and the legacy leader:member form', () => {
    expect(encodeFailover(null)).toBe('{}');
    expect(decodeFailover({ value: '{}', version: '1' })).toBeNull();
    expect(decodeFailover({ value: 'a:b', version: '1' })).toMatchObject({ leader: 'a', candidate: 'b' });
    const text = encodeFailover({ leader: 'a', candidate: 'b', scheduledAt: '2026-01-01T00:00:00+00:00' });
    expect(JSON.parse(text)).toEqual({ leader: 'a', member: 'b', scheduled_at: '2026-01-01T00:00:00+00:00' });
  });

  it('writes sync standbys sorted and comma-separated', () => {
    const text = encodeSync({ leader: 'a', syncStandby: ['c', 'b'], quorum: 0 });
    expect(JSON.parse(text)).toEqual({ leader: 'a', sync_standby: 'b,c', quorum: 0 });
    expect(decodeSync({ value: text, version: '1' })?.syncStandby).toEqual(['b', 'c']);
  });

  it('accepts a legacy integer status', () => {
    expect(decodeStatus({ value: '1234', version: '1' }).optime).toBe(1234);
  });
});

describe('helpers', () => {
  it('converts WAL positions both ways', () => {
    expect(parseLsn('0/3000060')).toBe(0x3000060);
    expect(parseLsn('1/0')).toBe(0x1_0000_0000);
    expect(formatLsn(0x1_0300_0060)).toBe('1/3000060');
    expect(() => parseLsn('nope')).toThrow(RangeError);
  });

  it('names slots as Patroni does', () => {
    expect(slotNameForMember('Node-1.a')).toBe('node_1_a');
    expect(slotNameForMember('é')).toBe('u00e9');
  });

  it('applies the timing rule', () => {
    expect(normalizeTiming({ ttl: 30, loop_wait: 10, retry_timeout: 10 }).timing).toEqual({ ttl: 30, loopWait: 10, retryTimeout: 10 });
    const lowered = normalizeTiming({ ttl: 20, loop_wait: 10, retry_timeout: 10 });
    expect(lowered.timing).toEqual({ ttl: 20, loopWait: 1, retryTimeout: 9 });
    expect(lowered.warnings.length).toBeGreaterThan(0);
    expect(normalizeTiming({ ttl: 5 }).timing.ttl).toBe(20);
    expect(normalizeTiming({ ttl: 10, loop_wait: 2, retry_timeout: 4 }, { enforceMinimums: false }).timing).toEqual({
      ttl: 10,
      loopWait: 2,
      retryTimeout: 4,
    });
  });

  it('resolves the dynamic configuration with defaults', () => {
    const resolved = resolveDynamicConfig({ postgresql: { use_pg_rewind: true } });
    expect(resolved).toMatchObject({ maximumLagOnFailover: 1048576, usePgRewind: true, useSlots: true, primaryStartTimeout: 300 });
  });
});
