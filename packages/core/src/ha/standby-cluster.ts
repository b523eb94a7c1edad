/**
 * Standby clusters and cascading replication: whom this member replicates from.
 *
 * A standby cluster (`standby_cluster` in the `config` key) has a leader lock like any cluster, but its holder,
 * the standby leader, never promotes: it replicates from a remote primary and the other members replicate from
 * it. Removing `standby_cluster` from the config promotes it; adding it to a running cluster demotes the primary
 * into a standby leader (`demote-cluster`). Cascading: a replica tagged `replicatefrom: <member>` streams from
 * that member instead of the leader; one tagged `nostream` does not stream at all (WAL from the archive only).
 */
import type { Cluster, Member, Tags } from '../model.js';
import { memberTags, tagIsTrue } from '../model.js';
import type { PostgresObservation, Upstream } from '../postgres.js';
import type { DecisionReason } from './decision.js';
import type { Effect } from './effects.js';
import { perform } from './effects.js';

/** The `standby_cluster` section of the dynamic configuration, as the HA rules use it. */
export interface StandbyClusterConfig {
  /** Host (or comma-separated hosts) of the remote primary; null: no streaming, restore_command only. */
  readonly host: string | null;
  readonly port: number | null;
  /** Slot on the remote primary to stream through; null: none. */
  readonly primarySlotName: string | null;
  readonly restoreCommand: string | null;
  readonly archiveCleanupCommand: string | null;
  readonly recoveryMinApplyDelay: string | number | null;
  /** How the standby leader is created; null: the local `create_replica_methods` (default basebackup). */
  readonly createReplicaMethods: readonly string[] | null;
}

/** Name the remote primary goes by in decisions and progress (it is no member of this cluster). */
export const REMOTE_MEMBER_NAME = 'remote_member';

function text(value: unknown): string | null {
  if (typeof value === 'string') return value.trim() === '' ? null : value;
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return null;
}

/**
 * The section when it makes this a standby cluster: a mapping with a host, a port or a restore_command (as Patroni
 * decides); null otherwise, also for `standby_cluster: null`, which is how an operator promotes the cluster.
 */
export function standbyClusterOf(configData: Readonly<Record<string, unknown>> | null | undefined): StandbyClusterConfig | null {
  const raw = configData?.['standby_cluster'];
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return null;
  const section = raw as Record<string, unknown>;
  const host = text(section['host']);
  const portText = text(section['port']);
  const port = portText !== null && Number.isInteger(Number(portText)) ? Number(portText) : null;
  const restoreCommand = text(section['restore_command']);
  if (host === null && port === null && restoreCommand === null) return null;
  const methods = section['create_replica_methods'];
  const delay = section['recovery_min_apply_delay'];
  return {
    host,
    port,
    primarySlotName: text(section['primary_slot_name']),
    restoreCommand,
    archiveCleanupCommand: text(section['archive_cleanup_command']),
    recoveryMinApplyDelay: typeof delay === 'number' || (typeof delay === 'string' && delay.trim() !== '') ? delay : null,
    createReplicaMethods: Array.isArray(methods) ? methods.filter((method): method is string => typeof method === 'string') : null,
  };
}

/** The recovery settings a standby cluster adds to whatever its members follow. */
function standbyRecovery(standby: StandbyClusterConfig): Pick<Upstream, 'restoreCommand' | 'archiveCleanupCommand' | 'recoveryMinApplyDelay'> {
  return {
    ...(standby.restoreCommand !== null ? { restoreCommand: standby.restoreCommand } : {}),
    ...(standby.archiveCleanupCommand !== null ? { archiveCleanupCommand: standby.archiveCleanupCommand } : {}),
    ...(standby.recoveryMinApplyDelay !== null ? { recoveryMinApplyDelay: standby.recoveryMinApplyDelay } : {}),
  };
}

/**
 * What the standby leader follows: the remote primary with its slot (none unless `primary_slot_name` is set) and
 * the recovery settings. Without a host the upstream has an empty host: recovery from restore_command only.
 */
export function remoteUpstream(standby: StandbyClusterConfig): Upstream {
  return {
    name: REMOTE_MEMBER_NAME,
    host: standby.host ?? '',
    port: standby.port ?? 5432,
    slotName: standby.primarySlotName,
    ...standbyRecovery(standby),
  };
}

/** The remote primary can be cloned from (the standby leader's basebackup) only when it has a host. */
export function remoteCloneSource(standby: StandbyClusterConfig): Upstream | null {
  return standby.host === null ? null : remoteUpstream(standby);
}

/** host and port of a member from its conn_url. */
export function memberUpstream(member: Member | null | undefined): Upstream | null {
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

/** A member another one may stream from: running, and a primary or a replica that streams itself. */
export function canCascadeFrom(member: Member): boolean {
  if (member.data.state !== 'running') return false;
  if (member.data.role === 'primary' || member.data.role === 'master' || member.data.role === 'standby_leader') return true;
  // A replica that lost its own stream would hand on stale WAL, or none: follow the leader instead.
  return member.data.replication_state === undefined || member.data.replication_state === 'streaming';
}

export function replicateFromTag(tags: Tags): string | null {
  const value = tags['replicatefrom'];
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

export interface NodeToFollowInput {
  readonly cluster: Cluster;
  readonly name: string;
  readonly tags: Tags;
  readonly standby: StandbyClusterConfig | null;
  readonly paused: boolean;
}

export type NodeToFollow =
  /** Stream from (or, with an empty host, restore for) this upstream; null: no upstream (nostream). */
  | { readonly kind: 'upstream'; readonly upstream: Upstream | null; readonly why: FollowWhy }
  /** The member to follow has not published where it listens yet. */
  | { readonly kind: 'unknown'; readonly member: string };

export type FollowWhy = 'nostream' | 'remote_primary' | 'replicatefrom' | 'replicatefrom_fallback' | 'leader';

/**
 * Whom a member replicates from: nobody with `nostream`; the remote primary when it holds the lock of a standby
 * cluster (or nobody does, unpaused); the `replicatefrom` member while it runs and streams, else the leader.
 * In a standby cluster every member also gets the section's restore_command and apply delay.
 */
export function nodeToFollow(input: NodeToFollowInput): NodeToFollow {
  const { cluster, name, tags, standby } = input;
  if (tagIsTrue(tags, 'nostream')) return { kind: 'upstream', upstream: null, why: 'nostream' };
  const leaderName = cluster.leader?.name ?? null;
  if (standby && (leaderName === name || (leaderName === null && !input.paused))) {
    return { kind: 'upstream', upstream: remoteUpstream(standby), why: 'remote_primary' };
  }
  const extra = standby ? standbyRecovery(standby) : {};
  const wanted = replicateFromTag(tags);
  let why: FollowWhy = 'leader';
  if (wanted !== null && wanted !== name) {
    const member = cluster.members.find((candidate) => candidate.name === wanted);
    if (member && canCascadeFrom(member)) {
      const upstream = memberUpstream(member);
      if (upstream) return { kind: 'upstream', upstream: { ...upstream, ...extra }, why: 'replicatefrom' };
    }
    why = 'replicatefrom_fallback';
  }
  if (!cluster.leader || leaderName === name) return { kind: 'upstream', upstream: null, why };
  const upstream = memberUpstream(cluster.leader.member);
  if (!upstream) return { kind: 'unknown', member: cluster.leader.name };
  return { kind: 'upstream', upstream: { ...upstream, ...extra }, why };
}

/**
 * Members that stream from `name`: those tagged `replicatefrom: <name>` whose tag is honoured now, never
 * `nostream` ones. The slot module keeps a slot for each on `name` (and none on the leader for them).
 */
export function cascadingReplicasOf(cluster: Cluster, name: string): string[] {
  const source = cluster.members.find((member) => member.name === name);
  if (!source || !canCascadeFrom(source)) return [];
  return cluster.members
    .filter((member) => member.name !== name && !tagIsTrue(memberTags(member), 'nostream') && replicateFromTag(memberTags(member)) === name)
    .map((member) => member.name);
}

/** What the HA cycle passes to the standby-leader step. */
export interface StandbyLeaderInput {
  readonly name: string;
  readonly pg: PostgresObservation;
  readonly standby: StandbyClusterConfig;
  /** primary_start_timeout, seconds: how long the restart as standby leader may take. */
  readonly startTimeout: number;
  /** Last cycle's role: `standby_leader` means nothing changed hands. */
  readonly lastRole: string | null;
  /** `use_pg_rewind`: a demoted primary is rewound onto the remote primary's timeline before it follows it. */
  readonly usePgRewind: boolean;
}

export interface StandbyLeaderStep {
  readonly reason: DecisionReason;
  readonly message: string;
  /** PostgreSQL was acted on. */
  readonly postgresChanged: boolean;
  /** We stopped PostgreSQL on purpose (demote-cluster); a start task follows. */
  readonly stopped: boolean;
  /** The data directory was a primary: a later follow of a new leader may need a rewind. */
  readonly wasPrimary: boolean;
}

/**
 * The lock holder of a standby cluster, lock renewed: a running primary (the operator added `standby_cluster`)
 * stops cleanly and starts again following the remote primary, keeping the lock; a standby is pointed at the
 * remote primary, reloading or restarting only when its recovery settings change.
 */
export function* standbyLeaderStep(input: StandbyLeaderInput): Generator<Effect, StandbyLeaderStep, unknown> {
  const { pg, standby } = input;
  const upstream = remoteUpstream(standby);
  const where = describeRemote(standby);
  if (pg.role === 'primary') {
    // Fast, not immediate: the shutdown checkpoint reaches the archive and our replicas before we follow elsewhere.
    yield* perform('pg.stop', { mode: 'fast' });
    // The remote primary is often a former standby cluster of ours, promoted: our timeline went on past the point
    // where its timeline forked off, and streaming could never resume. pg_rewind finds out (and does nothing when
    // there is no divergence); the rewind task then starts us following the remote primary.
    const rewindSource = input.usePgRewind ? remoteCloneSource(standby) : null;
    yield* perform('task.start', {
      task: rewindSource ? { kind: 'rewind', source: rewindSource } : { kind: 'start', role: 'replica', upstream, timeout: input.startTimeout },
    });
    yield* perform('callback.run', { action: 'on_role_change', role: 'standby_leader' });
    return {
      reason: 'demoting_to_standby_cluster',
      message: `demoting to a standby cluster: ${rewindSource ? 'rewinding onto and ' : ''}restarting as standby leader following ${where}`,
      postgresChanged: true,
      stopped: true,
      wasPrimary: true,
    };
  }
  const followed = yield* perform('pg.follow', { upstream });
  if (!followed) {
    return { reason: 'follow_failed', message: `failed to point the standby leader at ${where}`, postgresChanged: false, stopped: false, wasPrimary: false };
  }
  const promotedNow = input.lastRole !== 'standby_leader';
  if (promotedNow) yield* perform('callback.run', { action: 'on_role_change', role: 'standby_leader' });
  if (followed.changed || promotedNow) {
    return {
      reason: 'standby_leader_following_remote',
      message: `promoted self to a standby leader: following ${where}${followed.changed ? (followed.restarted ? ' (postgres restarted)' : ' (configuration reloaded)') : ''}`,
      postgresChanged: followed.changed,
      stopped: false,
      wasPrimary: false,
    };
  }
  return {
    reason: 'standby_leader_lock_renewed',
    message: `no action: I am (${input.name}) the standby leader with the lock, following ${where}`,
    postgresChanged: false,
    stopped: false,
    wasPrimary: false,
  };
}

export function describeRemote(standby: StandbyClusterConfig): string {
  if (standby.host === null) return 'the archive (restore_command)';
  return `the remote primary ${standby.host}:${standby.port ?? 5432}`;
}

/** Log wording for a follow decision: which member and why that one. */
export function describeFollow(target: Extract<NodeToFollow, { kind: 'upstream' }>, leaderName: string): string {
  switch (target.why) {
    case 'nostream':
      return 'no upstream (nostream: WAL from the archive only)';
    case 'remote_primary':
      return target.upstream ? `${target.upstream.host}:${target.upstream.port} (remote primary)` : 'the remote primary';
    case 'replicatefrom':
      return `${target.upstream?.name ?? '?'} (replicatefrom)`;
    case 'replicatefrom_fallback':
      return `${leaderName} (replicatefrom member not streaming: falling back to the leader)`;
    case 'leader':
      return leaderName;
  }
}
