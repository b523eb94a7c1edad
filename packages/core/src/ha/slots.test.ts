import { describe, expect, it } from 'vitest';
import type { Cluster, Member } from '../model.js';
import { emptyCluster } from '../model.js';
import type { ReplicationSlot } from '../postgres.js';
import {
  desiredSlots,
  isIgnoredSlot,
  needsHotStandbyFeedback,
  parseDurationSeconds,
  planSlots,
  publishedSlotPositions,
  retainSlots,
  slotSettings,
  slotsThisMemberServes,
} from './slots.js';

function member(name: string, data: Record<string, unknown> = {}): Member {
  return { name, version: '1', data: { conn_url: `postgres://127.0.0.1:5432/postgres`, ...data } };
}

function clusterOf(members: Member[], leader: string, status: Partial<Cluster['status']> = {}): Cluster {
  const leaderMember = members.find((candidate) => candidate.name === leader) ?? null;
  return {
    ...emptyCluster(),
    members,
    leader: { name: leader, version: '1', member: leaderMember },
    status: { optime: 0, slots: {}, retainSlots: [], ...status },
  };
}

function slot(name: string, fields: Partial<ReplicationSlot> = {}): ReplicationSlot {
  return {
    name,
    type: 'physical',
    database: null,
    plugin: null,
    active: false,
    xmin: null,
    catalogXmin: null,
    restartLsn: 100,
    confirmedFlushLsn: null,
    walStatus: 'reserved',
    ...fields,
  };
}

const config = {
  slots: { cdc: { type: 'logical', database: 'postgres', plugin: 'test_decoding' }, archiver: null, 'Bad-Name': { type: 'physical' } },
  ignore_slots: [{ name: 'handmade' }, { type: 'logical', plugin: 'pgoutput' }],
  member_slots_ttl: '10min',
};
const settings = slotSettings(config);
const members = [member('node1', { role: 'primary', state: 'running' }), member('node2', { role: 'replica', state: 'running', replication_state: 'streaming' }), member('node3', { tags: { replicatefrom: 'node2' }, xlog_location: 700 }), member('node4', { tags: { nostream: true } })];

describe('slot settings', () => {
  it('reads permanent slots, ignore_slots and member_slots_ttl as Patroni does', () => {
    expect(settings.permanent).toEqual({
      cdc: { type: 'logical', database: 'postgres', plugin: 'test_decoding' },
      archiver: { type: 'physical' },
    });
    expect(settings.invalid).toEqual(['Bad-Name']);
    expect(settings.memberSlotsTtl).toBe(600);
    expect(slotSettings({}).memberSlotsTtl).toBe(1800);
    expect(parseDurationSeconds(0, 5)).toBe(0);
    expect(slotSettings({ postgresql: { use_slots: false } }).useSlots).toBe(false);
  });

  it('matches ignore_slots by every field given', () => {
    expect(isIgnoredSlot(slot('handmade'), settings.ignore)).toBe(true);
    expect(isIgnoredSlot(slot('sub', { type: 'logical', plugin: 'pgoutput', database: 'app' }), settings.ignore)).toBe(true);
    expect(isIgnoredSlot(slot('sub', { type: 'logical', plugin: 'wal2json', database: 'app' }), settings.ignore)).toBe(false);
  });
});

describe('which slots a member holds', () => {
  it('serves members without replicatefrom on the primary and its cascade children on a replica', () => {
    const cluster = clusterOf(members, 'node1');
    expect(slotsThisMemberServes(cluster, 'node1').map((m) => m.name)).toEqual(['node2']);
    expect(slotsThisMemberServes(cluster, 'node2').map((m) => m.name)).toEqual(['node3']);
    // replicatefrom naming a member that is gone: the primary serves it.
    const orphan = clusterOf([member('node1'), member('node5', { tags: { replicatefrom: 'ghost' } })], 'node1');
    expect(slotsThisMemberServes(orphan, 'node1').map((m) => m.name)).toEqual(['node5']);
    // Its upstream stopped streaming: node3 falls back to the leader, which keeps its slot meanwhile.
    const fallback = clusterOf(members.map((m) => (m.name === 'node2' ? member('node2', { role: 'replica', state: 'running', replication_state: 'stopped' }) : m)), 'node1');
    expect(slotsThisMemberServes(fallback, 'node1').map((m) => m.name)).toEqual(['node2', 'node3']);
  });

  it('keeps permanent slots by cluster_type, and no logical slot in a standby cluster', () => {
    const typed = slotSettings({
      slots: {
        cdc: { type: 'logical', database: 'postgres', plugin: 'test_decoding' },
        everywhere: { type: 'physical' },
        only_primary: { type: 'physical', cluster_type: 'primary' },
        only_standby: { type: 'physical', cluster_type: 'standby' },
      },
    });
    const cluster = clusterOf(members, 'node1');
    const names = (standbyCluster: boolean) =>
      [...desiredSlots({ cluster, me: 'node1', tags: {}, role: 'primary', settings: typed, serverVersion: 150000, standbyCluster }).keys()]
        .filter((name) => !name.startsWith('node'))
        .sort();
    expect(names(false)).toEqual(['cdc', 'everywhere', 'only_primary']);
    expect(names(true)).toEqual(['everywhere', 'only_standby']);
  });

  it('on the primary: member slots (expected active when streaming here) and permanent slots', () => {
    const cluster = clusterOf(members, 'node1', { slots: { node3: 500, cdc: 900 } });
    const desired = desiredSlots({ cluster, me: 'node1', tags: {}, role: 'primary', settings, serverVersion: 150000 });
    expect([...desired.keys()].sort()).toEqual(['archiver', 'cdc', 'node2', 'node3']);
    expect(desired.get('node2')).toMatchObject({ type: 'physical', expectedActive: true });
    // node3 cascades from node2: its slot here is kept (retention) and advanced from its own position.
    expect(desired.get('node3')).toMatchObject({ expectedActive: false, lsn: 700 });
    expect(desired.get('cdc')).toMatchObject({ type: 'logical', database: 'postgres', plugin: 'test_decoding', lsn: 900 });
    expect(desired.get('archiver')).toMatchObject({ expectedActive: true, permanent: true });
  });

  it('without retention only the slots streams use; nofailover members keep no permanent slots', () => {
    const noRetention = slotSettings({ ...config, member_slots_ttl: 0 });
    const cluster = clusterOf(members, 'node1');
    const onReplica = desiredSlots({ cluster, me: 'node2', tags: {}, role: 'replica', settings: noRetention, serverVersion: 150000 });
    expect([...onReplica.keys()].sort()).toEqual(['archiver', 'cdc', 'node3']);
    const noFailover = desiredSlots({ cluster, me: 'node2', tags: { nofailover: true }, role: 'replica', settings, serverVersion: 150000 });
    expect([...noFailover.keys()]).toEqual(['node3']);
    // A nostream member gets physical permanent slots but no logical ones: nothing would protect their catalog rows.
    const noStream = desiredSlots({ cluster, me: 'node4', tags: { nostream: true }, role: 'replica', settings, serverVersion: 150000 });
    expect(noStream.has('cdc')).toBe(false);
    expect(noStream.has('archiver')).toBe(true);
  });

  it('keeps slots listed in retain_slots although their member is gone', () => {
    const cluster = clusterOf(members, 'node1', { retainSlots: ['node1', 'departed'] });
    const desired = desiredSlots({ cluster, me: 'node1', tags: {}, role: 'primary', settings, serverVersion: 150000 });
    expect(desired.get('departed')).toMatchObject({ type: 'physical', expectedActive: false });
    expect(desired.has('node1')).toBe(false);
  });
});

describe('planning changes', () => {
  const cluster = clusterOf(members, 'node1', { slots: { cdc: 900, node1: 1000 } });
  const base = { ignore: settings.ignore, paused: false, cleanInactivePhysical: true, replayLsn: 800 };

  it('on the primary: creates what is missing, drops what nobody wants, never ignored slots', () => {
    const desired = desiredSlots({ cluster, me: 'node1', tags: {}, role: 'primary', settings, serverVersion: 150000 });
    const existing = [slot('node2', { active: true }), slot('stale'), slot('handmade'), slot('cdc', { type: 'logical', database: 'other', plugin: 'test_decoding', confirmedFlushLsn: 5 })];
    const plan = planSlots({ ...base, desired, existing, role: 'primary' });
    expect(plan.changes.drop).toEqual(['stale', 'cdc']);
    expect([...plan.changes.createPhysical].sort()).toEqual(['archiver', 'node3']);
    expect(plan.changes.createLogical).toEqual([{ name: 'cdc', database: 'postgres', plugin: 'test_decoding' }]);
    expect(plan.copy).toEqual([]);
  });

  it('drops nothing while paused, and drops lost slots to make them again', () => {
    const desired = desiredSlots({ cluster, me: 'node1', tags: {}, role: 'primary', settings, serverVersion: 150000 });
    expect(planSlots({ ...base, paused: true, desired, existing: [slot('stale')], role: 'primary' }).changes.drop).toEqual([]);
    const lost = planSlots({ ...base, desired, existing: [slot('node2', { walStatus: 'lost' })], role: 'primary' });
    expect(lost.changes.drop).toEqual(['node2']);
    expect(lost.changes.createPhysical).toContain('node2');
  });

  it('on a replica: copies a missing logical slot, advances it no further than replay, advances inactive physical slots', () => {
    const desired = desiredSlots({ cluster, me: 'node2', tags: {}, role: 'replica', settings, serverVersion: 150000 });
    const missing = planSlots({ ...base, desired, existing: [], role: 'replica' });
    expect(missing.copy).toEqual([{ name: 'cdc', database: 'postgres', plugin: 'test_decoding' }]);
    expect(missing.changes.createLogical).toEqual([]);
    const existing = [slot('cdc', { type: 'logical', database: 'postgres', plugin: 'test_decoding', confirmedFlushLsn: 300 }), slot('node1', { restartLsn: 200 })];
    const plan = planSlots({ ...base, desired, existing, role: 'replica' });
    expect(plan.copy).toEqual([]);
    expect(plan.changes.advance).toEqual([
      { name: 'node1', type: 'physical', database: null, lsn: 1000 },
      { name: 'cdc', type: 'logical', database: 'postgres', lsn: 800 },
    ]);
  });

  it('does not copy a logical slot the primary has not reported yet', () => {
    const fresh = clusterOf(members, 'node1');
    const desired = desiredSlots({ cluster: fresh, me: 'node2', tags: {}, role: 'replica', settings, serverVersion: 150000 });
    expect(planSlots({ ...base, desired, existing: [], role: 'replica' }).copy).toEqual([]);
  });

  it('recreates an inactive physical slot that holds an xmin, and one made without reserving WAL', () => {
    const desired = desiredSlots({ cluster, me: 'node2', tags: {}, role: 'replica', settings, serverVersion: 150000 });
    const plan = planSlots({ ...base, desired, existing: [slot('node1', { xmin: '742' }), slot('archiver', { restartLsn: null })], role: 'replica' });
    expect([...plan.changes.drop].sort()).toEqual(['archiver', 'node1']);
  });
});

describe('what the leader publishes', () => {
  const cluster = clusterOf(members, 'node1');
  const existing = [slot('node2', { restartLsn: 400 }), slot('cdc', { type: 'logical', database: 'postgres', plugin: 'test_decoding', confirmedFlushLsn: 350 }), slot('archiver', { restartLsn: 300 })];

  it('publishes all slot positions with retention, only permanent ones without', () => {
    expect(publishedSlotPositions({ cluster, me: 'node1', settings, existing, walPosition: 1000, serverVersion: 150000 })).toEqual({ archiver: 300, cdc: 350, node1: 1000, node2: 400 });
    const noRetention = slotSettings({ ...config, member_slots_ttl: 0 });
    expect(publishedSlotPositions({ cluster, me: 'node1', settings: noRetention, existing, walPosition: 1000, serverVersion: 150000 })).toEqual({ archiver: 300, cdc: 350 });
  });

  it('keeps a departed member slot in retain_slots for member_slots_ttl, then lets it go', () => {
    const t0 = 1_000_000;
    const published = { node1: 1000, node2: 400, archiver: 300 };
    const first = retainSlots({ cluster, me: 'node1', settings, published, seen: null, now: t0 });
    expect(first.retain).toEqual(['node1', 'node2']);
    // node2 leaves: its slot stays listed until 10min after it was last seen.
    const without = clusterOf(members.filter((m) => m.name !== 'node2'), 'node1');
    const later = retainSlots({ cluster: without, me: 'node1', settings, published, seen: first.seen, now: t0 + 599_000 });
    expect(later.retain).toEqual(['node1', 'node2']);
    const expired = retainSlots({ cluster: without, me: 'node1', settings, published, seen: later.seen, now: t0 + 600_000 });
    expect(expired.retain).toEqual(['node1']);
    // Its slot is then no longer desired, and dropped.
    const desired = desiredSlots({ cluster: { ...without, status: { ...without.status, retainSlots: expired.retain } }, me: 'node1', tags: {}, role: 'primary', settings, serverVersion: 150000 });
    expect(planSlots({ desired, existing: [slot('node2')], role: 'primary', ignore: [], paused: false, cleanInactivePhysical: true, replayLsn: null }).changes.drop).toEqual(['node2']);
  });

  it('restarts the retention clock for the old leader list when taking over', () => {
    const taken = clusterOf([member('node1')], 'node1', { retainSlots: ['gone'] });
    const result = retainSlots({ cluster: taken, me: 'node1', settings, published: {}, seen: null, now: 5 });
    expect(result.seen).toEqual({ gone: 5 });
  });
});

describe('hot_standby_feedback', () => {
  it('is needed with permanent logical slots on members that may lead and stream', () => {
    const cluster = clusterOf(members, 'node1');
    expect(needsHotStandbyFeedback(cluster, 'node2', {}, settings)).toBe(true);
    expect(needsHotStandbyFeedback(cluster, 'node2', { nofailover: true }, settings)).toBe(false);
    expect(needsHotStandbyFeedback(cluster, 'node2', {}, slotSettings({ slots: { archiver: null } }))).toBe(false);
  });
});
