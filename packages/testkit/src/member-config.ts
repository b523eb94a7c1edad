/**
 * The Patroni-format YAML of one test member: the same file for pgwarden and Patroni, so end-to-end tests,
 * compatibility tests and the benchmark all run the settings they claim to run.
 */
import { join } from 'node:path';
import { postgresBinDir } from './postgres.js';

/** The superuser every test cluster is created with. */
export const TEST_SUPERUSER = { username: 'postgres', password: 'superpass' } as const;

export interface MemberConfigOptions {
  readonly scope: string;
  readonly name: string;
  readonly apiPort: number;
  readonly pgPort: number;
  /** The member's own directory (pgpass, socket); the data directory defaults to `<dir>/data`. */
  readonly dir: string;
  readonly dataDir?: string;
  /** The store's section, e.g. `etcd3:\n  hosts: 127.0.0.1:2379\n`. */
  readonly dcsYaml: string;
  readonly timing: { readonly ttl: number; readonly loopWait: number; readonly retryTimeout: number };
  readonly usePgRewind?: boolean;
  /** More `bootstrap.dcs` keys, indented by four spaces. */
  readonly dynamicYaml?: string;
  /** More top-level sections, appended at the end. */
  readonly extraYaml?: string;
  /** Patroni's log section (`log:\n  level: INFO\n`), when wanted. */
  readonly logYaml?: string;
}

export function memberConfigYaml(options: MemberConfigOptions): string {
  const { timing } = options;
  const dcs = options.dcsYaml.endsWith('\n') ? options.dcsYaml : `${options.dcsYaml}\n`;
  return `scope: ${options.scope}
namespace: /service
name: ${options.name}
${options.logYaml ?? ''}
restapi:
  listen: 127.0.0.1:${options.apiPort}
  connect_address: 127.0.0.1:${options.apiPort}

${dcs}
bootstrap:
  dcs:
    ttl: ${timing.ttl}
    loop_wait: ${timing.loopWait}
    retry_timeout: ${timing.retryTimeout}
    maximum_lag_on_failover: 1048576
${options.dynamicYaml ?? ''}    postgresql:
      use_pg_rewind: ${options.usePgRewind ?? true}
      parameters:
        max_connections: 50
        shared_buffers: 32MB
  initdb:
    - encoding: UTF8
    - data-checksums

postgresql:
  listen: 127.0.0.1:${options.pgPort}
  connect_address: 127.0.0.1:${options.pgPort}
  data_dir: ${options.dataDir ?? join(options.dir, 'data')}
  bin_dir: ${postgresBinDir()}
  pgpass: ${join(options.dir, 'pgpass')}
  authentication:
    superuser:
      username: ${TEST_SUPERUSER.username}
      password: ${TEST_SUPERUSER.password}
    replication:
      username: replicator
      password: replpass
    rewind:
      username: rewinder
      password: rewindpass
  parameters:
    unix_socket_directories: '${options.dir}'
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 scram-sha-256
    - host replication replicator 127.0.0.1/32 scram-sha-256
${options.extraYaml ?? ''}`;
}
