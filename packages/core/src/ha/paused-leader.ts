/**
 * Racing for an expired lock is safe because a leader that loses the DCS demotes before its lease runs out. A
 * paused leader does not: pause means no automatic action, so its primary keeps running cut off from the store,
 * or after its agent was stopped, and it may never hear of a resume. When the lock vanishes from a leader that
 * believed the cluster paused, the others race only once that former leader is seen not running as primary, or
 * when the operator names a failover candidate after the lock was gone.
 *
 * Two sources tell who such a leader was:
 * - the `status` key: a pgwarden leader adds `paused_leader` (its name and REST URL) to it while it believes the
 *   cluster paused; the key outlives the lock, so agents started afterwards know too (a Patroni leader never
 *   writes it);
 * - memory: each member remembers whether the lock holder's member key last said `pause: true` (Patroni's
 *   members write it too), which covers a Patroni leader in a mixed cluster.
 * A leader cut off in the very cycle it first reads the pause may have published neither; that window is one
 * cycle long, and the simulator has not hit it.
 */
import type { Failover, Member, PausedLeader, ValueVersion } from '../model.js';
import type { PeerStatus } from './effects.js';
import type { IneligibleReason } from './decision.js';

export interface PausedLeaderMemory {
  /** The lock holder seen on the last cycle with a leader, and whether its member key said it was paused. */
  readonly lastLeader: (PausedLeader & { readonly paused: boolean }) | null;
  /** A former leader that may still believe the cluster paused, kept until a leader appears (the race asks it first). */
  readonly suspect: PausedLeader | null;
  /** The `failover` key's version while a leader still held the lock: a request to that leader, not an override. */
  readonly failoverWithLeader: ValueVersion | null;
}

export const EMPTY_PAUSED_LEADER_MEMORY: PausedLeaderMemory = { lastLeader: null, suspect: null, failoverWithLeader: null };

/** What the lock holder publishes in `status`: itself while it believes the cluster paused, else nothing. */
export function pausedLeaderMark(paused: boolean, name: string, apiUrl: string): PausedLeader | null {
  return paused ? { name, apiUrl } : null;
}

export function sameMark(a: PausedLeader | null | undefined, b: PausedLeader | null | undefined): boolean {
  return (a?.name ?? null) === (b?.name ?? null) && (a?.apiUrl ?? null) === (b?.apiUrl ?? null);
}

/** Updates the memory from one reading of the cluster: a holder last seen paused becomes a suspect when its lock goes. */
export function observePausedLeader(
  memory: PausedLeaderMemory,
  view: { readonly leader: string | null; readonly members: readonly Member[]; readonly failover: Failover | null },
): PausedLeaderMemory {
  if (view.leader !== null) {
    const holder = view.members.find((member) => member.name === view.leader);
    const apiUrl = typeof holder?.data.api_url === 'string' ? holder.data.api_url : null;
    return {
      lastLeader: { name: view.leader, apiUrl, paused: holder?.data.pause === true },
      suspect: null,
      failoverWithLeader: view.failover?.version ?? null,
    };
  }
  if (memory.lastLeader === null) return memory;
  const { name, apiUrl, paused } = memory.lastLeader;
  return { ...memory, lastLeader: null, suspect: paused ? { name, apiUrl } : memory.suspect };
}

/** The former leaders this member must hear from before racing (not itself: it knows its own state). */
export function formerPausedLeaders(me: string, mark: PausedLeader | null | undefined, suspect: PausedLeader | null): PausedLeader[] {
  const found: PausedLeader[] = [];
  for (const candidate of [mark, suspect]) {
    if (!candidate || candidate.name === me || found.some((known) => known.name === candidate.name)) continue;
    found.push(candidate);
  }
  return found;
}

/**
 * A manual failover (a candidate, no leader named) asked for once the lock was gone is the operator taking
 * responsibility for the former leader: it lifts the wait. One asked for while a leader still held the lock was
 * addressed to that leader, which may never have seen it.
 */
export function operatorForcedFailover(failover: Failover | null, memory: PausedLeaderMemory | undefined): boolean {
  if (failover === null || failover.candidate === null || failover.leader !== null) return false;
  return failover.version !== (memory?.failoverWithLeader ?? null);
}

/** Demoted, stopped or crashed: not writable. Anything else, including no answer, may still be a primary. */
export function seenNotPrimary(peer: PeerStatus | undefined): boolean {
  if (!peer?.reachable) return false;
  if (peer.role !== 'primary' && peer.role !== 'master') return true;
  return peer.state === 'stopped' || peer.state === 'crashed' || peer.state === 'start failed';
}

/** Why this member must not race yet, or null once every former paused leader was seen not running as primary. */
export function pausedLeaderVerdict(
  formerLeaders: readonly PausedLeader[],
  peers: readonly PeerStatus[],
): { reason: IneligibleReason; message: string } | null {
  for (const former of formerLeaders) {
    const peer = peers.find((candidate) => candidate.name === former.name);
    if (seenNotPrimary(peer)) continue;
    const seen = peer?.reachable ? 'still answers as primary' : 'does not answer';
    return {
      reason: 'paused_leader_unconfirmed',
      message:
        `${former.name} held the lock while the cluster was paused and ${seen}: it may still run as primary ` +
        '(start its agent, or run "pgwardenctl failover --candidate <member>" to promote anyway)',
    };
  }
  return null;
}
