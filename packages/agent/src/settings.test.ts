import { describe, expect, it } from 'vitest';
import { parseConfig } from '@pgwarden/config';
import { allowShortTtl, driverOptions, haSettings, initialTiming, mergedParameters, replicaMethods } from './settings.js';
import { silentLogger } from '@pgwarden/core';

const YAML = `scope: demo
name: node1
restapi:
  listen: 0.0.0.0:8008
  connect_address: 10.0.0.1:8008
etcd3:
  hosts: 127.0.0.1:2379
bootstrap:
  dcs:
    ttl: 10
    loop_wait: 2
    retry_timeout: 3
    postgresql:
      parameters:
        max_connections: 200
        wal_level: logical
postgresql:
  listen: 0.0.0.0:5432
  connect_address: 10.0.0.1:5432
  data_dir: /var/lib/pg/data
  pgpass: /tmp/pgpass
  authentication:
    superuser: {username: postgres, password: secret}
    replication: {username: replicator, password: rep}
  parameters:
    max_connections: 100
tags:
  nofailover: true
`;

describe('agent settings from the configuration', () => {
  const config = parseConfig(YAML, 'node1.yml', {});

  it('reads create_replica_methods with each method’s section, and basebackup options as Patroni does', () => {
    const withMethods = parseConfig(
      YAML.replace(
        '  parameters:\n    max_connections: 100\n',
        `  parameters:
    max_connections: 100
  create_replica_methods: [pgbackrest, basebackup]
  pgbackrest:
    command: /usr/bin/pgbackrest --stanza=main --delta restore
    keep_data: true
    no_params: true
  basebackup:
    - verbose
    - max-rate: 100M
    - pgdata: /elsewhere
`,
      ),
      'node1.yml',
      {},
    );
    expect(replicaMethods(withMethods, silentLogger)).toEqual([
      { name: 'pgbackrest', command: '/usr/bin/pgbackrest --stanza=main --delta restore', keepData: true, noParams: true, params: {} },
      { name: 'basebackup', options: ['--verbose', '--max-rate=100M'] },
    ]);
    expect(replicaMethods(config, silentLogger)).toEqual([{ name: 'basebackup', options: [] }]);
  });

  it('publishes Patroni-style URLs and the tags', () => {
    const settings = haSettings(config, {});
    expect(settings).toMatchObject({
      name: 'node1',
      scope: 'demo',
      connUrl: 'postgres://10.0.0.1:5432/postgres',
      apiUrl: 'http://10.0.0.1:8008/patroni',
      tags: { nofailover: true },
      enforceTimingMinimums: true,
    });
  });

  it('keeps Patroni minimums unless short test timings are allowed', () => {
    expect(initialTiming(config, {})).toEqual({ ttl: 20, loopWait: 2, retryTimeout: 3 });
    expect(allowShortTtl({ PGWARDEN_ALLOW_SHORT_TTL: '1' })).toBe(true);
    expect(initialTiming(config, { PGWARDEN_ALLOW_SHORT_TTL: '1' })).toEqual({ ttl: 10, loopWait: 2, retryTimeout: 3 });
  });

  it('lets local parameters override the cluster-wide ones', () => {
    expect(mergedParameters({ max_connections: 200, wal_level: 'logical', nested: { a: 1 } }, config)).toEqual({
      max_connections: 100,
      wal_level: 'logical',
    });
  });

  it('builds the driver options', () => {
    const options = driverOptions(config, {}, silentLogger);
    expect(options).toMatchObject({
      name: 'node1',
      scope: 'demo',
      dataDir: '/var/lib/pg/data',
      listen: { host: '0.0.0.0', port: 5432 },
      connectAddress: { host: '10.0.0.1', port: 5432 },
      authentication: { superuser: { username: 'postgres', password: 'secret' }, replication: { username: 'replicator', password: 'rep' } },
      pgpass: '/tmp/pgpass',
    });
    expect(options.beforeStop).toBeUndefined();
  });

  it('passes before_stop, remove_data_directory_on_diverged_timelines and the no_leader methods on', () => {
    const withScripts = parseConfig(
      YAML.replace(
        '  parameters:\n    max_connections: 100\n',
        `  parameters:
    max_connections: 100
  before_stop: /usr/local/bin/drain --wait
  remove_data_directory_on_diverged_timelines: true
  create_replica_methods: [wal_g, pgbackrest, basebackup]
  wal_g:
    command: wal-g-restore
  pgbackrest:
    command: pgbackrest-restore
    no_leader: true
`,
      ),
      'node1.yml',
      {},
    );
    expect(driverOptions(withScripts, {}, silentLogger).beforeStop).toBe('/usr/local/bin/drain --wait');
    const settings = haSettings(withScripts, {});
    expect(settings.removeDataDirectoryOnDivergedTimelines).toBe(true);
    expect(settings.noLeaderReplicaMethods).toEqual(['pgbackrest']);
    // no_leader stays out of the arguments the command gets.
    expect(replicaMethods(withScripts, silentLogger)[1]).toEqual({ name: 'pgbackrest', command: 'pgbackrest-restore', keepData: false, noParams: false, params: {} });
    expect(haSettings(config, {})).toMatchObject({ removeDataDirectoryOnDivergedTimelines: false, noLeaderReplicaMethods: [] });
  });
});
