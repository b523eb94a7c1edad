import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { answerFailsafePost } from '@pgwarden/core';
import type { FailsafePayload, PostgresObservation } from '@pgwarden/core';
import { failsafeUrl, postFailsafe } from '../src/failsafe.js';
import { createRestApiHandler } from '../src/handler.js';
import { startRestApiServer } from '../src/server.js';
import type { RestApiServer } from '../src/server.js';
import { FakeOperations, OperationsNode } from './fake-operations.js';
import { clusterWith, member, primaryObservation, replicaObservation, replicaSnapshot } from './fixtures.js';
import { send } from './http-helpers.js';

const PAYLOAD: FailsafePayload = { name: 'node1', conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: 'http://127.0.0.1:8008/patroni', slots: { node1: 9000 } };

/** A replica's REST API whose failsafe hooks behave as the agent wires them. */
class FailsafeOperations extends FakeOperations {
  enabled = true;
  observation: PostgresObservation = replicaObservation();
  readonly contacts: FailsafePayload[] = [];
  failsafeModeEnabled(): boolean {
    return this.enabled;
  }
  acceptFailsafe(payload: FailsafePayload) {
    const answer = answerFailsafePost(this.observation);
    if (answer.accepted) this.contacts.push(payload);
    return answer;
  }
}

let ops: FailsafeOperations;
const node = new OperationsNode(undefined);
let server: RestApiServer;
let base: string;

beforeAll(async () => {
  // The allowlist admits only members: POST /failsafe skips that check, as in Patroni (the store may be down).
  const handler = createRestApiHandler({ node, allowlistIncludeMembers: true, resolveHost: () => Promise.resolve(['10.9.9.9']) });
  server = await startRestApiServer({ host: '127.0.0.1', port: 0, handler });
  base = server.address.url;
});
afterAll(async () => {
  await server.close();
});
beforeEach(async () => {
  ops = new FailsafeOperations();
  await ops.seed();
  (node as { operations: FakeOperations | undefined }).operations = ops;
  node.current = replicaSnapshot({ cluster: await ops.dcs.loadCluster() });
});

describe('POST /failsafe', () => {
  it('a replica accepts, remembers the primary and answers its position in the lsn header', async () => {
    const answer = await send(base, 'POST', '/failsafe', { body: PAYLOAD });
    expect(answer.status).toBe(200);
    expect(answer.body).toBe('Accepted');
    expect(answer.headers['lsn']).toBe(String(Math.max(ops.observation.receiveLsn ?? 0, ops.observation.replayLsn ?? 0)));
    expect(ops.contacts).toEqual([PAYLOAD]);
  });

  it('a running primary refuses with 500 "Running as a leader"', async () => {
    ops.observation = primaryObservation();
    const answer = await send(base, 'POST', '/failsafe', { body: PAYLOAD });
    expect([answer.status, answer.body]).toEqual([500, 'Running as a leader']);
    expect(ops.contacts).toEqual([]);
  });

  it('answers 502 when failsafe_mode is off', async () => {
    ops.enabled = false;
    const answer = await send(base, 'POST', '/failsafe', { body: PAYLOAD });
    expect(answer.status).toBe(502);
    expect(ops.contacts).toEqual([]);
  });

  it('answers 400 with a reason for bad JSON or a body without the leader data', async () => {
    const broken = await send(base, 'POST', '/failsafe', { body: '{"name":' });
    expect(broken.status).toBe(400);
    const incomplete = await send(base, 'POST', '/failsafe', { body: { name: 'node1' } });
    expect([incomplete.status, incomplete.body]).toEqual([400, 'invalid failsafe request: conn_url must be a string']);
    expect(ops.contacts).toEqual([]);
  });

  it('skips the members allowlist that still guards other writes', async () => {
    node.current = replicaSnapshot({ cluster: clusterWith({ members: [member('node9', { api_url: 'http://db9.example:8008/patroni' })] }) });
    expect((await send(base, 'POST', '/reload')).status).toBe(403);
    expect((await send(base, 'POST', '/failsafe', { body: PAYLOAD })).status).toBe(200);
  });
});

describe('postFailsafe, the primary side', () => {
  it('collects every answer: accepted with the position, refused, or no answer at all', async () => {
    const closed = await startRestApiServer({ host: '127.0.0.1', port: 0, handler: () => undefined });
    const deadUrl = `${closed.address.url}/patroni`;
    await closed.close();
    const acks = await postFailsafe(
      [
        { name: 'replica', apiUrl: `${base}/patroni` },
        { name: 'gone', apiUrl: deadUrl },
        { name: 'garbage', apiUrl: 'not a url' },
      ],
      PAYLOAD,
      { timeoutMs: 2000 },
    );
    expect(acks).toEqual([
      { name: 'replica', accepted: true, lsn: 0x5000000 },
      { name: 'gone', accepted: false, lsn: null },
      { name: 'garbage', accepted: false, lsn: null },
    ]);
    ops.observation = primaryObservation();
    expect(await postFailsafe([{ name: 'primary', apiUrl: `${base}/patroni` }], PAYLOAD, { timeoutMs: 2000 })).toEqual([
      { name: 'primary', accepted: false, lsn: null },
    ]);
  });

  it('posts to the /failsafe path of the api_url', () => {
    expect(failsafeUrl('https://db1:8008/patroni?x=1')?.toString()).toBe('https://db1:8008/failsafe');
    expect(failsafeUrl('ftp://db1/patroni')).toBeNull();
  });
});
