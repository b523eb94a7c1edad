/**
 * Both operator tools against a pgwarden cluster on etcd: our pgwardenctl (every everyday command) and Patroni's own
 * patronictl 3.0.2 (list and switchover), reading the same agent configuration file.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster, SUPERUSER } from '../e2e/support/cluster.js';
import { cleanEnv, describeRun, parseList, patronictl, pgwardenctl } from './support/run.js';
import type { ListRow } from './support/run.js';

let cluster: LocalCluster;
let config: string;

const ctl = (...args: string[]) => pgwardenctl(['-c', config, ...args]);

async function listed(tool: typeof pgwardenctl): Promise<ListRow[]> {
  return parseList(await tool(['-c', config, 'list', '-f', 'json']));
}

/** Waits until the cluster has `leader` and every other member streams from it. */
async function settled(leader: string): Promise<ListRow[]> {
  return cluster.waitFor(`${leader} leading with two streaming replicas`, async () => {
    const rows = await listed(pgwardenctl);
    const ok = rows.length === 3 && rows.every((row) => (row.Member === leader ? row.Role === 'Leader' && row.State === 'running' : row.Role === 'Replica' && row.State === 'streaming'));
    return ok ? rows : undefined;
  });
}

beforeAll(async () => {
  cluster = await LocalCluster.create({ scope: 'compat-pgw' });
  config = cluster.member('node0').configFile;
  cluster.startAll();
  await cluster.waitFor('a primary', async () => (await cluster.primaries()).length === 1);
});

afterAll(async () => {
  await cluster?.stop();
});

describe('pgwardenctl against pgwarden', () => {
  let leader: string;

  it('lists the cluster like patronictl: header with the sysid, roles, states, timelines', async () => {
    leader = (await cluster.primaries())[0]!;
    const rows = await settled(leader);
    expect(rows.map((row) => row.Member).sort()).toEqual(['node0', 'node1', 'node2']);
    expect(new Set(rows.map((row) => row.TL))).toEqual(new Set([1]));
    const pretty = await ctl('list');
    expect(pretty.code, describeRun(pretty)).toBe(0);
    expect(pretty.stdout).toMatch(/^\+ Cluster: compat-pgw \(\d{19}\) -/);
    expect(pretty.stdout).toMatch(/\| Member \| Host +\| Role +\| State +\| TL \| Receive LSN \| Lag \| Replay LSN \| Lag \|/);
    const topology = await ctl('topology');
    expect(topology.stdout).toMatch(new RegExp(`\\| ${leader} +\\|[^\\n]*Leader`));
    expect(topology.stdout).toMatch(/\| \+ node\d +\|/);
  });

  it('prints the dsn of the leader and runs a query over libpq', async () => {
    const dsn = await ctl('dsn');
    expect(dsn.stdout).toBe(`host=127.0.0.1 port=${cluster.member(leader).pgPort}\n`);
    const query = await pgwardenctl(['-c', config, 'query', '-U', SUPERUSER.username, '-d', 'postgres', '-r', 'replica', '-c', 'SELECT pg_is_in_recovery() AS standby, 7 AS n'], {
      env: cleanEnv({ PGPASSWORD: SUPERUSER.password }),
    });
    expect(query.code, describeRun(query)).toBe(0);
    expect(query.stdout).toBe('standby\tn\nTrue\t7\n');
  });

  it('shows and edits the dynamic configuration', async () => {
    const before = await ctl('show-config');
    expect(before.stdout).toContain('loop_wait: 2\n');
    const edit = await ctl('edit-config', '--set', 'postgresql.parameters.work_mem=8MB', '-s', 'maximum_lag_on_failover=2097152', '--force');
    expect(edit.code, describeRun(edit)).toBe(0);
    expect(edit.stdout).toContain('+    work_mem: 8MB\n');
    expect(edit.stdout).toContain('Configuration changed\n');
    const after = await ctl('show-config');
    expect(after.stdout).toContain('maximum_lag_on_failover: 2097152\n');
    // The agents apply it: work_mem is reloadable, so the leader runs with it shortly.
    await cluster.waitFor('work_mem applied', async () => (await cluster.query<{ work_mem: string }>(leader, 'SHOW work_mem'))[0]?.work_mem === '8MB');
  });

  it('pauses and resumes, waiting until every member reports it', async () => {
    const pause = await ctl('pause', '--wait');
    expect(pause.code, describeRun(pause)).toBe(0);
    expect(pause.stdout).toBe("'pause' request sent, waiting until it is recognized by all nodes\nSuccess: cluster management is paused\n");
    expect((await ctl('list')).stdout).toContain('\n Maintenance mode: on\n');
    expect((await ctl('pause')).stderr).toBe('Error: Cluster is already paused\n');
    const resume = await ctl('resume', '--wait');
    expect(resume.code, describeRun(resume)).toBe(0);
    expect(resume.stdout).toContain('Success: cluster management is resumed\n');
  });

  it('switches over to the named candidate and prints the new topology', async () => {
    const candidate = ['node0', 'node1', 'node2'].find((name) => name !== leader)!;
    const switchover = await ctl('switchover', '--candidate', candidate, '--force');
    expect(switchover.code, describeRun(switchover)).toBe(0);
    expect(switchover.stdout).toContain(`Successfully switched over to "${candidate}"`);
    expect(await cluster.primaries()).toEqual([candidate]);
    const old = leader;
    leader = candidate;
    const rows = await settled(leader);
    expect(rows.find((row) => row.Member === leader)?.TL).toBe(2);
    const history = await ctl('history', '-f', 'json');
    const lines = JSON.parse(history.stdout) as Record<string, unknown>[];
    expect(lines.at(-1)).toMatchObject({ TL: 1, 'New Leader': leader });
    expect(old).not.toBe(leader);
  });

  it('restarts a replica', async () => {
    const replica = ['node0', 'node1', 'node2'].find((name) => name !== leader)!;
    const before = (await cluster.status(replica))?.['postmaster_start_time'];
    const restart = await ctl('restart', 'compat-pgw', replica, '--force');
    expect(restart.code, describeRun(restart)).toBe(0);
    expect(restart.stdout).toContain(`Success: restart on member ${replica}\n`);
    expect((await cluster.status(replica))?.['postmaster_start_time']).not.toBe(before);
  });

  it('reinitializes a replica and waits for it', async () => {
    const replica = ['node0', 'node1', 'node2'].filter((name) => name !== leader).at(-1)!;
    const reinit = await ctl('reinit', 'compat-pgw', replica, '--force', '--wait');
    expect(reinit.code, describeRun(reinit)).toBe(0);
    expect(reinit.stdout).toContain(`Success: reinitialize for member ${replica}\nWaiting for reinitialize to complete on: ${replica}\n`);
    expect(reinit.stdout).toContain(`Reinitialize is completed on: ${replica}\n`);
    await settled(leader);
  });
});

describe("Patroni's patronictl 3.0.2 against pgwarden", () => {
  it('lists the members with their roles, states and timelines', async () => {
    const leader = (await cluster.primaries())[0]!;
    const theirs = await listed(patronictl);
    const ours = await listed(pgwardenctl);
    const essentials = (rows: ListRow[]) => rows.map(({ Member, Host, Role, TL }) => ({ Member, Host, Role, TL })).sort((a, b) => a.Member.localeCompare(b.Member));
    expect(essentials(theirs)).toEqual(essentials(ours));
    expect(theirs.find((row) => row.Member === leader)?.Role).toBe('Leader');
    // patronictl 3.0.2 shows the member's `state` for replicas ("running"); Patroni 4 (and pgwardenctl) show its
    // `replication_state` ("streaming"). Both values are in the member key pgwarden writes.
    expect(theirs.map((row) => row.State)).toEqual(['running', 'running', 'running']);
    expect(ours.filter((row) => row.Role === 'Replica').map((row) => row.State)).toEqual(['streaming', 'streaming']);
    const pretty = await patronictl(['-c', config, 'list']);
    // 3.0.2's title has no system identifier (Patroni 4 added it).
    expect(pretty.code, describeRun(pretty)).toBe(0);
    expect(pretty.stdout.split('\n')[0]).toMatch(/^\+ Cluster: compat-pgw -+\+/);
    for (const row of ours) expect(pretty.stdout).toMatch(new RegExp(`\\| ${row.Member} +\\| ${row.Host.replaceAll('.', '\\.')} +\\| ${row.Role} +\\| running +\\| +${row.TL} \\|`));
  });

  it('performs a switchover', async () => {
    const leader = (await cluster.primaries())[0]!;
    const candidate = ['node0', 'node1', 'node2'].find((name) => name !== leader)!;
    const result = await patronictl(['-c', config, 'switchover', '--leader', leader, '--candidate', candidate, '--force']);
    expect(result.code, describeRun(result)).toBe(0);
    expect(result.stdout).toContain(`Successfully switched over to "${candidate}"`);
    expect(await cluster.primaries()).toEqual([candidate]);
    await settled(candidate);
  });
});
