import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresObservation, Upstream } from '@pgwarden/core';
import { freePort, makeTempDir, postgresBinDir, unprivilegedUser } from '@pgwarden/testkit/postgres';
import { createPostgresDriver, type PostgresDriver } from '../src/index.js';

const superuser = { username: 'postgres', password: 'super-secret' };
const replication = { username: 'replicator', password: 'rep-pass' };
const rewind = { username: 'rewinder', password: 'rewind-secret' };
const cdc = { name: 'cdc', database: 'postgres', plugin: 'test_decoding' };

interface Node {
  readonly name: string;
  readonly port: number;
  readonly driver: PostgresDriver;
  readonly upstream: Upstream;
}

let root: string;
let primary: Node;
let replica: Node;
const warnings: string[] = [];

async function makeNode(name: string): Promise<Node> {
  const port = await freePort();
  const user = unprivilegedUser();
  const driver = createPostgresDriver({
    name,
    scope: 'slots-test',
    dataDir: join(root, name, 'data'),
    binDir: postgresBinDir(),
    listen: { host: '127.0.0.1', port },
    connectAddress: { host: '127.0.0.1', port },
    authentication: { superuser, replication, rewind },
    parameters: { shared_buffers: '16MB', max_connections: 30, fsync: 'off', wal_level: 'logical', hot_standby_feedback: 'on' },
    pgpass: join(root, name, 'pgpass'),
    osUser: { uid: user.uid, gid: user.gid },
    pgCtlTimeout: 30,
    logger: { log: (level, message) => { if (level === 'warn') warnings.push(message); } },
  });
  return { name, port, driver, upstream: { name, host: '127.0.0.1', port } };
}

async function sql<T extends object = Record<string, unknown>>(node: Node, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new Client({ host: '127.0.0.1', port: node.port, database: 'postgres', user: superuser.username, password: superuser.password });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function waitFor(node: Node, predicate: (observation: PostgresObservation) => boolean, timeoutMs = 20_000): Promise<PostgresObservation> {
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
  root = await makeTempDir('pgwarden-slots-');
  primary = await makeNode('slots-a');
  replica = await makeNode('slots-b');
  await primary.driver.bootstrap({});
}, 60_000);

afterAll(async () => {
  for (const node of [primary, replica]) {
    if (!node) continue;
    await node.driver.stop({ mode: 'immediate' }).catch(() => {});
    await node.driver[Symbol.asyncDispose]();
  }
  if (root) await rm(root, { recursive: true, force: true });
});

describe('replication slots on PostgreSQL 15', () => {
  it('creates physical and logical slots, lists them in observe(), and drops them', async () => {
    const outcome = await primary.driver.changeReplicationSlots({
      drop: [],
      createPhysical: ['slots_b', 'gone'],
      createLogical: [cdc],
      advance: [],
    });
    expect(outcome).toEqual({ failed: [], recopy: [] });
    const observation = await primary.driver.observe();
    const byName = new Map((observation.replicationSlots ?? []).map((slot) => [slot.name, slot]));
    expect(byName.get('slots_b')).toMatchObject({ type: 'physical', active: false, database: null });
    // Reserved at creation: a member that connects later finds its WAL.
    expect(byName.get('slots_b')?.restartLsn).toBeGreaterThan(0);
    expect(byName.get('cdc')).toMatchObject({ type: 'logical', database: 'postgres', plugin: 'test_decoding' });
    expect(byName.get('cdc')?.confirmedFlushLsn).toBeGreaterThan(0);

    await primary.driver.changeReplicationSlots({ drop: ['gone'], createPhysical: [], createLogical: [], advance: [] });
    expect((await primary.driver.listReplicationSlots()).map((slot) => slot.name).sort()).toEqual(['cdc', 'slots_b']);
  });

  it('reports a failure per slot instead of throwing', async () => {
    const outcome = await primary.driver.changeReplicationSlots({
      drop: [],
      createPhysical: [],
      createLogical: [{ name: 'broken', database: 'postgres', plugin: 'no_such_plugin' }],
      advance: [],
    });
    expect(outcome.failed).toEqual(['broken']);
  });

  it('copies a logical slot onto a replica and advances it there', async () => {
    await replica.driver.cloneFrom(primary.upstream, {});
    expect(await replica.driver.start({ role: 'replica', upstream: primary.upstream, timeout: 30 })).toBe(true);
    await waitFor(replica, (o) => o.replicationState === 'streaming');
    // A slot made after the replica was cloned: its WAL is on the replica too (an older one would be re-copied).
    await primary.driver.changeReplicationSlots({ drop: ['cdc'], createPhysical: [], createLogical: [], advance: [] });
    await primary.driver.changeReplicationSlots({ drop: [], createPhysical: [], createLogical: [cdc], advance: [] });

    // Changes the slot has not consumed yet.
    await sql(primary, 'CREATE TABLE t (id int)');
    await sql(primary, 'INSERT INTO t VALUES (1), (2)');

    const copied = await replica.driver.copyLogicalSlots(primary.upstream, [cdc, { name: 'absent', database: 'postgres', plugin: 'test_decoding' }], {
      upstream: primary.upstream,
      timeout: 30,
    });
    expect(copied).toEqual(['cdc']);
    const afterCopy = await waitFor(replica, (o) => o.accepting && o.replicationState === 'streaming');
    const copiedSlot = afterCopy.replicationSlots?.find((slot) => slot.name === 'cdc');
    expect(copiedSlot).toMatchObject({ type: 'logical', database: 'postgres', plugin: 'test_decoding' });

    // The primary consumes some changes; the replica's copy follows its confirmed position, bounded by replay.
    await sql(primary, "SELECT count(*) FROM pg_catalog.pg_logical_slot_get_changes('cdc', NULL, NULL)");
    await sql(primary, 'INSERT INTO t VALUES (3)');
    const [{ lsn }] = await sql<{ lsn: string }>(primary, "SELECT confirmed_flush_lsn::text AS lsn FROM pg_catalog.pg_replication_slots WHERE slot_name = 'cdc'") as [{ lsn: string }];
    const target = Number(BigInt(`0x${lsn.split('/')[0]}`) * 2n ** 32n + BigInt(`0x${lsn.split('/')[1]}`));
    const caughtUp = await waitFor(replica, (o) => (o.replayLsn ?? 0) >= target);
    expect(caughtUp.replicationSlots?.find((slot) => slot.name === 'cdc')?.confirmedFlushLsn ?? 0).toBeLessThan(target);
    const outcome = await replica.driver.changeReplicationSlots({
      drop: [],
      createPhysical: ['slots_a'],
      createLogical: [],
      advance: [{ name: 'cdc', type: 'logical', database: 'postgres', lsn: target }],
    });
    expect(warnings.filter((warning) => warning.includes('cdc'))).toEqual([]);
    expect(outcome).toEqual({ failed: [], recopy: [] });
    const advanced = (await replica.driver.listReplicationSlots()).find((slot) => slot.name === 'cdc');
    expect(advanced?.confirmedFlushLsn).toBe(target);

    // After a promotion the copy decodes what the primary had not consumed: the last insert.
    expect(await replica.driver.promote({ timeout: 30 })).toBe(true);
    await waitFor(replica, (o) => o.role === 'primary');
    const changes = await sql<{ data: string }>(replica, "SELECT data FROM pg_catalog.pg_logical_slot_get_changes('cdc', NULL, NULL)");
    const inserts = changes.map((row) => row.data).filter((data) => data.startsWith('table public.t: INSERT'));
    expect(inserts).toEqual(['table public.t: INSERT: id[integer]:3']);
  }, 90_000);
});
