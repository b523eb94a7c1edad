import { describe, expect, it } from 'vitest';
import type { QuorumGuc, QuorumInput, QuorumKey, QuorumTransition } from './quorum.js';
import { keyWriteSafe, quorumOverlaps, resolveQuorum } from './quorum.js';

function plan(input: Partial<QuorumInput>): readonly QuorumTransition[] {
  return resolveQuorum({
    me: 'p',
    key: { leader: 'p', quorum: 0, voters: [] },
    guc: { numSync: 0, names: [] },
    confirmed: [],
    active: [],
    wanted: 1,
    strict: false,
    ...input,
  }).transitions;
}

describe('quorum overlap', () => {
  it('holds when any k of S meets any Q+1 of V', () => {
    expect(quorumOverlaps({ quorum: 1, voters: ['a', 'b'] }, { numSync: 1, names: ['a', 'b'] })).toBe(true);
    expect(quorumOverlaps({ quorum: 0, voters: ['a', 'b'] }, { numSync: 1, names: ['a', 'b'] })).toBe(false);
    expect(quorumOverlaps({ quorum: 1, voters: ['a', 'b'] }, { numSync: 1, names: ['b', 'c'] })).toBe(false);
    expect(quorumOverlaps({ quorum: 0, voters: [] }, { numSync: 1, names: ['a'] })).toBe(true);
  });

  it('a key relying on standbys that did not confirm the last change is not safe', () => {
    const guc = { numSync: 1, names: ['a', 'b'] };
    expect(keyWriteSafe({ quorum: 1, voters: ['a', 'b'] }, [guc], ['a'])).toBe(true);
    expect(keyWriteSafe({ quorum: 1, voters: ['a', 'b'] }, [guc], [])).toBe(false);
  });
});

describe('resolveQuorum', () => {
  it('first standby: ANY 1 (a) first, the voters only once it confirmed', () => {
    expect(plan({ active: ['a'] })).toEqual([{ kind: 'guc', numSync: 1, names: ['a'] }]);
    expect(plan({ active: ['a'], guc: { numSync: 1, names: ['a'] }, confirmed: ['a'] })).toEqual([
      { kind: 'key', leader: 'p', quorum: 0, voters: ['a'] },
    ]);
  });

  it('a second standby joins the voters (with a higher quorum) before the GUC lists it', () => {
    const steps = plan({
      active: ['a', 'b'],
      key: { leader: 'p', quorum: 0, voters: ['a'] },
      guc: { numSync: 1, names: ['a'] },
      confirmed: ['a'],
    });
    expect(steps).toEqual([
      { kind: 'key', leader: 'p', quorum: 1, voters: ['a', 'b'] },
      { kind: 'guc', numSync: 1, names: ['a', 'b'] },
    ]);
  });

  it('a dead standby leaves the GUC first and the voters after the survivors confirmed', () => {
    const start = { key: { leader: 'p', quorum: 1, voters: ['a', 'b'] }, guc: { numSync: 1, names: ['a', 'b'] }, active: ['a'] };
    expect(plan({ ...start, confirmed: ['a'] })).toEqual([{ kind: 'guc', numSync: 1, names: ['a'] }]);
    expect(plan({ ...start, guc: { numSync: 1, names: ['a'] }, confirmed: ['a'] })).toEqual([
      { kind: 'key', leader: 'p', quorum: 0, voters: ['a'] },
    ]);
  });

  it('after a failover the old leader takes the new leader’s place among the voters, quorum unchanged', () => {
    const steps = plan({
      me: 'a',
      key: { leader: 'p', quorum: 1, voters: ['a', 'b'] },
      guc: { numSync: 1, names: ['b', 'p'] },
      active: [],
    });
    expect(steps[0]).toEqual({ kind: 'key', leader: 'a', quorum: 1, voters: ['b', 'p'] });
  });

  it('strict with nobody left keeps commits waiting instead of clearing the GUC', () => {
    const key = { leader: 'p', quorum: 0, voters: ['a'] };
    expect(plan({ strict: true, key, guc: { numSync: 1, names: ['a'] } })).toEqual([]);
    expect(plan({ strict: true, key, guc: { numSync: 0, names: [] } })).toEqual([{ kind: 'guc', numSync: 1, names: ['a'] }]);
    expect(plan({ strict: false, key, guc: { numSync: 1, names: ['a'] } })).toEqual([
      { kind: 'key', leader: 'p', quorum: 0, voters: [] },
      { kind: 'guc', numSync: 0, names: [] },
    ]);
  });
});

/**
 * A model of WAL and acknowledgement, independent of the resolver's own checks: commits are numbered, a
 * standby that flushed commit c has every commit before it, a commit is acknowledged once `numSync` standbys of
 * the GUC flushed it. After every event: any Q+1 voters of the key hold, among them, every acknowledged commit.
 */
class World {
  readonly names: string[];
  flushed = new Map<string, number>();
  alive = new Set<string>();
  head = 0;
  acked = 0;
  changedAt = 0;
  key: QuorumKey = { leader: 'p', quorum: 0, voters: [] };
  guc: QuorumGuc = { numSync: 0, names: [] };
  steps = 0;

  constructor(
    readonly random: () => number,
    size: number,
    readonly wanted: number,
    readonly strict: boolean,
  ) {
    this.names = Array.from({ length: size }, (_, index) => `n${index}`);
    for (const name of this.names) {
      this.flushed.set(name, 0);
      this.alive.add(name);
    }
  }

  int(n: number): number {
    return Math.floor(this.random() * n);
  }

  /** One replication/commit event. */
  tick(): void {
    this.head += 1 + this.int(3);
    for (const name of this.alive) {
      if (this.random() < 0.6) this.flushed.set(name, Math.min(this.head, this.flushed.get(name)! + this.int(5)));
    }
    if (this.random() < 0.08) {
      const name = this.names[this.int(this.names.length)]!;
      if (this.alive.has(name)) this.alive.delete(name);
      else this.alive.add(name);
    }
    this.acknowledge();
    this.check();
  }

  acknowledge(): void {
    if (this.guc.numSync <= 0) return;
    const positions = this.guc.names.map((name) => this.flushed.get(name) ?? 0).sort((a, b) => b - a);
    const acked = positions[this.guc.numSync - 1] ?? 0;
    this.acked = Math.max(this.acked, acked);
  }

  check(): void {
    const voters = this.key.voters;
    if (voters.length === 0) return;
    const size = this.key.quorum + 1;
    // The promotion quorum holding the least: the size Q+1 subset whose best member is lowest.
    const lowest = voters.map((name) => this.flushed.get(name) ?? 0).sort((a, b) => a - b);
    const best = lowest[size - 1];
    if (best === undefined || best < this.acked) {
      throw new Error(
        `lost commit: acked ${this.acked}, quorum ${this.key.quorum} of ${voters.join(',')} holds at best ${best ?? 'none'} ` +
          `(flushed ${[...this.flushed].map(([n, l]) => `${n}=${l}`).join(' ')}, guc ANY ${this.guc.numSync} (${this.guc.names.join(',')}))`,
      );
    }
  }

  run(): QuorumTransition[] {
    const confirmed = this.guc.names.filter((name) => this.alive.has(name) && (this.flushed.get(name) ?? 0) >= this.changedAt);
    const active = this.names.filter((name) => this.alive.has(name) && this.random() < 0.9);
    const { transitions } = resolveQuorum({
      me: 'p',
      key: this.key,
      guc: this.guc,
      confirmed,
      active,
      wanted: this.wanted,
      strict: this.strict,
    });
    for (const step of transitions) {
      if (step.kind === 'key') this.key = { leader: step.leader, quorum: step.quorum, voters: step.voters };
      else {
        this.guc = { numSync: step.numSync, names: step.names };
        this.changedAt = this.head;
        this.acknowledge();
      }
      this.steps++;
      this.check();
      // The two records are written one after the other: commits and replication go on in between.
      if (this.random() < 0.5) this.tick();
    }
    return [...transitions];
  }
}

function mulberry32(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('resolveQuorum over random histories', () => {
  it('never lets a promotion quorum miss an acknowledged commit', () => {
    let steps = 0;
    for (let seed = 1; seed <= 400; seed++) {
      const random = mulberry32(seed);
      const world = new World(random, 2 + Math.floor(random() * 5), 1 + Math.floor(random() * 3), random() < 0.3);
      for (let round = 0; round < 60; round++) {
        for (let t = 0; t < 1 + world.int(4); t++) world.tick();
        try {
          world.run();
        } catch (error) {
          throw new Error(`seed ${seed} round ${round}: ${(error as Error).message}`);
        }
      }
      steps += world.steps;
    }
    expect(steps).toBeGreaterThan(1000);
  });

  it('reaches ANY k of every streaming standby with quorum |active| - k once they keep up', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const random = mulberry32(seed);
      const size = 1 + Math.floor(random() * 5);
      const wanted = 1 + Math.floor(random() * 3);
      const world = new World(random, size, wanted, false);
      // Some chaos first, then everybody alive and caught up before each cycle.
      for (let round = 0; round < 10; round++) {
        world.tick();
        world.run();
      }
      for (const name of world.names) world.alive.add(name);
      const stable = (): void => {
        for (const name of world.names) world.flushed.set(name, world.head);
      };
      for (let round = 0; round < 6; round++) {
        stable();
        const confirmed = world.guc.names.filter((name) => world.flushed.get(name)! >= world.changedAt);
        const { transitions } = resolveQuorum({ me: 'p', key: world.key, guc: world.guc, confirmed, active: world.names, wanted, strict: false });
        for (const step of transitions) {
          if (step.kind === 'key') world.key = { leader: step.leader, quorum: step.quorum, voters: step.voters };
          else {
            world.guc = { numSync: step.numSync, names: step.names };
            world.changedAt = world.head;
          }
        }
      }
      const k = Math.min(wanted, size);
      expect({ seed, guc: world.guc, key: world.key }).toEqual({
        seed,
        guc: { numSync: k, names: [...world.names].sort() },
        key: { leader: 'p', quorum: size - k, voters: [...world.names].sort() },
      });
    }
  });
});
