import { describe, expect, it } from 'vitest';
import { resolveDynamicConfig } from '../dynamic-config.js';
import type { PostgresObservation } from '../postgres.js';
import type { HaSettings } from './cycle.js';
import { memberData } from './cycle.js';

const settings: HaSettings = {
  name: 'node1',
  scope: 'demo',
  tags: {},
  connUrl: 'postgres://127.0.0.1:5433/postgres',
  apiUrl: 'http://127.0.0.1:8009/patroni',
  patroniVersion: '4.1.4',
  bootstrapDynamicConfig: {},
  enforceTimingMinimums: true,
  removeDataDirectoryOnRewindFailure: false,
};

function primary(overrides: Partial<PostgresObservation>): PostgresObservation {
  return {
    dataDirectory: 'initialized',
    systemId: '7000000000000000001',
    controlState: 'in production',
    running: true,
    accepting: true,
    role: 'primary',
    timeline: 1,
    walPosition: 5000,
    receiveLsn: null,
    replayLsn: null,
    replicationState: null,
    upstream: null,
    standbySignal: false,
    postmasterStartTime: null,
    serverVersion: 150000,
    replication: [],
    pendingRestart: false,
    synchronousStandbyNames: null,
    ...overrides,
  };
}

describe('memberData pending_restart_reason', () => {
  const dynamic = resolveDynamicConfig({});

  it('publishes the reason per parameter next to the flag', () => {
    const reason = { shared_buffers: { old_value: '128MB', new_value: '256MB' } };
    const data = memberData(settings, primary({ pendingRestart: true, pendingRestartReason: reason }), 'primary', 'running', dynamic);
    expect(data.pending_restart).toBe(true);
    expect(data.pending_restart_reason).toEqual(reason);
    expect(data.pending_restart_reason).not.toBe(reason);
    // Patroni's key order: the reason follows the flag.
    const keys = Object.keys(data);
    expect(keys.indexOf('pending_restart_reason')).toBe(keys.indexOf('pending_restart') + 1);
  });

  it('keeps the flag alone when the reason is unknown or empty', () => {
    for (const pendingRestartReason of [undefined, {}]) {
      const pg = primary(pendingRestartReason === undefined ? { pendingRestart: true } : { pendingRestart: true, pendingRestartReason });
      const data = memberData(settings, pg, 'primary', 'running', dynamic);
      expect(data.pending_restart).toBe(true);
      expect(data).not.toHaveProperty('pending_restart_reason');
    }
  });

  it('publishes no reason without a pending restart', () => {
    const pg = primary({ pendingRestartReason: { port: { old_value: '5432', new_value: '5433' } } });
    const data = memberData(settings, pg, 'primary', 'running', dynamic);
    expect(data).not.toHaveProperty('pending_restart');
    expect(data).not.toHaveProperty('pending_restart_reason');
  });
});
