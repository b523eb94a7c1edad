import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEtcdDcs } from '@pgwarden/dcs-etcd';
import { freePort } from '@pgwarden/testkit';
import { startEtcd } from '@pgwarden/testkit/etcd';
import type { EtcdFixture } from '@pgwarden/testkit/etcd';
import { runClusterStatus } from '../src/index.js';

async function run(argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runClusterStatus(argv, { out: (text) => (out += text), err: (text) => (err += text) });
  return { code, out, err };
}

describe('cluster-status against etcd 3.4', () => {
  let etcd: EtcdFixture;
  beforeAll(async () => {
    etcd = await startEtcd();
  });
  afterAll(async () => {
    await etcd.stop();
  });

  it('prints the leader and the lag of each member as two members wrote them', async () => {
    const identity = { scope: 'status-demo', namespace: '/service', ttl: 30, retryTimeout: 3, hosts: [etcd.endpoint] };
    await using leader = createEtcdDcs({ ...identity, name: 'pg-a' });
    await using replica = createEtcdDcs({ ...identity, name: 'pg-b' });
    const common = { state: 'running', version: '4.1.4', timeline: 3 };
    expect(
      await leader.touchMember({
        ...common,
        conn_url: 'postgres://127.0.0.1:6001/postgres',
        api_url: 'http://127.0.0.1:9001/patroni',
        role: 'primary',
        xlog_location: 50_331_808,
      }),
    ).toBe(true);
    expect(await leader.acquireLeader()).toBe(true);
    expect(await leader.writeStatus({ optime: 50_332_000, slots: {}, retainSlots: [] })).toBe(true);
    expect(
      await replica.touchMember({
        ...common,
        conn_url: 'postgres://127.0.0.1:6002/postgres',
        api_url: 'http://127.0.0.1:9002/patroni',
        role: 'replica',
        replication_state: 'streaming',
        xlog_location: 50_331_000,
      }),
    ).toBe(true);

    const result = await run(['--etcd', etcd.endpoint, '--scope', 'status-demo']);
    expect(result).toEqual({
      code: 0,
      err: '',
      out: [
        'Cluster status-demo: leader pg-a at 0/3000160 (timeline 3)',
        'Member  Host            Role     State      TL  LSN        Lag (bytes)',
        '------  --------------  -------  ---------  --  ---------  -----------',
        'pg-a    127.0.0.1:6001  leader   running    3   0/30000A0',
        'pg-b    127.0.0.1:6002  replica  streaming  3   0/2FFFD78  1000',
        '',
      ].join('\n'),
    });
    // Another namespace is another cluster: nothing there.
    expect((await run(['--etcd', etcd.endpoint, '--scope', 'status-demo', '--namespace', '/other'])).out).toBe(
      'Cluster status-demo: no leader\nno members\n',
    );
  });

  it('exits 1 with the store error when etcd does not answer', async () => {
    const closed = await freePort();
    const result = await run(['--etcd', `127.0.0.1:${closed}`, '--scope', 'status-demo']);
    expect(result.code).toBe(1);
    expect(result.out).toBe('');
    expect(result.err).toMatch(/^cluster-status: \[dcs-etcd\] /);
  });
});
