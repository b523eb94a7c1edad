export type { PostgresTableDcsOptions } from './postgres-table-dcs.js';
export { createPostgresTableDcs } from './postgres-table-dcs.js';
