/**
 * The local configuration, keyed exactly as Patroni's YAML spells it. Keys Patroni knows but pgwarden does
 * not interpret are kept (index signatures) so that nothing a user wrote is lost.
 */

/** A scalar PostgreSQL parameter value as YAML gives it. */
export type ParameterValue = string | number | boolean;

export interface HttpAuthentication {
  username: string;
  password: string;
}

/** One of `postgresql.authentication.{superuser,replication,rewind}`. */
export interface PostgresUser {
  username: string;
  password?: string;
  sslmode?: string;
  sslkey?: string;
  sslpassword?: string;
  sslcert?: string;
  sslrootcert?: string;
  sslcrl?: string;
  sslcrldir?: string;
  sslnegotiation?: string;
  gssencmode?: string;
  channel_binding?: string;
}

export interface PostgresAuthentication {
  superuser: PostgresUser;
  replication: PostgresUser;
  rewind?: PostgresUser;
}

export interface RestApiConfig {
  /** `host:port`; parse with `parseHostPort`. */
  listen: string;
  connect_address: string;
  authentication?: HttpAuthentication;
  /**
   * pgwarden extension (Patroni has no such key): the read endpoints (GET, HEAD, OPTIONS: health checks,
   * /patroni, /cluster, /metrics...) get the same access checks as the unsafe ones (basic auth, allowlist, client
   * certificate). Default false, as in Patroni.
   */
  authenticate_reads?: boolean;
  certfile?: string;
  keyfile?: string;
  keyfile_password?: string;
  cafile?: string;
  ciphers?: string;
  verify_client?: 'none' | 'optional' | 'required';
  allowlist?: string[];
  allowlist_include_members?: boolean;
  http_extra_headers?: Record<string, string>;
  https_extra_headers?: Record<string, string>;
  request_queue_size?: number;
  server_tokens?: 'original' | 'productonly' | 'minimal';
  thread_pool_size?: number;
  [key: string]: unknown;
}

export interface CtlConfig {
  authentication?: HttpAuthentication;
  insecure?: boolean;
  cacert?: string;
  certfile?: string;
  keyfile?: string;
  keyfile_password?: string;
  [key: string]: unknown;
}

export type LogLevelName = 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';

export interface LogConfig {
  /** Normalised to upper case; WARN and FATAL are read as WARNING and CRITICAL. Default INFO. */
  level: LogLevelName;
  /** Default `plain`. */
  type: 'plain' | 'json';
  traceback_level?: 'DEBUG' | 'ERROR';
  format?: unknown;
  dateformat?: string;
  static_fields?: Record<string, unknown>;
  max_queue_size?: number;
  dir?: string;
  file_num?: number;
  file_size?: number;
  mode?: number;
  loggers?: Record<string, string>;
  deduplicate_heartbeat_logs?: boolean;
  [key: string]: unknown;
}

export type WatchdogMode = 'off' | 'automatic' | 'required';

export interface WatchdogConfig {
  /** Normalised from Patroni's aliases (`disable`, `auto`, `require`, `false`). Default `automatic`. */
  mode: WatchdogMode;
  /** Default `/dev/watchdog`. */
  device: string;
  /** Seconds; default 5; -1 means ttl/2. */
  safety_margin: number;
}

export interface TagsConfig {
  nofailover?: boolean;
  failover_priority?: number;
  noloadbalance?: boolean;
  clonefrom?: boolean;
  replicatefrom?: string;
  nosync?: boolean;
  sync_priority?: number;
  nostream?: boolean;
  /** Custom tags are published as written. */
  [tag: string]: unknown;
}

/** `etcd` or `etcd3`. */
export interface EtcdConfig {
  /** Normalised to `host:port` (default port 2379). */
  host?: string;
  /** From a list or a comma-separated string; each normalised to `host:port` (default port 2379). */
  hosts?: string[];
  url?: string;
  proxy?: string;
  srv?: string;
  srv_suffix?: string;
  use_proxies?: boolean;
  protocol?: 'http' | 'https';
  username?: string;
  password?: string;
  cacert?: string;
  cert?: string;
  key?: string;
  [key: string]: unknown;
}

export interface CitusConfig {
  group: number;
  database: string;
}

export interface DynamicPostgresqlConfig {
  use_pg_rewind?: boolean;
  use_slots?: boolean;
  parameters?: Record<string, ParameterValue>;
  pg_hba?: string[];
  [key: string]: unknown;
}

/** What `bootstrap.dcs` and the DCS `/config` key hold (Patroni's dynamic configuration). */
export interface DynamicConfig {
  ttl?: number;
  loop_wait?: number;
  retry_timeout?: number;
  maximum_lag_on_failover?: number;
  maximum_lag_on_syncnode?: number;
  max_timelines_history?: number;
  primary_start_timeout?: number;
  primary_stop_timeout?: number;
  check_timeline?: boolean;
  synchronous_mode?: boolean | 'on' | 'off' | 'quorum';
  synchronous_mode_strict?: boolean;
  synchronous_node_count?: number;
  failsafe_mode?: boolean;
  pause?: boolean;
  member_slots_ttl?: number | string;
  slots?: Record<string, unknown>;
  ignore_slots?: Record<string, unknown>[];
  standby_cluster?: Record<string, unknown>;
  postgresql?: DynamicPostgresqlConfig;
  [key: string]: unknown;
}

/** An `initdb` option: a bare flag (`data-checksums`) or a single-key map (`encoding: UTF8`). */
export type InitdbOption = string | Record<string, string | number | boolean>;

export interface BootstrapConfig {
  /** As written (no defaults filled): only seeds `/config` when the cluster is first initialised. */
  dcs: DynamicConfig;
  /** `initdb` or the name of a custom bootstrap section. */
  method?: string;
  initdb?: InitdbOption[];
  pg_hba?: string[];
  post_bootstrap?: string;
  post_init?: string;
  [key: string]: unknown;
}

export interface PostgresqlCallbacks {
  on_start?: string;
  on_stop?: string;
  on_restart?: string;
  on_reload?: string;
  on_role_change?: string;
}

export interface PostgresqlConfig {
  /** `addr[,addr]:port`; parse with `parseListen`. */
  listen: string;
  /** `host:port`; parse with `parseHostPort`. */
  connect_address: string;
  proxy_address?: string;
  data_dir: string;
  config_dir?: string;
  bin_dir?: string;
  bin_name?: Record<string, string>;
  /** Absolute; default `<home>/pgpass`. */
  pgpass: string;
  /** Default `postgres`. */
  database: string;
  authentication: PostgresAuthentication;
  /** Default `{}`. */
  parameters: Record<string, ParameterValue>;
  pg_hba?: string[];
  pg_ident?: string[];
  use_pg_rewind?: boolean;
  use_unix_socket?: boolean;
  use_unix_socket_repl?: boolean;
  callbacks?: PostgresqlCallbacks;
  pre_promote?: string;
  before_stop?: string;
  create_replica_methods?: string[];
  basebackup?: Record<string, unknown> | unknown[];
  /** Default 60 (seconds). */
  pg_ctl_timeout: number;
  remove_data_directory_on_rewind_failure?: boolean;
  remove_data_directory_on_diverged_timelines?: boolean;
  recovery_conf?: Record<string, unknown>;
  custom_conf?: string;
  [key: string]: unknown;
}

export type ZooKeeperPermission = 'CREATE' | 'READ' | 'WRITE' | 'DELETE' | 'ADMIN' | 'ALL';

export interface ZooKeeperConfig {
  /** From a list or a comma-separated string; each `host[:port]` (default port 2181), trimmed, else as written. */
  hosts?: string[];
  use_ssl?: boolean;
  cacert?: string;
  cert?: string;
  key?: string;
  key_password?: string;
  verify?: boolean;
  /** Principal to permissions, normalised to upper case. */
  set_acls?: Record<string, ZooKeeperPermission[]>;
  /** Scheme to credential (e.g. `digest: user:password`). */
  auth_data?: Record<string, string>;
  [key: string]: unknown;
}

export type ConsulConsistencyMode = 'default' | 'consistent' | 'stale';

export interface ConsulConfig {
  /** `host` or `host:port` as written (default port 8500). */
  host?: string;
  /** `http(s)://host:port`; wins over host/port/scheme. */
  url?: string;
  port?: number;
  /** Normalised to lower case. */
  scheme?: 'http' | 'https';
  token?: string;
  verify?: boolean;
  cacert?: string;
  cert?: string;
  key?: string;
  dc?: string;
  consistency?: ConsulConsistencyMode;
  /** From a list or a comma-separated string. */
  checks?: string[];
  register_service?: boolean;
  /** From a list or a comma-separated string. */
  service_tags?: string[];
  /** A Go duration such as `5s`. */
  service_check_interval?: string;
  service_check_tls_server_name?: string;
  [key: string]: unknown;
}

export interface KubernetesPortConfig {
  name?: string;
  port: number;
  [key: string]: unknown;
}

export interface KubernetesConfig {
  /** The Kubernetes namespace (not the DCS key prefix `namespace` at the top level). */
  namespace?: string;
  /** Numbers and booleans are turned into strings, as label values are. */
  labels?: Record<string, string>;
  scope_label?: string;
  role_label?: string;
  leader_label_value?: string;
  follower_label_value?: string;
  standby_leader_label_value?: string;
  tmp_role_label?: string;
  bootstrap_labels?: Record<string, string>;
  use_endpoints?: boolean;
  pod_ip?: string;
  ports?: KubernetesPortConfig[];
  cacert?: string;
  /** A single code is normalised to a list. */
  retriable_http_codes?: number[];
  bypass_api_service?: boolean;
  context?: string;
  /** pgwarden extension: a plain API URL with no credentials (an emulator, `kubectl proxy`). */
  api_url?: string;
  [key: string]: unknown;
}

/** DCS sections pgwarden accepts as written but has no plugin for (`exhibitor`, `raft`). */
export type OpaqueDcsConfig = Record<string, unknown>;

export type DcsKind = 'etcd3' | 'etcd' | 'zookeeper' | 'consul' | 'kubernetes' | 'exhibitor' | 'raft';

export interface PgwardenConfig {
  scope: string;
  /** Default `/service`. */
  namespace: string;
  name: string;
  thread_pool_size?: number;
  thread_stack_size?: number;
  restapi: RestApiConfig;
  ctl?: CtlConfig;
  log: LogConfig;
  watchdog: WatchdogConfig;
  /** Default `{}`. */
  tags: TagsConfig;
  citus?: CitusConfig;
  /** Default `{ dcs: {} }`. */
  bootstrap: BootstrapConfig;
  postgresql: PostgresqlConfig;
  etcd3?: EtcdConfig;
  etcd?: EtcdConfig;
  zookeeper?: ZooKeeperConfig;
  consul?: ConsulConfig;
  kubernetes?: KubernetesConfig;
  exhibitor?: OpaqueDcsConfig;
  raft?: OpaqueDcsConfig;
  /** Unknown top-level keys are kept (and reported as warnings), as Patroni ignores them. */
  [key: string]: unknown;
}

/** The DCS sections of a configuration (a validated one holds exactly one). */
export type DcsSections = Pick<PgwardenConfig, DcsKind>;
