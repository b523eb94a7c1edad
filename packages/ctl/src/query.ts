/** `pgwardenctl query`: one connection to one member over `pg`, rows as arrays. */
import pg from 'pg';

export interface QueryConnection {
  readonly host: string;
  readonly port: number;
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
}

export interface QueryResult {
  /** Column names; null when the statement returns no rows description. */
  readonly columns: string[] | null;
  readonly rows: unknown[][];
}

/**
 * Runs `sql` on the member. `require` checks PostgreSQL's own view first (`pg_is_in_recovery()`): the answer is null
 * when the member is not a replica (`recovery`) or not a primary (`primary`). Errors carry the SQLSTATE in `code`.
 */
export type QueryRunner = (connection: QueryConnection, sql: string, require?: 'recovery' | 'primary') => Promise<QueryResult | null>;

export const runPostgresQuery: QueryRunner = async (connection, sql, require) => {
  const client = new pg.Client({
    host: connection.host,
    port: connection.port,
    ...(connection.user !== undefined ? { user: connection.user } : {}),
    ...(connection.password !== undefined ? { password: connection.password } : {}),
    ...(connection.database !== undefined ? { database: connection.database } : {}),
    application_name: 'pgwardenctl',
    connectionTimeoutMillis: 5_000,
  });
  await client.connect();
  try {
    if (require) {
      const { rows } = await client.query<{ recovery: boolean }>('SELECT pg_catalog.pg_is_in_recovery() AS recovery');
      if ((rows[0]?.recovery ?? true) !== (require === 'recovery')) return null;
    }
    const result = await client.query({ text: sql, rowMode: 'array' });
    // A multi-statement string gives one result per statement: show the last, as psycopg's cursor does.
    const last = Array.isArray(result) ? (result.at(-1) as pg.QueryArrayResult | undefined) : result;
    if (!last || last.fields.length === 0) return { columns: null, rows: [] };
    return { columns: last.fields.map((field) => field.name), rows: last.rows as unknown[][] };
  } finally {
    await client.end().catch(() => undefined);
  }
};
