/**
 * Quorum commit (`synchronous_mode: quorum`): the primary keeps two records that together decide whether a
 * failover can lose an acknowledged commit.
 * - `synchronous_standby_names = ANY k (S)`: a commit is acknowledged once k members of S have flushed it.
 * - the `sync` key `{leader, sync_standby: V, quorum: Q}`: a replica may promote only after it saw Q+1 members
 *   of V (itself counted when it is one of them) that are not ahead of it.
 * Those two sets of "k of S" and "Q+1 of V" must always intersect: |V ∪ S| <= Q + k. They are written one after
 * the other (the GUC on the primary, the key in the DCS), so every intermediate state must satisfy it too, and a
 * key that relies on a standby for commits acknowledged before the last GUC change may only be written once that
 * standby has flushed past the change ("confirmed"). The resolver below plans the writes from the current state
 * to the target `V = S = active, k = min(synchronous_node_count, |active|), Q = |active| - k` and checks every
 * step with `quorumStepSafe` before emitting it: a step it cannot prove safe is not taken (the next cycle, with
 * more standbys confirmed, goes on).
 */

export interface QuorumKey {
  readonly leader: string;
  readonly quorum: number;
  readonly voters: readonly string[];
}

export interface QuorumGuc {
  /** k of `ANY k (...)`; 0 with no names means synchronous replication is off in PostgreSQL. */
  readonly numSync: number;
  readonly names: readonly string[];
}

export type QuorumTransition =
  | ({ readonly kind: 'key' } & QuorumKey)
  | ({ readonly kind: 'guc' } & QuorumGuc);

export interface QuorumInput {
  /** This member, the primary. */
  readonly me: string;
  /** The `sync` key as read (leader null when empty). */
  readonly key: { readonly leader: string | null; readonly quorum: number; readonly voters: readonly string[] };
  /** synchronous_standby_names as PostgreSQL runs it. */
  readonly guc: QuorumGuc;
  /** Members of `guc.names` that flushed past the primary's position when the GUC last changed. */
  readonly confirmed: readonly string[];
  /** Standbys fit to be synchronous now (streaming from us, not nosync, within maximum_lag_on_syncnode). */
  readonly active: readonly string[];
  /** synchronous_node_count. */
  readonly wanted: number;
  readonly strict: boolean;
}

export interface QuorumPlan {
  readonly transitions: readonly QuorumTransition[];
  /** Why the plan stops before the target (waiting for confirmation, nothing to do...). */
  readonly note: string;
}

/** Names compare case-insensitively, as PostgreSQL compares application names. */
function lowerSet(names: Iterable<string>): Set<string> {
  return new Set([...names].map((name) => name.toLowerCase()));
}

function union(...sets: ReadonlyArray<Iterable<string>>): Set<string> {
  const out = new Set<string>();
  for (const set of sets) for (const name of set) out.add(name.toLowerCase());
  return out;
}

function minus(a: Iterable<string>, b: ReadonlySet<string>): Set<string> {
  return new Set([...a].filter((name) => !b.has(name.toLowerCase())));
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const left = lowerSet(a);
  const right = lowerSet(b);
  return left.size === right.size && [...left].every((name) => right.has(name));
}

/** Commits acknowledged under `guc` reach at least one member of every promotion quorum of `key`. */
export function quorumOverlaps(key: Pick<QuorumKey, 'quorum' | 'voters'>, guc: QuorumGuc): boolean {
  if (key.voters.length === 0 || guc.numSync <= 0 || guc.names.length === 0) return true;
  const voters = lowerSet(key.voters);
  return key.quorum < voters.size && union(voters, guc.names).size <= key.quorum + guc.numSync;
}

/**
 * A key write is safe when its quorums meet every GUC that acknowledged commits since the last confirmation
 * (`gucs`) and, for commits from before that, the confirmed standbys: fewer than Q+1 voters lie outside them.
 * An empty voter list is always safe: then only the key's leader may take over.
 */
export function keyWriteSafe(key: Pick<QuorumKey, 'quorum' | 'voters'>, gucs: readonly QuorumGuc[], confirmed: readonly string[]): boolean {
  const voters = lowerSet(key.voters);
  if (voters.size === 0) return key.quorum === 0;
  if (key.quorum < 0 || key.quorum >= voters.size) return false;
  if (minus(voters, lowerSet(confirmed)).size > key.quorum) return false;
  return gucs.every((guc) => quorumOverlaps(key, guc));
}

/** The smallest quorum that makes `voters` a safe key, or null when none below |voters| does. */
function minimalQuorum(voters: ReadonlySet<string>, gucs: readonly QuorumGuc[], confirmed: readonly string[], atLeast = 0): number | null {
  if (voters.size === 0) return 0;
  let quorum = Math.max(atLeast, minus(voters, lowerSet(confirmed)).size);
  for (const guc of gucs) {
    if (guc.numSync > 0 && guc.names.length > 0) quorum = Math.max(quorum, union(voters, guc.names).size - guc.numSync);
  }
  return quorum < voters.size ? quorum : null;
}

/** The number of `ANY k` the primary should run for `active` standbys. */
export function quorumNumSync(active: number, wanted: number): number {
  return Math.max(0, Math.min(wanted, active));
}

/**
 * Plans this cycle's writes toward the target. Every emitted step keeps the overlap (checked with the same
 * predicates the property tests use); the first write that would need a confirmation not seen yet ends the plan.
 */
export function resolveQuorum(input: QuorumInput): QuorumPlan {
  const transitions: QuorumTransition[] = [];
  const active = [...lowerSet(input.active)].sort();
  let key: QuorumKey = { leader: input.key.leader ?? input.me, quorum: input.key.quorum, voters: [...lowerSet(input.key.voters)].sort() };
  let guc: QuorumGuc = { numSync: Math.min(input.guc.numSync, input.guc.names.length), names: [...lowerSet(input.guc.names)].sort() };
  // GUCs under which commits were acknowledged since the confirmed point: the one running, then each we write.
  const gucs: QuorumGuc[] = [guc];
  const confirmed = input.confirmed.filter((name) => lowerSet(guc.names).has(name.toLowerCase()));
  const writeKey = (next: QuorumKey): void => {
    transitions.push({ kind: 'key', ...next });
    key = next;
  };
  const writeGuc = (next: QuorumGuc): void => {
    transitions.push({ kind: 'guc', ...next });
    guc = next;
    gucs.push(next);
  };

  if (key.leader.toLowerCase() !== input.me.toLowerCase()) {
    // After a failover the old leader becomes a voter in our place: every Q+1 of the new voters either holds the
    // old leader (which had every commit) or is a quorum of the old key, so the quorum carries over unchanged.
    const voters = [...minus(union(key.voters, [key.leader]), lowerSet([input.me]))].sort();
    if (guc.names.length === 0 && voters.length > 0) {
      writeGuc({ numSync: Math.max(1, voters.length - key.quorum), names: voters });
    }
    writeKey({ leader: input.me, quorum: Math.min(key.quorum, Math.max(0, voters.length - 1)), voters });
    if (![...lowerSet(guc.names)].some((name) => active.includes(name))) {
      return { transitions, note: 'new leader: waiting for the standbys to reconnect' };
    }
  }

  if (active.length === 0) {
    if (input.strict) {
      // Strict: commits keep waiting for the last voters (or for nobody that exists) rather than go asynchronous.
      if (guc.names.length === 0) {
        const names = key.voters.length ? [...key.voters] : [];
        writeGuc({ numSync: Math.max(1, names.length - key.quorum), names });
      }
      return { transitions, note: 'strict: no synchronous standby available, commits wait' };
    }
    if (key.voters.length) writeKey({ leader: key.leader, quorum: 0, voters: [] });
    if (guc.names.length) writeGuc({ numSync: 0, names: [] });
    return { transitions, note: 'no synchronous standby available' };
  }

  const numSync = quorumNumSync(active.length, input.wanted);
  const target: QuorumGuc = { numSync, names: active };
  const targetQuorum = active.length - numSync;

  if (guc.names.length === 0) {
    // Nothing waits for standbys yet: start waiting first; voters follow once they confirmed.
    if (key.voters.length) writeKey({ leader: key.leader, quorum: 0, voters: [] });
    writeGuc(target);
    return { transitions, note: 'synchronous_standby_names set: voters follow once standbys confirm' };
  }

  const activeSet = new Set(active);
  const seen = new Set<string>();
  for (let step = 0; step < 6; step++) {
    seen.add(JSON.stringify([key.quorum, key.voters, guc.numSync, guc.names]));
    const keyDone = sameSet(key.voters, active) && key.quorum === targetQuorum;
    const gucDone = sameSet(guc.names, active) && guc.numSync === numSync;
    if (keyDone && gucDone) return { transitions, note: 'in the target state' };
    // 1. The key toward the target voters, with the smallest quorum safe right now.
    if (!keyDone) {
      const quorum = minimalQuorum(activeSet, gucs, confirmed, targetQuorum);
      const next = quorum === null ? null : { leader: key.leader, quorum, voters: active };
      if (next && !(sameSet(next.voters, key.voters) && next.quorum === key.quorum) && keyWriteSafe(next, gucs, confirmed)) {
        writeKey(next);
        continue;
      }
    }
    if (!gucDone) {
      // 2. The GUC to the target when the current key already meets it.
      if (quorumOverlaps(key, target)) {
        writeGuc(target);
        continue;
      }
      // 3. Otherwise widen the key first: every name either record uses, asking enough votes to meet the target.
      const wide = union(key.voters, guc.names, active);
      const quorum = minimalQuorum(wide, gucs, confirmed, wide.size - Math.min(numSync, guc.numSync));
      const next = quorum === null ? null : { leader: key.leader, quorum, voters: [...wide].sort() };
      if (next && !seen.has(JSON.stringify([next.quorum, next.voters, guc.numSync, guc.names])) && keyWriteSafe(next, gucs, confirmed) && quorumOverlaps(next, target)) {
        writeKey(next);
        continue;
      }
      // 4. No standby of the running GUC can confirm (all gone): only the leader may take over until the new one does.
      if (!guc.names.some((name) => activeSet.has(name)) && key.voters.length > 0) {
        writeKey({ leader: key.leader, quorum: 0, voters: [] });
        continue;
      }
    }
    break;
  }
  return { transitions, note: 'waiting for standbys to confirm before the next step' };
}
