import { describe, expect, it } from 'vitest';
import type { ClusterJson } from '@pgwarden/rest-api';
import { formatHistory, formatMembers, printTable, pyJson, renderTable, toYaml, topologyOrder } from './format.js';

const cluster: ClusterJson = {
  scope: 'batman',
  members: [
    { name: 'pg0', role: 'leader', state: 'running', api_url: 'http://127.0.0.1:8008/patroni', host: '127.0.0.1', port: 5432, timeline: 3 },
    { name: 'pg1', role: 'replica', state: 'streaming', api_url: 'http://127.0.0.1:8009/patroni', host: '127.0.0.1', port: 5433, timeline: 3, receive_lsn: '0/3000060', receive_lag: 0, replay_lsn: '0/3000060', replay_lag: 0, lsn: '0/3000060', lag: 0 },
    { name: 'pg2', role: 'sync_standby', state: 'streaming', api_url: 'http://127.0.0.1:8010/patroni', host: '127.0.0.1', port: 5434, timeline: 3, receive_lsn: '0/2000000', receive_lag: 16777216, replay_lsn: 'unknown', replay_lag: 'unknown', lsn: '0/2000000', lag: 16777216 },
  ],
};

describe('formatMembers', () => {
  it('prints the pretty table with the cluster and sysid in the top border', () => {
    expect(formatMembers(cluster, { name: 'batman', initialize: '7300000000000000001', fmt: 'pretty' })).toBe(
      [
        '+ Cluster: batman (7300000000000000001) -+-----------+----+-------------+-----+------------+-----+',
        '| Member | Host           | Role         | State     | TL | Receive LSN | Lag | Replay LSN | Lag |',
        '+--------+----------------+--------------+-----------+----+-------------+-----+------------+-----+',
        '| pg0    | 127.0.0.1:5432 | Leader       | running   |  3 |             |     |            |     |',
        '| pg1    | 127.0.0.1:5433 | Replica      | streaming |  3 |   0/3000060 |   0 |  0/3000060 |   0 |',
        '| pg2    | 127.0.0.1:5434 | Sync Standby | streaming |  3 |   0/2000000 |  16 |    unknown |     |',
        '+--------+----------------+--------------+-----------+----+-------------+-----+------------+-----+',
        '',
      ].join('\n'),
    );
  });

  it('says when the cluster is uninitialized, and prints maintenance mode and a scheduled switchover under the table', () => {
    const text = formatMembers({ ...cluster, pause: true, scheduled_switchover: { at: '2030-01-01T10:00:00+00:00', from: 'pg0', to: 'pg1' } }, { name: 'batman', initialize: null, fmt: 'pretty' });
    expect(text.split('\n')[0]).toMatch(/^\+ Cluster: batman \(uninitialized\) -/);
    expect(text).toContain('\n Maintenance mode: on\n Switchover scheduled at: 2030-01-01T10:00:00+00:00\n                    from: pg0\n                      to: pg1\n');
  });

  it('adds Pending restart and Tags columns when a member has them, with hrules between multi-line rows', () => {
    const withTags: ClusterJson = {
      scope: 'batman',
      members: [
        { ...cluster.members[0]!, pending_restart: true, tags: { nofailover: true, clonefrom: true } },
        { ...cluster.members[1]! },
      ],
    };
    const lines = formatMembers(withTags, { name: 'batman', initialize: '1', fmt: 'pretty' }).split('\n');
    expect(lines[1]).toMatch(/\| Lag \| Pending restart \| Tags {13}\|$/);
    expect(lines[3]).toMatch(/\| \* {15}\| clonefrom: true {2}\|$/);
    expect(lines[4]).toMatch(/^\| {8}\|.*\| {17}\| nofailover: true \|$/);
    expect(lines[5]).toMatch(/^\+-/);
    expect(lines[6]).toMatch(/^\| pg1 /);
  });

  it('shows the pending restart reason as param: old->new, one per line, hiding long ones in tables', () => {
    const reason = {
      max_connections: { old_value: '100', new_value: '200' },
      shared_preload_libraries: { old_value: 'pg_stat_statements', new_value: 'pg_stat_statements,auto_explain,pg_cron' },
    };
    const pending: ClusterJson = { scope: 'batman', members: [{ ...cluster.members[0]!, pending_restart: true, pending_restart_reason: reason }] };
    // tsv joins values as Patroni does, the multi-line reason included.
    const tsv = formatMembers(pending, { name: 'batman', initialize: '1', fmt: 'tsv' });
    expect(tsv).toContain(
      '\tPending restart\tPending restart reason\n',
    );
    expect(tsv).toContain('\t*\tmax_connections: 100->200\nshared_preload_libraries: pg_stat_statements->pg_stat_statements,auto_explain,pg_cron\n');
    const pretty = formatMembers(pending, { name: 'batman', initialize: '1', fmt: 'pretty' }).split('\n');
    expect(pretty[3]).toMatch(/\| \* +\| max_connections: 100->200 +\|$/);
    expect(pretty[4]).toMatch(/\| shared_preload_libraries: \[hidden - too long\] \|$/);
  });

  it('prints tsv with the cluster column and full lag names', () => {
    const text = formatMembers(cluster, { name: 'batman', initialize: '1', fmt: 'tsv' });
    expect(text.split('\n')[0]).toBe('Cluster\tMember\tHost\tRole\tState\tTL\tReceive LSN\tReceive Lag\tReplay LSN\tReplay Lag');
    expect(text.split('\n')[1]).toBe('batman\tpg0\t127.0.0.1:5432\tLeader\trunning\t3\t\t\t\t');
    expect(text.split('\n')[3]).toBe('batman\tpg2\t127.0.0.1:5434\tSync Standby\tstreaming\t3\t0/2000000\t16\tunknown\t');
  });

  it('prints json in Python spacing, dropping empty values', () => {
    const text = formatMembers({ ...cluster, members: [cluster.members[0]!] }, { name: 'batman', initialize: '1', fmt: 'json' });
    expect(text).toBe('[{"Cluster": "batman", "Member": "pg0", "Host": "127.0.0.1", "Role": "Leader", "State": "running", "TL": 3}]\n');
    expect(JSON.parse(formatMembers(cluster, { name: 'batman', initialize: '1', fmt: 'json' }))[2]).toMatchObject({ 'Receive Lag': 16, Host: '127.0.0.1:5434' });
  });

  it('prints yaml with sorted keys', () => {
    const text = formatMembers({ ...cluster, members: [cluster.members[0]!] }, { name: 'batman', initialize: '1', fmt: 'yaml' });
    expect(text).toBe('- Cluster: batman\n  Host: 127.0.0.1\n  Member: pg0\n  Role: Leader\n  State: running\n  TL: 3\n');
  });

  it('shows the host without the port when every member is on 5432 on its own host', () => {
    const spread: ClusterJson = { scope: 'b', members: cluster.members.map((member, index) => ({ ...member, host: `10.0.0.${index}`, port: 5432 })) };
    expect(formatMembers(spread, { name: 'b', initialize: '1', fmt: 'tsv' }).split('\n')[1]).toContain('\t10.0.0.0\t');
  });
});

describe('topology', () => {
  it('puts cascading replicas under the member they replicate from', () => {
    const members = [
      { name: 'a', role: 'replica' as const, state: 'streaming', api_url: null, tags: { replicatefrom: 'c' } },
      { name: 'b', role: 'leader' as const, state: 'running', api_url: null },
      { name: 'c', role: 'replica' as const, state: 'streaming', api_url: null },
      { name: 'd', role: 'replica' as const, state: 'streaming', api_url: null, tags: { replicatefrom: 'a' } },
    ];
    expect(topologyOrder(members).map(({ member, level }) => `${level}:${member.name}`)).toEqual(['0:b', '1:c', '2:a', '3:d']);
    const text = formatMembers({ scope: 's', members: members.map((member) => ({ ...member, host: '127.0.0.1', port: 5432 })) }, { name: 's', initialize: '1', fmt: 'topology' });
    expect(text).toContain('\n| b       | 127.0.0.1:5432 | Leader  |');
    expect(text).toContain('\n| + c     | 127.0.0.1:5432 | Replica |');
    expect(text).toContain('\n|   + a   | 127.0.0.1:5432 | Replica | streaming |    |             |     |            |     | {replicatefrom: c} |');
    expect(text).toContain('\n|     + d |');
  });
});

describe('tables', () => {
  it('truncates a title longer than the border', () => {
    expect(renderTable(['A'], [['x']], { title: ' Cluster: very-long-name ' }).split('\n')[0]).toBe('+ Cl+');
  });

  it('keeps empty values in json when no title is given (history)', () => {
    expect(formatHistory([[1, 25165912, 'no recovery target specified', '2024-01-01T00:00:00+00:00']], 'json')).toBe(
      '[{"TL": 1, "LSN": 25165912, "Reason": "no recovery target specified", "Timestamp": "2024-01-01T00:00:00+00:00", "New Leader": ""}]\n',
    );
    expect(formatHistory([[1, 25165912, 'no recovery target specified', '2024-01-01T00:00:00+00:00', 'pg1']], 'pretty')).toBe(
      [
        '+----+----------+------------------------------+---------------------------+------------+',
        '| TL |      LSN | Reason                       | Timestamp                 | New Leader |',
        '+----+----------+------------------------------+---------------------------+------------+',
        '|  1 | 25165912 | no recovery target specified | 2024-01-01T00:00:00+00:00 | pg1        |',
        '+----+----------+------------------------------+---------------------------+------------+',
        '',
      ].join('\n'),
    );
  });

  it('prints tsv with a custom delimiter and Python scalars', () => {
    expect(printTable(['a', 'b'], [[null, true], [1, 'x']], 'tsv', { delimiter: ',' })).toBe('a,b\nNone,True\n1,x\n');
  });

  it('escapes non-ASCII like json.dumps and dumps YAML sorted', () => {
    expect(pyJson({ b: 'é', a: [1, null] })).toBe('{"b": "\\u00e9", "a": [1, null]}');
    expect(toYaml({ ttl: 30, postgresql: { parameters: { port: '5432' }, pg_hba: ['host all all 0.0.0.0/0 md5'] } })).toBe(
      "postgresql:\n  parameters:\n    port: '5432'\n  pg_hba:\n  - host all all 0.0.0.0/0 md5\nttl: 30\n",
    );
  });
});
