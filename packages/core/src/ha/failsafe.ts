/**
 * DCS failsafe mode (`failsafe_mode` in the dynamic configuration), as Patroni 4 behaves:
 * - the leader publishes the `failsafe` key: `{name: api_url}` of every member, itself included;
 * - a primary that cannot reach the store keeps running only while every other member of that key accepts its
 *   `POST /failsafe` (a replica accepts unless it runs as a primary itself);
 * - a replica that received such a POST less than ttl ago treats the sender as the leader when the store shows
 *   no leader, so it follows the primary instead of racing for the lock.
 * Pure rules only; the agent does the HTTP.
 */
import type { DynamicConfig } from '../dynamic-config.js';
import type { Cluster, Leader, Member } from '../model.js';
import type { PostgresObservation } from '../postgres.js';
import { slotNameForMember } from '../postgres.js';
import type { CycleInput, HaMemory, HaSettings } from './cycle.js';
import type { Decision } from './decision.js';
import { decision } from './decision.js';
import type { Effect } from './effects.js';
import { perform } from './effects.js';

/** The body of `POST /failsafe`, field for field as Patroni sends it. */
export interface FailsafePayload {
  readonly name: string;
  readonly conn_url: string;
  readonly api_url: string;
  /** Slot name -> LSN on the primary (its own name with its WAL position included); absent when unknown. */
  readonly slots?: Readonly<Record<string, number>>;
}

/** What one member answered to `POST /failsafe`. */
export interface FailsafeAck {
  readonly name: string;
  /** 200 with the body `Accepted`. */
  readonly accepted: boolean;
  /** Its received/replayed position from the `lsn` header, bytes. */
  readonly lsn: number | null;
}

/** A `POST /failsafe` this member accepted: the primary that sent it, and when (ms since the epoch). */
export interface FailsafeContact {
  readonly payload: FailsafePayload;
  readonly receivedAt: number;
}

/** `failsafe_mode` from the dynamic configuration (booleans and Patroni's boolean strings). */
export function failsafeModeEnabled(configData: Readonly<Record<string, unknown>> | null | undefined): boolean {
  const value = configData?.['failsafe_mode'];
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') return ['true', 'on', 'yes', '1'].includes(value.toLowerCase());
  return false;
}

/** The value the leader writes into `failsafe`: every member with an api_url, and always itself. */
export function failsafeTopology(
  members: readonly Member[],
  self: { readonly name: string; readonly apiUrl: string },
): Record<string, string> {
  const topology: Record<string, string> = {};
  for (const member of members) {
    if (typeof member.data.api_url === 'string' && member.data.api_url) topology[member.name] = member.data.api_url;
  }
  if (!(self.name in topology)) topology[self.name] = self.apiUrl;
  return topology;
}

/** The key needs writing: its stored value differs from what it should hold (written only on change, as Patroni). */
export function failsafeKeyOutdated(stored: Readonly<Record<string, string>> | null, wanted: Readonly<Record<string, string>>): boolean {
  if (!stored) return true;
  const storedNames = Object.keys(stored);
  const wantedNames = Object.keys(wanted);
  return storedNames.length !== wantedNames.length || wantedNames.some((name) => stored[name] !== wanted[name]);
}

/** What a primary without the store sends to the members of the failsafe topology. */
export function failsafePayload(
  self: { readonly name: string; readonly connUrl: string; readonly apiUrl: string },
  pg: PostgresObservation,
): FailsafePayload {
  const position = pg.walPosition;
  return {
    name: self.name,
    conn_url: self.connUrl,
    api_url: self.apiUrl,
    ...(position !== null && position > 0 ? { slots: { [slotNameForMember(self.name)]: position } } : {}),
  };
}

/**
 * Whom a primary without the store must hear from: everyone in the last known `failsafe` key but itself.
 * null when it may not run on failsafe at all: no key known, or it is not listed in it.
 */
export function failsafePeers(
  topology: Readonly<Record<string, string>> | null,
  self: string,
): Array<{ name: string; apiUrl: string }> | null {
  if (!topology || !Object.hasOwn(topology, self)) return null;
  return Object.entries(topology)
    .filter(([name]) => name !== self)
    .map(([name, apiUrl]) => ({ name, apiUrl }));
}

/** Every member of the topology accepted (no answer, an error or a refusal from any one of them is a no). */
export function allAccepted(peers: ReadonlyArray<{ name: string }>, acks: readonly FailsafeAck[]): boolean {
  return peers.every((peer) => acks.some((ack) => ack.name === peer.name && ack.accepted));
}

/** The first member that did not accept, for the log line. */
export function firstRefusal(peers: ReadonlyArray<{ name: string }>, acks: readonly FailsafeAck[]): string | null {
  return peers.find((peer) => !acks.some((ack) => ack.name === peer.name && ack.accepted))?.name ?? null;
}

/** Failsafe is active while the last confirmation (the primary's own, or a POST a replica accepted) is younger than ttl. */
export function failsafeActive(since: number | null, now: number, ttlSeconds: number): boolean {
  return since !== null && now - since < ttlSeconds * 1000;
}

/** The answer to `POST /failsafe`: a running primary refuses ("Running as a leader"); anyone else accepts. */
export type FailsafeAnswer =
  | { readonly accepted: true; readonly lsn: number | null }
  | { readonly accepted: false; readonly message: string };

export function answerFailsafePost(pg: PostgresObservation | null): FailsafeAnswer {
  if (pg?.running && pg.accepting && pg.role === 'primary') return { accepted: false, message: 'Running as a leader' };
  const lsn = pg ? Math.max(pg.receiveLsn ?? 0, pg.replayLsn ?? 0) || null : null;
  return { accepted: true, lsn };
}

/** Validates a `POST /failsafe` body: name, conn_url and api_url strings; slots an object of numbers when present. */
export function parseFailsafePayload(body: Readonly<Record<string, unknown>>): { ok: true; payload: FailsafePayload } | { ok: false; reason: string } {
  const name = body['name'];
  const connUrl = body['conn_url'];
  const apiUrl = body['api_url'];
  if (typeof name !== 'string' || !name) return { ok: false, reason: 'name must be a non-empty string' };
  if (typeof connUrl !== 'string') return { ok: false, reason: 'conn_url must be a string' };
  if (typeof apiUrl !== 'string') return { ok: false, reason: 'api_url must be a string' };
  const slots = body['slots'];
  if (slots === undefined || slots === null) return { ok: true, payload: { name, conn_url: connUrl, api_url: apiUrl } };
  if (typeof slots !== 'object' || Array.isArray(slots)) return { ok: false, reason: 'slots must be an object' };
  const parsed: Record<string, number> = {};
  for (const [slot, lsn] of Object.entries(slots as Record<string, unknown>)) {
    if (typeof lsn !== 'number' || !Number.isFinite(lsn)) return { ok: false, reason: `slots.${slot} must be a number` };
    parsed[slot] = lsn;
  }
  return { ok: true, payload: { name, conn_url: connUrl, api_url: apiUrl, slots: parsed } };
}

/**
 * The store shows no leader but a primary told us (less than ttl ago) it runs on failsafe: put it in as the
 * leader, with an empty version, so this member follows it instead of racing for the lock.
 */
export function withFailsafeLeader(cluster: Cluster, self: string, contact: FailsafeContact | null, now: number, ttlSeconds: number): Cluster {
  if (cluster.leader || !contact || contact.payload.name === self || !failsafeActive(contact.receivedAt, now, ttlSeconds)) return cluster;
  const { payload } = contact;
  const member: Member = {
    name: payload.name,
    version: '',
    data: { conn_url: payload.conn_url, api_url: payload.api_url, state: 'running', role: 'primary' },
  };
  const leader: Leader = { name: payload.name, version: '', member };
  return { ...cluster, leader };
}

/**
 * Who takes part in the leader race because the `failsafe` key lists them (a primary cut off from the store
 * lost its member key, yet must be asked before anyone promotes). null: the key is not empty and does not list
 * me, so I must not race. A missing or empty key changes nothing.
 */
export function failsafeRaceMembers(
  topology: Readonly<Record<string, string>> | null,
  self: string,
): Array<{ name: string; apiUrl: string }> | null {
  if (!topology || Object.keys(topology).length === 0) return [];
  return failsafePeers(topology, self);
}

/** The leader's part, after each renewal with failsafe_mode on: keep the `failsafe` key equal to the members. */
export function* publishFailsafeTopology(
  cluster: Cluster,
  settings: Pick<HaSettings, 'name' | 'apiUrl'>,
  configData: Readonly<Record<string, unknown>> | null,
): Generator<Effect, Partial<HaMemory>, unknown> {
  // Off: the key is left as it is, as Patroni does; nothing reads it while the mode is off.
  if (!failsafeModeEnabled(configData ?? cluster.config?.data)) return {};
  const wanted = failsafeTopology(cluster.members, settings);
  if (!failsafeKeyOutdated(cluster.failsafe, wanted)) return {};
  const written = yield* perform('dcs.writeFailsafe', { members: wanted });
  return written.ok && written.value ? { failsafeTopology: wanted } : {};
}

export type FailsafeVerdict =
  | { readonly keep: true; readonly outcome: { decision: Decision; memory: Partial<HaMemory>; role: 'primary' } }
  /** Not kept: `why` says which failsafe rule failed, null when failsafe does not apply at all. */
  | { readonly keep: false; readonly why: string | null };

/**
 * The store is unreachable and this member runs a primary: with failsafe_mode on, ask every other member of
 * the last known `failsafe` key to accept us (`POST /failsafe`). All accept: stay primary for another ttl,
 * feed the watchdog. Anything less: the caller demotes as without failsafe.
 */
export function* keepPrimaryOnFailsafe(
  input: Pick<CycleInput, 'settings' | 'memory' | 'now' | 'task' | 'watchdog'>,
  pg: PostgresObservation,
  dynamic: DynamicConfig,
): Generator<Effect, FailsafeVerdict, unknown> {
  const { settings, memory, now } = input;
  const isPrimary = pg.running && pg.accepting && pg.role === 'primary';
  if (!isPrimary || dynamic.pause || input.task?.state === 'running' || !failsafeModeEnabled(memory.configData ?? settings.bootstrapDynamicConfig)) {
    return { keep: false, why: null };
  }
  const peers = failsafePeers(memory.failsafeTopology ?? null, settings.name);
  if (!peers) return { keep: false, why: 'failsafe_mode is on but I am not listed in the last known failsafe key' };
  const acks = peers.length ? yield* perform('peers.failsafe', { members: peers, payload: failsafePayload(settings, pg) }) : [];
  if (!allAccepted(peers, acks)) {
    return { keep: false, why: `failsafe_mode is on but ${firstRefusal(peers, acks) ?? 'a member'} did not accept POST /failsafe` };
  }
  if (input.watchdog?.running) yield* perform('watchdog.keepalive', {});
  return {
    keep: true,
    outcome: {
      decision: decision(
        'dcs_unreachable_failsafe',
        `DCS is not accessible: continue to run as a leader because failsafe mode is enabled and all ${peers.length} other members accepted`,
      ),
      memory: { lockValidUntil: now + dynamic.timing.ttl * 1000, failsafeActiveSince: now },
      role: 'primary',
    },
  };
}
