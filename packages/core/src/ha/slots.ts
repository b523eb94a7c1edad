/**
 * Replication slots: which slots this member must hold (members' physical slots, permanent physical and logical
 * slots from the `config` key, slots of absent members kept for member_slots_ttl), what to drop, create, advance
 * or copy from the primary, and what the lock holder publishes in `status`. Pure: data in, plan out.
 */
import type { Cluster, Member, Tags } from '../model.js';
import { isNoFailover, memberTags, tagIsTrue } from '../model.js';
import type { PostgresObservation, ReplicationSlot } from '../postgres.js';
import { slotNameForMember } from '../postgres.js';
import type { Effect } from './effects.js';
import { perform } from './effects.js';
import { canCascadeFrom } from './standby-cluster.js';

export type SlotType = 'physical' | 'logical';

/** One `ignore_slots` entry: every field given must match. */
export interface IgnoreSlotMatcher {
  readonly name?: string;
  readonly type?: string;
  readonly database?: string;
  readonly plugin?: string;
}

export interface PermanentSlot {
  readonly type: SlotType;
  readonly database?: string;
  readonly plugin?: string;
  /** `cluster_type`: primary, standby, or both when absent. */
  readonly clusterType?: string;
}

/** The slot part of the dynamic configuration. */
export interface SlotSettings {
  readonly useSlots: boolean;
  readonly permanent: Readonly<Record<string, PermanentSlot>>;
  readonly ignore: readonly IgnoreSlotMatcher[];
  /** Seconds a departed member's slot is kept; 0 drops it with the member key. */
  readonly memberSlotsTtl: number;
  /** Names in `slots` that are not valid slot names, to be reported. */
  readonly invalid: readonly string[];
}

export interface DesiredSlot {
  readonly name: string;
  readonly type: SlotType;
  readonly database?: string;
  readonly plugin?: string;
  /** Where the slot should be, from `status.slots` or a cascading member's xlog_location; null when unknown. */
  readonly lsn: number | null;
  /** Somebody should be streaming from it here: do not move it by hand nor drop it for its xmin. */
  readonly expectedActive: boolean;
  readonly permanent: boolean;
}

/** A permanent logical slot a replica takes over from the primary. */
export interface LogicalSlotSpec {
  readonly name: string;
  readonly database: string;
  readonly plugin: string;
}

/** What the driver does with the local slots, in this order: drop, create, advance. */
export interface SlotChanges {
  readonly drop: readonly string[];
  readonly createPhysical: readonly string[];
  readonly createLogical: readonly LogicalSlotSpec[];
  readonly advance: ReadonlyArray<{ readonly name: string; readonly type: SlotType; readonly database: string | null; readonly lsn: number }>;
}

export interface SlotChangeOutcome {
  /** Slots an operation failed on (logged by the driver). */
  readonly failed: readonly string[];
  /** Logical slots whose advance failed because their WAL is gone or they are invalid: copy them again. */
  readonly recopy: readonly string[];
}

export interface SlotPlan {
  readonly changes: SlotChanges;
  /** Permanent logical slots missing on this replica: copy them from the primary (stops and starts postgres). */
  readonly copy: readonly LogicalSlotSpec[];
  readonly desired: ReadonlyMap<string, DesiredSlot>;
}

const SLOT_NAME = /^[a-z0-9_]{1,63}$/;
export const DEFAULT_MEMBER_SLOTS_TTL = 1800;
/** pg_replication_slot_advance on logical slots and slot retention need PostgreSQL 11. */
const ADVANCE_MIN_VERSION = 110000;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function stringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/** `member_slots_ttl`: seconds, or a duration string such as `30min`, as Patroni reads it. */
export function parseDurationSeconds(value: unknown, fallback: number): number {
  if (typeof value === 'number' && Number.isFinite(value) && value >= 0) return Math.floor(value);
  if (typeof value !== 'string') return fallback;
  const match = /^\s*(\d+)\s*(ms|s|min|h|d)?\s*$/.exec(value);
  if (!match) return fallback;
  const amount = Number(match[1]);
  const factor = { ms: 0.001, s: 1, min: 60, h: 3600, d: 86400 }[(match[2] ?? 's') as 'ms' | 's' | 'min' | 'h' | 'd'];
  return Math.floor(amount * factor);
}

/** Reads `slots` (and its aliases), `ignore_slots`, `member_slots_ttl` and `postgresql.use_slots` from the `config` key. */
export function slotSettings(data: Readonly<Record<string, unknown>>): SlotSettings {
  const postgresql = isRecord(data['postgresql']) ? data['postgresql'] : {};
  const useSlotsRaw = postgresql['use_slots'];
  const useSlots = typeof useSlotsRaw === 'boolean' ? useSlotsRaw : typeof useSlotsRaw === 'string' ? !/^(false|off|no|0)$/i.test(useSlotsRaw) : true;
  const rawSlots = [data['slots'], data['permanent_slots'], data['permanent_replication_slots']].find(isRecord) ?? {};
  const permanent: Record<string, PermanentSlot> = {};
  const invalid: string[] = [];
  for (const [name, value] of Object.entries(rawSlots)) {
    if (!SLOT_NAME.test(name)) {
      invalid.push(name);
      continue;
    }
    if (!isRecord(value)) {
      // A bare name (null or any scalar) is a physical slot.
      permanent[name] = { type: 'physical' };
      continue;
    }
    const database = stringField(value, 'database');
    const plugin = stringField(value, 'plugin');
    const clusterType = stringField(value, 'cluster_type');
    const type = stringField(value, 'type') ?? (database && plugin ? 'logical' : 'physical');
    if (type === 'logical') {
      // A logical slot without both a database and a plugin cannot be created: Patroni skips it too.
      if (!database || !plugin) {
        invalid.push(name);
        continue;
      }
      permanent[name] = { type, database, plugin, ...(clusterType ? { clusterType } : {}) };
    } else if (type === 'physical') {
      permanent[name] = { type, ...(clusterType ? { clusterType } : {}) };
    } else {
      invalid.push(name);
    }
  }
  const ignore = Array.isArray(data['ignore_slots'])
    ? data['ignore_slots'].filter(isRecord).map((entry) => {
        const matcher: { name?: string; type?: string; database?: string; plugin?: string } = {};
        for (const key of ['name', 'type', 'database', 'plugin'] as const) {
          const value = stringField(entry, key);
          if (value !== undefined) matcher[key] = value;
        }
        return matcher;
      })
    : [];
  return {
    useSlots,
    permanent,
    ignore,
    memberSlotsTtl: parseDurationSeconds(data['member_slots_ttl'], DEFAULT_MEMBER_SLOTS_TTL),
    invalid,
  };
}

/** A slot matched by `ignore_slots` is never dropped nor changed. */
export function isIgnoredSlot(slot: Pick<ReplicationSlot, 'name' | 'type' | 'database' | 'plugin'>, ignore: readonly IgnoreSlotMatcher[]): boolean {
  return ignore.some(
    (matcher) =>
      (matcher.name === undefined || matcher.name === slot.name) &&
      (matcher.type === undefined || matcher.type === slot.type) &&
      (matcher.database === undefined || matcher.database === slot.database) &&
      (matcher.plugin === undefined || matcher.plugin === slot.plugin),
  );
}

function replicateFrom(member: Member): string | null {
  const value = memberTags(member)['replicatefrom'];
  return typeof value === 'string' && value !== '' ? value : null;
}

function streams(member: Member): boolean {
  return !tagIsTrue(memberTags(member), 'nostream');
}

/**
 * The members that stream from `me`, whose physical slots `me` must hold for them to connect: as the primary,
 * every member without a `replicatefrom` tag naming an existing other member; as a replica, the members whose
 * `replicatefrom` names `me` (never the leader). Members tagged `nostream` stream from nobody.
 */
export function slotsThisMemberServes(cluster: Cluster, me: string, role: 'primary' | 'replica' = cluster.leader?.name === me ? 'primary' : 'replica'): Member[] {
  const byName = new Map(cluster.members.map((member) => [member.name, member]));
  return cluster.members.filter((member) => {
    if (member.name === me || !streams(member)) return false;
    const upstream = replicateFrom(member);
    if (role === 'primary') {
      if (upstream === null || upstream === me) return true;
      // A member whose chosen upstream cannot serve it falls back to the leader, which must then hold its slot.
      const upstreamMember = byName.get(upstream);
      return upstreamMember === undefined || !canCascadeFrom(upstreamMember);
    }
    return upstream === me && member.name !== cluster.leader?.name;
  });
}

/**
 * The physical slot name this member streams through on the primary: its own, or, cascading, that of the member
 * that links its chain to the primary. Null when it streams from nobody (nostream, or a loop of replicatefrom).
 */
export function slotNameOnPrimary(cluster: Cluster, name: string, tags: Tags): string | null {
  const seen = new Set<string>();
  let current = name;
  let currentTags = tags;
  for (;;) {
    seen.add(current);
    if (tagIsTrue(currentTags, 'nostream')) return null;
    const upstreamName = typeof currentTags['replicatefrom'] === 'string' ? currentTags['replicatefrom'] : null;
    const upstream = upstreamName && upstreamName !== current ? cluster.members.find((member) => member.name === upstreamName) : undefined;
    if (!upstream) return slotNameForMember(current);
    if (seen.has(upstream.name)) return null;
    current = upstream.name;
    currentTags = memberTags(upstream);
  }
}

export interface DesiredSlotsInput {
  readonly cluster: Cluster;
  readonly me: string;
  readonly tags: Tags;
  /** How this member runs now: the primary holds slots for the active streams, replicas for a failover. */
  readonly role: 'primary' | 'replica';
  readonly settings: SlotSettings;
  /** server_version_num of the local server. */
  readonly serverVersion: number;
  /** A standby cluster keeps the permanent slots of `cluster_type: standby` (or none), and physical ones only. */
  readonly standbyCluster?: boolean;
}

/** Every slot this member should have, by name. */
export function desiredSlots(input: DesiredSlotsInput): Map<string, DesiredSlot> {
  const { cluster, me, tags, role, settings } = input;
  const desired = new Map<string, DesiredSlot>();
  if (!settings.useSlots) return desired;
  const canAdvance = input.serverVersion >= ADVANCE_MIN_VERSION;
  const noFailover = isNoFailover(tags);
  const mySlot = slotNameForMember(me);
  const served = new Set(slotsThisMemberServes(cluster, me, role).map((member) => member.name));

  // Members' physical slots. With retention (PG11+), a member that may lead keeps everyone's slot, advanced from
  // `status`, so a member finds its slot wherever the primary moves; otherwise only the slots streams use here.
  const retention = canAdvance && settings.memberSlotsTtl > 0;
  for (const member of cluster.members) {
    if (member.name === me || !streams(member)) continue;
    const upstream = replicateFrom(member);
    const keep = retention ? !noFailover || upstream === me : served.has(member.name);
    if (!keep) continue;
    const name = slotNameForMember(member.name);
    let lsn = cluster.status.slots[name] ?? 0;
    // A cascading member's slot on us sees no feedback from the primary: its own position is the better guide.
    if (upstream !== null) lsn = Math.max(lsn, numberOr0(member.data.xlog_location));
    desired.set(name, { name, type: 'physical', lsn: lsn || null, expectedActive: served.has(member.name), permanent: false });
  }
  // Slots of members that went away, kept while the leader lists them in `retain_slots`.
  if (!noFailover) {
    for (const name of cluster.status.retainSlots) {
      if (name === mySlot || desired.has(name) || !SLOT_NAME.test(name)) continue;
      desired.set(name, { name, type: 'physical', lsn: cluster.status.slots[name] ?? null, expectedActive: false, permanent: false });
    }
  }

  if (noFailover) return desired;
  // A member whose chain to the primary does not stream gets no feedback there: its logical slots would be unsafe.
  const streamsToPrimary = slotNameOnPrimary(cluster, me, tags) !== null;
  const cascadeOf = new Map(cluster.members.map((member) => [slotNameForMember(member.name), replicateFrom(member)]));
  const standbyCluster = input.standbyCluster === true;
  for (const [name, slot] of Object.entries(settings.permanent)) {
    if (slot.clusterType === (standbyCluster ? 'primary' : 'standby')) continue;
    // PostgreSQL 15 creates no logical slot on a server in recovery: a standby cluster has none.
    if (standbyCluster && slot.type === 'logical') continue;
    if (slot.type === 'physical') {
      // Before PG11 a replica cannot advance them: only the primary holds permanent physical slots then.
      if ((!canAdvance && role !== 'primary') || name === mySlot || desired.has(name)) continue;
      const cascading = cluster.members.find((member) => slotNameForMember(member.name) === name && replicateFrom(member) !== null);
      const lsn = Math.max(cluster.status.slots[name] ?? 0, cascading ? numberOr0(cascading.data.xlog_location) : 0);
      desired.set(name, {
        name,
        type: 'physical',
        lsn: lsn || null,
        expectedActive: role === 'primary' && !cascadeOf.get(name),
        permanent: true,
      });
      continue;
    }
    if (!canAdvance || !streamsToPrimary || desired.has(name)) continue;
    desired.set(name, {
      name,
      type: 'logical',
      ...(slot.database ? { database: slot.database } : {}),
      ...(slot.plugin ? { plugin: slot.plugin } : {}),
      lsn: cluster.status.slots[name] ?? null,
      expectedActive: false,
      permanent: true,
    });
  }
  return desired;
}

function numberOr0(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

function sameKind(existing: ReplicationSlot, wanted: DesiredSlot): boolean {
  if (existing.type !== wanted.type) return false;
  return wanted.type === 'physical' || (existing.database === (wanted.database ?? null) && existing.plugin === (wanted.plugin ?? null));
}

export interface PlanInput {
  readonly desired: ReadonlyMap<string, DesiredSlot>;
  readonly existing: readonly ReplicationSlot[];
  readonly role: 'primary' | 'replica';
  readonly ignore: readonly IgnoreSlotMatcher[];
  readonly paused: boolean;
  /** The cluster has a leader and we are it as a primary, or follow it: stale physical xmins may be cleaned. */
  readonly cleanInactivePhysical: boolean;
  /** Replica: replayed WAL position; logical slots are never advanced past it. */
  readonly replayLsn: number | null;
}

/** Compares the slots that exist with those wanted: what to drop, create, advance, and copy from the primary. */
export function planSlots(input: PlanInput): SlotPlan {
  const { desired, role } = input;
  const drop: string[] = [];
  const createPhysical: string[] = [];
  const createLogical: LogicalSlotSpec[] = [];
  const advance: Array<{ name: string; type: SlotType; database: string | null; lsn: number }> = [];
  const copy: LogicalSlotSpec[] = [];
  const present = new Map<string, ReplicationSlot>();

  for (const slot of input.existing) {
    const wanted = desired.get(slot.name);
    const lost = slot.walStatus === 'lost';
    if (wanted && !lost && sameKind(slot, wanted)) {
      present.set(slot.name, slot);
      continue;
    }
    if (wanted && !sameKind(slot, wanted)) {
      // Same name, other kind (type, database or plugin changed in `slots`): replace it.
      drop.push(slot.name);
      continue;
    }
    if (input.paused || isIgnoredSlot(slot, input.ignore)) {
      if (wanted) present.set(slot.name, slot);
      continue;
    }
    drop.push(slot.name);
  }

  for (const wanted of desired.values()) {
    const slot = present.get(wanted.name);
    if (wanted.type === 'physical') {
      if (!slot) {
        createPhysical.push(wanted.name);
        continue;
      }
      if (wanted.expectedActive) continue;
      if (input.cleanInactivePhysical && slot.xmin !== null && !slot.active) {
        // Nobody streams from it, so its xmin never moves and holds back vacuum everywhere: recreate it.
        drop.push(wanted.name);
        continue;
      }
      if (slot.xmin !== null || slot.active) continue;
      if (slot.restartLsn === null) {
        // Made by someone else without reserving WAL: it cannot be advanced, so it is made again next cycle.
        drop.push(wanted.name);
        continue;
      }
      if (wanted.lsn !== null && wanted.lsn > slot.restartLsn) advance.push({ name: wanted.name, type: 'physical', database: null, lsn: wanted.lsn });
      continue;
    }
    const spec: LogicalSlotSpec = { name: wanted.name, database: wanted.database ?? '', plugin: wanted.plugin ?? '' };
    if (role === 'primary') {
      if (!slot) createLogical.push(spec);
      continue;
    }
    if (!slot) {
      // Only a slot the primary already reported in `status` can be copied from it.
      if (wanted.lsn !== null) copy.push(spec);
      continue;
    }
    if (wanted.lsn === null || slot.active) continue;
    const target = input.replayLsn === null ? null : Math.min(wanted.lsn, input.replayLsn);
    if (target !== null && (slot.confirmedFlushLsn ?? 0) < target) advance.push({ name: wanted.name, type: 'logical', database: spec.database, lsn: target });
  }
  return { changes: { drop, createPhysical, createLogical, advance }, copy, desired };
}

export function hasChanges(changes: SlotChanges): boolean {
  return changes.drop.length + changes.createPhysical.length + changes.createLogical.length + changes.advance.length > 0;
}

/**
 * The lock holder's `status.slots`: where its slots stand (confirmed_flush for logical ones, restart_lsn for
 * physical ones) plus its own slot name at its WAL position, for the replicas to advance their copies. Without
 * retention only permanent slots are published.
 */
export function publishedSlotPositions(input: {
  readonly cluster: Cluster;
  readonly me: string;
  readonly settings: SlotSettings;
  readonly existing: readonly ReplicationSlot[];
  readonly walPosition: number | null;
  readonly serverVersion: number;
}): Record<string, number> {
  const { settings } = input;
  if (!settings.useSlots || input.serverVersion < ADVANCE_MIN_VERSION) return {};
  const positions: Record<string, number> = {};
  for (const slot of input.existing) {
    const position = slot.type === 'logical' ? slot.confirmedFlushLsn : slot.restartLsn;
    if (position !== null && position > 0) positions[slot.name] = position;
  }
  if (input.walPosition !== null && input.walPosition > 0) positions[slotNameForMember(input.me)] = input.walPosition;
  if (settings.memberSlotsTtl > 0) return sortedRecord(positions);
  const memberSlots = new Set(input.cluster.members.map((member) => slotNameForMember(member.name)));
  const kept: Record<string, number> = {};
  for (const [name, position] of Object.entries(positions)) {
    const permanent = settings.permanent[name];
    if (!permanent) continue;
    if (permanent.type === 'physical' || !memberSlots.has(name)) kept[name] = position;
  }
  return sortedRecord(kept);
}

function sortedRecord(record: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(record).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * `retain_slots` bookkeeping of the lock holder: when each member slot was last seen with its member present.
 * `seen` null means this member just became the leader: the clock restarts for every name the old leader kept.
 */
export function retainSlots(input: {
  readonly cluster: Cluster;
  readonly me: string;
  readonly settings: SlotSettings;
  readonly published: Readonly<Record<string, number>>;
  readonly seen: Readonly<Record<string, number>> | null;
  readonly now: number;
}): { readonly seen: Record<string, number>; readonly retain: string[] } {
  const { cluster, settings, now } = input;
  const seen: Record<string, number> = input.seen ? { ...input.seen } : Object.fromEntries(cluster.status.retainSlots.map((name) => [name, now]));
  if (Object.keys(input.published).length) {
    const members = new Set(cluster.members.filter(streams).map((member) => slotNameForMember(member.name)));
    // Without our own member key we cannot read our tags: our name may appear for a while, as in Patroni.
    if (!cluster.members.some((member) => member.name === input.me)) members.add(slotNameForMember(input.me));
    for (const name of Object.keys(input.published)) {
      const permanentPhysical = settings.permanent[name]?.type === 'physical';
      if (members.has(name) && !permanentPhysical) seen[name] = now;
    }
  }
  for (const [name, at] of Object.entries(seen)) {
    if (at + settings.memberSlotsTtl * 1000 <= now) delete seen[name];
  }
  return { seen, retain: Object.keys(seen).sort() };
}

/**
 * hot_standby_feedback must be on where permanent logical slots are kept on a replica: the primary then keeps
 * the catalog rows those slots need (through the catalog_xmin of this member's physical slot).
 */
export function needsHotStandbyFeedback(cluster: Cluster | null, me: string, tags: Tags, settings: SlotSettings): boolean {
  if (!settings.useSlots || isNoFailover(tags) || tagIsTrue(tags, 'nostream')) return false;
  const hasLogical = Object.values(settings.permanent).some((slot) => slot.type === 'logical' && slot.clusterType !== 'standby');
  if (!hasLogical) return false;
  return cluster === null || slotNameOnPrimary(cluster, me, tags) !== null;
}

export interface SlotCycleInput {
  readonly cluster: Cluster;
  readonly me: string;
  readonly tags: Tags;
  readonly pg: PostgresObservation;
  /** The `config` key as read (or remembered). */
  readonly configData: Readonly<Record<string, unknown>>;
  readonly paused: boolean;
  readonly now: number;
  /** `retain_slots` bookkeeping kept between cycles while this member leads; null right after taking the lock. */
  readonly retainSeen: Readonly<Record<string, number>> | null;
  /** The cluster replicates from a remote primary (`standby_cluster` in the config). */
  readonly standbyCluster?: boolean;
}

export interface SlotCycleResult {
  /** Permanent logical slots this replica must copy from the primary. */
  readonly copy: readonly LogicalSlotSpec[];
  /** What the lock holder publishes in `status`; null when the slots were not observed. */
  readonly published: { readonly slots: Record<string, number>; readonly retain: string[]; readonly seen: Record<string, number> } | null;
}

/**
 * One cycle of slot management on a running server: bring the local slots to the desired set and, on the
 * primary, work out what `status` should say. Slots not observed (a simulator, an old server) are left alone.
 */
export function* syncSlots(input: SlotCycleInput): Generator<Effect, SlotCycleResult, unknown> {
  const { cluster, pg } = input;
  const existing = pg.replicationSlots;
  if (!existing || !pg.running || !pg.accepting || pg.role === null) return { copy: [], published: null };
  const settings = slotSettings(input.configData);
  const serverVersion = pg.serverVersion ?? 0;
  const leaderName = cluster.leader?.name ?? null;
  const standbyCluster = input.standbyCluster === true;
  // A standby leader runs in recovery, yet it is the upstream of its cluster: it holds the members' slots.
  const role = pg.role === 'replica' && standbyCluster && leaderName === input.me ? 'primary' : pg.role;
  const desired = desiredSlots({ cluster, me: input.me, tags: input.tags, role, settings, serverVersion, standbyCluster });
  const plan = planSlots({
    desired,
    existing,
    role,
    ignore: settings.ignore,
    paused: input.paused,
    cleanInactivePhysical: leaderName !== null && (leaderName !== input.me || role === 'primary'),
    replayLsn: pg.replayLsn,
  });
  let recopy: readonly string[] = [];
  if (hasChanges(plan.changes)) {
    const outcome = yield* perform('pg.changeSlots', { changes: plan.changes });
    recopy = outcome?.recopy ?? [];
  }
  const copy = [...plan.copy];
  for (const name of recopy) {
    const wanted = desired.get(name);
    if (wanted?.type === 'logical' && !copy.some((spec) => spec.name === name)) {
      copy.push({ name, database: wanted.database ?? '', plugin: wanted.plugin ?? '' });
    }
  }
  if (role !== 'primary' || leaderName !== input.me) return { copy: role === 'replica' ? copy : [], published: null };
  const slots = publishedSlotPositions({ cluster, me: input.me, settings, existing, walPosition: pg.walPosition, serverVersion });
  const { seen, retain } = retainSlots({ cluster, me: input.me, settings, published: slots, seen: input.retainSeen, now: input.now });
  return { copy: [], published: { slots, retain, seen } };
}

/** `status` needs writing when its slot part changed, not only its optime. */
export function statusSlotsDiffer(
  current: { readonly slots: Readonly<Record<string, number>>; readonly retainSlots: readonly string[] },
  next: { readonly slots: Readonly<Record<string, number>>; readonly retainSlots: readonly string[] },
): boolean {
  const a = Object.entries(current.slots);
  const b = Object.entries(next.slots);
  if (a.length !== b.length || a.some(([name, lsn]) => next.slots[name] !== lsn)) return true;
  return current.retainSlots.length !== next.retainSlots.length || current.retainSlots.some((name, index) => next.retainSlots[index] !== name);
}
