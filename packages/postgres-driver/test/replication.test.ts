import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotNameForMember, type PostgresObservation, type Upstream } from '@pgwarden/core';
import { freePort, makeTempDir, postgresBinDir, unprivilegedUser } from '@pgwarden/testkit/postgres';
import { createPostgresDriver, type PostgresDriver } from '../src/index.js';

const superuser = { username: 'postgres', password: 'super:secret' };
const replication = { username: 'replicator', password: 'rep:pass\\word' };
const rewind = { username: 'rewinder', password: 'rewind-secret' };

interface Node {
  readonly name: string;
  readonly port: number;
  readonly driver: PostgresDriver;
  readonly upstream: Upstream;
}

let root: string;
let a: Node;
let b: Node;

async function makeNode(name: string): Promise<Node> {
  const port = await freePort();
  const user = unprivilegedUser();
  const driver = createPostgresDriver({
    name,
    scope: 'driver-test',
    dataDir: join(root, name, 'data'),
    binDir: postgresBinDir(),
    listen: { host: '127.0.0.1', port },
    connectAddress: { host: '127.0.0.1', port },
    authentication: { superuser, replication, rewind },
    parameters: { shared_buffers: '16MB', max_connections: 30, fsync: 'off' },
    pgpass: join(root, name, 'pgpass'),
    initdb: [{ encoding: 'UTF8' }, 'data-checksums'],
    usePgRewind: true,
    osUser: { uid: user.uid, gid: user.gid },
    pgCtlTimeout: 30,
  });
  return { name, port, driver, upstream: { name, host: '127.0.0.1', port } };
}

async function sql<T extends object = Record<string, unknown>>(node: Node, text: string): Promise<T[]> {
  const client = new Client({ host: '127.0.0.1', port: node.port, database: 'postgres', ...toClientAuth() });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

function toClientAuth() {
  return { user: superuser.username, password: superuser.password };
}

/** Polls `observe()` until `predicate` holds; the last observation is in the failure message. */
async function waitForObservation(
  node: Node,
  predicate: (observation: PostgresObservation) => boolean,
  timeoutMs = 20_000,
): Promise<PostgresObservation> {
  const deadline = Date.now() + timeoutMs;
  let last = await node.driver.observe();
  while (!predicate(last)) {
    if (Date.now() > deadline) throw new Error(`${node.name}: condition not reached: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    last = await node.driver.observe();
  }
  return last;
}

beforeAll(async () => {
  root = await makeTempDir('pgwarden-driver-');
  a = await makeNode('pg-a');
  b = await makeNode('pg-b');
});

afterAll(async () => {
  for (const node of [a, b]) {
    if (!node) continue;
    await node.driver.stop({ mode: 'immediate' }).catch(() => {});
    await node.driver[Symbol.asyncDispose]();
  }
  if (root) await rm(root, { recursive: true, force: true });
});

describe('postgres-driver on PostgreSQL 15', () => {
  it('observes a missing data directory without throwing', async () => {
    const observation = await a.driver.observe();
    expect(observation).toMatchObject({
      dataDirectory: 'missing',
      running: false,
      accepting: false,
      role: null,
      systemId: null,
    });
  });

  it('bootstraps a primary with its roles', async () => {
    const steps: string[] = [];
    await a.driver.bootstrap({ progress: (message) => steps.push(message) });
    expect(steps).toEqual(['running initdb', 'starting', 'creating roles']);

    const observation = await a.driver.observe();
    expect(observation).toMatchObject({
      dataDirectory: 'initialized',
      controlState: 'in production',
      running: true,
      accepting: true,
      role: 'primary',
      timeline: 1,
      standbySignal: false,
      upstream: null,
      serverVersion: expect.any(Number),
    });
    expect(observation.systemId).toMatch(/^\d+$/);
    expect(observation.walPosition).toBeGreaterThan(0);

    const roles = await sql<{ rolname: string; rolreplication: boolean }>(
      a,
      "SELECT rolname, rolreplication FROM pg_roles WHERE rolname IN ('replicator', 'rewinder') ORDER BY rolname",
    );
    expect(roles).toEqual([
      { rolname: 'replicator', rolreplication: true },
      { rolname: 'rewinder', rolreplication: false },
    ]);
    const settings = await sql<{ name: string; setting: string }>(
      a,
      "SELECT name, setting FROM pg_settings WHERE name IN ('cluster_name', 'wal_log_hints', 'max_connections', 'hot_standby') ORDER BY name",
    );
    expect(settings).toEqual([
      { name: 'cluster_name', setting: 'driver-test' },
      { name: 'hot_standby', setting: 'on' },
      { name: 'max_connections', setting: '30' },
      { name: 'wal_log_hints', setting: 'on' },
    ]);
  });

  it('clones a replica that streams and replays new writes', async () => {
    await a.driver.syncReplicationSlots([slotNameForMember(b.name)]);
    const lines: string[] = [];
    await b.driver.cloneFrom(a.upstream, { progress: (message) => lines.push(message) });
    expect(lines).toContain('running pg_basebackup');
    expect(await b.driver.start({ role: 'replica', upstream: a.upstream })).toBe(true);

    const streaming = await waitForObservation(b, (o) => o.replicationState === 'streaming');
    expect(streaming).toMatchObject({
      role: 'replica',
      standbySignal: true,
      timeline: 1,
      upstream: { host: '127.0.0.1', port: a.port, applicationName: 'pg-b' },
    });
    expect(streaming.systemId).toBe((await a.driver.observe()).systemId);

    const primaryView = await waitForObservation(a, (o) => o.replication.some((row) => row.state === 'streaming'));
    expect(primaryView.replication[0]).toMatchObject({ application_name: 'pg-b', usename: 'replicator' });

    await sql(a, 'CREATE TABLE t (id int PRIMARY KEY, origin text)');
    await sql(a, "INSERT INTO t SELECT g, 'a' FROM generate_series(1, 1000) g");
    const primaryPosition = (await a.driver.observe()).walPosition!;
    expect(primaryPosition).toBeGreaterThan(streaming.walPosition!);
    await waitForObservation(b, (o) => (o.replayLsn ?? 0) >= primaryPosition);
    expect(await sql(b, 'SELECT count(*)::int AS n FROM t')).toEqual([{ n: 1000 }]);
  });

  it('promotes the replica and rewinds the old primary after a divergent write', async () => {
    expect(await b.driver.promote({})).toBe(true);
    const promoted = await waitForObservation(b, (o) => o.role === 'primary');
    expect(promoted).toMatchObject({ timeline: 2, standbySignal: false, upstream: null });
    await b.driver.checkpoint();
    const history = await b.driver.readTimelineHistory(2);
    expect(history).toHaveLength(1);
    expect(history[0]![0]).toBe(1);
    expect(history[0]![1]).toBeGreaterThan(0);

    // The old primary takes a write the new one never sees, then stops cleanly.
    await sql(a, "INSERT INTO t VALUES (5001, 'divergent')");
    expect(await a.driver.stop({ mode: 'fast' })).toBe(true);
    expect((await a.driver.observe()).controlState).toBe('shut down');

    await b.driver.syncReplicationSlots([slotNameForMember(a.name)]);
    const steps: string[] = [];
    expect(await a.driver.rewindFrom(b.upstream, { progress: (message) => steps.push(message) })).toEqual({
      rewound: true,
    });
    expect(steps).not.toContain('running crash recovery in single-user mode');

    expect(await a.driver.start({ role: 'replica', upstream: b.upstream })).toBe(true);
    const following = await waitForObservation(a, (o) => o.replicationState === 'streaming');
    expect(following).toMatchObject({ role: 'replica', timeline: 2, upstream: { port: b.port } });

    await sql(b, "INSERT INTO t VALUES (6001, 'b')");
    const position = (await b.driver.observe()).walPosition!;
    await waitForObservation(a, (o) => (o.replayLsn ?? 0) >= position);
    expect(await sql(a, 'SELECT id FROM t WHERE id > 1000 ORDER BY id')).toEqual([{ id: 6001 }]);
  });

  it('runs crash recovery before rewinding a primary that was stopped immediately', async () => {
    expect(await a.driver.promote({})).toBe(true);
    await waitForObservation(a, (o) => o.role === 'primary' && o.timeline === 3);
    await a.driver.checkpoint();

    await sql(b, "INSERT INTO t VALUES (7001, 'divergent')");
    expect(await b.driver.stop({ mode: 'immediate' })).toBe(true);
    expect((await b.driver.observe()).controlState).toBe('in production');

    await a.driver.syncReplicationSlots([slotNameForMember(b.name)]);
    const steps: string[] = [];
    expect(await b.driver.rewindFrom(a.upstream, { progress: (message) => steps.push(message) })).toEqual({
      rewound: true,
    });
    expect(steps).toContain('running crash recovery in single-user mode');

    expect(await b.driver.start({ role: 'replica', upstream: a.upstream })).toBe(true);
    const following = await waitForObservation(b, (o) => o.replicationState === 'streaming');
    expect(following.timeline).toBe(3);
    expect(await sql(b, 'SELECT id FROM t WHERE id > 1000 ORDER BY id')).toEqual([{ id: 6001 }]);
  });

  it('reports no rewind needed for a replica that never diverged', async () => {
    expect(await b.driver.stop({ mode: 'fast' })).toBe(true);
    expect(await b.driver.rewindFrom(a.upstream, {})).toEqual({ rewound: false });
    expect(await b.driver.start({ role: 'replica', upstream: a.upstream })).toBe(true);
    await waitForObservation(b, (o) => o.replicationState === 'streaming');
  });

  it('creates missing slots and drops unwanted inactive ones, never active ones', async () => {
    const slotOfB = slotNameForMember(b.name);
    const slots = async () =>
      (await sql<{ slot_name: string }>(a, 'SELECT slot_name FROM pg_replication_slots ORDER BY slot_name')).map(
        (row) => row.slot_name,
      );
    await a.driver.syncReplicationSlots([slotOfB, 'extra_one', 'extra_two']);
    expect(await slots()).toEqual(['extra_one', 'extra_two', slotOfB]);
    await a.driver.syncReplicationSlots([slotOfB, 'extra_two']);
    expect(await slots()).toEqual(['extra_two', slotOfB]);
    await a.driver.syncReplicationSlots([]);
    expect(await slots()).toEqual([slotOfB]);
  });

  it('follows no upstream and then its upstream again with a reload', async () => {
    expect(await b.driver.follow(a.upstream)).toEqual({ changed: false, restarted: false });
    expect(await b.driver.follow(null)).toEqual({ changed: true, restarted: false });
    const detached = await waitForObservation(b, (o) => o.replicationState !== 'streaming');
    expect(detached).toMatchObject({ upstream: null, standbySignal: true, role: 'replica' });
    expect(await b.driver.follow(a.upstream)).toEqual({ changed: true, restarted: false });
    await waitForObservation(b, (o) => o.replicationState === 'streaming');
  });

  it('applies settings and names the parameters that need a restart', async () => {
    const result = await a.driver.applySettings({
      parameters: { shared_buffers: '32MB', max_connections: 30, fsync: 'off', work_mem: '8MB', no_such_setting: 1 },
    });
    expect([...result.changed].sort()).toEqual(['shared_buffers', 'work_mem']);
    expect(result.pendingRestart).toEqual(['shared_buffers']);
    expect(result.rejected).toEqual(['no_such_setting']);
    await waitForObservation(a, (o) => o.pendingRestart);
    expect(await sql(a, 'SHOW work_mem')).toEqual([{ work_mem: '8MB' }]);

    expect(await a.driver.restart({ role: 'primary' })).toBe(true);
    const restarted = await waitForObservation(a, (o) => o.accepting);
    expect(restarted.pendingRestart).toBe(false);
    expect(await sql(a, 'SHOW shared_buffers')).toEqual([{ shared_buffers: '32MB' }]);
  });

  it('observes a stopped instance without throwing', async () => {
    expect(await b.driver.stop({ mode: 'fast' })).toBe(true);
    const observation = await b.driver.observe();
    expect(observation).toMatchObject({
      dataDirectory: 'initialized',
      controlState: 'shut down in recovery',
      running: false,
      accepting: false,
      role: null,
      standbySignal: true,
      upstream: { port: a.port },
    });
    await b.driver.removeDataDirectory();
    expect((await b.driver.observe()).dataDirectory).toBe('missing');
  });
});
