/**
 * The failover scenario every DCS plugin must pass end to end: bootstrap, kill -9 of the leader, rejoin on
 * the new timeline (with `proveRewind`: after a real divergence, through pg_rewind), graceful stop of the leader.
 * Steps build on each other, in order.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DcsServer } from './cluster.js';
import { LocalCluster } from './cluster.js';

export interface FailoverScenarioOptions {
  readonly name: string;
  readonly scope: string;
  readonly startDcs: () => Promise<DcsServer>;
  /** Store-specific checks after bootstrap, with the first leader's name. */
  readonly afterBootstrap?: (cluster: LocalCluster, leader: string) => Promise<void>;
  /** Store-specific checks after a graceful stop of `stopped`, before the new leader is awaited. */
  readonly afterGracefulStop?: (cluster: LocalCluster, stopped: string) => Promise<void>;
  /**
   * Commit one row on the leader alone just before its crash, so that the survivors fork before it, and prove
   * that the rejoining member ran pg_rewind (not a re-clone) and lost that row.
   */
  readonly proveRewind?: boolean;
}

export function describeFailoverScenario(options: FailoverScenarioOptions): void {
  describe(`a 3-member cluster on ${options.name}`, () => {
    let cluster: LocalCluster;

    beforeAll(async () => {
      cluster = await LocalCluster.create({ scope: options.scope, dcs: await options.startDcs() });
      cluster.startAll();
    });

    afterAll(async () => {
      await cluster?.stop();
    });

    async function onlyPrimary(among?: readonly string[]): Promise<string | undefined> {
      const primaries = await cluster.primaries();
      const found = primaries.length === 1 ? primaries[0] : undefined;
      return found && (!among || among.includes(found)) ? found : undefined;
    }

    async function streamingReplicas(primary: string): Promise<string[]> {
      const rows = await cluster.query<{ application_name: string; state: string }>(
        primary,
        'SELECT application_name, state FROM pg_stat_replication',
      );
      return rows.filter((row) => row.state === 'streaming').map((row) => row.application_name).sort();
    }

    const names = () => cluster.members.map((member) => member.name);

    /**
     * Freezes the leader's walsenders (SIGSTOP), commits a row that therefore reaches no replica, then kills the
     * leader and its frozen walsenders: the survivors never see that row, the old leader's WAL goes past the fork.
     */
    async function divergeAndCrash(leader: string): Promise<void> {
      const others = names().filter((name) => name !== leader);
      for (const name of others) {
        await cluster.waitFor(`${name} replays the first write`, async () => (await cluster.query(name, 'SELECT 1 FROM events')).length === 1);
      }
      const senders = await cluster.query<{ pid: number }>(leader, 'SELECT pid FROM pg_stat_replication');
      expect(senders).toHaveLength(others.length);
      for (const { pid } of senders) process.kill(pid, 'SIGSTOP');
      try {
        // SIGSTOP is asynchronous: write only once the kernel shows every walsender stopped (state T).
        await cluster.waitFor('walsenders stopped', async () =>
          senders.every(({ pid }) => /^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))),
        );
        await cluster.query(leader, "INSERT INTO events (note) VALUES ('diverged')");
        await cluster.crash(leader);
      } finally {
        for (const { pid } of senders) {
          try {
            process.kill(pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    }
    let firstLeader = '';
    let secondLeader = '';

    it('bootstraps one leader and two streaming replicas', async () => {
      firstLeader = await cluster.waitFor('one primary', () => onlyPrimary(), 120_000);
      const others = names().filter((name) => name !== firstLeader).sort();
      await cluster.waitFor('two streaming replicas', async () => (await streamingReplicas(firstLeader)).join() === others.join(), 120_000);
      for (const name of others) {
        await cluster.waitFor(`${name} answers /replica with 200`, async () => (await cluster.httpStatus(name, '/replica')) === 200);
      }
      await cluster.query(firstLeader, 'CREATE TABLE IF NOT EXISTS events (id serial PRIMARY KEY, note text)');
      await cluster.query(firstLeader, "INSERT INTO events (note) VALUES ('before failover')");
      expect(await cluster.status(firstLeader)).toMatchObject({
        state: 'running',
        role: 'primary',
        patroni: { scope: options.scope, name: firstLeader },
      });
      await options.afterBootstrap?.(cluster, firstLeader);
    });

    it('fails over after kill -9 of the leader agent and postmaster', async () => {
      if (options.proveRewind) await divergeAndCrash(firstLeader);
      else await cluster.crash(firstLeader);
      const survivors = names().filter((name) => name !== firstLeader);
      secondLeader = await cluster.waitFor('a new primary among the survivors', () => onlyPrimary(survivors), 90_000);
      await cluster.query(secondLeader, "INSERT INTO events (note) VALUES ('after failover')");
      const rows = await cluster.query<{ note: string }>(secondLeader, 'SELECT note FROM events ORDER BY id');
      expect(rows.map((row) => row.note)).toEqual(['before failover', 'after failover']);
      const follower = survivors.find((name) => name !== secondLeader)!;
      await cluster.waitFor(`${follower} streaming from ${secondLeader}`, async () => (await streamingReplicas(secondLeader)).includes(follower));
      await cluster.waitFor(`${follower} replays the new write`, async () => {
        const notes = await cluster.query<{ note: string }>(follower, 'SELECT note FROM events ORDER BY id');
        return notes.length === 2;
      });
      expect((await cluster.status(secondLeader))?.['timeline']).toBe(2);
    });

    it('rejoins the killed member as a replica on the new timeline', async () => {
      cluster.startAgent(firstLeader);
      await cluster.waitFor(`${firstLeader} streaming from ${secondLeader}`, async () => (await streamingReplicas(secondLeader)).includes(firstLeader), 120_000);
      const status = await cluster.waitFor(`${firstLeader} streaming on timeline 2`, async () => {
        const current = await cluster.status(firstLeader);
        return current?.['timeline'] === 2 && current['replication_state'] === 'streaming' ? current : undefined;
      });
      expect(status['role']).toBe('replica');
      expect(await cluster.primaries()).toEqual([secondLeader]);
      if (options.proveRewind) {
        const log = cluster.member(firstLeader).log;
        // The divergence went through pg_rewind: decided, run, and it found the fork, with no re-clone.
        expect(log.some((line) => line.includes('reason=rewind_started'))).toBe(true);
        expect(log.some((line) => line.includes('servers diverged at WAL location'))).toBe(true);
        expect(log.some((line) => line.includes(`rewind: rewound; starting as a replica of ${secondLeader}`))).toBe(true);
        expect(log.filter((line) => /reason=(reinitialize_started|rewind_failed|clone_started)|clone: /.test(line))).toEqual([]);
        const notes = await cluster.query<{ note: string }>(firstLeader, 'SELECT note FROM events ORDER BY id');
        expect(notes.map((row) => row.note)).toEqual(['before failover', 'after failover']);
      }
    });

    it('hands over at once when the leader gets SIGTERM', async () => {
      await cluster.query(secondLeader, "INSERT INTO events (note) VALUES ('before graceful stop')");
      expect(await cluster.stopAgent(secondLeader, 'SIGTERM')).toBe(0);
      expect(cluster.postmasterAlive(secondLeader)).toBe(false);
      await options.afterGracefulStop?.(cluster, secondLeader);
      const survivors = names().filter((name) => name !== secondLeader);
      const thirdLeader = await cluster.waitFor('a new primary after SIGTERM', () => onlyPrimary(survivors), 60_000);
      await cluster.query(thirdLeader, "INSERT INTO events (note) VALUES ('after graceful stop')");
      const notes = await cluster.query<{ note: string }>(thirdLeader, 'SELECT note FROM events ORDER BY id');
      expect(notes.map((row) => row.note)).toEqual(['before failover', 'after failover', 'before graceful stop', 'after graceful stop']);
    });
  });
}
