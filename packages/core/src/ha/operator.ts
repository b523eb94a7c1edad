/**
 * Operator requests checked before anything is written: the rules of `POST /switchover` and `/failover`
 * with Patroni's status codes and messages. Probing members is an effect, like in the cycle.
 */
import type { Cluster, Member } from '../model.js';
import { isNoFailover, memberTags } from '../model.js';
import { resolveDynamicConfig } from '../dynamic-config.js';
import type { Effect, PeerStatus } from './effects.js';
import { perform } from './effects.js';

export interface SwitchoverRequest {
  readonly action: 'switchover' | 'failover';
  readonly leader: string | null;
  readonly candidate: string | null;
  readonly scheduledAt: string | null;
}

export type SwitchoverVerdict =
  | {
      readonly ok: true;
      readonly action: 'switchover' | 'failover';
      readonly leader: string | null;
      readonly candidate: string | null;
      /** Normalised ISO-8601 time, or null for now. */
      readonly scheduledAt: string | null;
    }
  | { readonly ok: false; readonly status: 400 | 412 | 422; readonly message: string };

const TIMEZONE = /(?:Z|[+-]\d{2}(?::?\d{2})?)$/i;

/** Patroni's reading of a schedule: a timezone is mandatory, the past is refused. */
export function parseSchedule(
  schedule: string,
  action: string,
  now: number,
): { ok: true; at: number; iso: string } | { ok: false; status: 400 | 422; message: string } {
  const at = Date.parse(schedule);
  if (Number.isNaN(at)) {
    return { ok: false, status: 422, message: 'Unable to parse scheduled timestamp. It should be in an unambiguous format, e.g. ISO 8601' };
  }
  if (!TIMEZONE.test(schedule.trim())) return { ok: false, status: 400, message: `Timezone information is mandatory for the scheduled ${action}` };
  if (at < now) return { ok: false, status: 422, message: `Cannot schedule ${action} in the past` };
  return { ok: true, at, iso: new Date(at).toISOString() };
}

/** Why a member cannot take over, as Patroni words it, or null when it can. */
export function failoverLimitation(peer: PeerStatus): string | null {
  if (!peer.reachable || peer.state !== 'running') return 'not running';
  if (isNoFailover(peer.tags)) return 'not allowed to promote';
  if (peer.watchdogFailed) return 'not watchdog capable';
  return null;
}

export function* checkSwitchoverRequest(
  cluster: Cluster,
  request: SwitchoverRequest,
  now: number,
): Generator<Effect, SwitchoverVerdict, unknown> {
  const paused = cluster.config ? resolveDynamicConfig(cluster.config.data).pause : false;
  let { action } = request;
  const { leader, candidate } = request;
  const bad = (message: string): SwitchoverVerdict => ({ ok: false, status: 400, message });
  if (action === 'failover' && !candidate) return bad('Failover could be performed only to a specific candidate');
  if (action === 'switchover' && !leader) return bad('Switchover could be performed only from a specific leader');
  let scheduledAt: string | null = null;
  if (request.scheduledAt) {
    if (action === 'failover') return bad("Failover can't be scheduled");
    if (paused) return bad("Can't schedule switchover in the paused state");
    const parsed = parseSchedule(request.scheduledAt, action, now);
    if (!parsed.ok) return parsed;
    scheduledAt = parsed.iso;
  }
  if (paused && !candidate) return bad('Switchover is possible only to a specific candidate in a paused state');
  if (action === 'failover' && leader) action = 'switchover'; // a leader named: it is a switchover
  if (leader === candidate) return bad('Switchover target and source are the same');
  if (!scheduledAt) {
    const impossible = yield* failoverImpossible(cluster, leader, candidate, action);
    if (impossible) return { ok: false, status: 412, message: impossible };
  }
  return { ok: true, action, leader, candidate, scheduledAt };
}

function* failoverImpossible(
  cluster: Cluster,
  leader: string | null,
  candidate: string | null,
  action: string,
): Generator<Effect, string | null, unknown> {
  if (leader && cluster.leader?.name !== leader) return 'leader name does not match';
  const dynamic = cluster.config ? resolveDynamicConfig(cluster.config.data) : null;
  const prioritySync = dynamic?.synchronousMode === 'on';
  const isSync = (name: string) => (cluster.sync?.syncStandby ?? []).some((standby) => standby.toLowerCase() === name.toLowerCase());
  let members: readonly Member[];
  if (candidate) {
    if (action === 'switchover' && prioritySync && !isSync(candidate)) return 'candidate name does not match with sync_standby';
    members = cluster.members.filter((member) => member.name === candidate);
    if (!members.length) return 'candidate does not exists';
  } else if (prioritySync) {
    members = cluster.members.filter((member) => isSync(member.name));
    if (!members.length) return `${action} is not possible: can not find sync_standby`;
  } else {
    members = cluster.members.filter((member) => member.name !== cluster.leader?.name && typeof member.data.api_url === 'string');
    if (!members.length) return `${action} is not possible: cluster does not have members except leader`;
  }
  const probes = members
    .filter((member) => typeof member.data.api_url === 'string' && !isNoFailover(memberTags(member)))
    .map((member) => ({ name: member.name, apiUrl: member.data.api_url as string }));
  const statuses = probes.length ? yield* perform('peers.probe', { members: probes }) : [];
  if (statuses.some((status) => failoverLimitation(status) === null)) return null;
  return `${action} is not possible: no good candidates have been found`;
}
