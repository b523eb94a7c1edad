/**
 * A standby cluster and cascading replication on real PostgreSQL 15 and one etcd: cluster A (node0 primary,
 * node1 replica, node2 tagged `replicatefrom: node1`) and cluster B, a standby cluster of A's primary whose leader
 * streams from A and whose replica streams from that leader. B is then promoted by removing `standby_cluster`.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DcsServer } from './support/cluster.js';
import { LocalCluster, startEtcdServer } from './support/cluster.js';

describe('standby cluster and cascading replication', () => {
  let dcs: DcsServer | undefined;
  let a: LocalCluster | undefined;
  let b: LocalCluster | undefined;

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
  }, 180_000);

  afterAll(async () => {
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
    const primary = a!.member('node0');
    b = await LocalCluster.create({
      dcs: { yaml: dcs!.yaml, stop: async () => undefined },
      scope: 'e2e-standby',
      members: 2,
      dynamicYaml: `    standby_cluster:\n      host: 127.0.0.1\n      port: ${primary.pgPort}\n`,
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
    expect(await standby.httpStatus('node0', '/standby-leader')).toBe(200);
    expect(await standby.httpStatus('node0', '/standby_leader')).toBe(200);
    expect(await standby.httpStatus('node0', '/primary')).toBe(503);
    expect(await standby.httpStatus('node0', '/leader')).toBe(200);
    expect(await standby.httpStatus('node1', '/standby-leader')).toBe(503);
    expect(await standby.httpStatus('node1', '/replica')).toBe(200);
    const view = await standby.getJson('node1', '/cluster');
    const roles = Object.fromEntries(((view?.['members'] ?? []) as Array<{ name: string; role: string }>).map((member) => [member.name, member.role]));
    expect(roles).toEqual({ node0: 'standby_leader', node1: 'replica' });
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
    // A is untouched: its primary never saw B's write.
    expect(await a!.query('node0', 'SELECT id FROM shipped WHERE id = 2')).toEqual([]);
  });
});
