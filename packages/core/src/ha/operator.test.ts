import { describe, expect, it } from 'vitest';
import type { Cluster, Member } from '../model.js';
import { emptyCluster } from '../model.js';
import type { Effect, EffectHandlers, PeerStatus } from './effects.js';
import { interpret } from './effects.js';
import type { SwitchoverRequest } from './operator.js';
import { checkSwitchoverRequest, parseSchedule } from './operator.js';

const NOW = Date.parse('2026-11-21T12:00:00Z');
const member = (name: string, tags: Record<string, unknown> = {}): Member => ({
  name,
  version: '1',
  data: { conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: `http://127.0.0.1:8008/${name}`, state: 'running', tags },
});

function cluster(extra: Partial<Cluster> = {}): Cluster {
  const members = [member('a'), member('b'), member('c', { nofailover: true })];
  return { ...emptyCluster(), members, leader: { name: 'a', version: '1', member: members[0]! }, ...extra };
}

async function check(request: Partial<SwitchoverRequest>, state = cluster(), peers: PeerStatus[] = [running('b')]) {
  const probed: Effect[] = [];
  const verdict = await interpret(
    checkSwitchoverRequest(state, { action: 'switchover', leader: null, candidate: null, scheduledAt: null, ...request }, NOW),
    { 'peers.probe': (effect: Effect) => (probed.push(effect), Promise.resolve(peers)) } as unknown as EffectHandlers,
  );
  return { verdict, probed };
}

function running(name: string): PeerStatus {
  return { name, reachable: true, role: 'replica', state: 'running', walPosition: 1, timeline: 1, tags: {}, watchdogFailed: false };
}

describe('switchover and failover requests', () => {
  it('accepts a switchover to a healthy member', async () => {
    const { verdict, probed } = await check({ leader: 'a', candidate: 'b' });
    expect(verdict).toEqual({ ok: true, action: 'switchover', leader: 'a', candidate: 'b', scheduledAt: null });
    expect(probed).toEqual([{ kind: 'peers.probe', members: [{ name: 'b', apiUrl: 'http://127.0.0.1:8008/b' }] }]);
  });

  it.each([
    [{ action: 'failover' as const }, 400, 'Failover could be performed only to a specific candidate'],
    [{ candidate: 'b' }, 400, 'Switchover could be performed only from a specific leader'],
    [{ action: 'failover' as const, candidate: 'b', scheduledAt: '2026-11-22T00:00:00Z' }, 400, "Failover can't be scheduled"],
    [{ leader: 'a', candidate: 'a' }, 400, 'Switchover target and source are the same'],
    [{ leader: 'x', candidate: 'b' }, 412, 'leader name does not match'],
    [{ leader: 'a', candidate: 'zz' }, 412, 'candidate does not exists'],
    [{ leader: 'a', scheduledAt: '2026-11-22T00:00:00' }, 400, 'Timezone information is mandatory for the scheduled switchover'],
    [{ leader: 'a', scheduledAt: '2020-01-01T00:00:00Z' }, 422, 'Cannot schedule switchover in the past'],
    [{ leader: 'a', scheduledAt: 'soon' }, 422, 'Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601'],
  ])('refuses %j with %i', async (request, status, message) => {
    const { verdict } = await check(request);
    expect(verdict).toEqual({ ok: false, status, message });
  });

  it('412 when no member can take over', async () => {
    const { verdict } = await check({ leader: 'a' }, cluster(), [{ name: 'b', reachable: false, error: 'down' }]);
    expect(verdict).toEqual({ ok: false, status: 412, message: 'switchover is not possible: no good candidates have been found' });
    const alone = await check({ leader: 'a' }, cluster({ members: [member('a')] }));
    expect(alone.verdict).toEqual({ ok: false, status: 412, message: 'switchover is not possible: cluster does not have members except leader' });
  });

  it('a failover naming the leader is a switchover; a scheduled one is not probed', async () => {
    const { verdict } = await check({ action: 'failover', leader: 'a', candidate: 'b' });
    expect(verdict).toMatchObject({ ok: true, action: 'switchover' });
    const scheduled = await check({ leader: 'a', scheduledAt: '2026-11-21T13:00:00+01:00' });
    expect(scheduled.verdict).toEqual({ ok: true, action: 'switchover', leader: 'a', candidate: null, scheduledAt: '2026-11-21T12:00:00.000Z' });
    expect(scheduled.probed).toEqual([]);
  });

  it('in pause only a named candidate, and no schedule', async () => {
    const paused = cluster({ config: { version: '1', data: { pause: true } } });
    expect((await check({ leader: 'a' }, paused)).verdict).toMatchObject({ status: 400, message: 'Switchover is possible only to a specific candidate in a paused state' });
    expect((await check({ leader: 'a', candidate: 'b', scheduledAt: '2026-11-22T00:00:00Z' }, paused)).verdict).toMatchObject({
      message: "Can't schedule switchover in the paused state",
    });
  });

  it('parses schedules with offsets', () => {
    expect(parseSchedule('2026-11-21T12:30:00+00:00', 'restart', NOW)).toEqual({ ok: true, at: NOW + 1_800_000, iso: '2026-11-21T12:30:00.000Z' });
  });
});
