/**
 * The operations that drive the HA state machine, on real PostgreSQL 15 and etcd: switchover (named, any,
 * scheduled), failover_priority and nofailover, a crashed primary restarted under its lock, pause and resume,
 * manual failover while the primary is down, callbacks (Patroni's sequence per event: see core's ha/callbacks.ts).
 * Steps build on each other, in order.
 */
import { readFileSync } from 'node:fs';
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalCluster } from './support/cluster.js';

const SCOPE = 'e2e-ops';
// node2 is preferred among equally advanced replicas; node3 must never be promoted.
const TAGS = ['', '', '  failover_priority: 3\n', '  nofailover: true\n'];

describe('operations on a 4-member cluster', () => {
  let cluster: LocalCluster;

  beforeAll(async () => {
    cluster = await LocalCluster.create({
      scope: SCOPE,
      members: 4,
      extraYaml: (index) =>
        `  callbacks:\n    on_start: CALLBACK\n    on_stop: CALLBACK\n    on_role_change: CALLBACK\n    on_restart: CALLBACK\n    on_reload: CALLBACK\n${TAGS[index] ? `tags:\n${TAGS[index]}` : ''}`,
    });
    for (const member of cluster.members) {
      const script = join(member.dir, 'callback.sh');
      await writeFile(script, `#!/bin/sh\necho "$@" >> "${join(member.dir, 'callbacks.log')}"\n`);
      await chmod(script, 0o755);
      const config = readFileSync(member.configFile, 'utf8').replaceAll('CALLBACK', script);
      await writeFile(member.configFile, config);
    }
    cluster.startAll();
  });

  afterAll(async () => {
    await cluster?.stop();
  });

  const names = () => cluster.members.map((member) => member.name);
  const callbacks = (name: string): string[] => {
    try {
      return readFileSync(join(cluster.member(name).dir, 'callbacks.log'), 'utf8').trim().split('\n');
    } catch {
      return [];
    }
  };
  /** The callbacks `name` ran since the last line equal to `marker` (all of them without one). */
  const callbacksSince = (name: string, marker: string): string[] => {
    const all = callbacks(name);
    return all.slice(all.lastIndexOf(`${marker} ${SCOPE}`) + 1);
  };

  async function onlyPrimary(): Promise<string | undefined> {
    const primaries = await cluster.primaries();
    expect(primaries).not.toContain('node3');
    return primaries.length === 1 ? primaries[0] : undefined;
  }

  async function allStreamingFrom(leader: string): Promise<boolean> {
    const rows = await cluster.query<{ application_name: string }>(
      leader,
      "SELECT application_name FROM pg_stat_replication WHERE state = 'streaming'",
    );
    const streaming = new Set(rows.map((row) => row.application_name));
    return names().every((name) => name === leader || streaming.has(name));
  }

  /** One primary (other than `notThis`) with every other member streaming from it. */
  async function settled(description: string, notThis?: string, timeoutMs = 120_000): Promise<string> {
    return cluster.waitFor(description, async () => {
      const leader = await onlyPrimary();
      return leader && leader !== notThis && (await allStreamingFrom(leader)) ? leader : undefined;
    }, timeoutMs);
  }

  let leader = '';
  /** The leader before the last switchover: its demotion may still be settling. */
  let demoted = '';

  it('bootstraps with replicas calling on_start', async () => {
    leader = await settled('a leader and three streaming replicas');
    expect(leader).not.toBe('node3');
    await cluster.query(leader, 'CREATE TABLE journal (id serial PRIMARY KEY, step text)');
    const replica = names().find((name) => name !== leader)!;
    await cluster.waitFor(`on_start on ${replica}`, async () => callbacks(replica).includes(`on_start replica ${SCOPE}`));
  });

  it('switches over to a named candidate', async () => {
    const candidate = ['node0', 'node1', 'node2'].find((name) => name !== leader)!;
    const answer = await cluster.request(leader, 'POST', '/switchover', { leader, candidate });
    expect(answer).toEqual({ status: 200, text: `Successfully switched over to "${candidate}"` });
    const previous = leader;
    demoted = previous;
    leader = await settled(`${candidate} leading with everyone streaming`);
    expect(leader).toBe(candidate);
    expect(callbacks(candidate)).toContain(`on_role_change primary ${SCOPE}`);
    await cluster.query(leader, "INSERT INTO journal (step) VALUES ('after named switchover')");
    expect((await cluster.status(previous))?.['role']).toBe('replica');
    // Patroni's demotion: on_stop with the old role, then only on_role_change once it runs as a replica.
    await cluster.waitFor(`on_role_change replica on ${previous}`, async () => callbacks(previous).includes(`on_role_change replica ${SCOPE}`));
    expect(callbacksSince(previous, 'on_stop primary')).toEqual([`on_role_change replica ${SCOPE}`]);
  });

  it('announces a restart with on_restart only, and a reload with on_reload', async () => {
    // A replica the switchover left alone, so no callback of the switchover can interleave with ours.
    const replica = ['node0', 'node1', 'node2'].find((name) => name !== leader && name !== demoted)!;
    const before = callbacks(replica).length;
    expect(await cluster.request(replica, 'POST', '/restart', {})).toEqual({ status: 200, text: 'restarted successfully' });
    // Only what was called since `before` counts: the replica may have reloaded earlier in the run.
    await cluster.waitFor(`on_restart on ${replica}`, async () => callbacks(replica).slice(before).includes(`on_restart replica ${SCOPE}`));
    expect((await cluster.request(replica, 'POST', '/reload')).status).toBe(202);
    await cluster.waitFor(`on_reload on ${replica}`, async () => callbacks(replica).slice(before).includes(`on_reload replica ${SCOPE}`));
    expect(callbacks(replica).slice(before)).toEqual([`on_restart replica ${SCOPE}`, `on_reload replica ${SCOPE}`]);
  });

  it('refuses a switchover it cannot honour', async () => {
    const wrongLeader = await cluster.request(leader, 'POST', '/switchover', { leader: 'node3', candidate: 'node1' });
    expect(wrongLeader).toEqual({ status: 412, text: 'leader name does not match' });
    const missing = await cluster.request(leader, 'POST', '/switchover', { candidate: 'node1' });
    expect(missing.status).toBe(400);
  });

  it('switches over to any healthy member, never the nofailover one', async () => {
    const previous = leader;
    const answer = await cluster.request(leader, 'POST', '/switchover', { leader });
    expect(answer.status).toBe(200);
    leader = await settled('a new leader after an open switchover', previous);
    expect(leader).not.toBe(previous);
    expect(leader).not.toBe('node3');
  });

  it('runs a scheduled switchover at its time, not before', async () => {
    const previous = leader;
    const at = new Date(Date.now() + 8000).toISOString();
    const answer = await cluster.request(leader, 'POST', '/switchover', { leader, scheduled_at: at });
    expect(answer).toEqual({ status: 202, text: 'Switchover scheduled' });
    await delay(4000);
    expect(await cluster.primaries()).toEqual([previous]);
    leader = await settled('the scheduled switchover done', previous);
    expect(leader).not.toBe(previous);
    expect(Date.now()).toBeGreaterThanOrEqual(Date.parse(at));
  });

  it('prefers the higher failover_priority among equally advanced replicas', async () => {
    // The scheduled switchover just before may still have its former leader rejoining: a switchover to it now
    // would rightly be refused (412, no healthy candidate).
    leader = await settled('every replica streaming before the switchover');
    if (leader !== 'node0') {
      // Streaming shows before the rejoined member's agent has cycled to `running`; until then the leader
      // rightly refuses it as a candidate (412).
      await cluster.waitFor('node0 running', async () => (await cluster.status('node0'))?.['state'] === 'running');
      expect((await cluster.request(leader, 'POST', '/switchover', { leader, candidate: 'node0' })).status).toBe(200);
    }
    leader = await settled('node0 leading with every replica streaming');
    expect(leader).toBe('node0');
    await cluster.query(leader, 'CHECKPOINT');
    await cluster.waitFor('all three replicas replayed everything', async () => {
      const rows = await cluster.query<{ streaming: number; behind: number }>(
        leader,
        `SELECT count(*)::int AS streaming, count(*) FILTER (WHERE replay_lsn < pg_current_wal_lsn())::int AS behind
         FROM pg_stat_replication WHERE state = 'streaming'`,
      );
      return rows[0]?.streaming === 3 && rows[0].behind === 0;
    });
    // A graceful stop: the shutdown checkpoint reaches every streaming replica, so they are exactly as far
    // (after a kill -9, WAL written in the last instant may reach one replica and not another).
    expect(await cluster.stopAgent('node0', 'SIGTERM')).toBe(0);
    leader = await cluster.waitFor('node2 promoted', async () => {
      const primaries = await cluster.primaries();
      return primaries.length === 1 ? primaries[0] : undefined;
    }, 90_000);
    expect(leader).toBe('node2');
    cluster.startAgent('node0');
    leader = await settled('node0 back as a replica');
    expect(leader).toBe('node2');
  });

  it('restarts a crashed primary under its lock, on the same timeline', async () => {
    const timeline = (await cluster.status(leader))?.['timeline'];
    cluster.killPostmaster(leader);
    await cluster.waitFor(`${leader} running as primary again`, async () => {
      const status = await cluster.status(leader);
      return status?.['role'] === 'primary' && status['state'] === 'running' && (await cluster.primaries()).join() === leader;
    });
    expect((await cluster.status(leader))?.['timeline']).toBe(timeline);
    const crashed = leader;
    await cluster.waitFor(`on_start primary on ${crashed}`, async () => callbacksSince(crashed, 'on_role_change primary').includes(`on_start primary ${SCOPE}`));
    await settled('everyone streaming again');
  });

  it('takes no automatic action while paused, and recovers on resume', async () => {
    const paused = await cluster.request(leader, 'PATCH', '/config', { pause: true });
    expect(paused.status).toBe(200);
    await cluster.waitFor('every member reports pause', async () => {
      const statuses = await Promise.all(names().map((name) => cluster.status(name)));
      return statuses.every((status) => status?.['pause'] === true);
    });
    const stopped = leader;
    cluster.killPostmaster(stopped);
    await delay(8000); // four loop_waits
    expect(await cluster.primaries()).toEqual([]);
    expect(cluster.postmasterAlive(stopped)).toBe(false);
    const replica = names().find((name) => name !== stopped)!;
    expect((await cluster.request(replica, 'PATCH', '/config', { pause: null })).status).toBe(200);
    leader = await settled('one leader after resume');
  });

  it('after a resume, waits for a leader whose agent stopped while paused instead of promoting next to it', async () => {
    expect((await cluster.request(leader, 'PATCH', '/config', { pause: true })).status).toBe(200);
    await cluster.waitFor('every member reports pause', async () => {
      const statuses = await Promise.all(names().map((name) => cluster.status(name)));
      return statuses.every((status) => status?.['pause'] === true);
    });
    const former = leader;
    // Paused, a stopping agent leaves PostgreSQL running and the lock to expire: nothing will demote it.
    await cluster.stopAgent(former);
    expect(cluster.postmasterAlive(former)).toBe(true);
    const replica = names().find((name) => name !== former && name !== 'node3')!;
    expect((await cluster.request(replica, 'PATCH', '/config', { pause: null })).status).toBe(200);
    await cluster.waitFor(`${replica} waiting for ${former}`, async () => {
      const decision = (await cluster.status(replica))?.['pgwarden'] as { last_decision?: { ineligible?: string; message?: string } } | undefined;
      return decision?.last_decision?.ineligible === 'paused_leader_unconfirmed' ? decision.last_decision : undefined;
    }, 60_000);
    await delay(4000); // two more loop_waits: still nobody promotes
    expect(await cluster.primaries()).toEqual([]);
    expect(await cluster.query(former, 'SELECT pg_is_in_recovery() AS recovery')).toEqual([{ recovery: false }]);
    // Its agent back, the former leader sees no lock, takes it as the running primary, and the others follow it.
    cluster.startAgent(former);
    expect(await settled('the former leader leads again')).toBe(former);
  });

  it('fails over manually to the named candidate while the primary is down', async () => {
    const candidate = leader === 'node1' ? 'node0' : 'node1';
    await cluster.crash(leader);
    const answer = await cluster.request(candidate, 'POST', '/failover', { candidate });
    expect(answer).toEqual({ status: 200, text: `Successfully failed over to "${candidate}"` });
    // The answer comes once the leader key names the candidate; its promotion may still be finishing.
    await cluster.waitFor(`${candidate} primary`, async () => (await cluster.primaries()).join() === candidate);
    const crashed = leader;
    leader = candidate;
    cluster.startAgent(crashed);
    await settled('the crashed member rejoined');
  });
});
