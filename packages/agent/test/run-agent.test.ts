/**
 * runAgent's loop with no PostgreSQL and no store server: the in-memory Dcs, a scripted PostgreSQL driver and a
 * test clock (loop_wait passes when the test says so). Only the REST API listens, on a free loopback port.
 */
import type { AddressInfo } from 'node:net';
import { createServer } from 'node:http';
import { connect } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import type { Dcs, LogLevel, Logger, PostgresObservation, StartOptions, Upstream } from '@pgwarden/core';
import { PgwardenError } from '@pgwarden/core';
import { parseConfig } from '@pgwarden/config';
import type { PostgresDriver } from '@pgwarden/postgres-driver';
import type { MemoryStore, TestClock } from '@pgwarden/testkit';
import { createMemoryDcs, createMemoryStore, createTestClock, freePort } from '@pgwarden/testkit';
import { runAgent } from '../src/agent.js';

const SCOPE = 'run-agent';
const NAME = 'member0';
const LEADER_KEY = `/service/${SCOPE}/leader`;

interface LogLine {
  readonly level: LogLevel;
  readonly message: string;
  readonly fields: Record<string, unknown> | undefined;
}

/** What happened, in order, across the fake driver and the store: the stop order is read from it. */
type Event = 'pg.bootstrap' | 'pg.stop' | 'dcs.releaseLeader';

/** A PostgreSQL that exists only as a few fields; `bootstrap` makes it a running primary at once. */
class FakePostgres implements PostgresDriver {
  running = false;
  initialized = false;
  role: 'primary' | 'replica' = 'primary';
  /** The next observe() throws this, once. */
  failNextObserve: Error | null = null;
  observeCalls = 0;

  constructor(private readonly events: Event[]) {}

  observe(): Promise<PostgresObservation> {
    this.observeCalls++;
    const failure = this.failNextObserve;
    if (failure) {
      this.failNextObserve = null;
      return Promise.reject(failure);
    }
    const up = this.running;
    return Promise.resolve({
      dataDirectory: this.initialized ? 'initialized' : 'missing',
      systemId: this.initialized ? '7300000000000000001' : null,
      controlState: this.initialized ? (up ? 'in production' : 'shut down') : null,
      running: up,
      accepting: up,
      role: up ? this.role : null,
      timeline: up ? 1 : null,
      walPosition: up ? 0x3000000 : null,
      receiveLsn: null,
      replayLsn: null,
      replicationState: null,
      upstream: null,
      standbySignal: false,
      postmasterStartTime: up ? '2026-01-01 00:00:00.000 UTC' : null,
      serverVersion: 150000,
      replication: [],
      pendingRestart: false,
      synchronousStandbyNames: up ? '' : null,
      replicationSlots: up ? [] : null,
    });
  }

  bootstrap(): Promise<void> {
    this.events.push('pg.bootstrap');
    this.initialized = true;
    this.running = true;
    this.role = 'primary';
    return Promise.resolve();
  }

  start(options: StartOptions): Promise<boolean> {
    this.running = true;
    this.role = options.role;
    return Promise.resolve(true);
  }

  stop(): Promise<boolean> {
    this.events.push('pg.stop');
    this.running = false;
    return Promise.resolve(true);
  }

  restart(options: StartOptions): Promise<boolean> {
    return this.start(options);
  }

  promote(): Promise<boolean> {
    this.role = 'primary';
    return Promise.resolve(true);
  }

  follow(_upstream: Upstream | null) {
    return Promise.resolve({ changed: false, restarted: false });
  }

  cloneFrom(): Promise<void> {
    return Promise.reject(new Error('not scripted: clone'));
  }

  rewindFrom(): Promise<{ rewound: boolean }> {
    return Promise.reject(new Error('not scripted: rewind'));
  }

  removeDataDirectory(): Promise<void> {
    this.initialized = false;
    return Promise.resolve();
  }

  reload = () => Promise.resolve();
  checkpoint = () => Promise.resolve();
  syncReplicationSlots = () => Promise.resolve();
  setSynchronousStandbyNames = () => Promise.resolve(true);
  readTimelineHistory = () => Promise.resolve([]);
  applySettings = () => Promise.resolve({ changed: [], pendingRestart: [], rejected: [], hbaChanged: false });
  moveDataDirectoryAside = () => Promise.resolve(null);
  listReplicationSlots = () => Promise.resolve([]);
  changeReplicationSlots = () => Promise.resolve({ failed: [], recopy: [] });
  copyLogicalSlots = () => Promise.resolve([]);
  [Symbol.asyncDispose] = () => Promise.resolve();
}

/** The memory Dcs, counting loads (one per cycle past observe, one at start-up) and recording lock releases. */
function recordingDcs(dcs: Dcs, events: Event[], counts: { loads: number }): Dcs {
  return new Proxy(dcs, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (property === 'loadCluster') counts.loads++;
        if (property === 'releaseLeader') events.push('dcs.releaseLeader');
        return (value as (...inner: unknown[]) => unknown).apply(target, args);
      };
    },
  });
}

function listening(port: number): Promise<boolean> {
  return new Promise((resolveProbe) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolveProbe(true);
    });
    socket.once('error', () => resolveProbe(false));
  });
}

interface Harness {
  readonly clock: TestClock;
  readonly store: MemoryStore;
  readonly postgres: FakePostgres;
  readonly events: Event[];
  readonly counts: { loads: number };
  readonly lines: LogLine[];
  readonly apiPort: number;
  readonly controller: AbortController;
  readonly running: Promise<void>;
}

const LOOP_WAIT_MS = 10_000;
let current: Harness | null = null;

afterEach(async () => {
  // A failed assertion must not leave the loop or its REST server running.
  if (!current) return;
  current.controller.abort();
  await current.running.catch(() => undefined);
  current = null;
});

/** `prepare` writes into the store before the agent starts. */
async function startAgent(prepare?: (store: MemoryStore) => void): Promise<Harness> {
  const clock = createTestClock(1_700_000_000_000);
  const store = createMemoryStore({ clock });
  prepare?.(store);
  const events: Event[] = [];
  const counts = { loads: 0 };
  const postgres = new FakePostgres(events);
  const apiPort = await freePort();
  const config = parseConfig(
    `scope: ${SCOPE}
name: ${NAME}
restapi:
  listen: 127.0.0.1:${apiPort}
  connect_address: 127.0.0.1:${apiPort}
etcd3:
  hosts: 127.0.0.1:1
bootstrap:
  dcs:
    ttl: 30
    loop_wait: ${LOOP_WAIT_MS / 1000}
    retry_timeout: 10
postgresql:
  listen: 127.0.0.1:1
  connect_address: 127.0.0.1:1
  data_dir: /nonexistent/run-agent-test
  authentication:
    superuser:
      username: postgres
      password: secret
    replication:
      username: replicator
      password: secret
watchdog:
  mode: off
`,
    'run-agent.yml',
  );
  const dcs = recordingDcs(createMemoryDcs({ store, scope: SCOPE, namespace: '/service', name: NAME, ttl: 30, retryTimeout: 10 }), events, counts);
  const lines: LogLine[] = [];
  const logger: Logger = { log: (level, message, fields) => void lines.push({ level, message, fields }) };
  const controller = new AbortController();
  const running = runAgent(config, { clock, logger, signal: controller.signal, env: {}, dcs, postgres });
  current = { clock, store, postgres, events, counts, lines, apiPort, controller, running };
  return current;
}

/** Each cycle's line: the lock owner, who I am, what was decided, with its typed reason. */
const decisions = (h: Harness) => h.lines.filter((line) => typeof line.fields?.['reason'] === 'string');
const reasons = (h: Harness) => decisions(h).map((line) => String(line.fields?.['reason']));

/** Lets real I/O (the REST server) and the loop's promise chains run; time stands still. */
async function settle(): Promise<void> {
  for (let turn = 0; turn < 5; turn++) await delay(1);
}

/** Polls (time standing still, then moving by `stepMs`) until `check` holds; fails with the log. */
async function until(h: Harness, description: string, check: () => boolean, stepMs = 0): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (check()) return;
    await settle();
    if (stepMs > 0) await h.clock.advance(stepMs);
  }
  throw new Error(`never happened: ${description}\n${h.lines.map((line) => `${line.level} ${line.message} ${JSON.stringify(line.fields ?? {})}`).join('\n')}`);
}

/** Runs up to the steady state: bootstrapped, holding the lock, the loop parked in its loop_wait sleep. */
async function leaderAtRest(h: Harness): Promise<void> {
  await until(h, 'the leader lock renewed', () => reasons(h).includes('leader_lock_renewed'), 1000);
  await settle();
  expect(h.store.readRaw(LEADER_KEY)).toBe(NAME);
}

describe('runAgent', () => {
  it('bootstraps, then logs exactly one decision line per cycle', async () => {
    const h = await startAgent();
    await leaderAtRest(h);
    expect(h.events).toEqual(['pg.bootstrap']);
    expect(reasons(h)).toContain('bootstrap_started');
    // The REST API answers from the loop's state.
    const primary = await fetch(`http://127.0.0.1:${h.apiPort}/primary`, { signal: AbortSignal.timeout(5000) });
    expect(primary.status).toBe(200);
    expect(await primary.json()).toMatchObject({ role: 'primary', state: 'running', patroni: { scope: SCOPE, name: NAME } });

    // One loop_wait at a time: each passes exactly one cycle and so exactly one decision line.
    for (let step = 0; step < 3; step++) {
      const before = decisions(h).length;
      const loadsBefore = h.counts.loads;
      await h.clock.advance(LOOP_WAIT_MS);
      await until(h, `cycle ${step} logged`, () => decisions(h).length > before);
      await settle();
      expect(h.counts.loads - loadsBefore).toBe(1);
      expect(decisions(h).length - before).toBe(1);
      const line = decisions(h).at(-1)!;
      expect(line.fields?.['reason']).toBe('leader_lock_renewed');
      expect(line.message).toMatch(new RegExp(`^Lock owner: ${NAME}; I am ${NAME}: `));
      expect(line.level).toBe('info');
    }
    // Over the whole run too: one line per cycle that reached the store (the first load is the start-up check).
    expect(decisions(h).length).toBe(h.counts.loads - 1);
  });

  it('publishes the last cycle decision in GET /patroni under pgwarden.last_decision', async () => {
    const h = await startAgent();
    await leaderAtRest(h);
    const answer = await fetch(`http://127.0.0.1:${h.apiPort}/patroni`);
    const body = (await answer.json()) as { pgwarden?: { last_decision?: Record<string, unknown> } };
    const line = decisions(h).at(-1)!;
    expect(body.pgwarden?.last_decision).toEqual({ reason: 'leader_lock_renewed', message: line.message.replace(/^Lock owner: [^;]*; I am [^:]*: /, ''), at: new Date(h.clock.now()).toISOString() });
  });

  it('survives a cycle whose effect throws and keeps looping', async () => {
    const h = await startAgent();
    await leaderAtRest(h);
    const before = decisions(h).length;
    h.postgres.failNextObserve = new Error('scripted observe failure');
    await h.clock.advance(LOOP_WAIT_MS);
    await until(h, 'the failure logged', () => h.lines.some((line) => line.message.includes('HA cycle failed')));
    const failure = h.lines.find((line) => line.message.includes('HA cycle failed'))!;
    expect(failure.level).toBe('error');
    expect(failure.message).toContain('scripted observe failure');
    // The failed cycle decided nothing; the next one runs after loop_wait as usual.
    expect(decisions(h).length).toBe(before);
    await until(h, 'a cycle after the failure', () => decisions(h).length > before, 1000);
    expect(reasons(h).at(-1)).toBe('leader_lock_renewed');
    expect(h.store.readRaw(LEADER_KEY)).toBe(NAME);
  });

  it('survives an unreachable store: the cycle decides from what it has, the loop goes on', async () => {
    const h = await startAgent();
    await leaderAtRest(h);
    const before = decisions(h).length;
    h.store.setReachable(false);
    await h.clock.advance(LOOP_WAIT_MS);
    await until(h, 'a decision without the store', () => decisions(h).length > before);
    expect(reasons(h).at(-1)).toMatch(/^dcs_unreachable/);
    expect(h.lines.some((line) => line.message.includes('HA cycle failed'))).toBe(false);
    h.store.setReachable(true);
    const outage = decisions(h).length;
    await until(h, 'back to holding the lock', () => decisions(h).length > outage && reasons(h).at(-1) !== undefined && !reasons(h).at(-1)!.startsWith('dcs_'), 1000);
    await until(h, 'the lock renewed again', () => reasons(h).at(-1) === 'leader_lock_renewed' && h.postgres.running, 1000);
    expect(h.store.readRaw(LEADER_KEY)).toBe(NAME);
  });

  it('refuses to start when a live agent already runs under its name', async () => {
    // A REST API answering /liveness at the api_url the store lists for our name: a second agent by mistake.
    const other = createServer((request, response) => response.writeHead(request.url === '/liveness' ? 200 : 404).end());
    await new Promise<void>((resolveListen) => other.listen(0, '127.0.0.1', resolveListen));
    try {
      const { port } = other.address() as AddressInfo;
      const h = await startAgent((store) =>
        store.writeRaw(`/service/${SCOPE}/members/${NAME}`, JSON.stringify({ api_url: `http://127.0.0.1:${port}/patroni`, conn_url: 'postgres://127.0.0.1:1/postgres', state: 'running', role: 'primary' })),
      );
      const refused = await h.running.then(() => null, (error: unknown) => error);
      current = null;
      expect(refused).toBeInstanceOf(PgwardenError);
      expect((refused as PgwardenError).code).toBe('DUPLICATE_MEMBER');
      expect((refused as PgwardenError).message).toContain(`cannot start: there is already a node named ${NAME} running`);
      expect(h.events).toEqual([]);
      expect(h.postgres.observeCalls).toBe(0);
      expect(await listening(h.apiPort)).toBe(false);
    } finally {
      await new Promise((resolveClose) => other.close(resolveClose));
    }
  });

  it('starts when the member key under its name is left over from a dead agent', async () => {
    // Nothing listens at that api_url any more.
    const deadPort = await freePort();
    const h = await startAgent((store) =>
      store.writeRaw(`/service/${SCOPE}/members/${NAME}`, JSON.stringify({ api_url: `http://127.0.0.1:${deadPort}/patroni`, state: 'running', role: 'primary' })),
    );
    await leaderAtRest(h);
    expect(h.events).toEqual(['pg.bootstrap']);
  });

  it('on abort stops postgres first, then releases the leader lock, then closes the REST API', async () => {
    const h = await startAgent();
    await leaderAtRest(h);
    h.controller.abort();
    await h.running;
    expect(h.events).toEqual(['pg.bootstrap', 'pg.stop', 'dcs.releaseLeader']);
    expect(h.postgres.running).toBe(false);
    expect(h.store.readRaw(LEADER_KEY)).toBeNull();
    expect(h.lines.some((line) => line.message === 'postgres stopped; released the leader lock')).toBe(true);
    expect(await listening(h.apiPort)).toBe(false);
    current = null;
  });
});
