/**
 * The failover scenario on Consul, plus what only Consul shows: Patroni's keys and values, session binding.
 * No Consul server can be installed here: the agents talk to the Consul HTTP API emulator from testkit.
 */
import { expect } from 'vitest';
import type { ConsulEmulator } from '@pgwarden/testkit/consul';
import { startConsulEmulator } from '@pgwarden/testkit/consul';
import type { LocalCluster } from './support/cluster.js';
import { describeFailoverScenario } from './support/failover-scenario.js';

const PREFIX = 'service/e2e-consul/';
let consul: ConsulEmulator | undefined;

function value(key: string): string | null {
  return consul?.state.getKey(PREFIX + key).entry?.value.toString('utf8') ?? null;
}

describeFailoverScenario({
  name: 'Consul (HTTP API emulator)',
  scope: 'e2e-consul',
  startDcs: async () => {
    // The harness's ttl of 10 s means 5 s sessions: below Consul's default session_ttl_min (10 s).
    const emulator = await startConsulEmulator({ sessionTtlMinMs: 1_000 });
    consul = emulator;
    return { yaml: `consul:\n  host: ${emulator.endpoint}\n`, stop: () => emulator.stop() };
  },
  afterBootstrap: async (cluster: LocalCluster, leader: string) => {
    expect(value('leader')).toBe(leader);
    const rows = await cluster.query<{ system_identifier: string }>(leader, 'SELECT system_identifier::text FROM pg_control_system()');
    expect(value('initialize')).toBe(rows[0]?.system_identifier);
    const member = JSON.parse(value(`members/${leader}`) ?? 'null') as Record<string, unknown>;
    expect(member).toMatchObject({
      conn_url: `postgres://127.0.0.1:${cluster.member(leader).pgPort}/postgres`,
      api_url: `http://127.0.0.1:${cluster.member(leader).apiPort}/patroni`,
      state: 'running',
      role: 'primary',
      timeline: 1,
    });
    const config = JSON.parse(value('config') ?? '{}') as Record<string, unknown>;
    expect(config).toMatchObject({ ttl: 10, loop_wait: 2, retry_timeout: 3 });
    // The lock and the member key are held by the member's session: TTL = ttl/2, behavior delete.
    const state = consul!.state;
    const session = state.getKey(`${PREFIX}leader`).entry?.session;
    expect(session).toBeDefined();
    expect(state.getKey(`${PREFIX}members/${leader}`).entry?.session).toBe(session);
    expect(state.getSession(session!)).toMatchObject({ name: `e2e-consul-${leader}`, ttl: '5s', behavior: 'delete' });
  },
  afterGracefulStop: async (_cluster: LocalCluster, stopped: string) => {
    // The agent released the lock before exiting: nobody waits for the session to expire.
    expect(value('leader')).not.toBe(stopped);
  },
});
