import { describe, expect, it } from 'vitest';
import type { Cluster, Member, MemberData } from '@pgwarden/core';
import { emptyCluster } from '@pgwarden/core';
import { parseStatusArgs } from './cli.js';
import { formatClusterStatus, summarizeCluster } from './status.js';

const member = (name: string, port: number, data: MemberData): Member => ({
  name,
  version: '1',
  data: { conn_url: `postgres://127.0.0.1:${port}/postgres`, api_url: `http://127.0.0.1:${port + 2576}/patroni`, ...data },
});

const primary = member('postgres1', 5433, { role: 'primary', state: 'running', xlog_location: 83_886_688, timeline: 2 });
const streaming = member('postgres0', 5432, {
  role: 'replica',
  state: 'running',
  replication_state: 'streaming',
  xlog_location: 83_886_000,
  timeline: 2,
});
const stopped = member('postgres2', 5434, { role: 'replica', state: 'stopped' });

function cluster(overrides: Partial<Cluster>): Cluster {
  return { ...emptyCluster(), members: [primary, streaming, stopped], ...overrides };
}

describe('summarizeCluster', () => {
  it("measures lag from the status key's optime when it is the newest leader position", () => {
    const summary = summarizeCluster(
      cluster({
        leader: { name: 'postgres1', version: '7', member: primary },
        status: { optime: 83_887_000, slots: {}, retainSlots: [] },
      }),
    );
    expect(summary.leader).toBe('postgres1');
    expect(summary.leaderPosition).toBe(83_887_000);
    expect(summary.leaderTimeline).toBe(2);
    expect(summary.rows.map((row) => [row.member, row.role, row.state, row.lag])).toEqual([
      ['postgres0', 'replica', 'streaming', 1_000],
      ['postgres1', 'leader', 'running', null],
      ['postgres2', 'replica', 'stopped', null],
    ]);
    expect(summary.rows[0]).toMatchObject({ host: '127.0.0.1:5432', timeline: 2, position: 83_886_000 });
  });

  it("falls back to the leader member's xlog_location when status holds no optime", () => {
    const summary = summarizeCluster(cluster({ leader: { name: 'postgres1', version: '7', member: primary } }));
    expect(summary.leaderPosition).toBe(83_886_688);
    expect(summary.rows[0]?.lag).toBe(688);
  });

  it('never reports a negative lag for a replica ahead of the last published optime', () => {
    const ahead = member('postgres0', 5432, { role: 'replica', state: 'running', xlog_location: 90_000_000 });
    const summary = summarizeCluster({
      ...emptyCluster(),
      members: [primary, ahead],
      leader: { name: 'postgres1', version: '7', member: primary },
    });
    expect(summary.rows[0]?.lag).toBe(0);
  });

  it('has no leader position, hence no lag, while nobody holds the lock', () => {
    const summary = summarizeCluster(cluster({ status: { optime: 83_887_000, slots: {}, retainSlots: [] } }));
    expect(summary.leader).toBeNull();
    expect(summary.leaderPosition).toBeNull();
    expect(summary.rows.every((row) => row.lag === null && row.role !== 'leader')).toBe(true);
  });

  it('names a lock holder whose member key has expired and still measures lag from status', () => {
    const summary = summarizeCluster({
      ...emptyCluster(),
      members: [streaming],
      leader: { name: 'gone', version: '9', member: null },
      status: { optime: 83_886_100, slots: {}, retainSlots: [] },
    });
    expect(summary.leader).toBe('gone');
    expect(summary.leaderTimeline).toBeNull();
    expect(summary.rows[0]?.lag).toBe(100);
  });
});

describe('formatClusterStatus', () => {
  it('prints who leads and one aligned row per member', () => {
    const text = formatClusterStatus(
      'demo',
      cluster({ leader: { name: 'postgres1', version: '7', member: primary } }),
    );
    expect(text).toBe(
      [
        'Cluster demo: leader postgres1 at 0/5000260 (timeline 2)',
        'Member     Host            Role     State      TL  LSN        Lag (bytes)',
        '---------  --------------  -------  ---------  --  ---------  -----------',
        'postgres0  127.0.0.1:5432  replica  streaming  2   0/4FFFFB0  688',
        'postgres1  127.0.0.1:5433  leader   running    2   0/5000260',
        'postgres2  127.0.0.1:5434  replica  stopped                   unknown',
        '',
      ].join('\n'),
    );
  });

  it('says so when the cluster has no leader and no members', () => {
    expect(formatClusterStatus('empty', emptyCluster())).toBe('Cluster empty: no leader\nno members\n');
  });
});

describe('parseStatusArgs', () => {
  it('reads hosts (repeated or comma-separated), scope and the default namespace', () => {
    expect(parseStatusArgs(['--etcd', '10.0.0.1:2379,10.0.0.2:2379', '--etcd', '10.0.0.3:2379', '--scope', 'demo'])).toEqual({
      ok: true,
      options: { hosts: ['10.0.0.1:2379', '10.0.0.2:2379', '10.0.0.3:2379'], scope: 'demo', namespace: '/service' },
    });
  });

  it('refuses a missing scope, a missing host and unknown options', () => {
    expect(parseStatusArgs(['--etcd', '127.0.0.1:2379'])).toEqual({ ok: false, error: '--scope is required' });
    expect(parseStatusArgs(['--scope', 'demo'])).toEqual({ ok: false, error: '--etcd is required' });
    expect(parseStatusArgs(['--scope', 'demo', '--etcd', 'x:1', '--verbose']).ok).toBe(false);
  });
});
