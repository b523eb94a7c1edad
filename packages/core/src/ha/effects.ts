/**
 * What one HA cycle asks the world to do. The cycle yields an effect and receives its result; the agent's
 * runtime carries effects out against real plugins, tests and the simulator against scripted answers.
 */
import type { Cluster, ClusterStatus, MemberData, Tags, TimelineHistoryEntry, ValueVersion } from '../model.js';
import type { PostgresObservation, StopMode, Upstream } from '../postgres.js';
import type { LogicalSlotSpec, SlotChangeOutcome, SlotChanges } from './slots.js';
import type { FailsafeAck, FailsafePayload } from './failsafe.js';
import type { ReservedTimeline } from './timeline-reservation.js';

/** A store operation either answered or the store could not be reached. */
export type DcsOutcome<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/**
 * A clone with no member to copy: replica methods marked `no_leader` (a restore from backup, say) create the
 * data directory on their own (ha/no-leader-clone.ts). It has a name, for logs, and nothing to connect to.
 */
export interface NoCloneSource {
  readonly none: true;
  readonly name: string;
}

export type CloneSource = Upstream | NoCloneSource;

export function isNoCloneSource(source: CloneSource): source is NoCloneSource {
  return 'none' in source;
}

/** Long operations run in the background; the cycle starts them and sees their state on later cycles. */
export type TaskSpec =
  | { readonly kind: 'bootstrap' }
  /** `methods`: the replica methods to use by name (a standby cluster's own list); default the local ones. */
  | { readonly kind: 'clone'; readonly source: CloneSource; readonly methods?: readonly string[] }
  | { readonly kind: 'rewind'; readonly source: Upstream }
  | { readonly kind: 'reinitialize'; readonly source: Upstream }
  | {
      readonly kind: 'start';
      readonly role: 'primary' | 'replica';
      readonly upstream: Upstream | null;
      readonly timeout: number;
    }
  | {
      readonly kind: 'restart';
      readonly role: 'primary' | 'replica';
      readonly upstream: Upstream | null;
      readonly timeout: number;
      /** Copy these permanent logical slots from `source` (the primary) into the data directory while stopped. */
      readonly installSlots?: { readonly source: Upstream; readonly slots: readonly LogicalSlotSpec[] };
    };

/** Patroni's callbacks, run as `<command> <action> <role> <scope>`. */
export type CallbackAction = 'on_start' | 'on_stop' | 'on_restart' | 'on_reload' | 'on_role_change';

export type TaskKind = TaskSpec['kind'];

export type TaskState =
  | { readonly kind: TaskKind; readonly state: 'running'; readonly startedAt: number }
  | { readonly kind: TaskKind; readonly state: 'succeeded'; readonly startedAt: number }
  | { readonly kind: TaskKind; readonly state: 'failed'; readonly startedAt: number; readonly error: string };

/** What a member said about itself over its REST API (`GET /patroni`). */
export type PeerStatus =
  | {
      readonly name: string;
      readonly reachable: true;
      readonly role: string | null;
      readonly state: string | null;
      readonly walPosition: number;
      readonly timeline: number | null;
      readonly tags: Tags;
      readonly watchdogFailed: boolean;
    }
  | { readonly name: string; readonly reachable: false; readonly error: string };

interface EffectSpecs {
  'pg.observe': { args: object; result: PostgresObservation };
  /** `reserveTimelines`: history files to plant in pg_wal first (absent ones only), see ha/timeline-reservation.ts. */
  'pg.promote': { args: { reserveTimelines: readonly ReservedTimeline[] }; result: boolean };
  /** `killAfter`: seconds after which a stop still in progress ends with SIGKILL (primary_stop_timeout). */
  'pg.stop': { args: { mode: StopMode; killAfter?: number }; result: boolean };
  'pg.follow': { args: { upstream: Upstream | null }; result: { changed: boolean; restarted: boolean } | null };
  /** Drops, creates and advances local replication slots (see ha/slots.ts); null when postgres did not answer. */
  'pg.changeSlots': { args: { changes: SlotChanges }; result: SlotChangeOutcome | null };
  'pg.timelineHistory': { args: { timeline: number }; result: Array<[number, number, string]> | null };
  'dcs.load': { args: object; result: DcsOutcome<Cluster> };
  'dcs.acquireLeader': { args: object; result: DcsOutcome<boolean> };
  'dcs.renewLeader': { args: object; result: DcsOutcome<boolean> };
  'dcs.releaseLeader': { args: object; result: DcsOutcome<boolean> };
  'dcs.touchMember': { args: { data: MemberData }; result: DcsOutcome<boolean> };
  'dcs.initialize': { args: { create: boolean; sysid: string }; result: DcsOutcome<boolean> };
  'dcs.cancelInitialization': { args: object; result: DcsOutcome<boolean> };
  'dcs.setConfig': { args: { data: Record<string, unknown>; expected: ValueVersion | null }; result: DcsOutcome<boolean> };
  'dcs.clearFailover': { args: { expected: ValueVersion }; result: DcsOutcome<boolean> };
  'dcs.setHistory': { args: { lines: readonly TimelineHistoryEntry[] }; result: DcsOutcome<boolean> };
  'dcs.writeStatus': { args: { status: ClusterStatus }; result: DcsOutcome<boolean> };
  /** The failsafe topology `{name: api_url}`, written by the leader when it changes. */
  'dcs.writeFailsafe': { args: { members: Readonly<Record<string, string>> }; result: DcsOutcome<boolean> };
  /** Compare-and-set of `sync`; the new version, or false on conflict. */
  'dcs.setSync': {
    args: { value: { leader: string; syncStandby: readonly string[]; quorum: number }; expected: ValueVersion | null };
    result: DcsOutcome<ValueVersion | false>;
  };
  'dcs.deleteSync': { args: { expected: ValueVersion }; result: DcsOutcome<boolean> };
  /** Sets `synchronous_standby_names` (null: the user's own value) and reloads. */
  'pg.setSyncStandbyNames': { args: { value: string | null }; result: boolean };
  'task.start': { args: { task: TaskSpec }; result: boolean };
  'callback.run': { args: { action: CallbackAction; role: string }; result: boolean };
  /** The `pre_promote` fencing script: true when it succeeded or none is configured. */
  'pg.prePromote': { args: object; result: boolean };
  /** Arms the watchdog (timeout from ttl); false when it cannot be used and the mode requires it. */
  'watchdog.activate': { args: object; result: boolean };
  'watchdog.disable': { args: object; result: boolean };
  'peers.probe': { args: { members: ReadonlyArray<{ name: string; apiUrl: string }> }; result: PeerStatus[] };
  /** `POST /failsafe` to each member with the primary's data; every member's answer (a failure is not accepted). */
  'peers.failsafe': { args: { members: ReadonlyArray<{ name: string; apiUrl: string }>; payload: FailsafePayload }; result: FailsafeAck[] };
  /** Feeds the watchdog without a lock renewal (a primary kept running by failsafe mode). */
  'watchdog.keepalive': { args: object; result: boolean };
}

export type EffectKind = keyof EffectSpecs;
export type EffectOf<K extends EffectKind> = { readonly kind: K } & Readonly<EffectSpecs[K]['args']>;
export type Effect = { [K in EffectKind]: EffectOf<K> }[EffectKind];
export type EffectResult<K extends EffectKind> = EffectSpecs[K]['result'];

/** How a runtime carries out each kind of effect. */
export type EffectHandlers = { [K in EffectKind]: (effect: EffectOf<K>) => Promise<EffectResult<K>> };

/** Yields one effect and returns its result, typed by the effect's kind. */
export function* perform<K extends EffectKind>(
  kind: K,
  args: EffectSpecs[K]['args'],
): Generator<Effect, EffectResult<K>, unknown> {
  const effect = { ...args, kind } as EffectOf<K>;
  return (yield effect as Effect) as EffectResult<K>;
}

/** Drives a cycle (or any effect generator) to its end with the given handlers. */
export async function interpret<T>(cycle: Generator<Effect, T, unknown>, handlers: EffectHandlers): Promise<T> {
  let step = cycle.next();
  while (!step.done) {
    const effect = step.value;
    const handler = handlers[effect.kind] as (effect: Effect) => Promise<unknown>;
    step = cycle.next(await handler(effect));
  }
  return step.value;
}
