import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DcsUnreachableError } from '@pgwarden/core';
import type { Dcs } from '@pgwarden/core';
import { createMemoryDcs, createMemoryStore, createTestClock } from '@pgwarden/testkit';
import type { MemoryStore } from '@pgwarden/testkit';
import { runCtl } from './cli.js';
import type { CtlDeps } from './cli.js';
import type { HttpRequest, HttpResponse } from './http.js';
import type { CtlDcsSettings, CtlHttpSettings } from './settings.js';

const SCOPE = 'batman';
const identity = (name: string) => ({ scope: SCOPE, namespace: '/service', name, ttl: 30, retryTimeout: 10 });

interface Fixture {
  readonly store: MemoryStore;
  readonly members: Map<string, Dcs>;
  readonly requests: HttpRequest[];
  readonly out: string[];
  readonly err: string[];
  readonly prompts: string[];
  /** What the fake REST API answers; default 200 "OK". */
  respond: (request: HttpRequest) => Promise<HttpResponse> | HttpResponse;
  answers: string[];
  dcsSettings: CtlDcsSettings[];
  httpSettings: CtlHttpSettings[];
  run(argv: string[], extra?: Partial<CtlDeps>): Promise<number>;
  stdout(): string;
}

async function cluster(options: { paused?: boolean } = {}): Promise<Fixture> {
  const store = createMemoryStore({ clock: createTestClock(0) });
  const members = new Map<string, Dcs>();
  for (const [index, name] of ['pg0', 'pg1', 'pg2'].entries()) {
    const dcs = createMemoryDcs({ ...identity(name), store });
    members.set(name, dcs);
    await dcs.touchMember({
      conn_url: `postgres://127.0.0.1:${5432 + index}/postgres`,
      api_url: `http://127.0.0.1:${8008 + index}/patroni`,
      state: index === 0 ? 'running' : 'streaming',
      role: index === 0 ? 'primary' : 'replica',
      version: '4.1.4',
      timeline: 2,
      ...(index === 2 ? { tags: { nofailover: true } } : {}),
      ...(index > 0 ? { replication_state: 'streaming', xlog_location: 50331744, receive_lsn: 50331744, replay_lsn: 50331744 } : {}),
    });
  }
  const leader = members.get('pg0')!;
  await leader.initialize({ create: true, sysid: '7300000000000000001' });
  await leader.acquireLeader();
  await leader.setConfig({ ttl: 30, loop_wait: 2, retry_timeout: 10, postgresql: { parameters: { max_connections: 100 } }, ...(options.paused ? { pause: true } : {}) }, null);
  await leader.writeStatus({ optime: 50331744, slots: {}, retainSlots: [] });
  await leader.setHistory([[1, 25165912, 'no recovery target specified', '2024-01-01T00:00:00+00:00', 'pg0']]);

  const fixture: Fixture = {
    store,
    members,
    requests: [],
    out: [],
    err: [],
    prompts: [],
    respond: () => ({ status: 200, body: 'OK' }),
    answers: [],
    dcsSettings: [],
    httpSettings: [],
    async run(argv, extra = {}) {
      return runCtl(argv, {
        stdout: { write: (chunk: string) => fixture.out.push(chunk) },
        stderr: { write: (chunk: string) => fixture.err.push(chunk) },
        env: { HOME: '/nonexistent-home' },
        prompt: async (question, options) => {
          fixture.prompts.push(question);
          const answer = fixture.answers.shift();
          if (answer === undefined) throw new Error(`unexpected prompt: ${question}`);
          return answer === '' ? (options?.default ?? '') : answer;
        },
        createDcs: async (settings, id) => {
          fixture.dcsSettings.push(settings);
          return createMemoryDcs({ ...id, store });
        },
        createHttpClient: (settings) => {
          fixture.httpSettings.push(settings);
          return {
            request: async (request) => {
              fixture.requests.push(request);
              return fixture.respond(request);
            },
          };
        },
        sleep: async () => undefined,
        now: () => new Date(2030, 0, 1, 12, 0, 0),
        ...extra,
      });
    },
    stdout: () => fixture.out.join(''),
  };
  return fixture;
}

const DCS = ['-d', 'etcd3://127.0.0.1:2379'];

describe('list and friends', () => {
  it('lists the cluster read from the configured store', async () => {
    const f = await cluster();
    expect(await f.run([...DCS, 'list', SCOPE])).toBe(0);
    expect(f.dcsSettings).toEqual([{ kind: 'etcd3', section: { host: '127.0.0.1:2379' } }]);
    expect(f.stdout()).toBe(
      [
        '+ Cluster: batman (7300000000000000001) --------+----+-------------+-----+------------+-----+------------------+',
        '| Member | Host           | Role    | State     | TL | Receive LSN | Lag | Replay LSN | Lag | Tags             |',
        '+--------+----------------+---------+-----------+----+-------------+-----+------------+-----+------------------+',
        '| pg0    | 127.0.0.1:5432 | Leader  | running   |  2 |             |     |            |     |                  |',
        '| pg1    | 127.0.0.1:5433 | Replica | streaming |  2 |   0/3000060 |   0 |  0/3000060 |   0 |                  |',
        '| pg2    | 127.0.0.1:5434 | Replica | streaming |  2 |   0/3000060 |   0 |  0/3000060 |   0 | nofailover: true |',
        '+--------+----------------+---------+-----------+----+-------------+-----+------------+-----+------------------+',
        '',
      ].join('\n'),
    );
  });

  it('prints history, show-config and dsn', async () => {
    const f = await cluster();
    expect(await f.run([...DCS, 'history', SCOPE, '-f', 'tsv'])).toBe(0);
    expect(f.stdout()).toBe('TL\tLSN\tReason\tTimestamp\tNew Leader\n1\t25165912\tno recovery target specified\t2024-01-01T00:00:00+00:00\tpg0\n');
    f.out.length = 0;
    await f.run([...DCS, 'show-config', SCOPE]);
    expect(f.stdout()).toBe('loop_wait: 2\npostgresql:\n  parameters:\n    max_connections: 100\nretry_timeout: 10\nttl: 30\n');
    f.out.length = 0;
    await f.run([...DCS, 'dsn', SCOPE]);
    await f.run([...DCS, 'dsn', SCOPE, '-m', 'pg2']);
    await f.run([...DCS, 'dsn', SCOPE, '-r', 'replica']);
    expect(f.stdout()).toBe('host=127.0.0.1 port=5432\nhost=127.0.0.1 port=5434\nhost=127.0.0.1 port=5433\n');
    expect(await f.run([...DCS, 'dsn', SCOPE, '-m', 'pg2', '-r', 'replica'])).toBe(1);
    expect(f.err.join('')).toBe('Error: --role and --member are mutually exclusive options\n');
  });

  it('reports usage errors with commander', async () => {
    const f = await cluster();
    expect(await f.run([...DCS, 'list', '-f', 'xml'])).toBe(1);
    expect(f.err.join('')).toMatch(/option '-f, --format <format>' argument 'xml' is invalid. Allowed choices are pretty, tsv, json, yaml, yml/);
    expect(await f.run(['frobnicate'])).toBe(1);
    expect(await f.run([...DCS, 'flush', SCOPE, 'pg1', 'everything'])).toBe(1);
    expect(f.err.join('')).toContain('Error: the last argument must be restart or switchover, not "everything"');
    expect(await f.run(['--help'])).toBe(0);
    expect(f.stdout()).toContain('edit-config');
  });

  it('asks for the cluster name when the configuration has no scope', async () => {
    const f = await cluster();
    expect(await f.run([...DCS, 'show-config'])).toBe(1);
    expect(f.err.join('')).toMatch(/no cluster name/);
  });
});

describe('switchover and failover', () => {
  it('posts the switchover to the leader and prints the result', async () => {
    const f = await cluster();
    f.respond = () => ({ status: 200, body: 'Successfully switched over to "pg1"' });
    expect(await f.run([...DCS, 'switchover', SCOPE, '--leader', 'pg0', '--candidate', 'pg1', '--force'])).toBe(0);
    expect(f.requests).toEqual([{ method: 'POST', url: 'http://127.0.0.1:8008/switchover', body: { leader: 'pg0', candidate: 'pg1' }, timeoutMs: 120_000 }]);
    expect(f.stdout()).toMatch(/^Current cluster topology\n\+ Cluster: batman/);
    expect(f.stdout()).toContain('2030-01-01 12:00:00.00000 Successfully switched over to "pg1"\n');
  });

  it('asks for everything without --force and stops when the answer is no', async () => {
    const f = await cluster();
    f.answers = ['', 'pg1', '', 'n'];
    expect(await f.run([...DCS, 'switchover', SCOPE])).toBe(1);
    expect(f.prompts).toEqual([
      'Primary [pg0]: ',
      "Candidate ['pg1'] []: ",
      'When should the switchover take place (e.g. 2030-01-01T13:00 )  [now]: ',
      'Are you sure you want to switchover cluster batman, demoting current leader pg0? [y/N]: ',
    ]);
    expect(f.err.join('')).toBe('Error: Aborting switchover\n');
    expect(f.requests).toEqual([]);
  });

  it('refuses a candidate tagged nofailover and a wrong leader', async () => {
    const f = await cluster();
    expect(await f.run([...DCS, 'switchover', SCOPE, '--candidate', 'pg2', '--force'])).toBe(1);
    expect(await f.run([...DCS, 'switchover', SCOPE, '--leader', 'pg1', '--force'])).toBe(1);
    expect(f.err.join('')).toBe('Error: Member pg2 does not exist in cluster batman or is tagged as nofailover\nError: Member pg1 is not the leader of cluster batman\n');
  });

  it('falls back to the failover key when the API cannot be reached', async () => {
    const f = await cluster();
    f.respond = () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:8008');
    };
    expect(await f.run([...DCS, 'switchover', SCOPE, '--candidate', 'pg1', '--scheduled', '2030-01-01T14:00:00+00:00', '--force'])).toBe(0);
    expect(f.stdout()).toContain('Could not switchover using Patroni api, falling back to DCS');
    const loaded = await f.members.get('pg0')!.loadCluster();
    expect(loaded.failover).toMatchObject({ leader: 'pg0', candidate: 'pg1' });
    expect(new Date(loaded.failover!.scheduledAt!).toISOString()).toBe('2030-01-01T14:00:00.000Z');
    expect(f.stdout()).toContain(' Switchover scheduled at: ');
  });

  it('prints a failed switchover with its status and exits 1', async () => {
    const f = await cluster();
    f.respond = () => ({ status: 412, body: 'candidate name does not match with sync_standby' });
    expect(await f.run([...DCS, 'failover', SCOPE, '--candidate', 'pg1', '--force'])).toBe(1);
    expect(f.requests[0]).toMatchObject({ url: 'http://127.0.0.1:8008/failover', body: { candidate: 'pg1' } });
    expect(f.stdout()).toContain('Failover failed, details: 412, candidate name does not match with sync_standby\n');
  });
});

describe('pause and resume', () => {
  it('patches the config through the leader and waits until every member reports it', async () => {
    const f = await cluster();
    let polls = 0;
    f.respond = async (request) => {
      await f.members.get('pg0')!.setConfig({ ...(await f.members.get('pg0')!.loadCluster()).config!.data, pause: true }, null).catch(() => false);
      return { status: 200, body: JSON.stringify(request.body) };
    };
    const sleep = async () => {
      polls++;
      for (const [name, dcs] of f.members) {
        const member = (await dcs.loadCluster()).members.find((m) => m.name === name)!;
        await dcs.touchMember({ ...member.data, pause: true });
      }
    };
    expect(await f.run([...DCS, 'pause', SCOPE, '--wait'], { sleep })).toBe(0);
    expect(f.requests).toEqual([{ method: 'PATCH', url: 'http://127.0.0.1:8008/config', body: { pause: true } }]);
    expect(polls).toBe(1);
    expect(f.stdout()).toBe("'pause' request sent, waiting until it is recognized by all nodes\nSuccess: cluster management is paused\n");
  });

  it('says when the cluster is already in the requested state, and tries the next member when one is down', async () => {
    const f = await cluster({ paused: true });
    expect(await f.run([...DCS, 'pause', SCOPE])).toBe(1);
    expect(f.err.join('')).toBe('Error: Cluster is already paused\n');
    f.respond = (request) => {
      if (request.url.includes(':8008/')) throw new Error('connect ECONNREFUSED');
      return { status: 200, body: '{}' };
    };
    expect(await f.run([...DCS, 'resume', SCOPE])).toBe(0);
    expect(f.requests.map((r) => `${r.method} ${r.url} ${JSON.stringify(r.body)}`)).toEqual([
      'PATCH http://127.0.0.1:8008/config {"pause":null}',
      'PATCH http://127.0.0.1:8009/config {"pause":null}',
    ]);
    expect(f.stdout()).toBe('Success: cluster management is resumed\n');
    expect(f.err.join('')).toContain('Member pg0 is not accessible');
  });

  it('warns on resume when nobody holds the lock and a member led while paused', async () => {
    const f = await cluster({ paused: true });
    const pg0 = f.members.get('pg0')!;
    await pg0.writeStatus({ optime: 50331744, slots: {}, retainSlots: [], pausedLeader: { name: 'pg0', apiUrl: 'http://127.0.0.1:8008/patroni' } });
    expect(await f.run([...DCS, 'resume', SCOPE])).toBe(0);
    expect(f.err.join('')).toBe('');
    await pg0.releaseLeader();
    f.err.length = 0;
    await pg0.setConfig({ ...(await pg0.loadCluster()).config!.data, pause: true }, null);
    expect(await f.run([...DCS, 'resume', SCOPE])).toBe(0);
    expect(f.err.join('')).toContain('No member holds the leader lock, and pg0 held it while the cluster was paused');
    expect(f.err.join('')).toContain('pgwardenctl failover --candidate <member>');
  });
});

describe('edit-config', () => {
  it('shows the diff and writes the config key with compare-and-set', async () => {
    const f = await cluster();
    expect(await f.run([...DCS, 'edit-config', SCOPE, '-s', 'ttl=40', '-p', 'work_mem=8MB', '--force'])).toBe(0);
    expect(f.stdout()).toBe(
      ['--- ', '+++ ', '@@ -2,5 +2,6 @@', ' postgresql:', '   parameters:', '     max_connections: 100', '+    work_mem: 8MB', ' retry_timeout: 10', '-ttl: 30', '+ttl: 40', 'Configuration changed', ''].join('\n'),
    );
    expect((await f.members.get('pg0')!.loadCluster()).config!.data).toEqual({ ttl: 40, loop_wait: 2, retry_timeout: 10, postgresql: { parameters: { max_connections: 100, work_mem: '8MB' } } });
  });

  it('asks before applying, says when nothing changes, and needs --force for stdin', async () => {
    const f = await cluster();
    f.answers = ['n'];
    expect(await f.run([...DCS, 'edit-config', SCOPE, '-q', '-s', 'ttl=40'])).toBe(0);
    expect(f.prompts).toEqual(['Apply these changes? [y/N]: ']);
    expect(await f.run([...DCS, 'edit-config', SCOPE, '-s', 'ttl=30'])).toBe(0);
    expect(await f.run([...DCS, 'edit-config', SCOPE, '--apply', '-'], { readStdin: async () => 'loop_wait: 5\n' })).toBe(0);
    expect(f.stdout()).toContain('Not changed\n');
    expect(f.stdout()).toContain('+loop_wait: 5\n');
    expect(f.stdout()).toContain('Use --force option to apply changes\n');
    expect((await f.members.get('pg0')!.loadCluster()).config!.data['ttl']).toBe(30);
  });

  it('opens $EDITOR on the YAML and applies what was saved', async () => {
    const f = await cluster();
    const { readFile, writeFile } = await import('node:fs/promises');
    const runEditor = async (editor: string, file: string) => {
      expect(editor).toBe('my-editor');
      await writeFile(file, (await readFile(file, 'utf8')).replace('loop_wait: 2', 'loop_wait: 3'));
      return 0;
    };
    expect(await f.run([...DCS, 'edit-config', SCOPE, '--force'], { runEditor, env: { EDITOR: 'my-editor' } })).toBe(0);
    expect((await f.members.get('pg0')!.loadCluster()).config!.data['loop_wait']).toBe(3);
  });

  it('aborts when the config changed meanwhile', async () => {
    const g = await cluster();
    const { readFile, writeFile } = await import('node:fs/promises');
    const racing = async (_editor: string, file: string) => {
      await g.members.get('pg0')!.setConfig({ ttl: 31 }, (await g.members.get('pg0')!.loadCluster()).config!.version);
      await writeFile(file, (await readFile(file, 'utf8')).replace('ttl: 30', 'ttl: 35'));
      return 0;
    };
    expect(await g.run([...DCS, 'edit-config', SCOPE, '--force'], { runEditor: racing, env: { EDITOR: 'vi' } })).toBe(1);
    expect(g.err.join('')).toMatch(/^Error: Config modification aborted due to concurrent changes/);
  });
});

describe('member operations', () => {
  it('restarts the named member after confirmation', async () => {
    const f = await cluster();
    f.answers = ['now', 'y', ''];
    expect(await f.run([...DCS, 'restart', SCOPE, 'pg1'])).toBe(0);
    expect(f.prompts).toEqual([
      'When should the restart take place (e.g. 2030-01-01T13:00)  [now]: ',
      'Are you sure you want to restart members pg1? [y/N]: ',
      'Restart if the PostgreSQL version is less than provided (e.g. 15.2)  []: ',
    ]);
    expect(f.requests).toEqual([{ method: 'POST', url: 'http://127.0.0.1:8009/restart', body: {}, timeoutMs: 600_000 }]);
    expect(f.stdout()).toContain('Success: restart on member pg1\n');
  });

  it('schedules restarts of every replica with --role', async () => {
    const f = await cluster();
    f.respond = () => ({ status: 202, body: 'restart scheduled' });
    expect(await f.run([...DCS, 'restart', SCOPE, '-r', 'replica', '--scheduled', '2030-01-02T03:04:05+00:00', '--pg-version', '16.1', '--force'])).toBe(0);
    expect(f.requests.map((r) => r.url)).toEqual(['http://127.0.0.1:8009/restart', 'http://127.0.0.1:8010/restart']);
    expect(f.requests[0]!.body).toMatchObject({ postgres_version: '16.1' });
    expect(new Date((f.requests[0]!.body as { schedule: string }).schedule).toISOString()).toBe('2030-01-02T03:04:05.000Z');
    expect(f.stdout()).toContain('Success: restart scheduled on member pg2\n');
  });

  it('reinitializes a replica and waits until PostgreSQL runs again', async () => {
    const f = await cluster();
    const states = ['creating replica', 'starting', 'running'];
    f.respond = (request) => {
      if (request.method === 'POST') return { status: 200, body: 'reinitialize started' };
      const state = f.requests.filter((r) => r.method === 'GET').length === 1 ? 'running' : (states.shift() ?? 'running');
      return { status: 200, body: JSON.stringify({ state, postmaster_start_time: state === 'running' && states.length === 0 ? 'new' : 'old' }) };
    };
    expect(await f.run([...DCS, 'reinit', SCOPE, 'pg1', '--force', '--wait'])).toBe(0);
    expect(f.requests.filter((r) => r.method === 'POST')).toEqual([{ method: 'POST', url: 'http://127.0.0.1:8009/reinitialize', body: { force: true, from_leader: false } }]);
    expect(f.stdout()).toContain('Success: reinitialize for member pg1\nWaiting for reinitialize to complete on: pg1\nReinitialize is completed on: pg1\n');
  });

  it('refuses to reinitialize the leader', async () => {
    const f = await cluster();
    expect(await f.run([...DCS, 'reinit', SCOPE, 'pg0', '--force'])).toBe(1);
    expect(f.err.join('')).toBe("Error: No replica among provided members\n");
  });

  it('reloads with the loop_wait hint and flushes a scheduled switchover', async () => {
    const f = await cluster();
    f.respond = () => ({ status: 202, body: 'reload scheduled' });
    expect(await f.run([...DCS, 'reload', SCOPE, 'pg0', '--force'])).toBe(0);
    expect(f.stdout()).toContain('Reload request received for member pg0 and will be processed within 2 seconds\n');
    f.out.length = 0;
    expect(await f.run([...DCS, 'flush', SCOPE, 'switchover', '--force'])).toBe(0);
    expect(f.stdout()).toBe('No pending scheduled switchover\n');
    await f.members.get('pg0')!.setFailover({ leader: 'pg0', candidate: 'pg1', scheduledAt: '2030-01-02T00:00:00+00:00' });
    f.respond = () => ({ status: 200, body: 'scheduled switchover deleted' });
    expect(await f.run([...DCS, 'flush', SCOPE, 'switchover'])).toBe(0);
    expect(f.requests.at(-1)).toMatchObject({ method: 'DELETE', url: 'http://127.0.0.1:8008/switchover' });
    expect(f.stdout()).toContain('Success: scheduled switchover deleted\n');
  });

  it('runs a query on a replica and prints tsv, or the SQLSTATE of an error', async () => {
    const f = await cluster();
    const calls: unknown[] = [];
    const runQuery = async (connection: unknown, sql: string, require?: string) => {
      calls.push({ connection, sql, require });
      if (sql === 'bad') throw Object.assign(new Error('syntax error'), { code: '42601' });
      return { columns: ['a', 'b'], rows: [[1, null]] };
    };
    expect(await f.run([...DCS, 'query', SCOPE, '-r', 'replica', '-U', 'postgres', '-c', 'select 1 a, null b'], { runQuery, env: { PGPASSWORD: 'pw' } })).toBe(0);
    expect(calls[0]).toEqual({ connection: { host: '127.0.0.1', port: 5433, user: 'postgres', password: 'pw' }, sql: 'select 1 a, null b', require: 'recovery' });
    expect(f.stdout()).toBe('a\tb\n1\tNone\n');
    f.out.length = 0;
    expect(await f.run([...DCS, 'query', SCOPE, '-c', 'bad'], { runQuery })).toBe(1);
    expect(f.stdout()).toBe('2030-01-01 12:00:00\tERROR, SQLSTATE: 42601\n');
  });

  it('removes the cluster only after the three confirmations', async () => {
    const f = await cluster();
    f.answers = ['batman', 'Yes I am aware', 'pg1'];
    expect(await f.run([...DCS, 'remove', SCOPE])).toBe(1);
    expect(f.err.join('')).toBe('Error: You did not specify the current leader of the cluster\n');
    f.answers = ['batman', 'Yes I am aware', 'pg0'];
    expect(await f.run([...DCS, 'remove', SCOPE])).toBe(0);
    expect((await f.members.get('pg1')!.loadCluster()).members).toEqual([]);
  });

  it("prints each member's version", async () => {
    const f = await cluster();
    f.respond = () => ({ status: 200, body: JSON.stringify({ patroni: { version: '4.1.4' }, server_version: 150008 }) });
    expect(await f.run([...DCS, 'version', SCOPE, 'pg1'])).toBe(0);
    expect(f.stdout()).toBe('pgwardenctl version 0.1.0 (patronictl 4.1.4 compatible)\n\npg1: Patroni 4.1.4 PostgreSQL 15.8\n');
  });

  it('demotes the cluster and watches until the leader runs as standby leader', async () => {
    const f = await cluster();
    f.respond = async () => {
      const pg0 = f.members.get('pg0')!;
      const member = (await pg0.loadCluster()).members.find((m) => m.name === 'pg0')!;
      await pg0.touchMember({ ...member.data, role: 'standby_leader' });
      return { status: 200, body: '{}' };
    };
    expect(await f.run([...DCS, 'demote-cluster', SCOPE, '--host', '10.0.0.9', '--port', '5432', '--force'])).toBe(0);
    expect(f.requests[0]).toMatchObject({ method: 'PATCH', url: 'http://127.0.0.1:8008/config', body: { standby_cluster: { host: '10.0.0.9', port: 5432 } } });
    expect(f.stdout()).toContain('2030-01-01 12:00:00 cluster is successfully demoted\n');
    expect(await f.run([...DCS, 'demote-cluster', SCOPE, '--force'])).toBe(1);
  });
});

describe('http settings', () => {
  it('passes credentials from the configuration and -k to the HTTP client', async () => {
    const f = await cluster();
    const dir = mkdtempSync(join(tmpdir(), 'pgwardenctl-cli-'));
    try {
      writeFileSync(join(dir, 'c.yml'), `scope: ${SCOPE}\netcd3:\n  hosts: 127.0.0.1:2379\nrestapi:\n  authentication: { username: a, password: b }\n`);
      expect(await f.run(['-c', join(dir, 'c.yml'), '-k', 'reload', SCOPE, 'pg0', '--force'])).toBe(0);
      expect(f.httpSettings).toEqual([{ auth: { username: 'a', password: 'b' }, insecure: true }]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

/** A clock that moves 5 s per sleep, and a request that answers after `ticks` sleeps. */
function slowAnswer(f: Fixture, ticks: number, response: HttpResponse): Partial<CtlDeps> {
  let slept = 0;
  let release: (() => void) | null = null;
  f.respond = () =>
    new Promise<HttpResponse>((resolve) => {
      release = () => resolve(response);
    });
  return {
    now: () => new Date(new Date(2030, 0, 1, 12, 0, 0).getTime() + slept * 5_000),
    sleep: async () => {
      slept++;
      if (slept === ticks) release?.();
      await Promise.resolve();
    },
  };
}

describe('progress while a member works', () => {
  it('prints a waiting line every few seconds during a switchover', async () => {
    const f = await cluster();
    const deps = slowAnswer(f, 3, { status: 200, body: 'Successfully switched over to "pg1"' });
    expect(await f.run([...DCS, 'switchover', SCOPE, '--candidate', 'pg1', '--force'], deps)).toBe(0);
    const lines = f.stdout().split('\n').filter((line) => line.startsWith('waiting'));
    expect(lines).toEqual(['waiting for pg1 to become leader... (5 s)', 'waiting for pg1 to become leader... (10 s)']);
    expect(f.stdout()).toMatch(/\(10 s\)\n[\d-]+ [\d:.]+ Successfully switched over to "pg1"\n/);
  });

  it('names no candidate when the switchover picks one, and prints progress during a restart', async () => {
    const f = await cluster();
    expect(await f.run([...DCS, 'switchover', SCOPE, '--force'], slowAnswer(f, 2, { status: 200, body: 'ok' }))).toBe(0);
    expect(f.stdout()).toContain('waiting for a new leader to become leader... (5 s)\n');
    const g = await cluster();
    expect(await g.run([...DCS, 'restart', SCOPE, 'pg1', '--force'], slowAnswer(g, 4, { status: 200, body: 'restarted' }))).toBe(0);
    const lines = g.stdout().split('\n').filter((line) => line.startsWith('waiting'));
    expect(lines).toEqual([5, 10, 15].map((s) => `waiting for pg1 to restart PostgreSQL... (${s} s)`));
    expect(g.stdout()).toContain('Success: restart on member pg1\n');
  });
});

describe('an unreachable store', () => {
  it('says which hosts were tried, where they came from, and what to check', async () => {
    const f = await cluster();
    const createDcs: CtlDeps['createDcs'] = async () => {
      const grpc = new Error('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:2379\n    at callErrorFromStatus (...)');
      return {
        loadCluster: () => Promise.reject(new DcsUnreachableError('dcs-etcd', 'etcd did not answer', { cause: grpc })),
        close: async () => undefined,
      } as unknown as Dcs;
    };
    expect(await f.run(['-d', 'etcd3://10.1.2.3:2379', 'list', SCOPE], { createDcs })).toBe(1);
    const message = f.err.join('');
    expect(message).toContain('Error: cannot reach the DCS (etcd3 at 10.1.2.3:2379, from -d/--dcs-url): 14 UNAVAILABLE: No connection established.');
    expect(message).toContain('-d/--dcs-url');
    expect(message).toContain('etcd3 hosts in the configuration file (-c) or PATRONI_ETCD3_HOSTS');
    expect(message).not.toContain('callErrorFromStatus');
  });

  it('names the environment when the hosts came from PATRONI_ETCD3_HOSTS', async () => {
    const f = await cluster();
    const createDcs: CtlDeps['createDcs'] = () => Promise.reject(new DcsUnreachableError('dcs-etcd', 'etcd did not answer'));
    const env = { HOME: '/nonexistent-home', PATRONI_ETCD3_HOSTS: 'e1:2379,e2:2379' };
    expect(await f.run(['list', SCOPE], { createDcs, env })).toBe(1);
    expect(f.err.join('')).toContain('(etcd3 at e1:2379, e2:2379, from PATRONI_ETCD3_* variables): [dcs-etcd] etcd did not answer');
  });
});
