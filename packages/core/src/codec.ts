/**
 * Patroni's wire values for each DCS key, both ways. Every store plugin reads raw strings and hands them here,
 * so a malformed value is handled the same way everywhere: reported, skipped, never thrown.
 */
import type {
  Cluster,
  ClusterConfig,
  ClusterStatus,
  Failover,
  Leader,
  Member,
  MemberData,
  PausedLeader,
  SyncState,
  TimelineHistory,
  TimelineHistoryEntry,
  ValueVersion,
} from './model.js';
import { EMPTY_STATUS } from './model.js';

/** One stored value and its compare-and-set token. */
export interface RawValue {
  readonly value: string;
  readonly version: ValueVersion;
}

export interface RawMember extends RawValue {
  readonly name: string;
}

/** What a store plugin reads under `/<namespace>/<scope>/`, before interpretation. */
export interface RawCluster {
  readonly initialize?: RawValue | undefined;
  readonly config?: RawValue | undefined;
  readonly leader?: RawValue | undefined;
  readonly status?: RawValue | undefined;
  readonly failover?: RawValue | undefined;
  readonly sync?: RawValue | undefined;
  readonly history?: RawValue | undefined;
  readonly failsafe?: RawValue | undefined;
  readonly members: readonly RawMember[];
}

export interface MalformedValue {
  /** Key relative to the cluster prefix, e.g. `members/node1` or `config`. */
  readonly key: string;
  readonly reason: string;
}

export type MalformedReporter = (malformed: MalformedValue) => void;

function parseJson(text: string): unknown {
  return JSON.parse(text) as unknown;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(reason: string): never {
  throw new SyntaxError(reason);
}

/** `members/<name>`: JSON, or the legacy `postgres://...?application_name=<api_url>` form. */
export function decodeMember(name: string, raw: RawValue): Member {
  let data: MemberData;
  if (raw.value.startsWith('postgres')) {
    const url = new URL(raw.value);
    const apiUrl = url.searchParams.get('application_name');
    url.search = '';
    data = { conn_url: url.toString(), ...(apiUrl ? { api_url: apiUrl } : {}) };
  } else {
    const parsed = parseJson(raw.value);
    if (!isObject(parsed)) fail('member value is not a JSON object');
    data = parsed;
  }
  return { name, version: raw.version, data };
}

export function encodeMember(data: MemberData): string {
  return JSON.stringify(data);
}

export function decodeConfig(raw: RawValue): ClusterConfig {
  const parsed = parseJson(raw.value);
  if (!isObject(parsed)) fail('config value is not a JSON object');
  return { version: raw.version, data: parsed };
}

export function encodeConfig(data: Record<string, unknown>): string {
  return JSON.stringify(data, null, undefined);
}

/** `failover`: JSON `{leader, member, scheduled_at}`, or legacy `leader:member`. An empty value means none. */
export function decodeFailover(raw: RawValue): Failover | null {
  const text = raw.value.trim();
  if (text === '' || text === '{}') return null;
  if (!text.startsWith('{')) {
    const [leader, candidate] = text.split(':');
    return { version: raw.version, leader: leader || null, candidate: candidate || null, scheduledAt: null };
  }
  const parsed = parseJson(text);
  if (!isObject(parsed)) fail('failover value is not a JSON object');
  const str = (value: unknown): string | null => (typeof value === 'string' && value !== '' ? value : null);
  const failover: Failover = {
    version: raw.version,
    leader: str(parsed['leader']),
    candidate: str(parsed['member']),
    scheduledAt: str(parsed['scheduled_at']),
  };
  return failover.leader || failover.candidate ? failover : null;
}

export function encodeFailover(failover: Pick<Failover, 'leader' | 'candidate' | 'scheduledAt'> | null): string {
  if (!failover) return '{}';
  const value: Record<string, string> = {};
  if (failover.leader) value['leader'] = failover.leader;
  if (failover.candidate) value['member'] = failover.candidate;
  if (failover.scheduledAt) value['scheduled_at'] = failover.scheduledAt;
  return JSON.stringify(value);
}

export function decodeSync(raw: RawValue): SyncState | null {
  if (raw.value.trim() === '') return null;
  const parsed = parseJson(raw.value);
  if (!isObject(parsed)) fail('sync value is not a JSON object');
  const standby = parsed['sync_standby'];
  const names = typeof standby === 'string' && standby !== '' ? standby.split(',') : [];
  const quorum = parsed['quorum'];
  return {
    version: raw.version,
    leader: typeof parsed['leader'] === 'string' ? parsed['leader'] : null,
    syncStandby: names,
    quorum: typeof quorum === 'number' ? quorum : 0,
  };
}

export function encodeSync(sync: Pick<SyncState, 'leader' | 'syncStandby' | 'quorum'>): string {
  return JSON.stringify({
    leader: sync.leader,
    sync_standby: sync.syncStandby.length ? [...sync.syncStandby].sort().join(',') : null,
    quorum: sync.quorum,
  });
}

export function decodeHistory(raw: RawValue): TimelineHistory {
  const parsed = parseJson(raw.value);
  if (!Array.isArray(parsed)) fail('history value is not a JSON list');
  const lines = parsed.filter(
    (line): line is TimelineHistoryEntry =>
      Array.isArray(line) && typeof line[0] === 'number' && typeof line[1] === 'number',
  );
  return { version: raw.version, lines };
}

export function encodeHistory(lines: readonly TimelineHistoryEntry[]): string {
  return JSON.stringify(lines);
}

/** `status`: `{optime, slots, retain_slots}`, or a legacy bare integer optime. */
export function decodeStatus(raw: RawValue): ClusterStatus {
  const parsed = parseJson(raw.value);
  if (typeof parsed === 'number') return { ...EMPTY_STATUS, optime: parsed };
  if (!isObject(parsed)) fail('status value is not a JSON object');
  const optime = typeof parsed['optime'] === 'number' ? parsed['optime'] : 0;
  const slots: Record<string, number> = {};
  if (isObject(parsed['slots'])) {
    for (const [slot, lsn] of Object.entries(parsed['slots'])) if (typeof lsn === 'number') slots[slot] = lsn;
  }
  const retain = Array.isArray(parsed['retain_slots'])
    ? parsed['retain_slots'].filter((slot): slot is string => typeof slot === 'string')
    : [];
  const pausedLeader = decodePausedLeader(parsed['paused_leader']);
  return pausedLeader ? { optime, slots, retainSlots: retain, pausedLeader } : { optime, slots, retainSlots: retain };
}

function decodePausedLeader(value: unknown): PausedLeader | null {
  if (!isObject(value) || typeof value['name'] !== 'string' || !value['name']) return null;
  return { name: value['name'], apiUrl: typeof value['api_url'] === 'string' ? value['api_url'] : null };
}

export function encodeStatus(status: ClusterStatus): string {
  const value: Record<string, unknown> = { optime: status.optime };
  if (Object.keys(status.slots).length) value['slots'] = status.slots;
  if (status.retainSlots.length) value['retain_slots'] = status.retainSlots;
  if (status.pausedLeader) value['paused_leader'] = { name: status.pausedLeader.name, api_url: status.pausedLeader.apiUrl };
  return JSON.stringify(value);
}

export function decodeFailsafe(raw: RawValue): Record<string, string> | null {
  const parsed = parseJson(raw.value);
  if (!isObject(parsed)) fail('failsafe value is not a JSON object');
  const members: Record<string, string> = {};
  for (const [name, url] of Object.entries(parsed)) if (typeof url === 'string') members[name] = url;
  return members;
}

export function encodeFailsafe(members: Readonly<Record<string, string>>): string {
  return JSON.stringify(members);
}

/**
 * Interprets what a plugin read. A value that does not parse is reported and treated as absent, so one
 * bad member key never hides the rest of the cluster.
 */
export function buildCluster(raw: RawCluster, report: MalformedReporter = () => {}): Cluster {
  function attempt<T>(key: string, value: RawValue | undefined, decode: (value: RawValue) => T): T | null {
    if (!value) return null;
    try {
      return decode(value);
    } catch (error) {
      report({ key, reason: error instanceof Error ? error.message : String(error) });
      return null;
    }
  }
  const members: Member[] = [];
  for (const rawMember of raw.members) {
    const member = attempt(`members/${rawMember.name}`, rawMember, (value) => decodeMember(rawMember.name, value));
    if (member) members.push(member);
  }
  let leader: Leader | null = null;
  if (raw.leader && raw.leader.value !== '') {
    const name = raw.leader.value;
    leader = { name, version: raw.leader.version, member: members.find((member) => member.name === name) ?? null };
  }
  return {
    initialize: raw.initialize ? raw.initialize.value : null,
    config: attempt('config', raw.config, decodeConfig),
    leader,
    status: attempt('status', raw.status, decodeStatus) ?? EMPTY_STATUS,
    members,
    failover: attempt('failover', raw.failover, decodeFailover),
    sync: attempt('sync', raw.sync, decodeSync),
    history: attempt('history', raw.history, decodeHistory),
    failsafe: attempt('failsafe', raw.failsafe, decodeFailsafe),
  };
}
