import { describe, expect, it } from 'vitest';
import { parseRestartRequest, parseSeconds, postgresVersionToInt } from './restart-request.js';

const NOW = Date.UTC(2025, 0, 1, 12, 0, 0);

describe('postgresVersionToInt', () => {
  it('reads X.Y (10+) and X.Y.Z as server_version_num', () => {
    expect(postgresVersionToInt('15.2')).toEqual({ ok: true, value: 150002 });
    expect(postgresVersionToInt('9.6.3')).toEqual({ ok: true, value: 90603 });
    expect(postgresVersionToInt('10.1')).toEqual({ ok: true, value: 100001 });
  });

  it("refuses other shapes with Patroni's messages", () => {
    expect(postgresVersionToInt('9.6')).toEqual({ ok: false, message: 'Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: 9.6' });
    expect(postgresVersionToInt('10')).toEqual({ ok: false, message: 'Invalid PostgreSQL version format: X.Y or X.Y.Z is accepted: 10' });
    expect(postgresVersionToInt('1.2.3.4').ok).toBe(false);
    expect(postgresVersionToInt('a.b.c')).toEqual({ ok: false, message: 'Invalid PostgreSQL version: a.b.c' });
  });
});

describe('parseSeconds', () => {
  it('takes numbers and texts with time units', () => {
    expect([parseSeconds(30), parseSeconds('30'), parseSeconds('30s'), parseSeconds('2min'), parseSeconds('1500ms'), parseSeconds('1h')]).toEqual([
      30, 30, 30, 120, 2, 3600,
    ]);
    expect([parseSeconds('2.5'), parseSeconds('500ms')]).toEqual([2, 0]);
  });

  it('returns null for what is not a duration', () => {
    expect([parseSeconds('soon'), parseSeconds('30 parsecs'), parseSeconds(true), parseSeconds(null), parseSeconds(Infinity)]).toEqual([
      null, null, null, null, null,
    ]);
  });
});

describe('parseRestartRequest', () => {
  it('turns filters into the command shape', () => {
    expect(parseRestartRequest({ role: 'replica', postgres_version: '15.4', timeout: '30s', restart_pending: true }, false, NOW)).toEqual({
      ok: true,
      kind: 'now',
      filters: { role: 'replica', postgresVersionBelow: 150004, timeout: 30, restartPending: true },
    });
    expect(parseRestartRequest({}, false, NOW)).toEqual({ ok: true, kind: 'now', filters: {} });
    expect(parseRestartRequest({ restart_pending: false }, false, NOW)).toEqual({ ok: true, kind: 'now', filters: {} });
  });

  it('reads a schedule with a time zone', () => {
    expect(parseRestartRequest({ schedule: '2025-01-01T13:00:00+01:00', role: 'primary' }, false, NOW)).toEqual({
      ok: true,
      kind: 'scheduled',
      restart: { at: Date.UTC(2025, 0, 1, 12, 0, 0), schedule: '2025-01-01T12:00:00.000Z', role: 'primary' },
    });
  });

  it('keeps the version text of a scheduled restart, to publish it back', () => {
    const parsed = parseRestartRequest({ schedule: '2025-01-01T13:00:00Z', postgres_version: '15.4' }, false, NOW);
    expect(parsed).toMatchObject({ ok: true, kind: 'scheduled', restart: { postgresVersionBelow: 150004, postgresVersion: '15.4' } });
  });

  it('refuses with the first problem, in the order the keys came', () => {
    expect(parseRestartRequest({ role: 'leader' }, false, NOW)).toEqual({
      ok: false,
      status: 400,
      message: 'PostgreSQL role should be either primary, standby_leader, or replica',
    });
    expect(parseRestartRequest({ timeout: 0 }, false, NOW)).toEqual({ ok: false, status: 400, message: 'Timeout should be a positive number of seconds' });
    expect(parseRestartRequest({ timeout: 'abc' }, false, NOW)).toMatchObject({ status: 400 });
    expect(parseRestartRequest({ postgres_version: '9.6' }, false, NOW)).toMatchObject({ status: 400 });
    expect(parseRestartRequest({ force: true }, false, NOW)).toEqual({ ok: false, status: 400, message: 'Unknown filter for the scheduled restart: force' });
    expect(parseRestartRequest({ schedule: '2025-01-01T13:00:00' }, false, NOW)).toEqual({
      ok: false,
      status: 400,
      message: 'Timezone information is mandatory for the scheduled restart',
    });
    expect(parseRestartRequest({ schedule: '2024-01-01T13:00:00Z' }, false, NOW)).toEqual({
      ok: false,
      status: 422,
      message: 'Cannot schedule restart in the past',
    });
    expect(parseRestartRequest({ schedule: 42 }, false, NOW)).toMatchObject({ status: 422 });
    expect(parseRestartRequest({ bogus: 1, role: 'leader' }, false, NOW)).toMatchObject({ message: 'Unknown filter for the scheduled restart: bogus' });
  });

  it('refuses any schedule in the paused state first', () => {
    expect(parseRestartRequest({ role: 'x', schedule: 'garbage' }, true, NOW)).toEqual({
      ok: false,
      status: 500,
      message: "Can't schedule restart in the paused state",
    });
    expect(parseRestartRequest({ role: 'replica' }, true, NOW)).toMatchObject({ ok: true, kind: 'now' });
  });
});
