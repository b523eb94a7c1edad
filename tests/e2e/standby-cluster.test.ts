/**
 * A standby cluster and cascading replication on real PostgreSQL 15 and one etcd: cluster A (node0 primary,
 * node1 replica, node2 tagged `replicatefrom: node1`) and cluster B, a standby cluster of A whose leader streams
 * from A's primary through a fixed address (a proxy to whichever member answers `GET /primary`, as HAProxy is
 * set up in front of Patroni) and whose replica streams from that leader. A switches over under B; B is then
 * promoted by removing `standby_cluster`, and A, meanwhile diverged, is demoted into a standby cluster of B
 * with `pgwardenctl demote-cluster` (rewound onto B's timeline).
 */
import { execFile } from 'node:child_process';
import { resolve } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DcsServer } from './support/cluster.js';
import { LocalCluster, startEtcdServer } from './support/cluster.js';
import type { PrimaryProxy } from './support/primary-proxy.js';
import { startPrimaryProxy } from './support/primary-proxy.js';

const CTL_BIN = resolve(import.meta.dirname, '../../packages/ctl/bin/pgwardenctl.js');
const run = promisify(execFile);

/** The timeline a member's walreceiver streams on; undefined while it does not stream. */
async function receivedTimeline(cluster: LocalCluster, name: string): Promise<number | undefined> {
  const rows = await cluster.query<{ received_tli: number; status: string }>(name, 'SELECT received_tli, status FROM pg_stat_wal_receiver');
  return rows[0]?.status === 'streaming' ? rows[0].received_tli : undefined;
}

/** The primary's timeline, from a fresh checkpoint (a promotion's own checkpoint may still be under way). */
async function primaryTimeline(cluster: LocalCluster, name: string): Promise<number> {
  await cluster.query(name, 'CHECKPOINT');
  const rows = await cluster.query<{ timeline_id: number }>(name, 'SELECT timeline_id FROM pg_control_checkpoint()');
  return rows[0]!.timeline_id;
}

describe('standby cluster and cascading replication', () => {
  let dcs: DcsServer | undefined;
  let a: LocalCluster | undefined;
  let b: LocalCluster | undefined;
  let proxy: PrimaryProxy | undefined;

  beforeAll(async () => {
    dcs = await startEtcdServer();
    a = await LocalCluster.create({
      dcs: { yaml: dcs.yaml, stop: async () => undefined },
      scope: 'e2e-primary',
      members: 3,
      extraYaml: (index) => (index === 2 ? 'tags:\n  replicatefrom: node1\n' : ''),
    });
    a.startAgent('node0');
    await a.waitFor('node0 leading cluster A', async () => (await a!.primaries()).includes('node0'), 120_000);
    a.startAgent('node1');
    a.startAgent('node2');
    proxy = await startPrimaryProxy(a);
  }, 180_000);

  afterAll(async () => {
    await proxy?.stop();
    await b?.stop();
    await a?.stop();
    await dcs?.stop();
  }, 120_000);

  it('streams a replicatefrom member from the named replica', async () => {
    const cluster = a!;
    await cluster.waitFor('node1 streaming', async () => (await cluster.status('node1'))?.['replication_state'] === 'streaming', 120_000);
    // node2 streams through its own slot, kept on node1 (ha/slots.ts), not on the primary.
    const rows = await cluster.waitFor(
      'node2 in pg_stat_replication of node1',
      async () => {
        const found = await cluster.query<{ application_name: string; state: string }>('node1', 'SELECT application_name, state FROM pg_stat_replication');
        return found.some((row) => row.application_name === 'node2' && row.state === 'streaming') ? found : undefined;
      },
      120_000,
    );
    expect(rows.map((row) => row.application_name)).toEqual(['node2']);
    const slot = await cluster.query<{ active: boolean }>('node1', "SELECT active FROM pg_replication_slots WHERE slot_name = 'node2'");
    expect(slot).toEqual([{ active: true }]);
    const onPrimary = await cluster.query<{ application_name: string }>('node0', 'SELECT application_name FROM pg_stat_replication');
    expect(onPrimary.map((row) => row.application_name)).not.toContain('node2');
  });

  it('replicates A into a standby cluster B whose leader answers as standby leader', async () => {
    // B knows A only by the proxy's address, never by a member's own port.
    b = await LocalCluster.create({
      dcs: { yaml: dcs!.yaml, stop: async () => undefined },
      scope: 'e2e-standby',
      members: 2,
      dynamicYaml: `    standby_cluster:\n      host: 127.0.0.1\n      port: ${proxy!.port}\n`,
    });
    const standby = b;
    standby.startAgent('node0');
    await standby.waitFor('node0 leading B as standby leader', async () => (await standby.status('node0'))?.['role'] === 'standby_leader', 180_000);
    standby.startAgent('node1');
    await a!.query('node0', 'CREATE TABLE shipped (id int PRIMARY KEY, note text)');
    await a!.query('node0', "INSERT INTO shipped VALUES (1, 'from A')");
    for (const name of ['node0', 'node1']) {
      await standby.waitFor(
        `the row from A on B's ${name}`,
        async () => (await standby.query<{ note: string }>(name, 'SELECT note FROM shipped WHERE id = 1'))[0]?.note === 'from A',
        180_000,
      );
    }
    // B's replica streams from B's leader (through the slot the standby leader keeps for it), not from A.
    const downstream = await standby.waitFor(
      "B's node1 streaming from B's node0",
      async () => {
        const rows = await standby.query<{ application_name: string }>('node0', "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'");
        return rows.length ? rows : undefined;
      },
      120_000,
    );
    expect(downstream.map((row) => row.application_name)).toEqual(['node1']);
    const fromA = await a!.query<{ application_name: string }>('node0', 'SELECT application_name FROM pg_stat_replication ORDER BY 1');
    expect(fromA.map((row) => row.application_name)).toEqual(['node0', 'node1']);
    expect(proxy!.sessions()).toContain('node0');
    expect(await standby.httpStatus('node0', '/standby-leader')).toBe(200);
    expect(await standby.httpStatus('node0', '/standby_leader')).toBe(200);
    expect(await standby.httpStatus('node0', '/primary')).toBe(503);
    expect(await standby.httpStatus('node0', '/leader')).toBe(200);
    expect(await standby.httpStatus('node1', '/standby-leader')).toBe(503);
    // Its agent reports it a healthy replica from its next cycle on, which can trail the first streamed row.
    await standby.waitFor("B's node1 answering /replica", async () => (await standby.httpStatus('node1', '/replica')) === 200, 60_000);
    const view = await standby.getJson('node1', '/cluster');
    const roles = Object.fromEntries(((view?.['members'] ?? []) as Array<{ name: string; role: string }>).map((member) => [member.name, member.role]));
    expect(roles).toEqual({ node0: 'standby_leader', node1: 'replica' });
  });

  it("keeps streaming when A switches over: B follows A's new primary onto its new timeline", async () => {
    const primary = a!;
    const standby = b!;
    await primary.waitFor('node1 streaming before the switchover', async () => (await primary.status('node1'))?.['replication_state'] === 'streaming', 60_000);
    const oldTimeline = await primaryTimeline(primary, 'node0');
    const answer = await primary.request('node0', 'POST', '/switchover', { leader: 'node0', candidate: 'node1' });
    expect(answer).toEqual({ status: 200, text: 'Successfully switched over to "node1"' });
    await primary.waitFor('node1 the only primary of A, behind the proxy', async () => {
      const primaries = await primary.primaries();
      return primaries.length === 1 && primaries[0] === 'node1' && proxy!.target === 'node1';
    }, 120_000);
    await primary.waitFor('A writable on node1', async () => {
      await primary.query('node1', "INSERT INTO shipped VALUES (3, 'after the switchover of A')");
      return true;
    }, 60_000);
    const newTimeline = await primaryTimeline(primary, 'node1');
    expect(newTimeline).toBeGreaterThan(oldTimeline);
    for (const name of ['node0', 'node1']) {
      await standby.waitFor(
        `the row written after the switchover on B's ${name}`,
        async () => (await standby.query<{ note: string }>(name, 'SELECT note FROM shipped WHERE id = 3'))[0]?.note === 'after the switchover of A',
        120_000,
      );
      expect(await standby.waitFor(`B's ${name} streaming on A's new timeline`, async () => (await receivedTimeline(standby, name)) === newTimeline, 60_000)).toBe(true);
    }
    // B's leader streams through the proxy, which now sends it to node1; B's replica still cascades from B's leader.
    const receiver = await standby.query<{ sender_port: number }>('node0', 'SELECT sender_port FROM pg_stat_wal_receiver');
    expect(receiver).toEqual([{ sender_port: proxy!.port }]);
    expect(proxy!.sessions()).toEqual(['node1']);
    const downstream = await standby.query<{ application_name: string }>('node0', "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'");
    expect(downstream.map((row) => row.application_name)).toEqual(['node1']);
    // Nothing changed hands in B.
    expect((await standby.status('node0'))?.['role']).toBe('standby_leader');
    expect(await standby.httpStatus('node0', '/standby-leader')).toBe(200);
    expect((await standby.status('node1'))?.['role']).toBe('replica');
  });

  it('promotes B when standby_cluster is removed from its configuration', async () => {
    const standby = b!;
    const patched = await standby.request('node0', 'PATCH', '/config', { standby_cluster: null });
    expect(patched.status).toBe(200);
    await standby.waitFor('B writable', async () => {
      await standby.query('node0', "INSERT INTO shipped VALUES (2, 'from B')");
      return true;
    }, 120_000);
    expect(await standby.httpStatus('node0', '/primary')).toBe(200);
    expect((await standby.status('node0'))?.['role']).toBe('primary');
    await standby.waitFor(
      "B's replica following the promoted leader",
      async () => (await standby.query<{ id: number }>('node1', 'SELECT id FROM shipped WHERE id = 2')).length === 1,
      120_000,
    );
    // A is untouched: its primary never saw B's write. A goes on writing: the two histories diverge.
    expect(await a!.query('node1', 'SELECT id FROM shipped WHERE id = 2')).toEqual([]);
    await a!.query('node1', "INSERT INTO shipped VALUES (4, 'only on A')");
    await a!.waitFor(
      "A's replicas holding A's own row",
      async () => {
        for (const name of ['node0', 'node2']) if ((await a!.query(name, 'SELECT id FROM shipped WHERE id = 4')).length !== 1) return false;
        return true;
      },
      60_000,
    );
  });

  it('demotes A into a standby cluster of B with pgwardenctl demote-cluster, rewinding its diverged timeline', async () => {
    const former = a!;
    const standby = b!;
    const { stdout } = await run(
      process.execPath,
      [CTL_BIN, '-c', former.member('node1').configFile, 'demote-cluster', 'e2e-primary', '--host', '127.0.0.1', '--port', String(standby.member('node0').pgPort), '--force'],
      { timeout: 180_000, env: { ...process.env, PATRONICTL_CONFIG_FILE: '' } },
    );
    expect(stdout).toContain('cluster is successfully demoted');
    const promotedTimeline = await primaryTimeline(standby, 'node0');
    await standby.query('node0', "INSERT INTO shipped VALUES (5, 'from B to A')");
    for (const name of ['node0', 'node1', 'node2']) {
      await former.waitFor(
        `B's row on A's ${name}`,
        async () => (await former.query<{ note: string }>(name, 'SELECT note FROM shipped WHERE id = 5'))[0]?.note === 'from B to A',
        180_000,
      );
      // A's own row, written after B's promotion, is gone: every member was rewound onto B's history.
      expect(await former.query(name, 'SELECT id FROM shipped WHERE id = 4')).toEqual([]);
      expect(await former.waitFor(`A's ${name} streaming on B's timeline`, async () => (await receivedTimeline(former, name)) === promotedTimeline, 60_000)).toBe(true);
    }
    expect((await former.status('node1'))?.['role']).toBe('standby_leader');
    expect(await former.httpStatus('node1', '/standby-leader')).toBe(200);
    expect(await former.httpStatus('node1', '/primary')).toBe(503);
    const upstream = await former.query<{ sender_port: number }>('node1', 'SELECT sender_port FROM pg_stat_wal_receiver');
    expect(upstream).toEqual([{ sender_port: standby.member('node0').pgPort }]);
    // A's replicas follow A's standby leader (node2 through its replicatefrom tag), not B.
    const fromStandbyLeader = await former.waitFor(
      "A's replicas streaming from node1",
      async () => {
        const rows = await former.query<{ application_name: string }>('node1', "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming' ORDER BY 1");
        return rows.length === 2 ? rows : undefined;
      },
      60_000,
    );
    expect(fromStandbyLeader.map((row) => row.application_name)).toEqual(['node0', 'node2']);
    const view = await former.getJson('node0', '/cluster');
    const roles = Object.fromEntries(((view?.['members'] ?? []) as Array<{ name: string; role: string }>).map((member) => [member.name, member.role]));
    expect(roles).toEqual({ node0: 'replica', node1: 'standby_leader', node2: 'replica' });
  });
});
