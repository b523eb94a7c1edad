import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createRestApiHandler } from '../src/handler.js';
import { startRestApiServer } from '../src/server.js';
import type { RestApiServer } from '../src/server.js';
import { FakeOperations, OperationsNode } from './fake-operations.js';
import { primarySnapshot } from './fixtures.js';
import { json, raw, send, statusLine } from './http-helpers.js';

let ops: FakeOperations;
const node = new OperationsNode(undefined);
let server: RestApiServer;
let base: string;

beforeAll(async () => {
  const handler = createRestApiHandler({ node, switchoverPollIntervalMs: 5, extraHeaders: { 'x-extra': 'yes' } });
  server = await startRestApiServer({ host: '127.0.0.1', port: 0, handler });
  base = server.address.url;
});
afterAll(async () => {
  await server.close();
});
beforeEach(async () => {
  ops = new FakeOperations();
  await ops.seed();
  (node as { operations: FakeOperations | undefined }).operations = ops;
  node.current = primarySnapshot({ cluster: await ops.dcs.loadCluster() });
});

describe('request bodies', () => {
  it('answers 411 without a Content-Length, 400 for bad JSON, an empty object or not an object', async () => {
    const noLength = await raw(server.address.port, ['POST /switchover HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    expect(statusLine(noLength)).toBe('HTTP/1.1 411 Length Required');
    expect(noLength).toContain('send the JSON body with a Content-Length');
    for (const body of ['{"leader":', '{}', '[1]', 'null']) {
      const answer = await send(base, 'POST', '/switchover', { body });
      expect([body, answer.status]).toEqual([body, 400]);
      expect(answer.headers['content-type']).toBe('text/html; charset=utf-8');
      expect(answer.headers['x-extra']).toBe('yes');
    }
    expect((await send(base, 'POST', '/switchover', { body: { leader: 5 } })).body).toBe('leader must be a string');
  });
});

describe('POST /switchover and /failover', () => {
  it("refuses what core's rules refuse, with Patroni's codes and texts", async () => {
    const cases: Array<[string, unknown, number, string]> = [
      ['/switchover', { candidate: 'node2' }, 400, 'Switchover could be performed only from a specific leader'],
      ['/failover', { leader: 'node1' }, 400, 'Failover could be performed only to a specific candidate'],
      ['/failover', { candidate: 'node2', scheduled_at: '2030-01-01T00:00:00Z' }, 400, "Failover can't be scheduled"],
      ['/switchover', { leader: 'node1', scheduled_at: '2030-01-01T00:00:00' }, 400, 'Timezone information is mandatory for the scheduled switchover'],
      ['/switchover', { leader: 'node1', scheduled_at: '2020-01-01T00:00:00Z' }, 422, 'Cannot schedule switchover in the past'],
      ['/switchover', { leader: 'node2', candidate: 'node3' }, 412, 'leader name does not match'],
      ['/switchover', { leader: 'node1', member: 'node9' }, 412, 'candidate does not exists'],
      ['/switchover', { leader: 'node1', candidate: 'node1' }, 400, 'Switchover target and source are the same'],
    ];
    for (const [path, body, status, text] of cases) {
      const answer = await send(base, 'POST', path, { body });
      expect([path, body, answer.status, answer.body]).toEqual([path, body, status, text]);
    }
    expect(ops.wakeUps).toBe(0);
    expect((await ops.dcs.loadCluster()).failover).toBeNull();
  });

  it('answers 412 when no member can take over', async () => {
    ops.probeAnswer = (name) => ({ name, reachable: false, error: 'timeout' });
    const answer = await send(base, 'POST', '/switchover', { body: { leader: 'node1' } });
    expect([answer.status, answer.body]).toEqual([412, 'switchover is not possible: no good candidates have been found']);
    expect(ops.probed).toEqual([['node2', 'node3']]);
  });

  it('schedules a switchover (202) and deletes it (200, then 404)', async () => {
    const answer = await send(base, 'POST', '/switchover', { body: { leader: 'node1', candidate: 'node2', scheduled_at: '2025-01-01T14:00:00+02:00' } });
    expect([answer.status, answer.body]).toEqual([202, 'Switchover scheduled']);
    expect((await ops.dcs.loadCluster()).failover).toMatchObject({ leader: 'node1', candidate: 'node2', scheduledAt: '2025-01-01T12:00:00.000Z' });
    expect(ops.wakeUps).toBe(1);
    expect(ops.probed).toEqual([]); // a scheduled switchover is judged when it falls due

    const deleted = await send(base, 'DELETE', '/switchover');
    expect([deleted.status, deleted.body]).toEqual([200, 'scheduled switchover deleted']);
    expect((await ops.dcs.loadCluster()).failover).toBeNull();
    const again = await send(base, 'DELETE', '/switchover');
    expect([again.status, again.body]).toEqual([404, 'no switchover is scheduled']);
  });

  it('answers 409 when the scheduled switchover changed under the DELETE, 503 when the key cannot be written', async () => {
    await ops.dcs.setFailover({ leader: 'node1', candidate: null, scheduledAt: '2025-01-01T13:00:00Z' });
    ops.failFailoverWrites = true;
    const conflict = await send(base, 'DELETE', '/switchover');
    expect(conflict.status).toBe(409);
    const unwritten = await send(base, 'POST', '/switchover', { body: { leader: 'node1', scheduled_at: '2025-01-01T13:00:00Z' } });
    expect([unwritten.status, unwritten.body]).toEqual([503, 'failed to write failover key into DCS']);
  });

  it('waits for the new leader: switched over as asked, or to someone else', async () => {
    ops.onWakeUp = async () => {
      await ops.members.node1.releaseLeader();
      await ops.members.node2.acquireLeader();
    };
    const done = await send(base, 'POST', '/switchover', { body: { leader: 'node1', candidate: 'node2' } });
    expect([done.status, done.body]).toEqual([200, 'Successfully switched over to "node2"']);

    ops.onWakeUp = async () => {
      await ops.members.node2.releaseLeader();
      await ops.members.node3.acquireLeader();
    };
    const other = await send(base, 'POST', '/failover', { body: { candidate: 'node1' } });
    expect([other.status, other.body]).toEqual([200, 'Failed over to "node3" instead of "node1"']);
  });

  it('answers 503 when the key is cleared with no new leader, or nothing happens in time', async () => {
    ops.onWakeUp = async () => {
      const { failover } = await ops.dcs.loadCluster();
      await ops.dcs.setFailover(null, failover?.version);
    };
    const failed = await send(base, 'POST', '/switchover', { body: { leader: 'node1', candidate: 'node2' } });
    expect([failed.status, failed.body]).toEqual([503, 'Switchover failed']);

    ops.onWakeUp = () => Promise.resolve();
    const unknown = await send(base, 'POST', '/failover', { body: { candidate: 'node2' } });
    expect(unknown.status).toBe(503);
    expect(unknown.body).toMatch(/^Failover status unknown after \d+ seconds; operation may still be in progress$/);
  });
});

describe('POST and DELETE /restart', () => {
  it('restarts now and waits for the task: 200, or 503 when it failed or is still running', async () => {
    const restarted = await send(base, 'POST', '/restart');
    expect([restarted.status, restarted.body]).toEqual([200, 'restarted successfully']);
    expect(ops.submitted).toEqual([{ kind: 'restart' }]);
    expect(ops.waits).toEqual([300_000]); // primary_start_timeout

    ops.task = { kind: 'restart', state: 'failed', startedAt: 0, error: 'boom' };
    const failed = await send(base, 'POST', '/restart', { body: { role: 'primary', postgres_version: '16.1', timeout: '30s', restart_pending: true } });
    expect([failed.status, failed.body]).toEqual([503, 'restart failed']);
    expect(ops.submitted[1]).toEqual({ kind: 'restart', role: 'primary', postgresVersionBelow: 160001, timeout: 30, restartPending: true });
    expect(ops.waits[1]).toBe(30_000);

    ops.task = null;
    const slow = await send(base, 'POST', '/restart', { body: '' });
    expect([slow.status, slow.body]).toEqual([503, 'postgres is still starting']);

    ops.outcomes.push({ accepted: false, message: 'restart conditions are not satisfied' });
    const refused = await send(base, 'POST', '/restart', { body: { role: 'replica' } });
    expect([refused.status, refused.body]).toEqual([503, 'restart conditions are not satisfied']);
  });

  it('schedules a restart (202, 409 when one is scheduled) and refuses bad filters', async () => {
    const scheduled = await send(base, 'POST', '/restart', { body: { schedule: '2025-01-01T13:00:00Z', role: 'replica' } });
    expect([scheduled.status, scheduled.body]).toEqual([202, 'Restart scheduled']);
    expect(ops.submitted).toEqual([
      {
        kind: 'scheduleRestart',
        restart: {
          at: Date.UTC(2025, 0, 1, 13),
          schedule: '2025-01-01T13:00:00.000Z',
          role: 'replica',
          postmasterStartTime: '2025-01-01 11:00:00.5+00',
        },
      },
    ]);
    ops.outcomes.push({ accepted: false, message: 'Another restart is already scheduled' });
    const twice = await send(base, 'POST', '/restart', { body: { schedule: '2025-01-01T13:00:00Z' } });
    expect([twice.status, twice.body]).toEqual([409, 'Another restart is already scheduled']);

    const unknownKey = await send(base, 'POST', '/restart', { body: { when: 'now' } });
    expect([unknownKey.status, unknownKey.body]).toEqual([400, 'Unknown filter for the scheduled restart: when']);
    node.current = primarySnapshot({ paused: true });
    const paused = await send(base, 'POST', '/restart', { body: { schedule: '2025-01-01T13:00:00Z' } });
    expect([paused.status, paused.body]).toEqual([500, "Can't schedule restart in the paused state"]);
    expect(ops.submitted).toHaveLength(2);
  });

  it('deletes a scheduled restart: 200, or 404 when there is none', async () => {
    const deleted = await send(base, 'DELETE', '/restart');
    expect([deleted.status, deleted.body]).toEqual([200, 'scheduled restart deleted']);
    ops.outcomes.push({ accepted: false, message: 'no restarts are scheduled' });
    const none = await send(base, 'DELETE', '/restart');
    expect([none.status, none.body]).toEqual([404, 'no restarts are scheduled']);
    expect(ops.submitted).toEqual([{ kind: 'cancelScheduledRestart' }, { kind: 'cancelScheduledRestart' }]);
  });
});

describe('POST /reinitialize and /reload', () => {
  it('starts a reinitialize, cancels a task in the way only with force, and passes refusals on', async () => {
    const started = await send(base, 'POST', '/reinitialize', { body: { from_leader: true } });
    expect([started.status, started.body]).toEqual([200, 'reinitialize started']);
    expect(ops.submitted).toEqual([{ kind: 'reinitialize', fromLeader: true }]);

    ops.outcomes.push({ accepted: false, message: 'restart already in progress' });
    const busy = await send(base, 'POST', '/reinitialize');
    expect([busy.status, busy.body]).toEqual([503, 'restart already in progress']);
    expect(ops.cancelled).toBe(0);

    ops.outcomes.push({ accepted: false, message: 'restart already in progress' });
    const forced = await send(base, 'POST', '/reinitialize', { body: { force: 'true' } });
    expect([forced.status, forced.body]).toEqual([200, 'reinitialize started']);
    expect(ops.cancelled).toBe(1);

    ops.outcomes.push({ accepted: false, message: 'I am the leader, can not reinitialize' });
    const leader = await send(base, 'POST', '/reinitialize', { body: { force: true } });
    expect([leader.status, leader.body]).toEqual([503, 'I am the leader, can not reinitialize']);
    expect(ops.cancelled).toBe(1);
  });

  it('schedules a reload', async () => {
    const answer = await send(base, 'POST', '/reload');
    expect([answer.status, answer.body]).toEqual([202, 'reload scheduled']);
    expect(ops.reloads).toBe(1);
  });
});

describe('PATCH and PUT /config', () => {
  it('merges a patch with compare-and-set and wakes the loop', async () => {
    const answer = await send(base, 'PATCH', '/config', { body: { loop_wait: 5, postgresql: { parameters: { max_connections: null, work_mem: '8MB' } } } });
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/json');
    const expected = { ttl: 30, loop_wait: 5, postgresql: { parameters: { work_mem: '8MB' } } };
    expect(json(answer)).toEqual(expected);
    expect((await ops.dcs.loadCluster()).config?.data).toEqual(expected);
    expect(ops.wakeUps).toBe(1);

    const unchanged = await send(base, 'PATCH', '/config', { body: { loop_wait: '5' } });
    expect(unchanged.status).toBe(200);
    expect(ops.configWrites).toBe(1);
  });

  it('answers 400 for a configuration that would break members, 409 on a concurrent change, 503 without a config key', async () => {
    const invalid = await send(base, 'PATCH', '/config', { body: { ttl: 'soon' } });
    expect([invalid.status, invalid.body]).toEqual([400, 'invalid configuration: ttl must be a number, got "soon"']);
    ops.failConfigWrites = true;
    expect((await send(base, 'PATCH', '/config', { body: { ttl: 40 } })).status).toBe(409);

    const empty = new FakeOperations();
    (node as { operations: FakeOperations | undefined }).operations = empty;
    const missing = await send(base, 'PATCH', '/config', { body: { ttl: 40 } });
    expect(missing.status).toBe(503);
  });

  it('replaces the configuration, writing only when it differs; 502 when the write fails', async () => {
    const replacement = { ttl: 20, loop_wait: 5 };
    const answer = await send(base, 'PUT', '/config', { body: replacement });
    expect([answer.status, json(answer)]).toEqual([200, replacement]);
    expect((await ops.dcs.loadCluster()).config?.data).toEqual(replacement);
    expect((await send(base, 'PUT', '/config', { body: { ttl: '20', loop_wait: 5 } })).status).toBe(200);
    expect(ops.configWrites).toBe(1);
    ops.failConfigWrites = true;
    const failed = await send(base, 'PUT', '/config', { body: { ttl: 25 } });
    expect([failed.status, failed.body]).toEqual([502, 'failed to write the configuration into DCS']);
    expect((await send(base, 'PUT', '/config', { body: { ttl: [] } })).status).toBe(400);
  });
});

describe('a node without operations', () => {
  it('answers 501 on every unsafe route and still serves reads', async () => {
    (node as { operations: FakeOperations | undefined }).operations = undefined;
    for (const [method, path] of [
      ['POST', '/switchover'],
      ['DELETE', '/switchover'],
      ['POST', '/failover'],
      ['POST', '/restart'],
      ['DELETE', '/restart'],
      ['POST', '/reinitialize'],
      ['POST', '/reload'],
      ['PATCH', '/config'],
      ['PUT', '/config'],
    ] as const) {
      const answer = await send(base, method, path, method === 'DELETE' ? {} : { body: { leader: 'node1' } });
      expect([method, path, answer.status]).toEqual([method, path, 501]);
      expect(answer.body).toContain('without operations');
    }
    expect((await send(base, 'GET', '/patroni')).status).toBe(200);
  });
});
