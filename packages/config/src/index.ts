export type { ConfigIssue, ConfigSource, ConfigWarning } from './errors.js';
export { ConfigError, ENVIRONMENT_SOURCE, formatIssue } from './errors.js';
export type { HostPort, ListenAddresses } from './hostport.js';
export { formatHostPort, parseHostPort, parseListen, tryParseHostPort, tryParseListen } from './hostport.js';
export type { Environment, EnvironmentConfig } from './env.js';
export {
  buildEnvironmentConfig,
  CONFIGURATION_ENV_VAR,
  ENV_PREFIX,
  parseBoolean,
  parseInteger,
  parseListValue,
  parseMappingValue,
} from './env.js';
export type { ConfigResult, LoadConfigOptions, ParseConfigOptions } from './load.js';
export { loadConfig, loadConfigWithWarnings, parseConfig, parseConfigWithWarnings } from './load.js';
export type { ValidateOptions, ValidationResult } from './validate.js';
export {
  DCS_KINDS,
  RESERVED_MEMBER_NAME,
  validateConfig,
  validateConfigWithWarnings,
  validateDcsSections,
  validateDynamicConfig,
} from './validate.js';
export type {
  DynamicConfigOptions,
  NormalizedTiming,
  Timing,
  TimingOptions,
} from './timing.js';
export {
  ALLOW_SHORT_TTL_ENV_VAR,
  DYNAMIC_CONFIG_DEFAULTS,
  normalizeTiming,
  TIMING_MINIMUMS,
  timingOptionsFromEnv,
  toDynamicConfig,
  toDynamicConfigWithWarnings,
} from './timing.js';
export { REDACTED, redactConfig } from './redact.js';
export type { DcsSelection } from './dcs.js';
export { etcdEndpoints, selectDcs } from './dcs.js';
export type {
  ConsulPluginOptions,
  DcsPluginKind,
  DcsPluginRequest,
  DcsPluginRequestOptions,
  EtcdPluginOptions,
  KubernetesPluginOptions,
  KubernetesPluginPort,
  ZooKeeperPluginOptions,
} from './dcs-request.js';
export { dcsPluginRequest } from './dcs-request.js';
export type {
  BootstrapConfig,
  CitusConfig,
  ConsulConfig,
  ConsulConsistencyMode,
  CtlConfig,
  DcsKind,
  DcsSections,
  DynamicConfig,
  DynamicPostgresqlConfig,
  EtcdConfig,
  HttpAuthentication,
  InitdbOption,
  KubernetesConfig,
  KubernetesPortConfig,
  LogConfig,
  LogLevelName,
  OpaqueDcsConfig,
  ParameterValue,
  PgwardenConfig,
  PostgresAuthentication,
  PostgresqlCallbacks,
  PostgresqlConfig,
  PostgresUser,
  RestApiConfig,
  TagsConfig,
  WatchdogConfig,
  WatchdogMode,
  ZooKeeperConfig,
  ZooKeeperPermission,
} from './types.js';
