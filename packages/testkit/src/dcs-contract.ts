/**
 * The DCS conformance suite: what a `Dcs` plugin is, written once. Every plugin runs it against its real
 * server (or an emulator of the server's API); the in-memory Dcs runs it as a unit test on a virtual clock.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  DcsUnreachableError,
  encodeConfig,
  encodeFailsafe,
  encodeHistory,
  encodeMember,
  encodeStatus,
  encodeSync,
  isPgwardenError,
} from '@pgwarden/core';
import type {
  ClusterStatus,
  Dcs,
  DcsIdentity,
  MalformedValue,
  MemberData,
  TimelineHistoryEntry,
} from '@pgwarden/core';

/** Every case of the suite, by id. Opt-outs name these ids. */
export const DCS_CONTRACT_CASES = [
  'leader-acquire-exclusive',
  'leader-renew-only-while-held',
  'leader-held-while-renewed',
  'leader-release-only-by-holder',
  'ttl-expiry',
  'set-timing',
  'member-round-trip',
  'member-malformed-skipped',
  'delete-member',
  'cas-config',
  'cas-failover',
  'cas-sync',
  'initialize-race',
  'history-status-failsafe',
  'watch-wakes-on-change',
  'watch-timeout',
  'abort',
  'close',
  'unreachable',
  'delete-cluster',
] as const;

export type DcsContractCase = (typeof DCS_CONTRACT_CASES)[number];

/** A reviewed opt-out: the case is not run, and the suite's title says so with the reason. */
export interface DcsContractOptOut {
  readonly case: DcsContractCase;
  readonly reason: string;
}

/** What a plugin gives the suite to run against its store. */
export interface DcsContractHarness {
  /** A Dcs speaking for `identity.name` in `identity.scope`; the suite closes it after each test. */
  create(identity: DcsIdentity): Dcs;
  /** A Dcs whose store cannot be reached (e.g. pointed at a closed port). */
  createUnreachable(identity: DcsIdentity): Dcs;
  /** The ttl given to every member, in seconds: small (e.g. 2 for a real server). */
  readonly ttlSeconds: number;
  /** The retry timeout given to every member, in seconds; default 2. */
  readonly retryTimeoutSeconds?: number;
  /** How long past its ttl an abandoned key may linger (the store's expiry granularity); default 1000 ms. */
  readonly expiryMarginMs?: number;
  /** Advances the test clock (in memory) or really waits (real servers). */
  letTimePass(ms: number): Promise<void>;
  /** Stores `value` as it is at `key` (relative to the cluster prefix, e.g. `members/x`), bypassing the Dcs. */
  writeRaw(identity: DcsIdentity, key: string, value: string): Promise<void>;
  /** Reads the stored value at `key` (relative to the cluster prefix), or null when absent. */
  readRaw(identity: DcsIdentity, key: string): Promise<string | null>;
  teardown?(): Promise<void> | void;
}

export interface DcsContractOptions {
  /** Shown in the suite's title, e.g. `etcd v3 (etcd 3.4)`. */
  readonly name: string;
  /** Called once before the cases; may start a server. */
  setup(): Promise<DcsContractHarness> | DcsContractHarness;
  readonly skip?: readonly DcsContractOptOut[];
}

const WATCH_TIMEOUT_MS = 5_000;

function memberData(name: string, port: number): MemberData {
  return {
    conn_url: `postgres://127.0.0.1:${port}/postgres`,
    api_url: `http://127.0.0.1:${port + 1000}/patroni`,
    state: 'running',
    role: 'replica',
    version: '4.1.4',
    xlog_location: 67_108_960,
    receive_lsn: 67_108_960,
    replay_lsn: 67_108_864,
    replication_state: 'streaming',
    timeline: 1,
    tags: { nofailover: false, clonefrom: true, failover_priority: 1 },
    // Fields pgwarden does not know must round-trip untouched (mixed clusters).
    pending_restart_reason: { shared_buffers: { old_value: '128MB', new_value: '256MB' } },
  };
}

/** Resolves to how the promise settled, tagging rejections instead of throwing. */
async function settled<T>(promise: Promise<T>): Promise<{ value: T } | { error: unknown }> {
  try {
    return { value: await promise };
  } catch (error) {
    return { error };
  }
}

function expectCode(outcome: { error: unknown } | { value: unknown }, code: 'DCS_CLOSED' | 'DCS_ABORTED'): void {
  expect(outcome).toHaveProperty('error');
  const error = 'error' in outcome ? outcome.error : undefined;
  expect(isPgwardenError(error, code), `expected a PgwardenError ${code}, got ${String(error)}`).toBe(true);
}

export function describeDcsContract(options: DcsContractOptions): void {
  const optedOut = new Map((options.skip ?? []).map((optOut) => [optOut.case, optOut.reason] as const));
  const optOutTitle = [...optedOut].map(([id, reason]) => `${id}: ${reason}`).join('; ');
  const title = `DCS contract: ${options.name}${optOutTitle ? ` (opted out: ${optOutTitle})` : ''}`;

  describe(title, () => {
    let harness: DcsContractHarness | undefined;
    const open: Dcs[] = [];
    let scopes = 0;
    const runId = Math.floor(Math.random() * 36 ** 4).toString(36);

    beforeAll(async () => {
      harness = await options.setup();
    });
    afterEach(async () => {
      for (const dcs of open.splice(0)) await dcs.close().catch(() => {});
    });
    afterAll(async () => {
      await harness?.teardown?.();
    });

    function use(): DcsContractHarness {
      if (!harness) throw new Error('DCS contract: setup() did not run');
      return harness;
    }

    /** A fresh cluster per case, so cases never see each other's keys. */
    function newCluster(extra: Partial<DcsIdentity> = {}) {
      const h = use();
      const scope = `contract-${runId}-${++scopes}`;
      const identity = (name: string): DcsIdentity => ({
        scope,
        name,
        ttl: h.ttlSeconds,
        retryTimeout: h.retryTimeoutSeconds ?? 2,
        ...extra,
      });
      return {
        scope,
        identity,
        member(name: string, more: Partial<DcsIdentity> = {}): Dcs {
          const dcs = h.create({ ...identity(name), ...more });
          open.push(dcs);
          return dcs;
        },
        raw: (key: string) => h.readRaw(identity('reader'), key),
        writeRaw: (key: string, value: string) => h.writeRaw(identity('writer'), key, value),
      };
    }

    function contractCase(id: DcsContractCase, what: string, body: () => Promise<void>): void {
      if (optedOut.has(id)) return;
      it(`${id}: ${what}`, body);
    }

    if (optedOut.size > 0) {
      it('declares each opt-out with a known case and a reason', () => {
        for (const [id, reason] of optedOut) {
          expect(DCS_CONTRACT_CASES).toContain(id);
          expect(reason.trim()).not.toBe('');
        }
      });
    }

    contractCase('leader-acquire-exclusive', 'of two racing members exactly one gets the lock', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      await alpha.touchMember(memberData('alpha', 5432));
      await bravo.touchMember(memberData('bravo', 5433));

      const [alphaWon, bravoWon] = await Promise.all([alpha.acquireLeader(), bravo.acquireLeader()]);
      expect(alphaWon !== bravoWon, 'exactly one member wins the race').toBe(true);
      const winner = alphaWon ? 'alpha' : 'bravo';
      const loser = alphaWon ? bravo : alpha;
      expect(await loser.acquireLeader()).toBe(false);

      const view = await cluster.member('charlie').loadCluster();
      expect(view.leader?.name).toBe(winner);
      expect(typeof view.leader?.version).toBe('string');
      expect(view.leader?.member?.name).toBe(winner);
      expect(view.leader?.member?.data).toEqual(memberData(winner, winner === 'alpha' ? 5432 : 5433));
      // The leader key holds the plain member name, as Patroni writes it.
      expect(await cluster.raw('leader')).toBe(winner);
    });

    contractCase('leader-renew-only-while-held', 'renewing succeeds only for the holder', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      expect(await alpha.renewLeader(), 'nobody holds the lock yet').toBe(false);
      expect(await alpha.acquireLeader()).toBe(true);
      const before = (await bravo.loadCluster()).leader;

      expect(await bravo.renewLeader()).toBe(false);
      expect(await alpha.renewLeader()).toBe(true);
      const after = (await bravo.loadCluster()).leader;
      expect(after?.name).toBe('alpha');
      // A renewal that keeps the same lease does not rewrite the key, so it wakes no watcher.
      expect(after?.version).toBe(before?.version);

      expect(await alpha.releaseLeader()).toBe(true);
      expect(await alpha.renewLeader(), 'a released lock cannot be renewed').toBe(false);
      expect((await bravo.loadCluster()).leader).toBeNull();
      expect(await cluster.raw('leader')).toBeNull();
    });

    contractCase('leader-held-while-renewed', 'a holder that keeps renewing keeps the lock past its ttl', async () => {
      const h = use();
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      await alpha.touchMember(memberData('alpha', 5432));
      expect(await alpha.acquireLeader()).toBe(true);
      for (let step = 0; step < 3; step++) {
        await h.letTimePass(h.ttlSeconds * 500);
        expect(await alpha.renewLeader()).toBe(true);
        expect(await alpha.touchMember(memberData('alpha', 5432))).toBe(true);
      }
      expect(await bravo.acquireLeader()).toBe(false);
      const view = await bravo.loadCluster();
      expect(view.leader?.name).toBe('alpha');
      expect(view.members.map((member) => member.name)).toEqual(['alpha']);
    });

    contractCase('leader-release-only-by-holder', 'only the holder can release the lock', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      expect(await alpha.acquireLeader()).toBe(true);
      expect(await bravo.releaseLeader()).toBe(false);
      expect((await bravo.loadCluster()).leader?.name).toBe('alpha');
      expect(await alpha.releaseLeader()).toBe(true);
      expect((await bravo.loadCluster()).leader).toBeNull();
      expect(await bravo.acquireLeader()).toBe(true);
      expect((await alpha.loadCluster()).leader?.name).toBe('bravo');
    });

    contractCase('ttl-expiry', 'leader and member keys of a member that stops renewing expire', async () => {
      const h = use();
      const margin = h.expiryMarginMs ?? 1_000;
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      await alpha.touchMember(memberData('alpha', 5432));
      expect(await alpha.acquireLeader()).toBe(true);
      await bravo.touchMember(memberData('bravo', 5433));
      const leaderVersion = (await bravo.loadCluster()).leader?.version ?? null;
      expect(leaderVersion).not.toBeNull();
      // The expiry of the lock must wake a watcher, like any other change of the leader key.
      const watch = bravo.watchLeader(leaderVersion, (h.ttlSeconds * 1_000 + margin) * 3);

      // alpha stops renewing (a hung agent); bravo keeps its own member key alive meanwhile.
      const step = h.ttlSeconds * 500;
      const steps = Math.ceil((h.ttlSeconds * 1_000 + margin) / step);
      for (let index = 0; index < steps; index++) {
        await h.letTimePass(step);
        expect(await bravo.touchMember(memberData('bravo', 5433))).toBe(true);
      }
      expect(await watch).toBe(true);

      const view = await bravo.loadCluster();
      expect(view.leader).toBeNull();
      expect(view.members.map((member) => member.name)).toEqual(['bravo']);
      expect(await cluster.raw('leader')).toBeNull();
      expect(await cluster.raw('members/alpha')).toBeNull();

      expect(await bravo.acquireLeader()).toBe(true);
      expect(await alpha.renewLeader(), 'the expired holder has lost the lock').toBe(false);
      // The expired member gets a fresh lease on its next write.
      expect(await alpha.touchMember(memberData('alpha', 5432))).toBe(true);
      const after = await alpha.loadCluster();
      expect(after.leader?.name).toBe('bravo');
      expect(after.members.map((member) => member.name).sort()).toEqual(['alpha', 'bravo']);
    });

    contractCase('set-timing', 'a new ttl applies from the next lease, and the lock moves onto it', async () => {
      const h = use();
      const margin = h.expiryMarginMs ?? 1_000;
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      await alpha.touchMember(memberData('alpha', 5432));
      expect(await alpha.acquireLeader()).toBe(true);

      alpha.setTiming({ ttl: h.ttlSeconds * 2, retryTimeout: h.retryTimeoutSeconds ?? 2 });
      expect(await alpha.renewLeader(), 'renewing re-binds the lock to the new lease').toBe(true);
      expect(await alpha.touchMember(memberData('alpha', 5432))).toBe(true);
      // The old, shorter lease has run out by now; the keys live on the new one.
      await h.letTimePass(h.ttlSeconds * 1_000 + margin);
      const held = await bravo.loadCluster();
      expect(held.leader?.name).toBe('alpha');
      expect(held.members.map((member) => member.name)).toEqual(['alpha']);

      await h.letTimePass(h.ttlSeconds * 1_000);
      const expired = await bravo.loadCluster();
      expect(expired.leader).toBeNull();
      expect(expired.members).toEqual([]);
    });

    contractCase('member-round-trip', "member data is stored as Patroni's JSON and read back", async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      const data = memberData('alpha', 5432);
      expect(await alpha.touchMember(data)).toBe(true);
      expect(await cluster.raw('members/alpha')).toBe(encodeMember(data));

      const first = (await bravo.loadCluster()).members;
      expect(first).toHaveLength(1);
      expect(first[0]?.name).toBe('alpha');
      expect(first[0]?.data).toEqual(data);

      const updated: MemberData = { ...data, state: 'stopped', xlog_location: 67_108_999 };
      await alpha.touchMember(updated);
      const second = (await bravo.loadCluster()).members[0];
      expect(second?.data).toEqual(updated);
      expect(second?.version).not.toBe(first[0]?.version);
    });

    contractCase('member-malformed-skipped', 'a malformed value is reported and skipped', async () => {
      const reports: MalformedValue[] = [];
      const cluster = newCluster({ onMalformed: (malformed) => reports.push(malformed) });
      const alpha = cluster.member('alpha');
      await alpha.touchMember(memberData('alpha', 5432));
      await cluster.writeRaw('members/broken', '{"conn_url": ');
      await cluster.writeRaw('config', 'not json');

      const view = await alpha.loadCluster();
      expect(view.members.map((member) => member.name)).toEqual(['alpha']);
      expect(view.config).toBeNull();
      expect(reports.map((report) => report.key).sort()).toEqual(['config', 'members/broken']);
    });

    contractCase('delete-member', "a member's key can be deleted by itself or by name", async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      await alpha.touchMember(memberData('alpha', 5432));
      await bravo.touchMember(memberData('bravo', 5433));
      expect(await alpha.deleteMember()).toBe(true);
      expect((await bravo.loadCluster()).members.map((member) => member.name)).toEqual(['bravo']);
      expect(await alpha.deleteMember('bravo')).toBe(true);
      expect((await bravo.loadCluster()).members).toEqual([]);
    });

    contractCase('cas-config', 'config is compare-and-set on its version', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      expect(await alpha.setConfig({ ttl: 30, loop_wait: 10 }, null)).toBe(true);
      expect(await alpha.setConfig({ ttl: 40 }, null), 'create-only fails when the key exists').toBe(false);
      const first = (await alpha.loadCluster()).config;
      expect(first?.data).toEqual({ ttl: 30, loop_wait: 10 });
      expect(await cluster.raw('config')).toBe(encodeConfig({ ttl: 30, loop_wait: 10 }));

      expect(await alpha.setConfig({ ttl: 40 }, first?.version ?? null)).toBe(true);
      const second = (await alpha.loadCluster()).config;
      expect(second?.data).toEqual({ ttl: 40 });
      expect(second?.version).not.toBe(first?.version);

      expect(await alpha.setConfig({ ttl: 50 }, first?.version ?? null), 'a stale version loses').toBe(false);
      expect((await alpha.loadCluster()).config).toEqual(second);
    });

    contractCase('cas-failover', 'failover is compare-and-set; cleared means {}', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const request = { leader: 'alpha', candidate: 'bravo', scheduledAt: null };
      expect(await alpha.setFailover(request, null)).toBe(true);
      expect(await alpha.setFailover({ ...request, candidate: 'charlie' }, null)).toBe(false);
      expect(await cluster.raw('failover')).toBe('{"leader":"alpha","member":"bravo"}');
      const first = (await alpha.loadCluster()).failover;
      expect(first).toMatchObject({ leader: 'alpha', candidate: 'bravo', scheduledAt: null });

      const scheduled = { leader: 'alpha', candidate: 'charlie', scheduledAt: '2030-01-01T00:00:00+00:00' };
      expect(await alpha.setFailover(scheduled, first?.version ?? null)).toBe(true);
      const second = (await alpha.loadCluster()).failover;
      expect(second).toMatchObject(scheduled);

      expect(await alpha.setFailover(null, first?.version ?? null), 'a stale version loses').toBe(false);
      expect((await alpha.loadCluster()).failover).toEqual(second);
      expect(await alpha.setFailover(null, second?.version ?? null)).toBe(true);
      expect(await cluster.raw('failover')).toBe('{}');
      expect((await alpha.loadCluster()).failover).toBeNull();

      expect(await alpha.setFailover(request), 'without a version the write is unconditional').toBe(true);
      expect((await alpha.loadCluster()).failover?.candidate).toBe('bravo');
    });

    contractCase('cas-sync', 'sync is compare-and-set and returns its new version', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const first = await alpha.setSync({ leader: 'alpha', syncStandby: ['bravo'], quorum: 0 }, null);
      expect(typeof first).toBe('string');
      expect(await alpha.setSync({ leader: 'alpha', syncStandby: [], quorum: 0 }, null)).toBe(false);
      expect((await alpha.loadCluster()).sync).toEqual({
        version: first,
        leader: 'alpha',
        syncStandby: ['bravo'],
        quorum: 0,
      });

      const value = { leader: 'alpha', syncStandby: ['charlie', 'bravo'], quorum: 1 };
      const second = await alpha.setSync(value, first === false ? null : first);
      expect(typeof second).toBe('string');
      expect(second).not.toBe(first);
      expect(await cluster.raw('sync')).toBe(encodeSync(value));
      expect((await alpha.loadCluster()).sync?.version).toBe(second);

      expect(await alpha.setSync(value, first === false ? null : first), 'a stale version loses').toBe(false);
      expect(await alpha.deleteSync(first === false ? null : first), 'a stale delete loses').toBe(false);
      expect((await alpha.loadCluster()).sync?.syncStandby).toEqual(['bravo', 'charlie']);
      expect(await alpha.deleteSync(second === false ? null : second)).toBe(true);
      expect((await alpha.loadCluster()).sync).toBeNull();
      expect(await alpha.deleteSync(), 'an unconditional delete of nothing succeeds').toBe(true);
    });

    contractCase('initialize-race', 'exactly one member wins the bootstrap race', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      const results = await Promise.all([
        alpha.initialize({ create: true, sysid: '' }),
        bravo.initialize({ create: true, sysid: '' }),
      ]);
      expect(results.filter(Boolean)).toHaveLength(1);
      expect((await alpha.loadCluster()).initialize).toBe('');

      const sysid = '7312345678901234567';
      expect(await alpha.initialize({ create: true, sysid })).toBe(false);
      expect(await alpha.initialize({ create: false, sysid })).toBe(true);
      expect((await bravo.loadCluster()).initialize).toBe(sysid);
      expect(await cluster.raw('initialize')).toBe(sysid);

      expect(await alpha.cancelInitialization()).toBe(true);
      expect((await bravo.loadCluster()).initialize).toBeNull();
      expect(await bravo.initialize({ create: true, sysid: '' })).toBe(true);
    });

    contractCase('history-status-failsafe', 'history, status and failsafe are written and read back', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const history: TimelineHistoryEntry[] = [
        [1, 50_331_808, 'no recovery target specified', '2024-05-01T10:00:00.000000+00:00', 'alpha'],
      ];
      const status: ClusterStatus = { optime: 67_108_960, slots: { bravo: 67_108_960 }, retainSlots: ['bravo'] };
      const failsafe = { alpha: 'http://127.0.0.1:8008/patroni', bravo: 'http://127.0.0.1:8009/patroni' };
      expect(await alpha.setHistory(history)).toBe(true);
      expect(await alpha.writeStatus(status)).toBe(true);
      expect(await alpha.writeFailsafe(failsafe)).toBe(true);

      const view = await cluster.member('bravo').loadCluster();
      expect(view.history?.lines).toEqual(history);
      expect(view.status).toEqual(status);
      expect(view.failsafe).toEqual(failsafe);
      expect(await cluster.raw('history')).toBe(encodeHistory(history));
      expect(await cluster.raw('status')).toBe(encodeStatus(status));
      expect(await cluster.raw('failsafe')).toBe(encodeFailsafe(failsafe));

      const longer: TimelineHistoryEntry[] = [...history, [2, 83_886_240, 'no recovery target specified']];
      expect(await alpha.setHistory(longer)).toBe(true);
      expect((await alpha.loadCluster()).history?.lines).toEqual(longer);
    });

    contractCase('watch-wakes-on-change', 'a leader watch wakes promptly when the lock changes', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');

      let started = performance.now();
      const onAcquire = bravo.watchLeader(null, WATCH_TIMEOUT_MS);
      expect(await alpha.acquireLeader()).toBe(true);
      expect(await onAcquire).toBe(true);
      expect(performance.now() - started).toBeLessThan(WATCH_TIMEOUT_MS / 2);

      const version = (await bravo.loadCluster()).leader?.version ?? null;
      expect(version).not.toBeNull();
      started = performance.now();
      const onRelease = bravo.watchLeader(version, WATCH_TIMEOUT_MS);
      expect(await alpha.releaseLeader()).toBe(true);
      expect(await onRelease).toBe(true);
      expect(performance.now() - started).toBeLessThan(WATCH_TIMEOUT_MS / 2);

      // Watching from a version that is already stale returns at once.
      started = performance.now();
      expect(await bravo.watchLeader(version, WATCH_TIMEOUT_MS)).toBe(true);
      expect(performance.now() - started).toBeLessThan(WATCH_TIMEOUT_MS / 2);
    });

    contractCase('watch-timeout', 'a leader watch with no change resolves false at its timeout', async () => {
      const h = use();
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      expect(await alpha.acquireLeader()).toBe(true);
      const version = (await bravo.loadCluster()).leader?.version ?? null;

      let done = false;
      const watch = bravo.watchLeader(version, 1_000).finally(() => {
        done = true;
      });
      await h.letTimePass(500);
      expect(done, 'the watch must not end before its timeout').toBe(false);
      expect(await alpha.renewLeader(), 'renewing the same lease is not a change').toBe(true);
      await h.letTimePass(700);
      expect(await watch).toBe(false);
    });

    contractCase('abort', 'an aborted signal ends waits promptly', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const aborted = AbortSignal.abort();

      let started = performance.now();
      expect(await alpha.watchLeader(null, 60_000, aborted)).toBe(false);
      expectCode(await settled(alpha.loadCluster({ signal: aborted })), 'DCS_ABORTED');

      const controller = new AbortController();
      const watch = alpha.watchLeader(null, 60_000, controller.signal);
      controller.abort();
      expect(await watch).toBe(false);
      expect(performance.now() - started).toBeLessThan(5_000);

      started = performance.now();
      expect(await alpha.acquireLeader(), 'the Dcs still works after an aborted wait').toBe(true);
      expect(performance.now() - started).toBeLessThan(5_000);
    });

    contractCase('close', 'a closed Dcs ends its watches and refuses every operation', async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      const bravo = cluster.member('bravo');
      await alpha.touchMember(memberData('alpha', 5432));
      const watch = alpha.watchLeader(null, 60_000);
      await alpha.close();
      expect(await watch).toBe(false);

      expectCode(await settled(alpha.loadCluster()), 'DCS_CLOSED');
      expectCode(await settled(alpha.acquireLeader()), 'DCS_CLOSED');
      expectCode(await settled(alpha.touchMember(memberData('alpha', 5432))), 'DCS_CLOSED');
      expectCode(await settled(alpha.watchLeader(null, 1_000)), 'DCS_CLOSED');
      await alpha.close();
      // Closing does not revoke the lease: the member key stays until its ttl runs out.
      expect((await bravo.loadCluster()).members.map((member) => member.name)).toEqual(['alpha']);

      const charlie = cluster.member('charlie');
      await charlie[Symbol.asyncDispose]();
      expectCode(await settled(charlie.loadCluster()), 'DCS_CLOSED');
    });

    contractCase('unreachable', 'an unreachable store raises DcsUnreachableError within retryTimeout', async () => {
      const h = use();
      const cluster = newCluster();
      const retryTimeout = h.retryTimeoutSeconds ?? 2;
      const unreachable = h.createUnreachable(cluster.identity('alpha'));
      open.push(unreachable);
      const operations: [string, () => Promise<unknown>][] = [
        ['loadCluster', () => unreachable.loadCluster()],
        ['acquireLeader', () => unreachable.acquireLeader()],
        ['touchMember', () => unreachable.touchMember(memberData('alpha', 5432))],
      ];
      for (const [operation, run] of operations) {
        const started = performance.now();
        const outcome = await settled(run());
        const error = 'error' in outcome ? outcome.error : undefined;
        expect(error, `${operation} must reject`).toBeInstanceOf(DcsUnreachableError);
        expect(isPgwardenError(error, 'DCS_UNREACHABLE')).toBe(true);
        expect((error as Error).message).toMatch(/^\[[\w-]+\] /);
        expect(performance.now() - started, `${operation} gave up late`).toBeLessThan(retryTimeout * 1_000 + 3_000);
      }
    });

    contractCase('delete-cluster', "deleting a cluster removes its keys and no other cluster's", async () => {
      const cluster = newCluster();
      const alpha = cluster.member('alpha');
      // A scope whose name extends this one: a prefix delete must stop at the `/`.
      const neighbour = use().create({ ...cluster.identity('alpha'), scope: `${cluster.scope}x` });
      open.push(neighbour);
      await neighbour.setConfig({ ttl: 30 }, null);
      await neighbour.touchMember(memberData('alpha', 5440));

      await alpha.initialize({ create: true, sysid: '7312345678901234567' });
      await alpha.setConfig({ ttl: 30 }, null);
      await alpha.touchMember(memberData('alpha', 5432));
      expect(await alpha.acquireLeader()).toBe(true);
      const loaded = await alpha.loadCluster();
      expect(loaded.members).toHaveLength(1);

      expect(await alpha.deleteCluster()).toBe(true);
      const view = await alpha.loadCluster();
      expect(view).toMatchObject({ initialize: null, config: null, leader: null, members: [] });
      const other = await neighbour.loadCluster();
      expect(other.config?.data).toEqual({ ttl: 30 });
      expect(other.members.map((member) => member.name)).toEqual(['alpha']);
    });
  });
}
