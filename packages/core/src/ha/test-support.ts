/**
 * Fixtures shared by the HA cycle's unit tests: observations, members, clusters, peers and a scripted run of one
 * cycle with every effect answered (defaults overridable per effect). Test-only: not exported from the package.
 */
import type { Cluster, Failover, Member, MemberData } from '../model.js';
import { emptyCluster } from '../model.js';
import type { PostgresObservation } from '../postgres.js';
import type { CycleInput, CycleResult, HaMemory, HaSettings } from './cycle.js';
import { INITIAL_MEMORY, haCycle } from './cycle.js';
import type { Effect, EffectHandlers, EffectKind, PeerStatus } from './effects.js';
import { interpret } from './effects.js';

export const NOW = Date.parse('2026-11-21T12:00:00Z');
export const SYSTEM_ID = '7000000000000000001';
export const BASE_CONFIG = { ttl: 30, loop_wait: 10, retry_timeout: 10, postgresql: { use_pg_rewind: true } };

export const settings: HaSettings = {
  name: 'node1',
  scope: 'demo',
  tags: {},
  connUrl: 'postgres://127.0.0.1:5433/postgres',
  apiUrl: 'http://127.0.0.1:8009/patroni',
  patroniVersion: '4.1.4',
  bootstrapDynamicConfig: BASE_CONFIG,
  enforceTimingMinimums: true,
  removeDataDirectoryOnRewindFailure: false,
};

/** A streaming replica at 5000 on timeline 1 unless overridden. */
export function pgObservation(overrides: Partial<PostgresObservation> = {}): PostgresObservation {
  return {
    dataDirectory: 'initialized',
    systemId: SYSTEM_ID,
    controlState: 'in archive recovery',
    running: true,
    accepting: true,
    role: 'replica',
    timeline: 1,
    walPosition: 5000,
    receiveLsn: 5000,
    replayLsn: 5000,
    replicationState: 'streaming',
    upstream: null,
    standbySignal: true,
    postmasterStartTime: '2026-11-21 11:00:00+00',
    serverVersion: 150004,
    replication: [],
    pendingRestart: false,
    synchronousStandbyNames: null,
    ...overrides,
  };
}

export const runningPrimary = pgObservation({ role: 'primary', controlState: 'in production', standbySignal: false, walPosition: 9000 });
export const stoppedPrimary = pgObservation({ running: false, accepting: false, role: null, controlState: 'in production', standbySignal: false });

/** node<N> listens on 5432+N (PostgreSQL) and 8432+N (REST API). */
export function member(name: string, data: Partial<MemberData> = {}): Member {
  const port = 5432 + Number(name.replace(/\D/g, '') || 0);
  return {
    name,
    version: '1',
    data: { conn_url: `postgres://127.0.0.1:${port}/postgres`, api_url: `http://127.0.0.1:${port + 3000}/patroni`, state: 'running', role: 'replica', version: '4.1.4', ...data },
  };
}

export const MEMBERS: readonly Member[] = [member('node0', { role: 'primary' }), member('node1'), member('node2')];

export interface ClusterOptions {
  readonly leader?: string;
  readonly members?: readonly Member[];
  readonly config?: Record<string, unknown>;
  readonly failover?: Omit<Failover, 'version'>;
  readonly overrides?: Partial<Cluster>;
}

/** An initialized cluster with node0..node2 and the base config; `leader` names the lock holder. */
export function cluster(options: ClusterOptions = {}): Cluster {
  const members = options.members ?? MEMBERS;
  const base: Cluster = {
    ...emptyCluster(),
    initialize: SYSTEM_ID,
    members: [...members],
    config: { version: '1', data: { ...BASE_CONFIG, ...options.config } },
    failover: options.failover ? { version: '42', ...options.failover } : null,
    ...options.overrides,
  };
  if (!options.leader) return base;
  return { ...base, leader: { name: options.leader, version: '7', member: members.find((m) => m.name === options.leader) ?? null } };
}

export function peer(name: string, walPosition: number, extra: Partial<Extract<PeerStatus, { reachable: true }>> = {}): PeerStatus {
  return { name, reachable: true, role: 'replica', state: 'running', walPosition, timeline: 1, tags: {}, watchdogFailed: false, ...extra };
}

/** This member holds the lock it renewed 10 s ago. */
export const leaderMemory: HaMemory = { ...INITIAL_MEMORY, lockValidUntil: NOW + 20_000, lastDcsContact: NOW - 10_000 };

export type Answers = Partial<{ [K in EffectKind]: (effect: Extract<Effect, { kind: K }>) => unknown }>;

export interface Scripted {
  readonly pg: PostgresObservation;
  /** Observations after the first, in order (the last repeats); default: `pg` again. */
  readonly pgAfter?: readonly PostgresObservation[];
  readonly cluster: Cluster | { readonly unreachable: string };
  readonly answers?: Answers;
}

export interface Ran {
  readonly result: CycleResult;
  readonly effects: Effect[];
  readonly kinds: EffectKind[];
  /** The effects of one kind, in order. */
  readonly of: <K extends EffectKind>(kind: K) => Array<Extract<Effect, { kind: K }>>;
}

/** Runs one cycle against scripted answers and records every effect it asked for. */
export async function runCycle(script: Scripted, input: Partial<CycleInput> = {}): Promise<Ran> {
  const effects: Effect[] = [];
  const ok = { ok: true, value: true };
  let observations = 0;
  const observe = (): PostgresObservation => {
    const index = observations++;
    if (index === 0 || !script.pgAfter?.length) return script.pg;
    return script.pgAfter[Math.min(index - 1, script.pgAfter.length - 1)] ?? script.pg;
  };
  const defaults: Record<EffectKind, () => unknown> = {
    'pg.observe': observe,
    'pg.promote': () => true,
    'pg.stop': () => true,
    'pg.follow': () => ({ changed: false, restarted: false }),
    'pg.changeSlots': () => ({ failed: [], recopy: [] }),
    'pg.timelineHistory': () => [],
    'dcs.load': () => ('unreachable' in script.cluster ? { ok: false, error: script.cluster.unreachable } : { ok: true, value: script.cluster }),
    'dcs.acquireLeader': () => ok,
    'dcs.renewLeader': () => ok,
    'dcs.releaseLeader': () => ok,
    'dcs.touchMember': () => ok,
    'dcs.initialize': () => ok,
    'dcs.cancelInitialization': () => ok,
    'dcs.setConfig': () => ok,
    'dcs.clearFailover': () => ok,
    'dcs.setHistory': () => ok,
    'dcs.writeStatus': () => ok,
    'task.start': () => true,
    'callback.run': () => true,
    'pg.prePromote': () => true,
    'watchdog.activate': () => true,
    'dcs.setSync': () => ({ ok: true, value: '50' }),
    'dcs.deleteSync': () => ok,
    'pg.setSyncStandbyNames': () => true,
    'watchdog.disable': () => true,
    'peers.probe': () => [],
    'peers.failsafe': () => [],
    'dcs.writeFailsafe': () => ok,
    'watchdog.keepalive': () => true,
  };
  const handlers = Object.fromEntries(
    (Object.keys(defaults) as EffectKind[]).map((kind) => [
      kind,
      (effect: Effect) => {
        effects.push(effect);
        const custom = script.answers?.[kind] as ((effect: Effect) => unknown) | undefined;
        return Promise.resolve(custom ? custom(effect) : defaults[kind]());
      },
    ]),
  ) as unknown as EffectHandlers;
  const result = await interpret(haCycle({ settings, memory: INITIAL_MEMORY, now: NOW, task: null, ...input }), handlers);
  return {
    result,
    effects,
    kinds: effects.map((effect) => effect.kind),
    of: <K extends EffectKind>(kind: K) => effects.filter((effect): effect is Extract<Effect, { kind: K }> => effect.kind === kind),
  };
}
