/**
 * The simulated DCS: one store, synchronous, judged by virtual time. Same semantics as the in-memory `Dcs`
 * (and etcd v3 as pgwarden uses it): one session (lease) per member, `leader` and `members/<name>` bound to
 * it, a store-wide revision as the compare-and-set token. Reachability is decided by the caller (the node).
 */
import {
  buildCluster,
  encodeConfig,
  encodeFailover,
  encodeHistory,
  encodeMember,
  encodeFailsafe,
  encodeStatus,
  encodeSync,
} from '@pgwarden/core';
import type { Cluster, ClusterStatus, Failover, MemberData, RawMember, RawValue, SyncState, TimelineHistoryEntry, ValueVersion } from '@pgwarden/core';

interface Stored {
  readonly value: string;
  readonly modRevision: number;
  readonly session: number | null;
}

interface Session {
  readonly id: number;
  readonly owner: string;
  readonly ttlMs: number;
  expiresAt: number;
}

const CLUSTER_KEYS = ['initialize', 'config', 'leader', 'status', 'failover', 'sync', 'history', 'failsafe'] as const;
type ClusterKey = (typeof CLUSTER_KEYS)[number];

export class SimStore {
  readonly #data = new Map<string, Stored>();
  readonly #sessions = new Map<number, Session>();
  /** Each member's current session id. */
  readonly #memberSession = new Map<string, number>();
  readonly #leaderListeners = new Set<() => void>();
  #revision = 1;
  #nextSession = 1;

  constructor(
    private readonly clock: () => number,
    /** Asks the scheduler to call `expire` at a session's expiry, so watches fire on time. */
    private readonly wakeAt: (time: number, run: () => void) => void,
  ) {}

  revision(): number {
    return this.#revision;
  }

  /** Deletes what is due: sessions past their expiry and the keys bound to them. */
  expire(): void {
    const now = this.clock();
    for (const session of [...this.#sessions.values()]) {
      if (session.expiresAt > now) continue;
      this.#sessions.delete(session.id);
      for (const [key, stored] of [...this.#data]) if (stored.session === session.id) this.#delete(key);
    }
  }

  /** The leader key's holder now (after expiry), and until when its lease runs. */
  leader(): { name: string; expiresAt: number | null; revision: number } | null {
    this.expire();
    const stored = this.#data.get('leader');
    if (!stored) return null;
    const session = stored.session === null ? undefined : this.#sessions.get(stored.session);
    return { name: stored.value, expiresAt: session?.expiresAt ?? null, revision: stored.modRevision };
  }

  leaderVersion(): ValueVersion | null {
    this.expire();
    const stored = this.#data.get('leader');
    return stored ? String(stored.modRevision) : null;
  }

  /** Called on every change of the leader key (write, delete, expiry); returns the unsubscribe. */
  onLeaderChange(listener: () => void): () => void {
    this.#leaderListeners.add(listener);
    return () => this.#leaderListeners.delete(listener);
  }

  raw(key: string): string | null {
    this.expire();
    return this.#data.get(key)?.value ?? null;
  }

  loadCluster(): Cluster {
    this.expire();
    const raw: Partial<Record<ClusterKey, RawValue>> = {};
    const members: RawMember[] = [];
    for (const [key, stored] of this.#data) {
      const value: RawValue = { value: stored.value, version: String(stored.modRevision) };
      if (key.startsWith('members/')) members.push({ ...value, name: key.slice('members/'.length) });
      else if ((CLUSTER_KEYS as readonly string[]).includes(key)) raw[key as ClusterKey] = value;
    }
    members.sort((a, b) => (a.name < b.name ? -1 : 1));
    return buildCluster({ ...raw, members });
  }

  acquireLeader(name: string, ttlMs: number): boolean {
    this.expire();
    const session = this.#refreshSession(name, ttlMs);
    if (this.#data.has('leader')) return false;
    this.#put('leader', name, session);
    return true;
  }

  renewLeader(name: string, ttlMs: number): boolean {
    this.expire();
    const session = this.#refreshSession(name, ttlMs);
    const current = this.#data.get('leader');
    if (!current || current.value !== name) return false;
    if (current.session !== session) this.#put('leader', name, session);
    return true;
  }

  releaseLeader(name: string): boolean {
    this.expire();
    if (this.#data.get('leader')?.value !== name) return false;
    this.#delete('leader');
    return true;
  }

  touchMember(name: string, ttlMs: number, data: MemberData): boolean {
    this.expire();
    this.#put(`members/${name}`, encodeMember(data), this.#refreshSession(name, ttlMs));
    return true;
  }

  initialize(create: boolean, sysid: string): boolean {
    this.expire();
    if (create && this.#data.has('initialize')) return false;
    this.#put('initialize', sysid, null);
    return true;
  }

  cancelInitialization(): boolean {
    this.#delete('initialize');
    return true;
  }

  setConfig(data: Record<string, unknown>, expected: ValueVersion | null | undefined): boolean {
    return this.#cas('config', encodeConfig(data), expected);
  }

  setFailover(value: Pick<Failover, 'leader' | 'candidate' | 'scheduledAt'> | null, expected?: ValueVersion | null): boolean {
    return this.#cas('failover', encodeFailover(value), expected);
  }

  /** Compare-and-set of the `sync` key; the new version, or false on conflict. */
  setSync(value: Pick<SyncState, 'leader' | 'syncStandby' | 'quorum'>, expected: ValueVersion | null): ValueVersion | false {
    if (!this.#cas('sync', encodeSync(value), expected)) return false;
    return String(this.#data.get('sync')!.modRevision);
  }

  deleteSync(expected: ValueVersion): boolean {
    this.expire();
    const current = this.#data.get('sync');
    if (!current || String(current.modRevision) !== expected) return false;
    this.#delete('sync');
    return true;
  }

  setHistory(lines: readonly TimelineHistoryEntry[]): boolean {
    this.#put('history', encodeHistory(lines), null);
    return true;
  }

  writeStatus(status: ClusterStatus): boolean {
    this.#put('status', encodeStatus(status), null);
    return true;
  }

  writeFailsafe(members: Readonly<Record<string, string>>): boolean {
    this.#put('failsafe', encodeFailsafe(members), null);
    return true;
  }

  #cas(key: string, value: string, expected: ValueVersion | null | undefined): boolean {
    this.expire();
    const current = this.#data.get(key);
    if (expected === null && current) return false;
    if (expected !== null && expected !== undefined && (!current || String(current.modRevision) !== expected)) return false;
    this.#put(key, value, null);
    return true;
  }

  /** Keeps the member's session alive, or grants a new one when it expired or the ttl changed. */
  #refreshSession(name: string, ttlMs: number): number {
    const now = this.clock();
    const id = this.#memberSession.get(name);
    const session = id === undefined ? undefined : this.#sessions.get(id);
    if (session && session.ttlMs === ttlMs) {
      session.expiresAt = now + ttlMs;
      this.wakeAt(session.expiresAt, () => this.expire());
      return session.id;
    }
    const fresh: Session = { id: this.#nextSession++, owner: name, ttlMs, expiresAt: now + ttlMs };
    this.#sessions.set(fresh.id, fresh);
    this.#memberSession.set(name, fresh.id);
    this.wakeAt(fresh.expiresAt, () => this.expire());
    return fresh.id;
  }

  #put(key: string, value: string, session: number | null): void {
    this.#revision++;
    this.#data.set(key, { value, modRevision: this.#revision, session });
    if (key === 'leader') this.#notifyLeader();
  }

  #delete(key: string): void {
    if (!this.#data.delete(key)) return;
    this.#revision++;
    if (key === 'leader') this.#notifyLeader();
  }

  #notifyLeader(): void {
    for (const listener of [...this.#leaderListeners]) listener();
  }
}
