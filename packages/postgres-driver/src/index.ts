export type {
  ApplySettingsResult,
  HostPort,
  PostgresCredentials,
  PostgresDriver,
  PostgresDriverOptions,
  PostgresSettings,
  BasebackupReplicaMethod,
  CommandReplicaMethod,
  ReplicaMethod,
} from './driver.js';
export { createPostgresDriver } from './driver.js';
export type { InitdbOption, ParameterValue } from './config.js';
export type { ProcessRunner, RunRequest, RunResult } from './runner.js';
export { createChildProcessRunner } from './runner.js';
