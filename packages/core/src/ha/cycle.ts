/**
 * One HA cycle: observe PostgreSQL and the cluster, decide, act through effects, publish this member.
 * No I/O, no clock, no randomness here: `now` comes in, effects go out.
 */
import type { Cluster, Member, MemberData, MemberRole, PostgresState, Tags } from '../model.js';
import { clusterTimeline, failoverPriority, isNoFailover, memberTags, tagIsTrue } from '../model.js';
import type { PostgresObservation, Upstream } from '../postgres.js';
import { slotNameForMember } from '../postgres.js';
import type { DynamicConfig } from '../dynamic-config.js';
import { resolveDynamicConfig } from '../dynamic-config.js';
import type { Decision, IneligibleReason } from './decision.js';
import { decision } from './decision.js';
import type { Effect, PeerStatus, TaskSpec, TaskState } from './effects.js';
import { perform } from './effects.js';

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
  /** The last `config` key seen, so an unreachable store leaves the timing known. */
  readonly configData: Readonly<Record<string, unknown>> | null;
  readonly lastPublishedOptime: number | null;
  readonly lastRole: MemberRole | null;
  /** PostgreSQL was running at the end of the last cycle and we did not stop it. */
  readonly postgresWasRunning: boolean;
}

export const INITIAL_MEMORY: HaMemory = {
  cycles: 0,
  lastDcsContact: null,
  lockValidUntil: null,
  rewindArmed: false,
  configData: null,
  lastPublishedOptime: null,
  lastRole: null,
  postgresWasRunning: false,
};

export interface CycleInput {
  readonly settings: HaSettings;
  readonly memory: HaMemory;
  /** Milliseconds since the epoch, from the injected clock. */
  readonly now: number;
  /** The background task, if one is running or has just finished. */
  readonly task: TaskState | null;
}

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
}

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
  readonly role?: MemberRole;
}

interface Context {
  readonly settings: HaSettings;
  readonly memory: HaMemory;
  readonly now: number;
  readonly task: TaskState | null;
  readonly cluster: Cluster;
  readonly pg: PostgresObservation;
  readonly dynamic: DynamicConfig;
  readonly iAmLeader: boolean;
}

const PRIMARY_CONTROL_STATES = new Set(['in production', 'shutting down', 'in crash recovery', 'shut down']);

export function* haCycle(input: CycleInput): Generator<Effect, CycleResult, unknown> {
  const { settings, now } = input;
  let pg = yield* perform('pg.observe', {});
  const loaded = yield* perform('dcs.load', {});
  if (!loaded.ok) {
    const dynamic = resolveDynamicConfig(input.memory.configData ?? settings.bootstrapDynamicConfig, {
      enforceMinimums: settings.enforceTimingMinimums,
    });
    const outcome = yield* whileDcsUnreachable(input, pg, dynamic, loaded.error);
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
    };
  }

  const cluster = loaded.value;
  const configData = cluster.config?.data ?? input.memory.configData ?? settings.bootstrapDynamicConfig;
  const dynamic = resolveDynamicConfig(configData, { enforceMinimums: settings.enforceTimingMinimums });
  const iAmLeader = cluster.leader?.name === settings.name;
  const memory: HaMemory = {
    ...input.memory,
    lastDcsContact: now,
    configData: cluster.config?.data ?? input.memory.configData,
    lockValidUntil: iAmLeader ? input.memory.lockValidUntil : null,
  };
  const context: Context = { settings, memory, now, task: input.task, cluster, pg, dynamic, iAmLeader };

  const outcome = yield* decide(context);
  if (outcome.postgresChanged) pg = yield* perform('pg.observe', {});
  const finalMemory = nextMemory(memory, outcome, pg);
  const role = outcome.role ?? roleOf(pg, finalMemory);
  const state = stateOf(pg, input.task, outcome);
  yield* perform('dcs.touchMember', { data: memberData(settings, pg, role, state, dynamic) });

  const holdsLock = finalMemory.lockValidUntil !== null && finalMemory.lockValidUntil > now;
  return {
    memory: { ...finalMemory, cycles: finalMemory.cycles + 1, lastRole: role },
    decision: outcome.decision,
    lockOwner: holdsLock ? settings.name : (cluster.leader?.name ?? null),
    holdsLock,
    role,
    state,
    cluster,
    postgres: pg,
    dynamic,
    wakeSoon: outcome.wakeSoon ?? false,
  };
}

function nextMemory(memory: HaMemory, outcome: Outcome, pg: PostgresObservation): HaMemory {
  const merged = { ...memory, ...outcome.memory };
  return { ...merged, postgresWasRunning: pg.running && !outcome.stopped };
}

function* decide(ctx: Context): Step {
  const { pg, cluster, settings, task } = ctx;

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
    }
    return { decision: decision('postgres_not_ready', 'postgres is running but does not accept connections yet') };
  }
  if (!cluster.leader) return yield* leaderRace(ctx);
  if (ctx.iAmLeader) return yield* asLeader(ctx);
  return yield* follow(ctx, cluster.leader.name, cluster.leader.member);
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
  if (!isPrimary || input.task?.state === 'running') {
    return { decision: decision('dcs_unreachable', `DCS is not accessible (${error})`) };
  }
  if (elapsed < dynamic.timing.retryTimeout * 1000) {
    return {
      decision: decision(
        'dcs_unreachable_keeping_primary',
        `DCS is not accessible (${error}); still within retry_timeout, keeping the primary running`,
      ),
    };
  }
  // Offline demotion: nobody can see our lock any more, so we must not accept writes.
  yield* perform('pg.stop', { mode: 'fast' });
  yield* perform('task.start', { task: { kind: 'start', role: 'replica', upstream: null, timeout: dynamic.timing.ttl } });
  return {
    decision: decision(
      'dcs_unreachable_demoted',
      `DCS has not answered for ${Math.round(elapsed / 1000)}s (retry_timeout ${dynamic.timing.retryTimeout}s): demoted to read-only`,
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
    if (pg.systemId) yield* perform('dcs.initialize', { create: false, sysid: pg.systemId });
    yield* perform('dcs.setConfig', { data: { ...settings.bootstrapDynamicConfig }, expected: null });
    const acquired = yield* perform('dcs.acquireLeader', {});
    if (acquired.ok && acquired.value) {
      return {
        decision: decision('bootstrap_succeeded', `initialized a new cluster (system identifier ${pg.systemId ?? 'unknown'})`),
        memory: { lockValidUntil: ctx.now + ctx.dynamic.timing.ttl * 1000, rewindArmed: false },
        role: 'primary',
      };
    }
    return {
      decision: decision('bootstrap_lock_not_taken', 'bootstrapped, but the leader lock is held by someone else'),
      wakeSoon: true,
    };
  }
  if (task.state === 'succeeded') {
    const memory: Partial<HaMemory> = task.kind === 'start' ? {} : { rewindArmed: false };
    return { decision: decision('task_succeeded', `${describeTask(task.kind)} finished`), memory, wakeSoon: true };
  }
  if (task.kind === 'rewind') {
    if (settings.removeDataDirectoryOnRewindFailure) {
      const source = upstreamOf(ctx.cluster.leader?.member ?? null);
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
  if (task.kind === 'start' && ctx.iAmLeader) {
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
  return { decision: decision('waiting_for_leader_to_bootstrap', 'waiting for the leader to bootstrap'), role: 'uninitialized' };
}

/** PostgreSQL is down: restart it in the role the cluster needs, rewinding a former primary first. */
function* recover(ctx: Context): Step {
  const { pg, cluster, dynamic } = ctx;
  const formerPrimary = ctx.memory.rewindArmed || (PRIMARY_CONTROL_STATES.has(pg.controlState ?? '') && !pg.standbySignal);
  if (ctx.iAmLeader) {
    const renewed = yield* renewLock(ctx);
    if (renewed) {
      const role = formerPrimary ? 'primary' : 'replica';
      yield* perform('task.start', {
        task: { kind: 'start', role, upstream: null, timeout: dynamic.primaryStartTimeout },
      });
      return {
        decision: decision('starting_primary', `starting postgres as ${role} while holding the leader lock`),
        memory: { lockValidUntil: ctx.now + dynamic.timing.ttl * 1000 },
      };
    }
  }
  const leaderMember = cluster.leader && !ctx.iAmLeader ? cluster.leader.member : null;
  const source = upstreamOf(leaderMember);
  if (formerPrimary && source) {
    if (dynamic.usePgRewind) {
      yield* perform('task.start', { task: { kind: 'rewind', source } });
      return {
        decision: decision('rewind_started', `running pg_rewind from ${source.name}: this data directory was a primary`),
        memory: { rewindArmed: true },
      };
    }
    yield* perform('task.start', { task: { kind: 'reinitialize', source } });
    return {
      decision: decision('reinitialize_started', `reinitializing from ${source.name}: a former primary and use_pg_rewind is off`),
      memory: { rewindArmed: true },
    };
  }
  yield* perform('task.start', {
    task: { kind: 'start', role: 'replica', upstream: source, timeout: dynamic.timing.ttl },
  });
  return {
    decision: decision(
      'starting_replica',
      source ? `starting postgres as a replica of ${source.name}` : 'starting postgres read-only: there is no leader to follow',
    ),
    memory: { rewindArmed: formerPrimary },
  };
}

/** Nobody holds the lock: take part in the race if this member is the best place for the primary. */
function* leaderRace(ctx: Context): Step {
  const { pg } = ctx;
  const eligibility = yield* checkEligibility(ctx);
  if (eligibility) {
    if (pg.role === 'primary') {
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
  if (ctx.cluster.failover) yield* perform('dcs.clearFailover', { expected: ctx.cluster.failover.version });
  if (pg.role === 'primary') {
    yield* publishLeaderState(ctx);
    return { decision: decision('acquired_lock_as_primary', 'acquired the leader lock as the running primary'), memory };
  }
  const promoted = yield* perform('pg.promote', {});
  if (!promoted) {
    return { decision: decision('promotion_failed', 'acquired the leader lock but promotion failed'), memory, postgresChanged: true };
  }
  return {
    decision: decision('acquired_lock_promoting', 'promoted self to leader by acquiring the leader lock'),
    memory,
    postgresChanged: true,
    role: 'primary',
    wakeSoon: true,
  };
}

/** Returns why this member must not race, or null when it is the healthiest candidate it can see. */
function* checkEligibility(
  ctx: Context,
): Generator<Effect, { reason: IneligibleReason; message: string } | null, unknown> {
  const { pg, cluster, settings, dynamic } = ctx;
  if (isNoFailover(settings.tags)) return { reason: 'nofailover', message: 'tagged nofailover' };
  if (!pg.running || !pg.accepting) return { reason: 'postgres_not_running', message: 'postgres is not running' };
  const clusterTl = clusterTimeline(cluster);
  if (pg.role === 'primary') {
    if (clusterTl !== null && pg.timeline !== null && pg.timeline < clusterTl) {
      return { reason: 'timeline_behind', message: `timeline ${pg.timeline} is behind the cluster's ${clusterTl}` };
    }
    return null;
  }
  const myPosition = pg.walPosition ?? 0;
  const lag = cluster.status.optime - myPosition;
  if (cluster.status.optime > 0 && lag > dynamic.maximumLagOnFailover) {
    return {
      reason: 'lagging',
      message: `lag ${lag} bytes exceeds maximum_lag_on_failover ${dynamic.maximumLagOnFailover}`,
    };
  }
  if (dynamic.checkTimeline && clusterTl !== null && (pg.timeline === null || pg.timeline < clusterTl)) {
    return { reason: 'timeline_behind', message: `timeline ${pg.timeline ?? 'unknown'} is behind the cluster's ${clusterTl}` };
  }
  const others = cluster.members
    .filter((member) => member.name !== settings.name && typeof member.data.api_url === 'string')
    .map((member) => ({ name: member.name, apiUrl: member.data.api_url as string }));
  const peers = others.length ? yield* perform('peers.probe', { members: others }) : [];
  const myPriority = failoverPriority(settings.tags);
  for (const peer of peers) {
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
  const { pg } = ctx;
  const renewed = yield* renewLock(ctx);
  if (!renewed) {
    if (pg.role === 'primary') return yield* demoteAfterLockLoss(ctx);
    return lockLost(ctx, 'failed to renew the leader lock');
  }
  const memory = { lockValidUntil: ctx.now + ctx.dynamic.timing.ttl * 1000, rewindArmed: false };
  if (pg.role !== 'primary') {
    const promoted = yield* perform('pg.promote', {});
    return {
      decision: promoted
        ? decision('promoted_holding_lock', 'promoted self to leader because I hold the leader lock')
        : decision('promotion_failed', 'holding the leader lock but promotion failed'),
      memory,
      postgresChanged: true,
      ...(promoted ? { role: 'primary' as const, wakeSoon: true } : {}),
    };
  }
  const published = yield* publishLeaderState(ctx);
  return {
    decision: decision('leader_lock_renewed', `no action: I am (${ctx.settings.name}) the leader with the lock`),
    memory: { ...memory, ...published },
  };
}

/** The lock holder keeps `status`, `history` and the members' replication slots current. */
function* publishLeaderState(ctx: Context): Generator<Effect, Partial<HaMemory>, unknown> {
  const { pg, cluster, settings, dynamic } = ctx;
  const optime = pg.walPosition ?? 0;
  let published: Partial<HaMemory> = {};
  if (optime > 0 && optime !== ctx.memory.lastPublishedOptime) {
    const written = yield* perform('dcs.writeStatus', {
      status: { optime, slots: cluster.status.slots, retainSlots: cluster.status.retainSlots },
    });
    if (written.ok) published = { lastPublishedOptime: optime };
  }
  if (dynamic.useSlots) {
    const names = cluster.members
      .filter((member) => member.name !== settings.name && !tagIsTrue(memberTags(member), 'nostream'))
      .map((member) => slotNameForMember(member.name));
    yield* perform('pg.syncSlots', { names });
  }
  if (pg.timeline !== null && pg.timeline > 1) {
    const lastRecorded = cluster.history?.lines.at(-1)?.[0] ?? 0;
    if (lastRecorded < pg.timeline - 1) {
      const lines = yield* perform('pg.timelineHistory', { timeline: pg.timeline });
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

function* follow(ctx: Context, leaderName: string, leaderMember: Member | null): Step {
  const { pg, memory } = ctx;
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
  const upstream = upstreamOf(leaderMember);
  if (!upstream) {
    return { decision: decision('waiting_for_leader_member', `waiting for ${leaderName} to publish its member data`) };
  }
  const leaderTimeline = typeof leaderMember?.data.timeline === 'number' ? leaderMember.data.timeline : null;
  if (memory.rewindArmed && leaderTimeline !== null && pg.timeline !== null && leaderTimeline > pg.timeline) {
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
  const memoryUpdate: Partial<HaMemory> = caughtUp ? { rewindArmed: false } : {};
  if (!followed) {
    return { decision: decision('follow_failed', `failed to point postgres at ${leaderName}`), memory: memoryUpdate };
  }
  if (followed.changed) {
    return {
      decision: decision(
        'following_new_leader',
        `following new leader ${leaderName}${followed.restarted ? ' (postgres restarted)' : ' (configuration reloaded)'}`,
      ),
      memory: memoryUpdate,
      postgresChanged: true,
    };
  }
  return {
    decision: decision('following_leader', `no action: I am (${ctx.settings.name}) a secondary, and following a leader (${leaderName})`),
    memory: memoryUpdate,
  };
}

function* renewLock(ctx: Context): Generator<Effect, boolean, unknown> {
  const renewed = yield* perform('dcs.renewLeader', {});
  return renewed.ok && renewed.value;
}

function* demoteAfterLockLoss(ctx: Context): Step {
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

/** host and port of a member from its conn_url. */
export function upstreamOf(member: Member | null | undefined): Upstream | null {
  const connUrl = member?.data.conn_url;
  if (!member || typeof connUrl !== 'string') return null;
  try {
    const url = new URL(connUrl);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    return { name: member.name, host, port: url.port ? Number(url.port) : 5432 };
  } catch {
    return null;
  }
}

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
  }
}

function roleOf(pg: PostgresObservation, memory: HaMemory): MemberRole {
  if (pg.dataDirectory !== 'initialized') return 'uninitialized';
  if (pg.running && pg.role) return pg.role;
  return memory.lastRole === 'primary' ? 'demoted' : (memory.lastRole ?? 'replica');
}

function stateOf(pg: PostgresObservation, task: TaskState | null, outcome: Outcome): PostgresState {
  if (task?.state === 'running') {
    switch (task.kind) {
      case 'bootstrap':
        return 'initializing new cluster';
      case 'clone':
      case 'reinitialize':
        return 'creating replica';
      case 'start':
        return 'starting';
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
  if (pg.pendingRestart) data.pending_restart = true;
  if (dynamic.pause) data.pause = true;
  if (Object.keys(settings.tags).length) data.tags = { ...settings.tags };
  return data;
}
