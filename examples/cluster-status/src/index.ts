export type { ClusterSummary, StatusRow } from './status.js';
export { formatClusterStatus, summarizeCluster } from './status.js';
export type { Output, ParsedArgs, StatusOptions } from './cli.js';
export { USAGE, parseStatusArgs, runClusterStatus } from './cli.js';
