/**
 * The keys of one cluster prefix as last seen by this process: seeded by range reads, kept current by the events
 * of one prefix watch. Pure data, no I/O: the Dcs decides when it is trustworthy.
 *
 * Snapshots and events may arrive in any interleaving (a re-seed read can overlap events of a live watch), so
 * every change is applied per key by revision: a key only moves forward, and a snapshot taken at revision R
 * never undoes an event newer than R, nor does an event at or below R undo the snapshot.
 */

/** What the cache keeps of one key: the fields of etcd's KeyValue it needs. */
export interface CachedKv {
  readonly key: Buffer;
  readonly value: Buffer;
  /** Decimal revision strings, as etcd's JSON/gRPC mapping gives them. */
  readonly mod_revision: string;
  readonly create_revision: string;
  /** Lease id ('0' for none). */
  readonly lease: string;
}

export interface CacheEvent {
  /** `PUT` or `DELETE` (etcd's event type names; compared case-insensitively). */
  readonly type: string;
  readonly kv: CachedKv;
}

/** Called after each batch of changes with the keys that changed. */
export type CacheListener = (changedKeys: readonly string[]) => void;

export class KvCache {
  readonly #entries = new Map<string, CachedKv>();
  /** Keys deleted by an event newer than the last snapshot, with the deletion's revision. */
  readonly #tombstones = new Map<string, bigint>();
  readonly #listeners = new Set<CacheListener>();
  /** Revision of the newest snapshot: anything at or below it is already reflected. */
  #floor = -1n;
  #revision = -1n;

  /** True once a snapshot was applied. */
  get seeded(): boolean {
    return this.#floor >= 0n;
  }

  /** The newest revision the cache reflects (snapshot or event); -1 before the first snapshot. */
  get revision(): bigint {
    return this.#revision;
  }

  get(key: string): CachedKv | undefined {
    return this.#entries.get(key);
  }

  /** Every key, in key order (as a range read returns them). */
  values(): CachedKv[] {
    return [...this.#entries.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, kv]) => kv);
  }

  onChange(listener: CacheListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Applies a full read of the prefix taken at `revision` (the response header's revision). */
  applySnapshot(kvs: readonly CachedKv[], revision: bigint): void {
    if (revision < this.#floor) return;
    const changed = new Set<string>();
    const fresh = new Map(kvs.map((kv) => [kv.key.toString('utf8'), kv] as const));
    for (const [key, current] of this.#entries) {
      if (BigInt(current.mod_revision) > revision) continue; // a newer event wins
      const replacement = fresh.get(key);
      if (!replacement) {
        this.#entries.delete(key);
        changed.add(key);
      } else if (replacement.mod_revision !== current.mod_revision) {
        this.#entries.set(key, replacement);
        changed.add(key);
      }
    }
    for (const [key, kv] of fresh) {
      if (this.#entries.has(key)) continue;
      const deletedAt = this.#tombstones.get(key);
      if (deletedAt !== undefined && deletedAt > revision) continue; // deleted after the snapshot was taken
      this.#entries.set(key, kv);
      changed.add(key);
    }
    for (const [key, deletedAt] of this.#tombstones) if (deletedAt <= revision) this.#tombstones.delete(key);
    this.#floor = revision;
    if (revision > this.#revision) this.#revision = revision;
    this.#emit(changed);
  }

  /** Applies the events of one watch response (all revisions in it, in order). */
  applyEvents(events: readonly CacheEvent[]): void {
    const changed = new Set<string>();
    for (const { type, kv } of events) {
      const key = kv.key.toString('utf8');
      const revision = BigInt(kv.mod_revision);
      if (revision > this.#revision) this.#revision = revision;
      if (revision <= this.#floor) continue;
      const current = this.#entries.get(key);
      const known = current ? BigInt(current.mod_revision) : (this.#tombstones.get(key) ?? -1n);
      if (revision <= known) continue;
      if (type.toUpperCase() === 'DELETE') {
        this.#entries.delete(key);
        this.#tombstones.set(key, revision);
      } else {
        this.#entries.set(key, kv);
        this.#tombstones.delete(key);
      }
      changed.add(key);
    }
    this.#emit(changed);
  }

  // Listeners hear every batch, even one that changed nothing: the revision may have moved.
  #emit(changed: ReadonlySet<string>): void {
    const keys = [...changed];
    for (const listener of [...this.#listeners]) listener(keys);
  }
}
