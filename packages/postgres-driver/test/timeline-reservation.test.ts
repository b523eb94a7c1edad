/**
 * Timeline reservation on real PostgreSQL 15: history files planted in pg_wal before `pg_ctl promote` make the
 * server pick a number past them, its own history still names only its real parent, and a member of the other
 * branch (which used one of the reserved numbers) can then be rewound, since the numbers differ.
 */
import { chown, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Client } from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slotNameForMember, type PostgresObservation, type Upstream } from '@pgwarden/core';
import { freePort, makeTempDir, postgresBinDir, unprivilegedUser } from '@pgwarden/testkit/postgres';
import { createPostgresDriver, type PostgresDriver } from '../src/index.js';

const superuser = { username: 'postgres', password: 'super-secret' };
const replication = { username: 'replicator', password: 'rep-secret' };
const rewind = { username: 'rewinder', password: 'rewind-secret' };
const user = unprivilegedUser();

interface Node {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  readonly driver: PostgresDriver;
  readonly upstream: Upstream;
}

let root: string;
let a: Node;
let b: Node;
let c: Node;
/** Where c left timeline 1 when it promoted (its branch). */
let cSwitch: number;

async function makeNode(name: string): Promise<Node> {
  const port = await freePort();
  const dataDir = join(root, name, 'data');
  const driver = createPostgresDriver({
    name,
    scope: 'timeline-test',
    dataDir,
    binDir: postgresBinDir(),
    listen: { host: '127.0.0.1', port },
    connectAddress: { host: '127.0.0.1', port },
    authentication: { superuser, replication, rewind },
    parameters: { shared_buffers: '16MB', max_connections: 20, fsync: 'off' },
    pgpass: join(root, name, 'pgpass'),
    initdb: [{ encoding: 'UTF8' }],
    usePgRewind: true,
    osUser: { uid: user.uid, gid: user.gid },
    pgCtlTimeout: 30,
  });
  return { name, port, dataDir, driver, upstream: { name, host: '127.0.0.1', port } };
}

async function sql<T extends object = Record<string, unknown>>(node: Node, text: string): Promise<T[]> {
  const client = new Client({ host: '127.0.0.1', port: node.port, database: 'postgres', user: superuser.username, password: superuser.password });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

async function waitFor(node: Node, predicate: (o: PostgresObservation) => boolean): Promise<PostgresObservation> {
  const deadline = Date.now() + 30_000;
  let last = await node.driver.observe();
  while (!predicate(last)) {
    if (Date.now() > deadline) throw new Error(`${node.name}: condition not reached: ${JSON.stringify(last)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    last = await node.driver.observe();
  }
  return last;
}

const historyPath = (node: Node, timeline: number) => join(node.dataDir, 'pg_wal', `${timeline.toString(16).toUpperCase().padStart(8, '0')}.history`);

beforeAll(async () => {
  root = await makeTempDir('pgwarden-timelines-');
  a = await makeNode('tl-a');
  b = await makeNode('tl-b');
  c = await makeNode('tl-c');
  await a.driver.bootstrap({});
  await a.driver.syncReplicationSlots([slotNameForMember(b.name), slotNameForMember(c.name)]);
  await sql(a, "CREATE TABLE t (id int PRIMARY KEY, origin text); INSERT INTO t SELECT g, 'a' FROM generate_series(1, 100) g");
  for (const replica of [b, c]) {
    await replica.driver.cloneFrom(a.upstream, {});
    expect(await replica.driver.start({ role: 'replica', upstream: a.upstream })).toBe(true);
  }
  const position = (await a.driver.observe()).walPosition!;
  for (const replica of [b, c]) await waitFor(replica, (o) => o.replicationState === 'streaming' && (o.replayLsn ?? 0) >= position);
});

afterAll(async () => {
  for (const node of [a, b, c]) {
    if (!node) continue;
    await node.driver.stop({ mode: 'immediate' }).catch(() => {});
    await node.driver[Symbol.asyncDispose]();
  }
  if (root) await rm(root, { recursive: true, force: true });
});

describe('timeline reservation before promote (PostgreSQL 15)', () => {
  it('promotes past the planted history files, keeps an existing one, and records only the real parent', async () => {
    // Branch 1: c promotes to timeline 2, takes a write nobody streams, and goes away (it "lost the lock").
    expect(await c.driver.promote({})).toBe(true);
    await waitFor(c, (o) => o.role === 'primary' && o.timeline === 2);
    const cHistory = await c.driver.readTimelineHistory(2);
    expect(cHistory).toHaveLength(1);
    cSwitch = cHistory[0]![1];
    await sql(c, "INSERT INTO t VALUES (2001, 'c diverged')");
    expect(await c.driver.stop({ mode: 'fast' })).toBe(true);

    // The old primary goes on a little, then stops; b has all of it and is past c's switch point.
    await sql(a, "INSERT INTO t VALUES (1001, 'a')");
    const position = (await a.driver.observe()).walPosition!;
    await waitFor(b, (o) => (o.replayLsn ?? 0) >= position);
    expect(position).toBeGreaterThan(cSwitch);
    expect(await a.driver.stop({ mode: 'fast' })).toBe(true);

    // c's own timeline-2 file reached b (an archive, say): it must stay as it is; 3 is known only from a member key.
    const cFile = await readFile(historyPath(c, 2), 'utf8');
    await writeFile(historyPath(b, 2), cFile, { mode: 0o600 });
    await chown(historyPath(b, 2), user.uid, user.gid);
    const reason = 'no recovery target specified';
    expect(
      await b.driver.promote({
        reserveTimelines: [
          { timeline: 2, history: [[1, 1, 'must not replace the existing file']] },
          { timeline: 3, history: [[1, cSwitch, reason], [2, cSwitch + 0x1000, reason]] },
        ],
      }),
    ).toBe(true);
    const promoted = await waitFor(b, (o) => o.role === 'primary');
    expect(promoted.timeline).toBe(4);

    expect(await readFile(historyPath(b, 2), 'utf8')).toBe(cFile);
    const planted = await stat(historyPath(b, 3));
    expect(planted.mode & 0o777).toBe(0o600);
    expect(planted.uid).toBe(user.uid);
    expect(await readFile(historyPath(b, 3), 'utf8')).toMatch(/^1\t[0-9A-F]+\/[0-9A-F]+\tno recovery target specified\n2\t/);

    // Timeline 4 descends from timeline 1 only, where b left it: the planted files are not its lineage.
    const own = await b.driver.readTimelineHistory(4);
    expect(own).toHaveLength(1);
    expect(own[0]![0]).toBe(1);
    expect(own[0]![1]).toBeGreaterThanOrEqual(position);
  });

  it('rewinds the member of the other branch onto the new timeline', async () => {
    await b.driver.checkpoint();
    await sql(b, "INSERT INTO t VALUES (4001, 'b')");
    await b.driver.syncReplicationSlots([slotNameForMember(c.name)]);
    expect(await c.driver.rewindFrom(b.upstream, {})).toEqual({ rewound: true });
    expect(await c.driver.start({ role: 'replica', upstream: b.upstream })).toBe(true);
    const position = (await b.driver.observe()).walPosition!;
    const following = await waitFor(c, (o) => o.replicationState === 'streaming' && (o.replayLsn ?? 0) >= position);
    expect(following.timeline).toBe(4);
    expect(await sql(c, 'SELECT id, origin FROM t WHERE id > 100 ORDER BY id')).toEqual([
      { id: 1001, origin: 'a' },
      { id: 4001, origin: 'b' },
    ]);
  });
});
