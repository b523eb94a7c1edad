/**
 * Quorum commit in the HA cycle: the primary's writes (planned by `resolveQuorum`), the GUC a candidate sets
 * before promoting, and the leader race rule (a candidate needs `quorum` votes from the `sync` key's members).
 */
import type { Cluster } from '../model.js';
import { failoverPriority, isNoFailover, memberTags } from '../model.js';
import type { PostgresObservation } from '../postgres.js';
import type { DynamicConfig } from '../dynamic-config.js';
import type { IneligibleReason } from './decision.js';
import type { Effect, PeerStatus } from './effects.js';
import { perform } from './effects.js';
import type { QuorumGuc } from './quorum.js';
import { resolveQuorum } from './quorum.js';
import { confirmedSyncStandbys, formatSyncStandbyNames, parseSyncStandbyNames, syncCandidates } from './sync.js';

export interface QuorumCycleInput {
  readonly cluster: Cluster;
  readonly pg: PostgresObservation;
  readonly dynamic: DynamicConfig;
  readonly me: string;
  /** The primary's position when synchronous_standby_names last changed (HaMemory.syncChangedAtLsn). */
  readonly syncChangedAtLsn: number | null;
}

export interface QuorumCycleOutcome {
  /** Set when synchronous_standby_names changed (the new reference position), or to ask for an early next cycle. */
  readonly syncChangedAtLsn?: number | null;
  readonly note: string;
}

/** Quorum mode is in force: requested, and the primary recorded itself in the `sync` key. */
export function quorumCommitActive(dynamic: DynamicConfig, cluster: Cluster): boolean {
  return dynamic.synchronousMode === 'quorum' && Boolean(cluster.sync?.leader);
}

function formatQuorumGuc(guc: QuorumGuc, strict: boolean): string | null {
  return formatSyncStandbyNames(guc.names, { quorum: true, strict, num: guc.numSync > 0 ? guc.numSync : 1 });
}

/** The member names (as members spell them) a GUC value lists. */
function gucOf(value: string | null, cluster: Cluster): QuorumGuc & { quorumType: boolean } {
  const parsed = parseSyncStandbyNames(value);
  const spelled = new Map(cluster.members.map((member) => [member.name.toLowerCase(), member.name] as const));
  const names = [...parsed.members].map((name) => spelled.get(name) ?? name);
  return { numSync: names.length ? Math.min(parsed.num, names.length) : 0, names, quorumType: parsed.quorum };
}

/**
 * The primary's quorum bookkeeping for one cycle: take the `sync` key if it is missing, then carry out the
 * resolver's plan in order, stopping at the first write that fails (the next cycle starts from what is there).
 */
export function* manageQuorumReplication(input: QuorumCycleInput): Generator<Effect, QuorumCycleOutcome, unknown> {
  const { cluster, pg, dynamic, me } = input;
  const strict = dynamic.synchronousModeStrict;
  let sync = cluster.sync;
  let version = sync?.version ?? null;
  let key = { leader: sync?.leader ?? null, quorum: sync?.quorum ?? 0, voters: sync?.syncStandby ?? [] };
  if (!sync?.leader) {
    const written = yield* perform('dcs.setSync', { value: { leader: me, syncStandby: [], quorum: 0 }, expected: version });
    if (!written.ok || written.value === false) return { note: 'could not take the sync key' };
    version = written.value;
    key = { leader: me, quorum: 0, voters: [] };
    sync = null;
  }
  const voters = new Set(key.voters);
  const candidates = syncCandidates(cluster, pg, dynamic, voters);
  const byName = new Map(cluster.members.map((member) => [member.name, member] as const));
  // Members that cannot be promoted only when too few others qualify: their vote in a race counts for nothing.
  const active: string[] = [];
  for (const name of candidates) {
    const member = byName.get(name);
    const promotable = member ? !isNoFailover(memberTags(member)) : false;
    if (promotable || active.length < dynamic.synchronousNodeCount) active.push(name);
  }
  const current = gucOf(pg.synchronousStandbyNames, cluster);
  const plan = resolveQuorum({
    me,
    key,
    guc: current,
    confirmed: confirmedSyncStandbys(pg, input.syncChangedAtLsn, cluster),
    active,
    wanted: dynamic.synchronousNodeCount,
    strict,
  });
  let runningValue = pg.synchronousStandbyNames;
  let changedAt: number | null | undefined;
  for (const step of plan.transitions) {
    if (step.kind === 'key') {
      const written = yield* perform('dcs.setSync', {
        value: { leader: step.leader, syncStandby: step.voters, quorum: step.quorum },
        expected: version,
      });
      if (!written.ok || written.value === false) return { note: 'the sync key changed under us', ...(changedAt !== undefined ? { syncChangedAtLsn: changedAt } : {}) };
      version = written.value;
      continue;
    }
    const value = formatQuorumGuc(step, strict);
    if (value === runningValue) continue;
    yield* perform('pg.setSyncStandbyNames', { value });
    runningValue = value;
    // The reference point is taken after the change: commits acknowledged before it are all below it.
    const after = yield* perform('pg.observe', {});
    changedAt = after.walPosition ?? pg.walPosition ?? 0;
  }
  if (plan.transitions.length === 0 && current.names.length > 0 && !current.quorumType) {
    // Switched from priority mode: the same standbys, now as ANY (any k of S is what the key assumes).
    const value = formatQuorumGuc(current, strict);
    if (value !== runningValue) {
      yield* perform('pg.setSyncStandbyNames', { value });
      const after = yield* perform('pg.observe', {});
      changedAt = after.walPosition ?? pg.walPosition ?? 0;
    }
  }
  if (changedAt !== undefined) return { syncChangedAtLsn: changedAt, note: plan.note };
  // Waiting for a confirmation: look again soon rather than after loop_wait.
  if (plan.note.startsWith('waiting')) return { syncChangedAtLsn: input.syncChangedAtLsn, note: plan.note };
  return { note: plan.note };
}

/**
 * synchronous_standby_names for a candidate about to promote in quorum mode: `ANY n` over the old voters and the
 * old leader (without us), with n large enough that what the new primary acknowledges reaches every quorum of the
 * key as it stands until the new primary rewrites it.
 */
export function quorumPrePromoteValue(cluster: Cluster, me: string, dynamic: DynamicConfig): string | null {
  const sync = cluster.sync;
  const quorum = quorumCommitActive(dynamic, cluster) ? (sync?.quorum ?? 0) : 0;
  const members = sync?.leader ? [sync.leader, ...sync.syncStandby] : [];
  const lower = me.toLowerCase();
  const others = members.filter((name) => name.toLowerCase() !== lower);
  // A promoted non-voter adds one more name the key does not count: one more acknowledgement is needed.
  let numSync = members.length - quorum - 1 + (others.length === members.length ? 1 : 0);
  numSync = Math.max(numSync, dynamic.synchronousModeStrict ? 1 : 0);
  numSync = Math.min(numSync, Math.max(others.length, dynamic.synchronousModeStrict ? 1 : 0));
  if (others.length === 0 && !dynamic.synchronousModeStrict) return null;
  return formatSyncStandbyNames(others, { quorum: true, strict: dynamic.synchronousModeStrict, num: Math.max(1, numSync) });
}

/**
 * The quorum rule of the leader race, after the usual checks: any reachable member ahead of us wins (the former
 * leader excepted: it may be back as a replica with WAL nobody acknowledged); a member of the `sync` key that is
 * not ahead is a vote, and we need `quorum` of them (counting ourselves as one when we are a member). The former
 * leader may take the lock back alone when nobody is ahead.
 */
export function quorumRaceVerdict(
  peers: readonly PeerStatus[],
  options: { readonly cluster: Cluster; readonly me: string; readonly myPosition: number; readonly myPriority: number },
): { reason: IneligibleReason; message: string } | null {
  const sync = options.cluster.sync;
  const leader = sync?.leader?.toLowerCase() ?? null;
  const votingSet = new Set([...(sync?.leader ? [sync.leader] : []), ...(sync?.syncStandby ?? [])].map((name) => name.toLowerCase()));
  const quorum = sync?.quorum ?? 0;
  // A member outside the voters needs one vote more: counting from -1 says the same.
  const iVote = votingSet.has(options.me.toLowerCase());
  let votes = iVote ? 0 : -1;
  let ahead = 0;
  for (const peer of peers) {
    if (!peer.reachable) continue;
    if (peer.role === 'primary' || peer.role === 'master') {
      return { reason: 'peer_is_primary', message: `${peer.name} is running as primary` };
    }
    if (isNoFailover(peer.tags) || peer.watchdogFailed) continue;
    const name = peer.name.toLowerCase();
    if (peer.walPosition > options.myPosition) {
      ahead++;
      if (name !== leader) return { reason: 'peer_ahead', message: `${peer.name} is ahead (${peer.walPosition} > ${options.myPosition})` };
      continue;
    }
    if (peer.walPosition <= 0) continue;
    const voter = votingSet.has(name);
    if (voter && name !== leader && peer.walPosition === options.myPosition && failoverPriority(peer.tags) > options.myPriority) {
      return { reason: 'peer_preferred', message: `${peer.name} is as far and has a higher failover_priority` };
    }
    if (voter) votes++;
  }
  if (votes >= quorum) return null;
  if (ahead === 0 && leader === options.me.toLowerCase()) return null;
  return {
    reason: 'quorum_not_reached',
    message: `quorum commit: ${votes + (iVote ? 0 : 1)} of the ${quorum + (iVote ? 0 : 1)} votes needed from the sync key's members`,
  };
}
