/**
 * One HA cycle: observe PostgreSQL and the cluster, decide, act through effects, publish this member.
 * No I/O, no clock, no randomness here: `now` comes in, effects go out.
 */
import type { Cluster, Failover, Member, MemberData, MemberRole, PostgresState, Tags } from '../model.js';
import { clusterTimeline, failoverPriority, isNoFailover, memberTags, tagIsTrue } from '../model.js';
import type { PostgresObservation, Upstream } from '../postgres.js';
import type { DynamicConfig } from '../dynamic-config.js';
import { primaryStopKillAfter, resolveDynamicConfig } from '../dynamic-config.js';
import type { Decision, IneligibleReason } from './decision.js';
import { decision } from './decision.js';
import { restartFilterRole, scheduledRestartData } from './scheduled-restart.js';
import type { Effect, PeerStatus, TaskSpec, TaskState } from './effects.js';
import { perform } from './effects.js';
import type { FailsafeContact } from './failsafe.js';
import type { CallbackMemory } from './callbacks.js';
import { withLifecycleCallbacks } from './callbacks.js';
import { failsafeModeEnabled, failsafeRaceMembers, keepPrimaryOnFailsafe, publishFailsafeTopology, withFailsafeLeader } from './failsafe.js';
import { confirmedSyncStandbys, formatSyncStandbyNames, parseSyncStandbyNames, syncCandidates } from './sync.js';
import { manageQuorumReplication, quorumCommitActive, quorumPrePromoteValue, quorumRaceVerdict } from './quorum-replication.js';
import type { SlotCycleInput } from './slots.js';
import { statusSlotsDiffer, syncSlots } from './slots.js';
import type { StandbyClusterConfig } from './standby-cluster.js';
import { describeFollow, describeRemote, memberUpstream, nodeToFollow, remoteCloneSource, remoteUpstream, standbyClusterOf, standbyLeaderStep } from './standby-cluster.js';
import { primaryRaceBackoff, raceBackoffVerdict } from './race-backoff.js';
import { divergenceRemedy, reinitializeAfterRewindFailure } from './diverged.js';
import { NO_CLONE_SOURCE, noLeaderCloneMethods } from './no-leader-clone.js';
import { highestKnownTimeline, leftBehindByHistory, timelinesToReserve, withSkippedTimelines } from './timeline-reservation.js';
import {
  EMPTY_PAUSED_LEADER_MEMORY,
  formerPausedLeaders,
  observePausedLeader,
  operatorForcedFailover,
  pausedLeaderMark,
  pausedLeaderVerdict,
  sameMark,
} from './paused-leader.js';
import type { PausedLeaderMemory } from './paused-leader.js';
import { newStoreBreaker, withStoreBreaker } from './store-breaker.js';

/** Settings of this member that do not come from the `config` key. */
export interface HaSettings {
  readonly name: string;
  readonly scope: string;
  readonly tags: Tags;
  /** `postgres://host:port/postgres`, from postgresql.connect_address. */
  readonly connUrl: string;
  /** `http://host:port/patroni`, from restapi.connect_address. */
  readonly apiUrl: string;
  /** Version published in member data; Patroni members read it, so it is a Patroni version. */
  readonly patroniVersion: string;
  /** `bootstrap.dcs`: written to the `config` key when this member bootstraps the cluster. */
  readonly bootstrapDynamicConfig: Readonly<Record<string, unknown>>;
  /** Patroni's timing minimums (ttl >= 20...); off only for test clusters. */
  readonly enforceTimingMinimums: boolean;
  readonly removeDataDirectoryOnRewindFailure: boolean;
  /** Wipe and clone again a data directory that diverged and cannot be rewound (diverged.ts); default off. */
  readonly removeDataDirectoryOnDivergedTimelines?: boolean;
  /** `create_replica_methods` whose section sets `no_leader`, in order: they need no member to clone (no-leader-clone.ts). */
  readonly noLeaderReplicaMethods?: readonly string[];
}

/** What a member remembers between cycles. */
export interface HaMemory {
  readonly cycles: number;
  /** When the store last answered (ms). */
  readonly lastDcsContact: number | null;
  /** Until when this member may act as leader: last successful acquire/renew + ttl (ms). */
  readonly lockValidUntil: number | null;
  /** This data directory may have diverged from the leader (it was a primary): rewind before following. */
  readonly rewindArmed: boolean;
  /**
   * The leader timeline for which the last cycle saw this replica past the switch point and not streaming: a
   * replica reconnecting to a new leader shows its last restartpoint's timeline for a moment, so only a second
   * sighting in a row stops it for a rewind.
   */
  readonly divergenceSuspectedOn?: number | null;
  /** The last `config` key seen, so an unreachable store leaves the timing known. */
  readonly configData: Readonly<Record<string, unknown>> | null;
  readonly lastPublishedOptime: number | null;
  readonly lastRole: MemberRole | null;
  /** PostgreSQL was running at the end of the last cycle and we did not stop it. */
  readonly postgresWasRunning: boolean;
  /** When the `pre_promote` script last failed: this member stays out of races for a ttl. */
  readonly prePromoteFailedAt: number | null;
  readonly scheduledRestart: ScheduledRestart | null;
  /**
   * Members seen the last time the cluster had a leader. The race asks them too: a primary cut off from the
   * DCS has lost its member key, yet it may still be running and must be found before anyone promotes.
   */
  readonly knownMembers: ReadonlyArray<{ readonly name: string; readonly apiUrl: string }>;
  /** The primary's WAL position when it last changed synchronous_standby_names: a standby counts as synchronous once past it. */
  readonly syncChangedAtLsn: number | null;
  /** When this former leader began waiting for its switchover candidate to take the lock. */
  readonly switchoverWaitSince?: number | null;
  /** Lock holder: when each member slot in `retain_slots` was last seen with its member (ms); null when not leading. */
  readonly retainSlotsSeen?: Readonly<Record<string, number>> | null;
  /** The `failsafe` key as last read or written: whom a primary must hear from when the store is gone. */
  readonly failsafeTopology?: Readonly<Record<string, string>> | null;
  /** When every failsafe member last confirmed this primary while the store was unreachable (ms). */
  readonly failsafeActiveSince?: number | null;
  /** Which user callbacks are due (ha/callbacks.ts); absent until the first cycle. */
  readonly callbacks?: CallbackMemory;
  /** When this lock holder's start as primary outlived its timeout while no replica could take over (ms). */
  readonly primaryStartTimedOutAt?: number | null;
  /** When the `primary_race_backoff` window began (first cycle without a leader); null while there is one. */
  readonly raceBackoffSince?: number | null;
  /** My WAL position at the end of the previous cycle (primary_race_backoff: is WAL still arriving?). */
  readonly lastWalPosition?: number | null;
  /** Highest timeline number seen in the cluster or locally: reserved before a promotion (timeline-reservation.ts). */
  readonly highestTimelineSeen?: number | null;
  /** Who held the lock while the cluster was paused, and whether it may still believe so (paused-leader.ts). */
  readonly pausedLeader?: PausedLeaderMemory;
}

/** A restart requested for later through `POST /restart` with `schedule`. */
export interface ScheduledRestart {
  /** When, in ms since the epoch. */
  readonly at: number;
  readonly schedule: string;
  readonly role?: 'primary' | 'replica' | 'standby_leader';
  /** Restart only when the running server is older than this version (server_version_num). */
  readonly postgresVersionBelow?: number;
  /** `postgres_version` as the request wrote it, published back as is. */
  readonly postgresVersion?: string;
  readonly restartPending?: boolean;
  readonly timeout?: number;
  /** The postmaster start time when scheduled: a restart since then cancels it. */
  readonly postmasterStartTime: string | null;
}

/** Operator requests (REST API) the cycle decides on, so their rules live with the others. */
export type Command =
  | {
      readonly kind: 'restart';
      readonly role?: 'primary' | 'replica' | 'standby_leader';
      readonly postgresVersionBelow?: number;
      readonly restartPending?: boolean;
      readonly timeout?: number;
    }
  | { readonly kind: 'scheduleRestart'; readonly restart: ScheduledRestart }
  | { readonly kind: 'cancelScheduledRestart' }
  | { readonly kind: 'reinitialize'; readonly fromLeader: boolean };

export const INITIAL_MEMORY: HaMemory = {
  cycles: 0,
  lastDcsContact: null,
  lockValidUntil: null,
  rewindArmed: false,
  configData: null,
  lastPublishedOptime: null,
  lastRole: null,
  postgresWasRunning: false,
  prePromoteFailedAt: null,
  scheduledRestart: null,
  knownMembers: [],
  syncChangedAtLsn: null,
};

export interface CycleInput {
  readonly settings: HaSettings;
  readonly memory: HaMemory;
  /** Milliseconds since the epoch, from the injected clock. */
  readonly now: number;
  /** The background task, if one is running or has just finished. */
  readonly task: TaskState | null;
  /** An operator request to decide on in this cycle. */
  readonly command?: Command | null;
  /** The watchdog as the runtime knows it; absent means none is configured. */
  readonly watchdog?: WatchdogState;
  /** The last `POST /failsafe` this member accepted (failsafe mode: a primary without the store is alive). */
  readonly failsafeContact?: FailsafeContact | null;
}

export interface WatchdogState {
  /** Armed and counting: keepalives are due after each lock renewal. */
  readonly running: boolean;
  /** False when the mode is `required` and the device cannot be used: this member must not lead. */
  readonly healthy: boolean;
}

const NO_WATCHDOG: WatchdogState = { running: false, healthy: true };

export interface CycleResult {
  readonly memory: HaMemory;
  readonly decision: Decision;
  readonly lockOwner: string | null;
  readonly holdsLock: boolean;
  readonly role: MemberRole;
  readonly state: PostgresState;
  readonly cluster: Cluster | null;
  readonly postgres: PostgresObservation;
  readonly dynamic: DynamicConfig;
  /** Run the next cycle right away instead of after loop_wait (a step of a multi-cycle action is done). */
  readonly wakeSoon: boolean;
  /** Run the next cycle no later than this (a scheduled switchover or restart falls due), ms since the epoch. */
  readonly wakeAt: number | null;
  /** What became of `input.command`: accepted, or refused with the reason. */
  readonly commandOutcome: CommandOutcome | null;
}

export type CommandOutcome = { readonly accepted: true; readonly message: string } | { readonly accepted: false; readonly message: string };

type Step = Generator<Effect, Outcome, unknown>;

/** What a branch concluded; the cycle turns it into member data and a result. */
interface Outcome {
  readonly decision: Decision;
  readonly memory?: Partial<HaMemory>;
  /** PostgreSQL was acted on: observe it again before publishing member data. */
  readonly postgresChanged?: boolean;
  /** We stopped PostgreSQL on purpose (not a crash). */
  readonly stopped?: boolean;
  readonly wakeSoon?: boolean;
  readonly wakeAt?: number;
  readonly role?: MemberRole;
  readonly commandOutcome?: CommandOutcome;
}

interface Context {
  readonly settings: HaSettings;
  readonly memory: HaMemory;
  readonly now: number;
  readonly task: TaskState | null;
  readonly command: Command | null;
  readonly watchdog: WatchdogState;
  readonly cluster: Cluster;
  readonly pg: PostgresObservation;
  readonly dynamic: DynamicConfig;
  readonly iAmLeader: boolean;
  /** The `standby_cluster` section when this is a standby cluster (standby-cluster.ts). */
  readonly standby: StandbyClusterConfig | null;
}

const PRIMARY_CONTROL_STATES = new Set(['in production', 'shutting down', 'in crash recovery', 'shut down']);

export function* haCycle(input: CycleInput): Generator<Effect, CycleResult, unknown> {
  const breaker = newStoreBreaker();
  const result = yield* withStoreBreaker(cycleBody(input), breaker);
  if (!breaker.trippedAfterLoad || !result.holdsLock || result.memory.lockValidUntil === null) return result;
  // The store went away after this cycle renewed the lock: the next cycle must start early enough for its
  // failed read (retry_timeout) to end in a demotion before the lease runs out.
  const dynamic = result.dynamic;
  const leaseCheck = result.memory.lockValidUntil - (dynamic.timing.retryTimeout + 1) * 1000;
  return { ...result, wakeAt: result.wakeAt === null ? leaseCheck : Math.min(result.wakeAt, leaseCheck) };
}

function* cycleBody(input: CycleInput): Generator<Effect, CycleResult, unknown> {
  const { settings, now } = input;
  let pg = yield* perform('pg.observe', {});
  const loaded = yield* perform('dcs.load', {});
  if (!loaded.ok) {
    const dynamic = resolveDynamicConfig(input.memory.configData ?? settings.bootstrapDynamicConfig, {
      enforceMinimums: settings.enforceTimingMinimums,
    });
    const failsafe = yield* keepPrimaryOnFailsafe(input, pg, dynamic);
    const outcome: Outcome = failsafe.keep
      ? failsafe.outcome
      : withFailsafeCleared(
          yield* withLifecycleCallbacks(
            { pg, task: input.task, iAmLeader: false, standby: null, memory: input.memory, firstCycleStart: false },
            whileDcsUnreachable(input, pg, dynamic, failsafe.why ? `${loaded.error}; ${failsafe.why}` : loaded.error),
          ),
        );
    if (input.watchdog?.running && outcome.decision.reason === 'dcs_unreachable_demoted') yield* perform('watchdog.disable', {});
    if (outcome.postgresChanged) pg = yield* perform('pg.observe', {});
    const memory = nextMemory(input.memory, outcome, pg);
    return {
      memory,
      decision: outcome.decision,
      lockOwner: null,
      holdsLock: false,
      role: outcome.role ?? roleOf(pg, input.memory),
      state: stateOf(pg, input.task, outcome),
      cluster: null,
      postgres: pg,
      dynamic,
      wakeSoon: outcome.wakeSoon ?? false,
      wakeAt: null,
      commandOutcome: input.command ? { accepted: false, message: 'DCS is not accessible' } : null,
    };
  }

  const cluster = loaded.value;
  const configData = cluster.config?.data ?? input.memory.configData ?? settings.bootstrapDynamicConfig;
  const dynamic = resolveDynamicConfig(configData, { enforceMinimums: settings.enforceTimingMinimums });
  const iAmLeader = cluster.leader?.name === settings.name;
  const memory: HaMemory = {
    ...input.memory,
    ...(cluster.leader ? { knownMembers: apiMembers(cluster.members), raceBackoffSince: null } : {}),
    lastDcsContact: now,
    highestTimelineSeen: highestKnownTimeline(cluster, input.memory, pg),
    pausedLeader: observePausedLeader(input.memory.pausedLeader ?? EMPTY_PAUSED_LEADER_MEMORY, {
      leader: cluster.leader?.name ?? null,
      members: cluster.members,
      failover: cluster.failover,
    }),
    configData: cluster.config?.data ?? input.memory.configData,
    lockValidUntil: iAmLeader ? input.memory.lockValidUntil : null,
    retainSlotsSeen: iAmLeader ? (input.memory.retainSlotsSeen ?? null) : null,
    // As Patroni: the key as read; the store answered, so no failsafe confirmation is current any more.
    failsafeTopology: cluster.failsafe,
    failsafeActiveSince: null,
  };
  const watchdog = input.watchdog ?? NO_WATCHDOG;
  // No lock in the store, yet a primary running on failsafe told us it is alive: follow it rather than race.
  const view = failsafeModeEnabled(configData) ? withFailsafeLeader(cluster, settings.name, input.failsafeContact ?? null, now, dynamic.timing.ttl) : cluster;
  const context: Context = { settings, memory, now, task: input.task, command: input.command ?? null, watchdog, cluster: view, pg, dynamic, iAmLeader, standby: standbyClusterOf(configData) };

  const outcome = yield* withLifecycleCallbacks(context, decide(context));
  const lockValidUntil = outcome.memory && 'lockValidUntil' in outcome.memory ? outcome.memory.lockValidUntil : memory.lockValidUntil;
  const leading = lockValidUntil !== null && lockValidUntil !== undefined;
  if (watchdog.running && (!leading || dynamic.pause)) {
    // Nothing to guard any more (demoted, lock gone) or an operator in charge (pause): stop the countdown.
    yield* perform('watchdog.disable', {});
  }
  if (outcome.postgresChanged) pg = yield* perform('pg.observe', {});
  const finalMemory = nextMemory(memory, outcome, pg);
  const baseRole = outcome.role ?? roleOf(pg, finalMemory);
  // The lock holder of a standby cluster runs in recovery: it is the standby leader, not a replica.
  const leadsStandby = context.standby !== null && finalMemory.lockValidUntil !== null && finalMemory.lockValidUntil > now;
  const role = leadsStandby && baseRole === 'replica' ? 'standby_leader' : baseRole;
  const state = stateOf(pg, input.task, outcome);
  yield* perform('dcs.touchMember', { data: memberData(settings, pg, role, state, dynamic, finalMemory.scheduledRestart) });

  const holdsLock = finalMemory.lockValidUntil !== null && finalMemory.lockValidUntil > now;
  return {
    memory: { ...finalMemory, cycles: finalMemory.cycles + 1, lastRole: role, lastWalPosition: pg.walPosition },
    decision: outcome.decision,
    lockOwner: holdsLock ? settings.name : (cluster.leader?.name ?? null),
    holdsLock,
    role,
    state,
    cluster,
    postgres: pg,
    dynamic,
    wakeSoon: outcome.wakeSoon ?? false,
    wakeAt: outcome.wakeAt ?? finalMemory.scheduledRestart?.at ?? null,
    commandOutcome: outcome.commandOutcome ?? (input.command ? { accepted: false, message: 'not processed: ' + outcome.decision.message } : null),
  };
}

function withFailsafeCleared(outcome: Outcome): Outcome {
  return { ...outcome, memory: { ...outcome.memory, failsafeActiveSince: null } };
}

function nextMemory(memory: HaMemory, outcome: Outcome, pg: PostgresObservation): HaMemory {
  const merged = { ...memory, ...outcome.memory };
  // The wait for a switchover candidate counts only while it goes on uninterrupted.
  const waiting = outcome.decision.reason === 'waiting_for_switchover_candidate';
  const startOverdue = outcome.decision.reason === 'primary_start_timed_out';
  return {
    ...merged,
    postgresWasRunning: pg.running && !outcome.stopped,
    ...(waiting ? {} : { switchoverWaitSince: null }),
    ...(startOverdue ? {} : { primaryStartTimedOutAt: null }),
  };
}

function* decide(ctx: Context): Step {
  const { pg, cluster, settings, task } = ctx;

  if (ctx.command) {
    const handled = yield* processCommand(ctx, ctx.command);
    if ('stop' in handled) return handled.stop;
    // Bookkeeping commands (schedule, cancel) change memory and the cycle goes on as usual.
    return withCommandOutcome(yield* decide({ ...ctx, command: null, memory: { ...ctx.memory, ...handled.memory } }), handled);
  }
  if (task?.state === 'running') return yield* whileTaskRuns(ctx, task);
  if (task) return yield* afterTask(ctx, task);

  if (pg.dataDirectory !== 'initialized') return yield* withoutData(ctx);

  if (cluster.initialize && pg.systemId && cluster.initialize !== pg.systemId) {
    if (ctx.iAmLeader) yield* perform('dcs.releaseLeader', {});
    return {
      decision: decision(
        'system_id_mismatch',
        `system identifier ${pg.systemId} of the data directory differs from the cluster's ${cluster.initialize}: refusing to act`,
      ),
      memory: { lockValidUntil: null },
    };
  }

  if (cluster.initialize === null && !cluster.leader && pg.systemId) {
    if (pg.running && pg.role === 'replica') {
      return {
        decision: decision(
          'replica_without_initialize',
          'the cluster has no initialize key and this PostgreSQL is a replica: start pgwarden on the primary first',
        ),
      };
    }
    yield* perform('dcs.initialize', { create: true, sysid: pg.systemId });
  }
  if (ctx.iAmLeader && pg.systemId && !cluster.initialize) {
    yield* perform('dcs.initialize', { create: false, sysid: pg.systemId });
  }
  if (ctx.iAmLeader && !cluster.config) {
    yield* perform('dcs.setConfig', { data: { ...(ctx.memory.configData ?? settings.bootstrapDynamicConfig) }, expected: null });
  }

  if (!pg.running) return yield* recover(ctx);
  if (!pg.accepting) {
    if (ctx.iAmLeader) {
      const renewed = yield* renewLock(ctx);
      if (!renewed) return lockLost(ctx, 'postgres is not ready');
      // Still starting past primary_start_timeout: look for a replica to hand over to every cycle.
      if (ctx.memory.primaryStartTimedOutAt != null) return yield* primaryStartOverdue(ctx, ctx.memory.primaryStartTimedOutAt);
      return {
        decision: decision('postgres_not_ready', 'postgres is running but does not accept connections yet'),
        memory: { lockValidUntil: ctx.now + ctx.dynamic.timing.ttl * 1000 },
      };
    }
    return { decision: decision('postgres_not_ready', 'postgres is running but does not accept connections yet') };
  }
  if (!cluster.leader) return yield* leaderRace(ctx);
  if (ctx.iAmLeader) return yield* asLeader(ctx);
  const followed = yield* follow(ctx, cluster.leader.name, cluster.leader.member);
  if (followed.stopped) return followed;
  const copying = yield* replicaSlots(ctx, followed);
  if (copying) return copying;
  const restart = yield* dueScheduledRestart({ ...ctx, memory: { ...ctx.memory, ...followed.memory } });
  return restart ? { ...restart, memory: { ...followed.memory, ...restart.memory } } : followed;
}

type CommandHandling =
  | { readonly stop: Outcome }
  | { readonly memory: Partial<HaMemory>; readonly commandOutcome: CommandOutcome };

function withCommandOutcome(outcome: Outcome, handled: { memory: Partial<HaMemory>; commandOutcome: CommandOutcome }): Outcome {
  return { ...outcome, memory: { ...handled.memory, ...outcome.memory }, commandOutcome: handled.commandOutcome };
}

function refused(message: string, reason: 'restart_refused' | 'reinitialize_refused'): { stop: Outcome } {
  return { stop: { decision: decision(reason, message), commandOutcome: { accepted: false, message } } };
}

/** The rules for operator requests: what may run now, and what is refused with which reason. */
function* processCommand(ctx: Context, command: Command): Generator<Effect, CommandHandling, unknown> {
  const { cluster, dynamic, task } = ctx;
  switch (command.kind) {
    case 'scheduleRestart': {
      if (dynamic.pause) return refused("Can't schedule restart in the paused state", 'restart_refused');
      if (ctx.memory.scheduledRestart) return refused('Another restart is already scheduled', 'restart_refused');
      const message = `restart scheduled at ${command.restart.schedule}`;
      return { memory: { scheduledRestart: command.restart }, commandOutcome: { accepted: true, message } };
    }
    case 'cancelScheduledRestart':
      if (!ctx.memory.scheduledRestart) return refused('no restarts are scheduled', 'restart_refused');
      return { memory: { scheduledRestart: null }, commandOutcome: { accepted: true, message: 'scheduled restart deleted' } };
    case 'restart': {
      if (task?.state === 'running') return refused(`${describeTask(task.kind)} already in progress`, 'restart_refused');
      const unmet = restartConditionsUnmet(ctx, command);
      if (unmet) {
        return { stop: { decision: decision('restart_refused', `restart refused: ${unmet}`), commandOutcome: { accepted: false, message: 'restart conditions are not satisfied' } } };
      }
      const started = yield* startRestart(ctx, command.timeout);
      return { stop: { ...started, commandOutcome: { accepted: true, message: 'restart started' } } };
    }
    case 'reinitialize': {
      if (!cluster.leader) return refused('Cluster has no leader, can not reinitialize', 'reinitialize_refused');
      if (ctx.iAmLeader) return refused('I am the leader, can not reinitialize', 'reinitialize_refused');
      if (task?.state === 'running') return refused(`${describeTask(task.kind)} already in progress`, 'reinitialize_refused');
      const source = command.fromLeader ? upstreamOf(cluster.leader.member) : cloneSource(ctx);
      if (!source) return refused(`${cluster.leader.name} has not published where to clone from`, 'reinitialize_refused');
      yield* perform('task.start', { task: { kind: 'reinitialize', source } });
      const message = 'reinitialize started';
      return {
        stop: {
          decision: decision('reinitialize_started', `reinitializing from ${source.name} as requested`),
          memory: { rewindArmed: false },
          commandOutcome: { accepted: true, message },
        },
      };
    }
  }
}

function restartConditionsUnmet(
  ctx: Context,
  conditions: { role?: string; postgresVersionBelow?: number; restartPending?: boolean },
): string | null {
  const { pg } = ctx;
  // The member's role, as Patroni compares it: a standby cluster's leader is standby_leader, not replica.
  const role = restartFilterRole(pg, ctx.standby !== null && ctx.iAmLeader, ctx.memory.lastRole);
  if (conditions.role && conditions.role !== role) return `role is ${role}, not ${conditions.role}`;
  if (conditions.postgresVersionBelow !== undefined && (pg.serverVersion ?? 0) >= conditions.postgresVersionBelow) {
    return `postgres version ${pg.serverVersion ?? 'unknown'} is not below ${conditions.postgresVersionBelow}`;
  }
  if (conditions.restartPending && !pg.pendingRestart) return 'no restart is pending';
  return null;
}

function* startRestart(ctx: Context, timeout: number | undefined): Step {
  const { pg, cluster, dynamic } = ctx;
  const role = pg.role ?? 'replica';
  const upstream =
    role === 'replica' && ctx.standby && ctx.iAmLeader
      ? remoteUpstream(ctx.standby)
      : role === 'replica' && cluster.leader && !ctx.iAmLeader
        ? upstreamOf(cluster.leader.member)
        : null;
  yield* perform('task.start', {
    task: { kind: 'restart', role, upstream, timeout: timeout ?? dynamic.primaryStartTimeout },
  });
  return { decision: decision('restart_started', `restarting postgres as ${role}`) };
}

/** A scheduled restart runs within loop_wait of its time, unless postgres restarted since or it is stale. */
function* dueScheduledRestart(ctx: Context): Generator<Effect, Outcome | null, unknown> {
  const scheduled = ctx.memory.scheduledRestart;
  if (!scheduled || ctx.dynamic.pause) return null;
  if (scheduled.postmasterStartTime !== null && ctx.pg.postmasterStartTime !== scheduled.postmasterStartTime) {
    return { decision: decision('restart_refused', 'scheduled restart cancelled: postgres restarted since it was scheduled'), memory: { scheduledRestart: null } };
  }
  if (ctx.now < scheduled.at) return null;
  if (ctx.now - scheduled.at > 1.5 * ctx.dynamic.timing.loopWait * 1000) {
    return { decision: decision('restart_refused', `scheduled restart at ${scheduled.schedule} dropped: it is too late now`), memory: { scheduledRestart: null } };
  }
  const unmet = restartConditionsUnmet(ctx, scheduled);
  if (unmet) {
    return { decision: decision('restart_refused', `scheduled restart skipped: ${unmet}`), memory: { scheduledRestart: null } };
  }
  const started = yield* startRestart(ctx, scheduled.timeout);
  return { ...started, memory: { scheduledRestart: null } };
}

/** The store is down: a primary keeps running only within retry_timeout of the last answer, then demotes. */
function* whileDcsUnreachable(
  input: CycleInput,
  pg: PostgresObservation,
  dynamic: DynamicConfig,
  error: string,
): Step {
  const elapsed = input.memory.lastDcsContact === null ? Infinity : input.now - input.memory.lastDcsContact;
  const isPrimary = pg.running && pg.role === 'primary';
  if (!isPrimary || input.task?.state === 'running' || dynamic.pause) {
    return { decision: decision('dcs_unreachable', `DCS is not accessible (${error})`) };
  }
  // The read that failed already retried for retry_timeout: by now our lease may be close to expiring, and a
  // replica may take the lock the moment it does. Offline demotion: stop accepting writes at once.
  yield* perform('pg.stop', primaryStop(dynamic));
  yield* perform('task.start', { task: { kind: 'start', role: 'replica', upstream: null, timeout: dynamic.timing.ttl } });
  return {
    decision: decision(
      'dcs_unreachable_demoted',
      `DCS is not accessible (${error}; last answer ${Number.isFinite(elapsed) ? `${Math.round(elapsed / 1000)}s` : 'never'} ago): demoted to read-only`,
    ),
    memory: { lockValidUntil: null, rewindArmed: true },
    postgresChanged: true,
    stopped: true,
    role: 'demoted',
  };
}

function* whileTaskRuns(ctx: Context, task: TaskState): Step {
  if (ctx.iAmLeader) {
    const renewed = yield* renewLock(ctx);
    if (renewed) {
      return {
        decision: decision('task_running_lock_renewed', `updated leader lock during ${describeTask(task.kind)}`),
        memory: { lockValidUntil: ctx.now + ctx.dynamic.timing.ttl * 1000 },
      };
    }
    if (ctx.pg.running && ctx.pg.role === 'primary') return yield* demoteAfterLockLoss(ctx);
  }
  return { decision: decision('task_running', `${describeTask(task.kind)} in progress`) };
}

function* afterTask(ctx: Context, task: Exclude<TaskState, { state: 'running' }>): Step {
  const { pg, settings } = ctx;
  if (task.kind === 'bootstrap') {
    if (task.state === 'failed') {
      yield* perform('dcs.cancelInitialization', {});
      return { decision: decision('bootstrap_failed', `bootstrap failed: ${task.error}; initialize key removed`), wakeSoon: true };
    }
    if (!ctx.watchdog.running && !(yield* perform('watchdog.activate', {}))) {
      yield* perform('dcs.cancelInitialization', {});
      return { decision: decision('watchdog_unavailable', 'bootstrapped, but the watchdog could not be activated: initialize key removed') };
    }
    if (pg.systemId) yield* perform('dcs.initialize', { create: false, sysid: pg.systemId });
    yield* perform('dcs.setConfig', { data: { ...settings.bootstrapDynamicConfig }, expected: null });
    const acquired = yield* perform('dcs.acquireLeader', {});
    if (acquired.ok && acquired.value) {
      return {
        decision: decision('bootstrap_succeeded', `initialized a new cluster (system identifier ${pg.systemId ?? 'unknown'})`),
        memory: { lockValidUntil: ctx.now + ctx.dynamic.timing.ttl * 1000, rewindArmed: false },
        role: 'primary',
        // The next cycle, as leader, creates the slots of the members already waiting to clone.
        wakeSoon: true,
      };
    }
    return {
      decision: decision('bootstrap_lock_not_taken', 'bootstrapped, but the leader lock is held by someone else'),
      wakeSoon: true,
    };
  }
  if (task.state === 'succeeded') {
    const memory: Partial<HaMemory> = task.kind === 'start' || task.kind === 'restart' ? {} : { rewindArmed: false };
    // on_start / on_restart / on_role_change: announced by withLifecycleCallbacks (ha/callbacks.ts).
    return { decision: decision('task_succeeded', `${describeTask(task.kind)} finished`), memory, wakeSoon: true };
  }
  if (task.kind === 'rewind') {
    // Paused: a reinitialization is the operator's call, never automatic (simulator seed 137).
    if (reinitializeAfterRewindFailure(settings) && !ctx.dynamic.pause) {
      // The standby leader rewinds from the remote primary: the leader member is itself, nothing to clone from.
      const source = ctx.iAmLeader ? null : upstreamOf(ctx.cluster.leader?.member ?? null);
      if (source) {
        yield* perform('task.start', { task: { kind: 'reinitialize', source } });
        return { decision: decision('rewind_failed_reinitializing', `pg_rewind failed (${task.error}): reinitializing from ${source.name}`) };
      }
    }
    return {
      decision: decision('rewind_failed', `pg_rewind failed: ${task.error}; reinitialize this member to rejoin`),
      memory: { rewindArmed: true },
    };
  }
  if ((task.kind === 'start' || task.kind === 'restart') && ctx.iAmLeader && pg.running && !pg.accepting) {
    // The start timed out, yet postgres is still starting (crash recovery, say): as Patroni, the lock goes only
    // to a healthy replica; with none, waiting for this primary is the only way back.
    if (!(yield* renewLock(ctx))) return lockLost(ctx, `postgres is still starting after ${describeTask(task.kind)} timed out`);
    return yield* primaryStartOverdue(ctx, ctx.now);
  }
  if ((task.kind === 'start' || task.kind === 'restart') && ctx.iAmLeader) {
    yield* perform('dcs.releaseLeader', {});
    return {
      decision: decision('start_failed_released_lock', `failed to start postgres (${task.error}): released the leader lock`),
      memory: { lockValidUntil: null },
      role: 'demoted',
      wakeSoon: true,
    };
  }
  return { decision: decision('task_failed', `${describeTask(task.kind)} failed: ${task.error}`), wakeSoon: true };
}

/** The lock holder's start outlived its timeout (lock already renewed): fail over if a replica is fit, else keep waiting. */
function* primaryStartOverdue(ctx: Context, since: number): Step {
  const renewed = { lockValidUntil: ctx.now + ctx.dynamic.timing.ttl * 1000 };
  const candidate = yield* healthyFailoverCandidate(ctx);
  if (candidate) {
    yield* perform('pg.stop', { mode: 'immediate' });
    yield* perform('dcs.releaseLeader', {});
    return {
      decision: decision('start_failed_released_lock', `postgres did not start within the timeout: stopped it and released the leader lock for ${candidate}`),
      memory: { lockValidUntil: null, rewindArmed: true },
      postgresChanged: true,
      stopped: true,
      role: 'demoted',
      wakeSoon: true,
    };
  }
  return {
    decision: decision('primary_start_timed_out', 'primary start has timed out, but no replica is fit to take over: still waiting for postgres'),
    memory: { ...renewed, primaryStartTimedOutAt: since },
  };
}

/** Empty or missing data directory: win the bootstrap race, clone from a member, or wait. */
function* withoutData(ctx: Context): Step {
  const { pg, cluster, settings } = ctx;
  if (pg.dataDirectory === 'inaccessible') {
    return { decision: decision('data_directory_inaccessible', 'the data directory is not accessible') };
  }
  if (ctx.iAmLeader) {
    yield* perform('dcs.releaseLeader', {});
    return {
      decision: decision('released_lock_without_data', 'released the leader lock: the data directory is empty'),
      memory: { lockValidUntil: null },
      role: 'uninitialized',
      wakeSoon: true,
    };
  }
  const remote = ctx.standby ? remoteCloneSource(ctx.standby) : null;
  if (ctx.standby && remote && cluster.initialize === null && !cluster.leader && !isNoFailover(settings.tags)) {
    // A standby cluster is not initdb'ed: the initialize race winner clones the remote primary and leads.
    const won = yield* perform('dcs.initialize', { create: true, sysid: '' });
    if (won.ok && won.value) {
      const methods = ctx.standby.createReplicaMethods;
      yield* perform('task.start', { task: { kind: 'clone', source: remote, ...(methods?.length ? { methods } : {}) } });
      return { decision: decision('standby_bootstrap_started', `won the initialize race: creating the standby leader from ${describeRemote(ctx.standby)}`), role: 'uninitialized' };
    }
    return { decision: decision('bootstrap_lost_race', 'failed to acquire the initialize lock: another member creates the standby leader'), role: 'uninitialized' };
  }
  if (cluster.initialize === null && !cluster.leader && !isNoFailover(settings.tags)) {
    const won = yield* perform('dcs.initialize', { create: true, sysid: '' });
    if (won.ok && won.value) {
      yield* perform('task.start', { task: { kind: 'bootstrap' } });
      return { decision: decision('bootstrap_started', 'won the initialize race: bootstrapping a new cluster'), role: 'uninitialized' };
    }
    return { decision: decision('bootstrap_lost_race', 'failed to acquire the initialize lock: another member bootstraps'), role: 'uninitialized' };
  }
  const source = cloneSource(ctx);
  if (source) {
    yield* perform('task.start', { task: { kind: 'clone', source } });
    return { decision: decision('clone_started', `creating a replica from ${source.name}`), role: 'uninitialized' };
  }
  const methods = noLeaderCloneMethods({
    initialize: cluster.initialize,
    noLeaderMethods: settings.noLeaderReplicaMethods ?? [],
    standbyMethods: ctx.standby ? (ctx.standby.createReplicaMethods ?? []) : null,
  });
  if (methods.length) {
    yield* perform('task.start', { task: { kind: 'clone', source: NO_CLONE_SOURCE, methods } });
    return { decision: decision('clone_without_leader_started', `no member to clone from: creating a replica with ${methods.join(', ')} (no_leader)`), role: 'uninitialized' };
  }
  return { decision: decision('waiting_for_leader_to_bootstrap', 'waiting for the leader to bootstrap'), role: 'uninitialized' };
}

/** PostgreSQL is down: restart it in the role the cluster needs, rewinding a former primary first. */
function* recover(ctx: Context): Step {
  const { pg, cluster, dynamic } = ctx;
  const formerPrimary = ctx.memory.rewindArmed || (PRIMARY_CONTROL_STATES.has(pg.controlState ?? '') && !pg.standbySignal);
  if (dynamic.pause) {
    // Paused: nothing is started automatically; a lock holder without a running primary gives the lock up.
    if (ctx.iAmLeader) {
      yield* perform('dcs.releaseLeader', {});
      return {
        decision: decision('paused_released_lock', 'paused and postgres is not running: released the leader lock'),
        memory: { lockValidUntil: null },
      };
    }
    return { decision: decision('paused_no_action', 'paused: postgres is not running and will not be started') };
  }
  if (ctx.iAmLeader) {
    const renewed = yield* renewLock(ctx);
    if (renewed) {
      if (dynamic.primaryStartTimeout === 0 && (yield* healthyFailoverCandidate(ctx))) {
        yield* perform('dcs.releaseLeader', {});
        return {
          decision: decision('failover_after_crash', 'postgres crashed and primary_start_timeout is 0: released the lock to a healthy replica'),
          memory: { lockValidUntil: null, rewindArmed: true },
          role: 'demoted',
        };
      }
      const remote = ctx.standby && formerPrimary && dynamic.usePgRewind ? remoteCloneSource(ctx.standby) : null;
      if (remote) {
        // A former primary leading a standby cluster (demote-cluster, or an agent restarted meanwhile): rewind
        // onto the remote primary's timeline first; the rewind task starts us following it.
        yield* perform('task.start', { task: { kind: 'rewind', source: remote } });
        return {
          decision: decision('rewind_started', `running pg_rewind from ${describeRemote(ctx.standby!)}: this data directory was a primary`),
          memory: { lockValidUntil: ctx.now + dynamic.timing.ttl * 1000, rewindArmed: true },
        };
      }
      // A standby leader never starts as primary: it starts in recovery following the remote primary.
      const role = formerPrimary && !ctx.standby ? 'primary' : 'replica';
      yield* perform('task.start', {
        task: { kind: 'start', role, upstream: ctx.standby ? remoteUpstream(ctx.standby) : null, timeout: dynamic.primaryStartTimeout },
      });
      return {
        decision: decision('starting_primary', `starting postgres as ${role} while holding the leader lock`),
        memory: { lockValidUntil: ctx.now + dynamic.timing.ttl * 1000 },
      };
    }
  }
  const leaderMember = cluster.leader && !ctx.iAmLeader ? cluster.leader.member : null;
  const source = upstreamOf(leaderMember);
  if (formerPrimary && !cluster.leader && cluster.failover?.candidate && cluster.failover.candidate !== ctx.settings.name) {
    // After our own switchover: give the candidate the moment it needs instead of starting up read-only, but
    // not for ever: a candidate that has not taken the lock within a ttl never will, and the request goes.
    const since = ctx.memory.switchoverWaitSince ?? ctx.now;
    if (ctx.now - since < dynamic.timing.ttl * 1000) {
      return {
        decision: decision('waiting_for_switchover_candidate', `waiting for ${cluster.failover.candidate} to take the leader lock`),
        memory: { rewindArmed: true, switchoverWaitSince: since },
      };
    }
    yield* perform('dcs.clearFailover', { expected: cluster.failover.version });
    return {
      decision: decision('switchover_stale_cleared', `${cluster.failover.candidate} did not take the leader lock within ttl: switchover request removed`),
      memory: { rewindArmed: true, switchoverWaitSince: null },
      wakeSoon: true,
    };
  }
  const remedy = divergenceRemedyOf(ctx);
  if (formerPrimary && source && remedy === 'rewind') {
    yield* perform('task.start', { task: { kind: 'rewind', source } });
    return {
      decision: decision('rewind_started', `running pg_rewind from ${source.name}: this data directory was a primary`),
      memory: { rewindArmed: true },
    };
  }
  if (formerPrimary && source && remedy === 'reinitialize') {
    yield* perform('task.start', { task: { kind: 'reinitialize', source } });
    return {
      decision: decision(
        'reinitialize_diverged_timelines',
        `reinitializing from ${source.name}: this data directory was a primary, use_pg_rewind is off and remove_data_directory_on_diverged_timelines is on`,
      ),
      memory: { rewindArmed: true },
    };
  }
  // nostream, replicatefrom and the standby cluster's remote primary decide the upstream, as in follow().
  const target = nodeToFollow({ cluster, name: ctx.settings.name, tags: ctx.settings.tags, standby: ctx.standby, paused: dynamic.pause });
  const startFrom = target.kind === 'upstream' ? target.upstream : source;
  yield* perform('task.start', {
    task: { kind: 'start', role: 'replica', upstream: startFrom, timeout: dynamic.timing.ttl },
  });
  return {
    decision: decision(
      'starting_replica',
      startFrom ? `starting postgres as a replica of ${startFrom.name}` : 'starting postgres read-only: there is no leader to follow',
    ),
    memory: { rewindArmed: formerPrimary },
  };
}

function divergenceRemedyOf(ctx: Context): 'rewind' | 'reinitialize' | 'none' {
  return divergenceRemedy({
    usePgRewind: ctx.dynamic.usePgRewind,
    removeDataDirectoryOnDivergedTimelines: ctx.settings.removeDataDirectoryOnDivergedTimelines === true,
    standbyCluster: ctx.standby !== null,
  });
}

/** Nobody holds the lock: take part in the race if this member is the best place for the primary. */
function* leaderRace(ctx: Context): Step {
  const { pg, dynamic } = ctx;
  if (dynamic.pause && pg.role !== 'primary') {
    // Paused: only a running primary of this cluster takes the free lock; replicas never race.
    const candidate = ctx.cluster.failover?.candidate;
    if (candidate !== ctx.settings.name) {
      return { decision: decision('not_candidate', 'paused: no automatic failover', 'paused'), role: 'replica' };
    }
  }
  const postponed = racePostponed(ctx);
  if (postponed) return postponed;
  const eligibility = yield* checkEligibility(ctx);
  if (eligibility) {
    if (pg.role === 'primary' && !dynamic.pause) {
      yield* perform('pg.stop', { mode: 'immediate' });
      return {
        decision: decision('demoted_other_leader', `demoted: not a healthy candidate (${eligibility.message})`),
        memory: { rewindArmed: true },
        postgresChanged: true,
        stopped: true,
        role: 'demoted',
        wakeSoon: true,
      };
    }
    return { decision: decision('not_candidate', `not taking part in the leader race: ${eligibility.message}`, eligibility.reason) };
  }
  const acquired = yield* perform('dcs.acquireLeader', {});
  if (!acquired.ok) return { decision: decision('race_lost', `leader race interrupted: ${acquired.error}`) };
  if (!acquired.value) return { decision: decision('race_lost', 'another member acquired the leader lock first') };
  const memory = { lockValidUntil: ctx.now + ctx.dynamic.timing.ttl * 1000, rewindArmed: false };
  // The new leader consumes the switchover request; while paused the candidate stays recorded (as Patroni keeps it).
  if (ctx.cluster.failover && !dynamic.pause) yield* perform('dcs.clearFailover', { expected: ctx.cluster.failover.version });
  if (ctx.standby) return yield* asStandbyLeader(ctx, memory);
  if (pg.role === 'primary') {
    yield* publishLeaderState(ctx);
    return { decision: decision('acquired_lock_as_primary', 'acquired the leader lock as the running primary'), memory };
  }
  return yield* promote(ctx, memory, 'acquired_lock_promoting', 'promoted self to leader by acquiring the leader lock');
}

/** primary_race_backoff (race-backoff.ts): wait while the vanished primary may only have frozen for a moment. */
function racePostponed(ctx: Context): Outcome | null {
  const { pg, dynamic, memory } = ctx;
  const backoff = primaryRaceBackoff(memory.configData ?? ctx.settings.bootstrapDynamicConfig);
  const verdict = raceBackoffVerdict({
    now: ctx.now,
    backoff,
    loopWait: dynamic.timing.loopWait,
    paused: dynamic.pause,
    standbyCluster: ctx.standby !== null,
    failoverCandidate: Boolean(ctx.cluster.failover?.candidate),
    since: memory.raceBackoffSince ?? null,
    previousWalPosition: memory.lastWalPosition ?? null,
    walPosition: pg.walPosition,
    streaming: pg.replicationState === 'streaming',
  });
  // A window always opens with a postponed cycle, which records its start; memory keeps it until a leader appears.
  if (!verdict.postpone) return null;
  const left = Math.ceil(verdict.secondsLeft);
  const why = verdict.why === 'wal_advancing' ? 'my WAL position moved since the last cycle' : 'the leader key vanished less than loop_wait ago';
  return {
    decision: decision('race_postponed', `postponing the leader race (primary_race_backoff): ${why}, ${left} s until the race`),
    memory: { raceBackoffSince: verdict.since },
    // Patroni shortens its wait to the window's end, so the race starts on time.
    wakeAt: verdict.since + backoff * 1000,
  };
}

/** Returns why this member must not race, or null when it is the healthiest candidate it can see. */
function* checkEligibility(
  ctx: Context,
): Generator<Effect, { reason: IneligibleReason; message: string } | null, unknown> {
  const { pg, cluster, settings, dynamic } = ctx;
  const failover = cluster.failover;
  const iAmCandidate = failover?.candidate === settings.name;
  if (ctx.memory.prePromoteFailedAt !== null && ctx.now - ctx.memory.prePromoteFailedAt < dynamic.timing.ttl * 1000) {
    return { reason: 'pre_promote_backoff', message: 'pre_promote failed less than ttl ago' };
  }
  if (!pg.running || !pg.accepting) return { reason: 'postgres_not_running', message: 'postgres is not running' };
  const clusterTl = clusterTimeline(cluster);
  if (pg.role === 'primary') {
    if (clusterTl !== null && pg.timeline !== null && pg.timeline < clusterTl) {
      return { reason: 'timeline_behind', message: `timeline ${pg.timeline} is behind the cluster's ${clusterTl}` };
    }
    return null;
  }
  if (isNoFailover(settings.tags)) return { reason: 'nofailover', message: 'tagged nofailover' };
  if (!ctx.watchdog.healthy) return { reason: 'watchdog_failed', message: 'the watchdog is required but cannot be used' };
  const failsafeMembers = failsafeModeEnabled(cluster.config?.data) ? failsafeRaceMembers(cluster.failsafe, settings.name) : [];
  if (failsafeMembers === null) return { reason: 'not_in_failsafe', message: 'failsafe_mode is on and I am not listed in the failsafe key' };
  // Quorum mode lets any member race: it must collect enough votes instead (quorumRaceVerdict below).
  if (synchronousModeActive(ctx) && !quorumCommitActive(dynamic, cluster) && !isSynchronousMember(cluster, settings.name)) {
    return { reason: 'not_synchronous', message: 'synchronous_mode is on and I am not a synchronous standby' };
  }
  const manual = failover !== null && (failover.candidate !== null || failover.leader !== null);
  // Only the operator's named candidate is exempt: an open switchover must not promote a lagging replica.
  const lag = cluster.status.optime - (pg.walPosition ?? 0);
  if (!iAmCandidate && cluster.status.optime > 0 && lag > dynamic.maximumLagOnFailover) {
    return { reason: 'lagging', message: `lag ${lag} bytes exceeds maximum_lag_on_failover ${dynamic.maximumLagOnFailover}` };
  }
  const current = apiMembers(cluster.members);
  const remembered = ctx.memory.knownMembers.filter((known) => !current.some((member) => member.name === known.name));
  const listed = failsafeMembers.filter((known) => ![...current, ...remembered].some((member) => member.name === known.name));
  const others = [...current, ...remembered, ...listed].filter((member) => member.name !== settings.name);
  // A former leader that believed the cluster paused must be heard from first (paused-leader.ts).
  const formerLeaders = operatorForcedFailover(failover, ctx.memory.pausedLeader)
    ? []
    : formerPausedLeaders(settings.name, cluster.status.pausedLeader, ctx.memory.pausedLeader?.suspect ?? null);
  for (const former of formerLeaders) {
    if (former.apiUrl !== null && !others.some((member) => member.name === former.name)) others.push({ name: former.name, apiUrl: former.apiUrl });
  }
  const peers = others.length ? yield* perform('peers.probe', { members: others }) : [];
  const unconfirmed = pausedLeaderVerdict(formerLeaders, peers);
  if (unconfirmed) return unconfirmed;
  const healthy = (peer: PeerStatus): boolean =>
    peer.reachable && peer.state === 'running' && !isNoFailover(peer.tags) && !peer.watchdogFailed;

  if (iAmCandidate) {
    // The operator's choice needs no comparison, but never a second primary: one that still runs must stop first.
    const primary = peers.find((peer) => peer.reachable && (peer.role === 'primary' || peer.role === 'master'));
    if (primary) return { reason: 'peer_is_primary', message: `${primary.name} is still running as primary` };
    // A switchover (not a forced failover) in quorum mode still needs the quorum's votes: its leader may have died
    // before handing over, and only the quorum knows which commits were acknowledged.
    if (failover.leader !== null && quorumCommitActive(dynamic, cluster)) {
      const others = peers.filter((peer) => peer.name !== failover.leader);
      return quorumRaceVerdict(others, { cluster, me: settings.name, myPosition: pg.walPosition ?? 0, myPriority: failoverPriority(settings.tags) });
    }
    return null;
  }
  // With failsafe mode on, only the members its key lists race, so only they are compared (as Patroni does):
  // one outside it, however far ahead, never takes the lock, and deferring to it would be waiting for ever.
  const failsafeListed = failsafeModeEnabled(cluster.config?.data) && cluster.failsafe && Object.keys(cluster.failsafe).length ? cluster.failsafe : null;
  let compared = failsafeListed === null ? peers : peers.filter((peer) => peer.name in failsafeListed);
  // Likewise synchronous mode (not quorum) lets only the members the `sync` key lists race: a member outside it
  // may hold more WAL (a diverged branch), yet deferring to it would leave the cluster without a leader.
  if (synchronousModeActive(ctx) && !quorumCommitActive(dynamic, cluster)) compared = compared.filter((peer) => isSynchronousMember(cluster, peer.name));
  // A running primary stops the race wherever it is listed.
  const unlistedPrimary = peers.find((peer) => peer.reachable && (peer.role === 'primary' || peer.role === 'master') && !compared.includes(peer));
  if (unlistedPrimary) return { reason: 'peer_is_primary', message: `${unlistedPrimary.name} is running as primary` };
  if (manual) {
    // Only a member the rules let race can take the lock: synchronous mode keeps out those the `sync` key does
    // not list (quorum mode: its voters can win on their own), failsafe mode those its key does not list.
    // Deferring to anyone else would be waiting for ever.
    const mayRace = (name: string): boolean =>
      (!synchronousModeActive(ctx) || isSynchronousMember(cluster, name)) && (failsafeListed === null || name in failsafeListed);
    const candidatePeer = peers.find((peer) => peer.name === failover.candidate);
    const candidateMayRace = failover.candidate === null || quorumCommitActive(dynamic, cluster) ? true : mayRace(failover.candidate);
    if (candidatePeer && healthy(candidatePeer) && candidateMayRace) {
      return { reason: 'switchover_candidate_elsewhere', message: `${failover.candidate} is the switchover candidate` };
    }
    if (failover.leader === settings.name) {
      const anyoneElse = peers.some((peer) => peer.name !== failover.candidate && healthy(peer) && mayRace(peer.name));
      return anyoneElse ? { reason: 'former_leader', message: 'the former leader takes the lock only when nobody else can' } : null;
    }
    // Race among the rest without the former leader: the operator asked it to step down.
    compared = compared.filter((peer) => peer.name !== failover.leader);
  }
  if (dynamic.checkTimeline && clusterTl !== null && (pg.timeline === null || pg.timeline < clusterTl)) {
    return { reason: 'timeline_behind', message: `timeline ${pg.timeline ?? 'unknown'} is behind the cluster's ${clusterTl}` };
  }
  const myPosition = pg.walPosition ?? 0;
  const myPriority = failoverPriority(settings.tags);
  if (quorumCommitActive(dynamic, cluster)) return quorumRaceVerdict(compared, { cluster, me: settings.name, myPosition, myPriority });
  for (const peer of compared) {
    const verdict = comparePeer(peer, myPosition, myPriority);
    if (verdict) return verdict;
  }
  return null;
}

function comparePeer(
  peer: PeerStatus,
  myPosition: number,
  myPriority: number,
): { reason: IneligibleReason; message: string } | null {
  if (!peer.reachable) return null;
  if (peer.role === 'primary' || peer.role === 'master') {
    return { reason: 'peer_is_primary', message: `${peer.name} is running as primary` };
  }
  if (isNoFailover(peer.tags) || peer.watchdogFailed) return null;
  if (peer.walPosition > myPosition) {
    return { reason: 'peer_ahead', message: `${peer.name} is ahead (${peer.walPosition} > ${myPosition})` };
  }
  if (peer.walPosition === myPosition && failoverPriority(peer.tags) > myPriority) {
    return { reason: 'peer_preferred', message: `${peer.name} is as far and has a higher failover_priority` };
  }
  return null;
}

function* asLeader(ctx: Context): Step {
  const { pg, dynamic } = ctx;
  if (dynamic.pause && pg.role !== 'primary' && !ctx.standby && ctx.cluster.failover?.candidate !== ctx.settings.name) {
    yield* perform('dcs.releaseLeader', {});
    return {
      decision: decision('paused_released_lock', 'paused and postgres is not running as primary: released the leader lock'),
      memory: { lockValidUntil: null },
    };
  }
  const renewal = yield* perform('dcs.renewLeader', {});
  const renewed = renewal.ok && renewal.value;
  if (!renewed) {
    // The store did not answer (the lock is not known lost): as Patroni's DCS error branch, failsafe may keep us.
    const failsafe = renewal.ok || pg.role !== 'primary' || dynamic.pause ? null : yield* keepPrimaryOnFailsafe(ctx, pg, dynamic);
    if (failsafe?.keep) return failsafe.outcome;
    if (failsafe && !renewal.ok) {
      // Offline demotion (read-only at once, lock kept), as when the read fails: not a known loss of the lock.
      return withFailsafeCleared(yield* whileDcsUnreachable(ctx, pg, dynamic, failsafe.why ? `${renewal.error}; ${failsafe.why}` : renewal.error));
    }
    if (pg.role === 'primary' && dynamic.pause) {
      return {
        decision: decision('paused_primary_without_lock', 'paused: failed to renew the leader lock, postgres keeps running'),
        memory: { lockValidUntil: null },
      };
    }
    if (pg.role === 'primary') return yield* demoteAfterLockLoss(ctx);
    return lockLost(ctx, 'failed to renew the leader lock');
  }
  const memory = { lockValidUntil: ctx.now + dynamic.timing.ttl * 1000, rewindArmed: false };
  if (ctx.standby) {
    const handled = ctx.cluster.failover ? yield* processManualFailover(ctx, ctx.cluster.failover) : null;
    if (handled) return { ...handled, memory: { ...memory, ...handled.memory } };
    const led = yield* asStandbyLeader(ctx, memory);
    // A restart scheduled on the standby leader falls due here, as on a primary (role filter: standby_leader).
    const restart = led.postgresChanged ? null : yield* dueScheduledRestart(ctx);
    return restart ? { ...restart, memory: { ...led.memory, ...restart.memory } } : led;
  }
  if (pg.role !== 'primary') {
    // standby_cluster was removed from the config while we led the standby cluster: this is its promotion.
    if (ctx.memory.lastRole === 'standby_leader') {
      return yield* promote(ctx, memory, 'standby_cluster_promoted', 'promoted the standby cluster: standby_cluster is gone from the configuration');
    }
    return yield* promote(ctx, memory, 'promoted_holding_lock', 'promoted self to leader because I hold the leader lock');
  }
  if (!dynamic.pause && !ctx.watchdog.running) {
    const armed = yield* perform('watchdog.activate', {});
    if (!armed) {
      yield* perform('pg.stop', { mode: 'immediate' });
      yield* perform('dcs.releaseLeader', {});
      return {
        decision: decision('watchdog_unavailable', 'demoted: the watchdog could not be activated; released the leader lock'),
        memory: { lockValidUntil: null, rewindArmed: true },
        postgresChanged: true,
        stopped: true,
        role: 'demoted',
      };
    }
  }
  if (ctx.cluster.failover) {
    const handled = yield* processManualFailover(ctx, ctx.cluster.failover);
    if (handled) return { ...handled, memory: { ...memory, ...handled.memory } };
  }
  const published = { ...(yield* publishLeaderState(ctx)), ...(yield* publishFailsafeTopology(ctx.cluster, ctx.settings, ctx.memory.configData)) };
  const synced = yield* manageSynchronousReplication(ctx);
  const restart = yield* dueScheduledRestart(ctx);
  if (restart) return { ...restart, memory: { ...memory, ...published, ...synced, ...restart.memory } };
  return {
    decision: decision('leader_lock_renewed', `no action: I am (${ctx.settings.name}) the leader with the lock`),
    memory: { ...memory, ...published, ...synced },
    ...(synced.syncChangedAtLsn !== undefined ? { wakeAt: ctx.now + SYNC_CONFIRM_MS } : {}),
  };
}

/** The lock holder of a standby cluster (rules in standby-cluster.ts); it keeps status and its replicas' slots like a primary. */
function* asStandbyLeader(ctx: Context, memory: Partial<HaMemory>): Step {
  const standby = ctx.standby!;
  if (ctx.dynamic.pause && ctx.pg.role === 'primary') {
    return { decision: decision('paused_no_action', 'paused: postgres runs as primary although this is a standby cluster; not demoting'), memory };
  }
  const step = yield* standbyLeaderStep({
    name: ctx.settings.name,
    pg: ctx.pg,
    standby,
    startTimeout: ctx.dynamic.primaryStartTimeout,
    lastRole: ctx.memory.lastRole,
    usePgRewind: ctx.dynamic.usePgRewind,
  });
  const published = step.stopped ? {} : yield* publishLeaderState(ctx);
  return {
    decision: decision(step.reason, step.message),
    // A demoted primary stays armed: should the rewind fail, recover() tries it again before starting.
    memory: { ...memory, ...published, ...(step.wasPrimary ? { rewindArmed: true } : {}) },
    postgresChanged: step.postgresChanged,
    stopped: step.stopped,
    role: 'standby_leader',
    wakeSoon: step.postgresChanged,
  };
}

/** Promotion behind the fencing hook: a failing `pre_promote` gives the lock back and keeps us out for a ttl. */
function* promote(
  ctx: Context,
  memory: Partial<HaMemory>,
  reason: 'acquired_lock_promoting' | 'promoted_holding_lock' | 'standby_cluster_promoted',
  message: string,
): Step {
  if (!ctx.dynamic.pause && !ctx.watchdog.running) {
    const armed = yield* perform('watchdog.activate', {});
    if (!armed) {
      yield* perform('dcs.releaseLeader', {});
      return {
        decision: decision('watchdog_unavailable', 'not promoting: the watchdog could not be activated; released the leader lock'),
        memory: { ...memory, lockValidUntil: null },
      };
    }
  }
  if (synchronousModeActive(ctx)) {
    const ready = yield* syncBeforePromote(ctx);
    if (!ready) {
      return {
        decision: decision('sync_state_not_written', 'not promoting yet: the sync key could not be updated first'),
        memory,
      };
    }
    // Every acknowledged commit is at or below this position: standbys past it count as confirmed.
    memory = { ...memory, syncChangedAtLsn: ctx.pg.walPosition ?? 0 };
  }
  const fenced = yield* perform('pg.prePromote', {});
  if (!fenced) {
    yield* perform('dcs.releaseLeader', {});
    return {
      decision: decision('pre_promote_failed', 'pre_promote failed: released the leader lock instead of promoting'),
      memory: { ...memory, lockValidUntil: null, prePromoteFailedAt: ctx.now },
    };
  }
  // Past every timeline number any branch is known to have used, so no two branches share one.
  const reserveTimelines = timelinesToReserve(ctx.cluster, ctx.memory, ctx.pg);
  const promoted = yield* perform('pg.promote', { reserveTimelines });
  if (!promoted) {
    return { decision: decision('promotion_failed', 'holding the leader lock but promotion failed'), memory, postgresChanged: true };
  }
  yield* perform('callback.run', { action: 'on_role_change', role: 'primary' });
  const reserved = reserveTimelines.length ? ` (timelines up to ${reserveTimelines.at(-1)?.timeline ?? '?'} reserved)` : '';
  return { decision: decision(reason, message + reserved), memory, postgresChanged: true, role: 'primary', wakeSoon: true };
}

/**
 * The leader's side of a switchover or failover request in the `failover` key: wait for a scheduled time,
 * drop what cannot be honoured, or hand the lock over (stop, then release) when a candidate is fit.
 */
function* processManualFailover(ctx: Context, failover: Failover): Generator<Effect, Outcome | null, unknown> {
  const { settings, dynamic, now } = ctx;
  const loopWaitMs = dynamic.timing.loopWait * 1000;
  const clear = function* (reason: 'switchover_stale_cleared' | 'switchover_invalid_cleared' | 'switchover_no_candidate', message: string): Step {
    yield* perform('dcs.clearFailover', { expected: failover.version });
    return { decision: decision(reason, message) };
  };
  if (failover.scheduledAt && !dynamic.pause) {
    const at = Date.parse(failover.scheduledAt);
    if (Number.isNaN(at)) return yield* clear('switchover_invalid_cleared', `cleared a switchover with an unreadable time ${failover.scheduledAt}`);
    if (now < at) {
      return { decision: decision('switchover_scheduled', `switchover scheduled at ${failover.scheduledAt}`), wakeAt: at };
    }
    if (now - at > 1.5 * loopWaitMs) {
      return yield* clear('switchover_stale_cleared', `cleared a switchover scheduled at ${failover.scheduledAt}: it is too late now`);
    }
  }
  if (failover.leader && failover.leader !== settings.name) {
    return yield* clear('switchover_invalid_cleared', `cleared a switchover from ${failover.leader}: I am the leader`);
  }
  if (failover.candidate === settings.name) {
    return yield* clear('switchover_invalid_cleared', 'cleared a switchover to myself: I am already the leader');
  }
  if (!failover.candidate && dynamic.pause) {
    return yield* clear('switchover_invalid_cleared', 'cleared a switchover without a candidate: not possible while paused');
  }
  const candidate = yield* healthyFailoverCandidate(ctx, failover.candidate);
  if (!candidate) {
    return yield* clear(
      'switchover_no_candidate',
      failover.candidate ? `switchover to ${failover.candidate} is not possible: it is not a healthy candidate` : 'switchover is not possible: no healthy candidate',
    );
  }
  // Graceful: a fast shutdown writes the shutdown checkpoint and walsenders send it before exiting; then the lock goes.
  yield* perform('pg.stop', primaryStop(ctx.dynamic));
  yield* perform('dcs.releaseLeader', {});
  return {
    decision: decision('switchover_demoted', `switchover: stopped postgres and released the lock for ${failover.candidate ?? candidate}`),
    memory: { lockValidUntil: null, rewindArmed: true },
    postgresChanged: true,
    stopped: true,
    role: 'demoted',
  };
}

/** A member fit to take over now: reachable, running, replica, not nofailover, within maximum_lag_on_failover. */
function* healthyFailoverCandidate(ctx: Context, wanted: string | null = null): Generator<Effect, string | null, unknown> {
  const { cluster, settings, dynamic, pg } = ctx;
  // In synchronous mode only a member the `sync` key lists may be promoted (a candidate outside it would refuse).
  const syncOnly = synchronousModeActive(ctx);
  const members = cluster.members
    .filter((member) => member.name !== settings.name && (wanted === null || member.name === wanted))
    .filter((member) => typeof member.data.api_url === 'string' && !isNoFailover(memberTags(member)))
    .filter((member) => !syncOnly || isSynchronousMember(cluster, member.name))
    .map((member) => ({ name: member.name, apiUrl: member.data.api_url as string }));
  if (!members.length) return null;
  const peers = yield* perform('peers.probe', { members });
  const reference = Math.max(pg.walPosition ?? 0, cluster.status.optime);
  const fit = peers.find(
    (peer) =>
      peer.reachable &&
      peer.state === 'running' &&
      peer.role !== 'primary' &&
      !isNoFailover(peer.tags) &&
      !peer.watchdogFailed &&
      reference - peer.walPosition <= dynamic.maximumLagOnFailover,
  );
  return fit?.name ?? null;
}

/** The lock holder keeps `status`, `history` and the members' replication slots current. */
function* publishLeaderState(ctx: Context): Generator<Effect, Partial<HaMemory>, unknown> {
  const { pg, cluster, settings } = ctx;
  const optime = pg.walPosition ?? 0;
  let published: Partial<HaMemory> = {};
  // Slots first: `status` publishes where they stand (see ha/slots.ts).
  const slots = yield* syncSlots(slotCycleInput(ctx));
  const mark = pausedLeaderMark(ctx.dynamic.pause, settings.name, settings.apiUrl);
  const status = {
    optime,
    slots: slots.published?.slots ?? cluster.status.slots,
    retainSlots: slots.published?.retain ?? cluster.status.retainSlots,
    ...(mark ? { pausedLeader: mark } : {}),
  };
  if (slots.published) published = { retainSlotsSeen: slots.published.seen };
  const markChanged = !sameMark(cluster.status.pausedLeader, mark);
  if (optime > 0 && (optime !== ctx.memory.lastPublishedOptime || markChanged || statusSlotsDiffer(cluster.status, status))) {
    const written = yield* perform('dcs.writeStatus', { status });
    if (written.ok) published = { ...published, lastPublishedOptime: optime };
  }
  if (pg.timeline !== null && pg.timeline > 1) {
    const lastRecorded = cluster.history?.lines.at(-1)?.[0] ?? 0;
    if (lastRecorded < pg.timeline - 1) {
      const history = yield* perform('pg.timelineHistory', { timeline: pg.timeline });
      // Numbers a promotion skipped (timeline-reservation.ts) get lines too, so last line + 1 is our timeline.
      const lines = history ? withSkippedTimelines(history, pg.timeline) : null;
      if (lines && lines.length) {
        const timestamp = new Date(ctx.now).toISOString();
        const enriched = lines.map(([tl, lsn, reason], index) =>
          index === lines.length - 1 ? ([tl, lsn, reason, timestamp, settings.name] as [number, number, string, string, string]) : ([tl, lsn, reason] as [number, number, string]),
        );
        const previous = cluster.history?.lines ?? [];
        const merged = [...previous.filter((line) => line[0] < (enriched[0]?.[0] ?? 0)), ...enriched];
        yield* perform('dcs.setHistory', { lines: merged });
      }
    }
  }
  return published;
}

function slotCycleInput(ctx: Context): SlotCycleInput {
  return {
    cluster: ctx.cluster,
    me: ctx.settings.name,
    tags: ctx.settings.tags,
    pg: ctx.pg,
    configData: ctx.cluster.config?.data ?? ctx.memory.configData ?? ctx.settings.bootstrapDynamicConfig,
    paused: ctx.dynamic.pause,
    now: ctx.now,
    retainSeen: ctx.memory.retainSlotsSeen ?? null,
    standbyCluster: ctx.standby !== null,
  };
}

/** A replica that follows quietly keeps its slots in step; missing permanent logical slots are copied from the primary. */
function* replicaSlots(ctx: Context, followed: Outcome): Generator<Effect, Outcome | null, unknown> {
  if (followed.decision.reason !== 'following_leader' || ctx.pg.role !== 'replica') return null;
  const slots = yield* syncSlots(slotCycleInput(ctx));
  const source = upstreamOf(ctx.cluster.leader?.member ?? null);
  if (!slots.copy.length || !source) return null;
  const names = slots.copy.map((slot) => slot.name);
  yield* perform('task.start', {
    task: { kind: 'restart', role: 'replica', upstream: source, timeout: ctx.dynamic.timing.ttl, installSlots: { source, slots: slots.copy } },
  });
  return {
    ...followed,
    decision: decision('copying_logical_slots', `copying logical slots ${names.join(', ')} from the primary ${source.name} (postgres restarts)`),
  };
}

function* follow(ctx: Context, leaderName: string, leaderMember: Member | null): Step {
  const { pg, memory } = ctx;
  if (pg.role === 'primary' && ctx.dynamic.pause) {
    return {
      decision: decision('paused_primary_without_lock', `paused: continuing to run as primary without the lock (${leaderName} holds it)`),
    };
  }
  if (pg.role === 'primary') {
    yield* perform('pg.stop', { mode: 'immediate' });
    return {
      decision: decision('demoted_other_leader', `demoted: ${leaderName} holds the leader lock`),
      memory: { rewindArmed: true, lockValidUntil: null },
      postgresChanged: true,
      stopped: true,
      role: 'demoted',
      wakeSoon: true,
    };
  }
  const target = nodeToFollow({ cluster: ctx.cluster, name: ctx.settings.name, tags: ctx.settings.tags, standby: ctx.standby, paused: ctx.dynamic.pause });
  if (target.kind === 'unknown') {
    return { decision: decision('waiting_for_leader_member', `waiting for ${target.member} to publish its member data`) };
  }
  // null only with nostream: standby.signal without primary_conninfo, WAL from restore_command.
  const upstream = target.upstream;
  const followedName = describeFollow(target, leaderName);
  const leaderTimeline = typeof leaderMember?.data.timeline === 'number' ? leaderMember.data.timeline : null;
  const behindTimeline = leaderTimeline !== null && pg.timeline !== null && leaderTimeline > pg.timeline;
  // Stopping helps only when something can bring the data directory back (diverged.ts); else it keeps trying to stream.
  const recoverable = divergenceRemedyOf(ctx) !== 'none';
  const replayedPastSwitch = !ctx.dynamic.pause && recoverable && behindTimeline && pg.replicationState !== 'streaming' && pastSwitchPoint(ctx.cluster, pg);
  if (replayedPastSwitch && memory.divergenceSuspectedOn === leaderTimeline) {
    // WAL the new timeline never had: streaming cannot resume, only a rewind brings this replica back.
    yield* perform('pg.stop', { mode: 'fast' });
    return {
      decision: decision('stopping_for_rewind', `stopping to rewind: replayed past the switch to timeline ${leaderTimeline} of ${leaderName}`),
      memory: { rewindArmed: true, divergenceSuspectedOn: null },
      postgresChanged: true,
      stopped: true,
      wakeSoon: true,
    };
  }
  if (!ctx.dynamic.pause && recoverable && memory.rewindArmed && behindTimeline) {
    // A former primary started read-only may hold WAL the new leader never had: stop, then rewind.
    yield* perform('pg.stop', { mode: 'fast' });
    return {
      decision: decision('stopping_for_rewind', `stopping to rewind: ${leaderName} is on timeline ${leaderTimeline}, I am on ${pg.timeline}`),
      postgresChanged: true,
      stopped: true,
      wakeSoon: true,
    };
  }
  const followed = yield* perform('pg.follow', { upstream });
  const caughtUp = pg.replicationState === 'streaming' && (leaderTimeline === null || pg.timeline === leaderTimeline);
  const memoryUpdate: Partial<HaMemory> = {
    ...(caughtUp ? { rewindArmed: false } : {}),
    divergenceSuspectedOn: replayedPastSwitch ? leaderTimeline : null,
  };
  if (!followed) {
    return { decision: decision('follow_failed', `failed to point postgres at ${leaderName}`), memory: memoryUpdate };
  }
  if (followed.changed) {
    return {
      decision: decision(
        'following_new_leader',
        `following new leader ${followedName}${followed.restarted ? ' (postgres restarted)' : ' (configuration reloaded)'}`,
      ),
      memory: memoryUpdate,
      postgresChanged: true,
    };
  }
  return {
    decision: decision('following_leader', `no action: I am (${ctx.settings.name}) a secondary, and following ${ctx.standby ? 'a standby leader' : 'a leader'} (${followedName})`),
    memory: memoryUpdate,
  };
}

const SYNC_CONFIRM_MS = 2000;

/** Synchronous mode is in force once the primary recorded itself in the `sync` key. */
function synchronousModeActive(ctx: Context): boolean {
  return ctx.dynamic.synchronousMode !== 'off' && Boolean(ctx.cluster.sync?.leader);
}

/** How a primary stops when it demotes: primary_stop_timeout bounds the stop in synchronous mode only. */
function primaryStop(dynamic: DynamicConfig): { mode: 'fast'; killAfter?: number } {
  const killAfter = primaryStopKillAfter(dynamic);
  return killAfter === undefined ? { mode: 'fast' } : { mode: 'fast', killAfter };
}

function isSynchronousMember(cluster: Cluster, name: string): boolean {
  const lower = name.toLowerCase();
  return cluster.sync?.leader?.toLowerCase() === lower || (cluster.sync?.syncStandby ?? []).some((standby) => standby.toLowerCase() === lower);
}

/**
 * The primary's part of synchronous replication, once per cycle. Priority mode (quorum is not distinguished yet):
 * pick the best streaming standbys, put them in synchronous_standby_names, and record in `sync` only those
 * PostgreSQL confirms it waits for. Strict mode never lets the setting go empty.
 */
function* manageSynchronousReplication(ctx: Context): Generator<Effect, Partial<HaMemory>, unknown> {
  const { cluster, pg, dynamic, settings } = ctx;
  const me = settings.name;
  if (dynamic.synchronousMode === 'off') {
    if (cluster.sync?.leader) yield* perform('dcs.deleteSync', { expected: cluster.sync.version });
    if (pg.synchronousStandbyNames && ctx.memory.syncChangedAtLsn !== null) {
      yield* perform('pg.setSyncStandbyNames', { value: null });
      return { syncChangedAtLsn: null };
    }
    return {};
  }
  if (dynamic.synchronousMode === 'quorum') {
    const outcome = yield* manageQuorumReplication({ cluster, pg, dynamic, me, syncChangedAtLsn: ctx.memory.syncChangedAtLsn });
    return outcome.syncChangedAtLsn !== undefined ? { syncChangedAtLsn: outcome.syncChangedAtLsn } : {};
  }
  let sync = cluster.sync;
  let version = sync?.version ?? null;
  let voters = new Set(sync?.leader === me ? sync.syncStandby : []);
  if (!sync || sync.leader !== me) {
    const written = yield* perform('dcs.setSync', { value: { leader: me, syncStandby: [], quorum: 0 }, expected: version });
    if (!written.ok || written.value === false) return {};
    version = written.value;
    voters = new Set();
    sync = null;
  }
  const candidates = syncCandidates(cluster, pg, dynamic, voters);
  const picked = candidates.slice(0, dynamic.synchronousNodeCount);
  const confirmed = new Set(confirmedSyncStandbys(pg, ctx.memory.syncChangedAtLsn, cluster));
  const strict = dynamic.synchronousModeStrict;
  // Strict with nobody fit: keep waiting on the recorded standbys (or the placeholder) rather than go asynchronous.
  const wanted = picked.length === 0 && strict ? [...voters] : picked;
  const common = [...voters].filter((name) => confirmed.has(name));
  if (common.length !== voters.size) {
    const written = yield* perform('dcs.setSync', { value: { leader: me, syncStandby: common, quorum: 0 }, expected: version });
    if (!written.ok || written.value === false) return {};
    version = written.value;
  }
  const current = parseSyncStandbyNames(pg.synchronousStandbyNames).members;
  const sameSetting = wanted.length === current.size && wanted.every((name) => current.has(name.toLowerCase()));
  let changed: Partial<HaMemory> = {};
  if (!sameSetting || (wanted.length === 0 && strict && !pg.synchronousStandbyNames)) {
    const value = formatSyncStandbyNames(wanted, { quorum: false, strict, num: Math.max(1, Math.min(dynamic.synchronousNodeCount, wanted.length)) });
    yield* perform('pg.setSyncStandbyNames', { value });
    changed = { syncChangedAtLsn: pg.walPosition ?? 0 };
  }
  const recordable = picked.filter((name) => confirmed.has(name));
  const recorded = new Set(common);
  if (recordable.length && (recordable.length !== recorded.size || recordable.some((name) => !recorded.has(name)))) {
    yield* perform('dcs.setSync', { value: { leader: me, syncStandby: recordable, quorum: 0 }, expected: version });
  }
  return changed;
}

/**
 * Before promoting in synchronous mode: take over the `sync` key (strict mode keeps the old standbys listed so a
 * commit still needs one of them) and set synchronous_standby_names to match, so no commit is acknowledged early.
 */
function* syncBeforePromote(ctx: Context): Generator<Effect, boolean, unknown> {
  const { cluster, settings, dynamic } = ctx;
  if (dynamic.synchronousMode === 'quorum') {
    // Quorum mode leaves the key to the new primary's first cycle; the GUC alone keeps the overlap until then.
    yield* perform('pg.setSyncStandbyNames', { value: quorumPrePromoteValue(cluster, settings.name, dynamic) });
    return true;
  }
  const others = (cluster.sync?.syncStandby ?? []).filter((name) => name.toLowerCase() !== settings.name.toLowerCase());
  const standbys = dynamic.synchronousModeStrict ? others : [];
  const written = yield* perform('dcs.setSync', {
    value: { leader: settings.name, syncStandby: standbys, quorum: 0 },
    expected: cluster.sync?.version ?? null,
  });
  if (!written.ok || written.value === false) return false;
  const value = formatSyncStandbyNames(standbys, { quorum: false, strict: dynamic.synchronousModeStrict, num: Math.max(1, Math.min(dynamic.synchronousNodeCount, standbys.length)) });
  yield* perform('pg.setSyncStandbyNames', { value });
  return true;
}

function apiMembers(members: readonly Member[]): Array<{ name: string; apiUrl: string }> {
  return members
    .filter((member) => typeof member.data.api_url === 'string')
    .map((member) => ({ name: member.name, apiUrl: member.data.api_url as string }));
}

/** The replica holds WAL past the point where the cluster left its timeline (from the `history` key). */
function pastSwitchPoint(cluster: Cluster, pg: PostgresObservation): boolean {
  return leftBehindByHistory(cluster.history?.lines ?? [], pg.timeline, pg.replayLsn);
}

function* renewLock(_ctx: Context): Generator<Effect, boolean, unknown> {
  const renewed = yield* perform('dcs.renewLeader', {});
  return renewed.ok && renewed.value;
}

function* demoteAfterLockLoss(_ctx: Context): Step {
  yield* perform('pg.stop', { mode: 'immediate' });
  return {
    decision: decision('lock_lost_demoted', 'demoted: failed to renew the leader lock'),
    memory: { lockValidUntil: null, rewindArmed: true },
    postgresChanged: true,
    stopped: true,
    role: 'demoted',
    wakeSoon: true,
  };
}

function lockLost(ctx: Context, why: string): Outcome {
  return {
    decision: decision('lock_lost_not_primary', `lost the leader lock (${why}); postgres is not a primary, nothing to demote`),
    memory: { lockValidUntil: null },
  };
}

function cloneSource(ctx: Context): Upstream | null {
  const { cluster, settings } = ctx;
  if (!cluster.leader) return null;
  const candidates = cluster.members.filter(
    (member) =>
      member.name !== settings.name &&
      tagIsTrue(memberTags(member), 'clonefrom') &&
      member.data.state === 'running' &&
      upstreamOf(member) !== null,
  );
  // Deterministic pick (no randomness in core): the first by name.
  const preferred = [...candidates].sort((a, b) => a.name.localeCompare(b.name))[0];
  return upstreamOf(preferred ?? cluster.leader.member);
}

/** host and port of a member from its conn_url (one definition, in ha/standby-cluster.ts). */
export const upstreamOf = memberUpstream;

function describeTask(kind: TaskSpec['kind']): string {
  switch (kind) {
    case 'bootstrap':
      return 'bootstrap';
    case 'clone':
      return 'replica creation';
    case 'rewind':
      return 'pg_rewind';
    case 'reinitialize':
      return 'reinitialization';
    case 'start':
      return 'postgres start';
    case 'restart':
      return 'restart';
  }
}

function roleOf(pg: PostgresObservation, memory: HaMemory): MemberRole {
  if (pg.dataDirectory !== 'initialized') return 'uninitialized';
  if (pg.running && pg.role) return pg.role;
  return memory.lastRole === 'primary' ? 'demoted' : (memory.lastRole ?? 'replica');
}

function stateOf(pg: PostgresObservation, task: TaskState | null, _outcome: Outcome): PostgresState {
  if (task?.state === 'running') {
    switch (task.kind) {
      case 'bootstrap':
        return 'initializing new cluster';
      case 'clone':
      case 'reinitialize':
        return 'creating replica';
      case 'start':
        return 'starting';
      case 'restart':
        return 'restarting';
      case 'rewind':
        return 'stopped';
    }
  }
  if (pg.running) return pg.accepting ? 'running' : 'starting';
  if (task?.state === 'failed' && task.kind === 'bootstrap') return 'initdb failed';
  if (task?.state === 'failed' && task.kind === 'start') return 'start failed';
  return 'stopped';
}

/** The value of `members/<name>`, field for field as Patroni writes it. */
export function memberData(
  settings: HaSettings,
  pg: PostgresObservation,
  role: MemberRole,
  state: PostgresState,
  dynamic: DynamicConfig,
  scheduledRestart: ScheduledRestart | null = null,
): MemberData {
  const data: MemberData = {
    conn_url: settings.connUrl,
    api_url: settings.apiUrl,
    state,
    role,
    version: settings.patroniVersion,
  };
  if (pg.running && pg.accepting) {
    const position = pg.role === 'primary' ? pg.walPosition : Math.max(pg.receiveLsn ?? 0, pg.replayLsn ?? 0);
    if (position !== null && position > 0) data.xlog_location = position;
    if (pg.role === 'replica') {
      if (pg.receiveLsn !== null) data.receive_lsn = pg.receiveLsn;
      if (pg.replayLsn !== null) data.replay_lsn = pg.replayLsn;
      if (pg.replicationState) data.replication_state = pg.replicationState;
    }
    if (pg.timeline !== null) data.timeline = pg.timeline;
  }
  if (pg.pendingRestart) {
    data.pending_restart = true;
    if (pg.pendingRestartReason && Object.keys(pg.pendingRestartReason).length) {
      // A copy: member data is JSON the DCS plugins serialise, the observation is shared.
      data.pending_restart_reason = Object.fromEntries(
        Object.entries(pg.pendingRestartReason).map(([name, diff]) => [name, { old_value: diff.old_value, new_value: diff.new_value }]),
      );
    }
  }
  if (scheduledRestart) data.scheduled_restart = scheduledRestartData(scheduledRestart);
  if (dynamic.pause) data.pause = true;
  if (Object.keys(settings.tags).length) data.tags = { ...settings.tags };
  return data;
}
