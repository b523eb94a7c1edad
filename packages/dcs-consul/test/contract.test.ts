import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clusterPrefix } from '@pgwarden/core';
import type { DcsIdentity } from '@pgwarden/core';
import { describeDcsContract, freePort } from '@pgwarden/testkit';
import { startConsulEmulator } from '@pgwarden/testkit/consul';
import type { ConsulEmulator } from '@pgwarden/testkit/consul';
import { createConsulDcs, serviceNameFromScope } from '../src/index.js';

/** Consul keys carry no leading slash. */
const consulKey = (identity: DcsIdentity, key: string): string => (clusterPrefix(identity) + key).replace(/^\/+/, '');

/** Raw HTTP against the emulator, bypassing the plugin and its client. */
async function http(
  emulator: ConsulEmulator,
  method: string,
  path: string,
  body?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: unknown; headers: Headers }> {
  const response = await fetch(`${emulator.url}${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
  const text = await response.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // plain text
  }
  return { status: response.status, json, headers: response.headers };
}

describeDcsContract({
  name: 'Consul (HTTP API emulator, session_ttl_min lowered to 1s)',
  async setup() {
    // ttl 2 s gives 1 s sessions: below Consul's default session_ttl_min of 10 s, as a test server allows.
    const emulator = await startConsulEmulator({ sessionTtlMinMs: 1_000 });
    const closedPort = await freePort();
    return {
      ttlSeconds: 2,
      retryTimeoutSeconds: 2,
      // The emulator invalidates sessions exactly 2 x TTL (= ttl) after the last renewal, checking every 50 ms.
      expiryMarginMs: 500,
      create: (identity) => createConsulDcs({ ...identity, host: emulator.endpoint }),
      createUnreachable: (identity) => createConsulDcs({ ...identity, host: `127.0.0.1:${closedPort}` }),
      letTimePass: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
      async writeRaw(identity, key, value) {
        await http(emulator, 'PUT', `/v1/kv/${consulKey(identity, key)}`, value);
      },
      readRaw: async (identity, key) => {
        const entry = emulator.state.getKey(consulKey(identity, key)).entry;
        return entry ? entry.value.toString('utf8') : null;
      },
      teardown: () => emulator.stop(),
    };
  },
});

describe('Consul key layout and sessions', () => {
  let emulator: ConsulEmulator;
  beforeAll(async () => {
    emulator = await startConsulEmulator({ sessionTtlMinMs: 1_000 });
  });
  afterAll(async () => {
    await emulator.stop();
  });

  const identity = (name: string, scope = 'layout'): DcsIdentity => ({ scope, name, ttl: 10, retryTimeout: 3 });
  const kv = (key: string) => emulator.state.getKey(key).entry;

  it("writes Patroni's keys and values under service/<scope>/, bound to a session named <scope>-<name>", async () => {
    await using alpha = createConsulDcs({ ...identity('alpha'), host: emulator.endpoint });
    const member = {
      conn_url: 'postgres://127.0.0.1:5432/postgres',
      api_url: 'http://127.0.0.1:8008/patroni',
      state: 'running',
      role: 'primary',
      version: '4.1.4',
      xlog_location: 50_331_808,
      timeline: 1,
    };
    expect(await alpha.initialize({ create: true, sysid: '7312345678901234567' })).toBe(true);
    // Concurrent calls share one session.
    expect(await Promise.all([alpha.touchMember(member), alpha.acquireLeader()])).toEqual([true, true]);
    expect(await alpha.setFailover(null)).toBe(true);
    expect(await alpha.setSync({ leader: 'alpha', syncStandby: ['bravo'], quorum: 0 }, null)).not.toBe(false);

    const listed = await http(emulator, 'GET', '/v1/kv/service/layout/?recurse');
    const entries = listed.json as { Key: string; Value: string | null; Session?: string }[];
    const values = Object.fromEntries(entries.map((entry) => [entry.Key, Buffer.from(entry.Value ?? '', 'base64').toString()]));
    expect(values).toEqual({
      'service/layout/failover': '{}',
      'service/layout/initialize': '7312345678901234567',
      'service/layout/leader': 'alpha',
      'service/layout/members/alpha': JSON.stringify(member),
      'service/layout/sync': '{"leader":"alpha","sync_standby":"bravo","quorum":0}',
    });
    expect(Number(listed.headers.get('x-consul-index'))).toBeGreaterThan(0);

    // The leader and member keys are held by one session with TTL = ttl/2, behavior delete; no other key is.
    const session = kv('service/layout/leader')?.session;
    expect(session).toBeDefined();
    expect(kv('service/layout/members/alpha')?.session).toBe(session);
    expect(kv('service/layout/initialize')?.session).toBeUndefined();
    expect(emulator.state.getSession(session!)).toMatchObject({
      name: 'layout-alpha',
      ttl: '5s',
      behavior: 'delete',
      checks: [],
      lockDelayMs: 1,
    });
    // A CAS version is the ModifyIndex.
    const view = await alpha.loadCluster();
    expect(view.leader?.version).toBe(String(kv('service/layout/leader')?.modifyIndex));
  });

  it('invalidating the session deletes the leader and member keys; the next write gets a new session', async () => {
    await using alpha = createConsulDcs({ ...identity('alpha', 'invalidate'), host: emulator.endpoint });
    await using bravo = createConsulDcs({ ...identity('bravo', 'invalidate'), host: emulator.endpoint });
    const data = { conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: 'http://127.0.0.1:8008/patroni', state: 'running', role: 'primary', version: '4.1.4' };
    expect(await alpha.touchMember(data)).toBe(true);
    expect(await alpha.acquireLeader()).toBe(true);
    const session = kv('service/invalidate/leader')!.session!;
    const version = (await bravo.loadCluster()).leader?.version ?? null;
    const watch = bravo.watchLeader(version, 10_000);

    expect((await http(emulator, 'PUT', `/v1/session/destroy/${session}`)).json).toBe(true);
    expect(await watch).toBe(true);
    expect(kv('service/invalidate/leader')).toBeUndefined();
    expect(kv('service/invalidate/members/alpha')).toBeUndefined();
    expect((await bravo.loadCluster()).leader).toBeNull();

    expect(await alpha.renewLeader()).toBe(false);
    expect(await alpha.touchMember(data)).toBe(true);
    const renewed = kv('service/invalidate/members/alpha')?.session;
    expect(renewed).toBeDefined();
    expect(renewed).not.toBe(session);
  });

  it('moves a leader key held by an older session of the same member onto the current one', async () => {
    const scope = 'restart';
    // A previous process of alpha left its lock behind, still within its session's TTL.
    await using previous = createConsulDcs({ ...identity('alpha', scope), host: emulator.endpoint });
    expect(await previous.acquireLeader()).toBe(true);
    const oldSession = kv('service/restart/leader')!.session;
    await previous.close();

    await using alpha = createConsulDcs({ ...identity('alpha', scope), host: emulator.endpoint });
    await using bravo = createConsulDcs({ ...identity('bravo', scope), host: emulator.endpoint });
    expect(await alpha.acquireLeader(), 'the key is held by another session').toBe(false);
    expect(await bravo.renewLeader()).toBe(false);
    expect(await alpha.renewLeader()).toBe(true);
    const moved = kv('service/restart/leader');
    expect(moved?.session).toBeDefined();
    expect(moved?.session).not.toBe(oldSession);
    expect(moved?.value.toString()).toBe('alpha');
    // The old session's expiry no longer takes the lock with it.
    expect(emulator.state.destroySession(oldSession!)).toBe(true);
    expect((await bravo.loadCluster()).leader?.name).toBe('alpha');
  });

  it('reads a cluster Patroni wrote; an empty value reads as the empty string', async () => {
    await http(emulator, 'PUT', '/v1/kv/service/patroni/leader', 'pg1');
    await http(
      emulator,
      'PUT',
      '/v1/kv/service/patroni/members/pg1',
      '{"conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni","state":"running","role":"primary","version":"4.1.4"}',
    );
    await http(emulator, 'PUT', '/v1/kv/service/patroni/config', '{"ttl":30,"loop_wait":10}');
    await http(emulator, 'PUT', '/v1/kv/service/patroni/initialize', '');
    await using reader = createConsulDcs({ ...identity('pg2', 'patroni'), host: emulator.endpoint, consistency: 'consistent' });
    const cluster = await reader.loadCluster();
    expect(cluster.leader).toMatchObject({ name: 'pg1', version: String(kv('service/patroni/leader')?.modifyIndex) });
    expect(cluster.leader?.member?.data.role).toBe('primary');
    expect(cluster.config?.data).toEqual({ ttl: 30, loop_wait: 10 });
    expect(cluster.initialize).toBe('');
  });

  it('sends the ACL token, and reports a refused one as DCS_PROTOCOL', async () => {
    await using secured = await startConsulEmulator({ token: 's3cret', sessionTtlMinMs: 1_000 });
    expect((await http(secured, 'GET', '/v1/kv/service/x/?recurse')).status).toBe(403);
    await using good = createConsulDcs({ ...identity('alpha', 'acl'), url: secured.url, token: 's3cret' });
    expect(await good.acquireLeader()).toBe(true);
    expect((await good.loadCluster()).leader?.name).toBe('alpha');
    await using bad = createConsulDcs({ ...identity('bravo', 'acl'), url: secured.url, token: 'wrong' });
    await expect(bad.loadCluster()).rejects.toMatchObject({ code: 'DCS_PROTOCOL', message: expect.stringMatching(/^\[dcs-consul\] loadCluster: HTTP 403/) as unknown });
  });

  it("registers the service as Patroni does: its name, role tags, HTTP check, 5 x ttl deregistration, tag override", async () => {
    await using alpha = createConsulDcs({
      ...identity('alpha', 'svc'),
      host: emulator.endpoint,
      registerService: true,
      serviceTags: ['pg'],
      serviceCheckInterval: '2s',
    });
    const data = { conn_url: 'postgres://127.0.0.2:5433/postgres', api_url: 'http://127.0.0.2:8009/patroni', state: 'running', role: 'replica', version: '4.1.4' };
    expect(await alpha.touchMember(data)).toBe(true);
    const service = () => emulator.state.listServices().find((candidate) => candidate.id === 'svc/alpha');
    expect(service()).toMatchObject({ name: 'svc', tags: ['pg', 'replica'], address: '127.0.0.2', port: 5433, enableTagOverride: true });
    // Patroni: deregister after 10 x its session ttl, which is ttl / 2: 5 x ttl = 50 s for ttl 10.
    expect(service()?.checks).toEqual([{ HTTP: 'http://127.0.0.2:8009/replica', Interval: '2s', DeregisterCriticalServiceAfter: '50s' }]);
    const listed = (await http(emulator, 'GET', '/v1/agent/services')).json as Record<string, { Service: string; Tags: string[]; EnableTagOverride: boolean }>;
    expect(listed['svc/alpha']).toMatchObject({ Service: 'svc', Tags: ['pg', 'replica'], EnableTagOverride: true });

    expect(await alpha.touchMember({ ...data, role: 'primary' })).toBe(true);
    expect(service()?.tags).toEqual(['pg', 'primary', 'master']);
    expect(service()?.checks[0]).toMatchObject({ HTTP: 'http://127.0.0.2:8009/primary' });
    expect(await alpha.touchMember({ ...data, role: 'standby_leader' })).toBe(true);
    expect(service()?.tags).toEqual(['pg', 'standby-leader']);
    expect(service()?.checks[0]).toMatchObject({ HTTP: 'http://127.0.0.2:8009/standby-leader' });
    // Roles Patroni does not register leave the registration as it was.
    expect(await alpha.touchMember({ ...data, role: 'demoted' })).toBe(true);
    expect(await alpha.touchMember({ ...data, role: 'uninitialized' })).toBe(true);
    expect(service()?.tags).toEqual(['pg', 'standby-leader']);
    // Not running: not registered anew; stopped: deregistered.
    expect(await alpha.touchMember({ ...data, role: 'replica', state: 'starting' })).toBe(true);
    expect(service()?.tags).toEqual(['pg', 'standby-leader']);
    expect(await alpha.touchMember({ ...data, role: 'replica', state: 'stopped' })).toBe(true);
    expect(service()).toBeUndefined();
    expect(await alpha.touchMember(data)).toBe(true);
    expect(service()?.tags).toEqual(['pg', 'replica']);
    await alpha.close();
    expect(service()).toBeUndefined();
  });

  it("names the service from the scope as Patroni's service_name_from_scope_name", async () => {
    expect(serviceNameFromScope('Batman')).toBe('batman');
    expect(serviceNameFromScope('my.cluster_name x')).toBe('my-cluster-name-x');
    expect(serviceNameFromScope('a+b/c')).toBe('au0043bu0047c');
    expect(serviceNameFromScope('ü')).toBe('u0252');
    expect(serviceNameFromScope('x'.repeat(300))).toHaveLength(230);
    await using alpha = createConsulDcs({ ...identity('alpha', 'Pg_Main.1'), host: emulator.endpoint, registerService: true });
    const data = { conn_url: 'postgres://127.0.0.2:5433/postgres', api_url: 'http://127.0.0.2:8009/patroni', state: 'running', role: 'replica', version: '4.1.4' };
    expect(await alpha.touchMember(data)).toBe(true);
    expect(emulator.state.listServices().find((candidate) => candidate.id === 'Pg_Main.1/alpha')?.name).toBe('pg-main-1');
  });

  it('sends the consistency mode with every KV read and dc with every request', async () => {
    const kvReads = (from: number) => emulator.requests.slice(from).filter((request) => request.method === 'GET' && request.path.startsWith('/v1/kv/'));
    const exercise = async (dcs: ReturnType<typeof createConsulDcs>): Promise<void> => {
      expect(await dcs.touchMember({ conn_url: 'postgres://127.0.0.1:5432/postgres', api_url: 'http://127.0.0.1:8008/patroni', state: 'running', role: 'replica' })).toBe(true);
      expect(await dcs.setConfig({ ttl: 10 }, null)).toBe(true);
      expect(await dcs.acquireLeader()).toBe(true);
      const view = await dcs.loadCluster();
      expect(view.config?.data).toEqual({ ttl: 10 });
      expect(await dcs.watchLeader(view.leader?.version ?? null, 300)).toBe(false);
    };
    for (const [mode, expected] of [
      ['consistent', { consistent: '1' }],
      ['stale', { stale: '1' }],
    ] as const) {
      const before = emulator.requests.length;
      await using dcs = createConsulDcs({ ...identity('alpha', `consistency-${mode}`), host: emulator.endpoint, consistency: mode, dc: 'dc1' });
      await exercise(dcs);
      const reads = kvReads(before);
      expect(reads.length).toBeGreaterThanOrEqual(3);
      for (const read of reads) {
        expect(read.query, `${read.path} in ${mode} mode`).toMatchObject(expected);
        expect(read.query).not.toHaveProperty(mode === 'consistent' ? 'stale' : 'consistent');
      }
      // dc goes with every request (KV, sessions), so a member can use another datacenter's servers.
      const requests = emulator.requests.slice(before).filter((request) => !request.path.startsWith('/v1/agent/'));
      expect(requests.length).toBeGreaterThan(reads.length);
      for (const request of requests) expect(request.query, `${request.method} ${request.path}`).toMatchObject({ dc: 'dc1' });
    }
    const before = emulator.requests.length;
    await using plain = createConsulDcs({ ...identity('alpha', 'consistency-default'), host: emulator.endpoint });
    await exercise(plain);
    for (const request of emulator.requests.slice(before)) {
      expect(request.query).not.toHaveProperty('consistent');
      expect(request.query).not.toHaveProperty('stale');
      expect(request.query).not.toHaveProperty('dc');
    }
  });

  it('reports an outage as DcsUnreachableError within retryTimeout, then recovers', async () => {
    await using alpha = createConsulDcs({ ...identity('alpha', 'outage'), retryTimeout: 1, host: emulator.endpoint });
    expect(await alpha.acquireLeader()).toBe(true);
    emulator.setReachable(false);
    try {
      const started = Date.now();
      await expect(alpha.renewLeader()).rejects.toMatchObject({
        code: 'DCS_UNREACHABLE',
        message: expect.stringMatching(/^\[dcs-consul\] renewLeader: /) as unknown,
      });
      expect(Date.now() - started).toBeLessThan(3_000);
    } finally {
      emulator.setReachable(true);
    }
    expect(await alpha.renewLeader()).toBe(true);
  });

  it('refuses a bad url or port', () => {
    expect(() => createConsulDcs({ ...identity('alpha'), url: 'not a url' })).toThrow(/^\[dcs-consul\] /);
    expect(() => createConsulDcs({ ...identity('alpha'), host: '127.0.0.1', port: 70_000 })).toThrow(/^\[dcs-consul\] /);
  });
});
