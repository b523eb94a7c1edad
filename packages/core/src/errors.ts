/** Every failure pgwarden raises carries one of these codes; the REST layer and the agent map them in one place. */
export type PgwardenErrorCode =
  | 'DCS_UNREACHABLE'
  | 'DCS_CLOSED'
  | 'DCS_ABORTED'
  | 'DCS_PROTOCOL'
  | 'CONFIG_INVALID'
  | 'PG_COMMAND_FAILED'
  | 'PG_QUERY_FAILED'
  | 'PG_NOT_RUNNING'
  | 'DUPLICATE_MEMBER'
  | 'SYSID_MISMATCH';

export class PgwardenError extends Error {
  readonly code: PgwardenErrorCode;
  /** Which part of pgwarden raised it, e.g. `dcs-etcd`; also the prefix of the message. */
  readonly component: string;

  constructor(component: string, code: PgwardenErrorCode, message: string, options?: { cause?: unknown }) {
    super(`[${component}] ${message}`, options);
    this.name = 'PgwardenError';
    this.code = code;
    this.component = component;
  }
}

/** The store could not be reached or did not answer in time: transient, retry next cycle. */
export class DcsUnreachableError extends PgwardenError {
  constructor(component: string, message: string, options?: { cause?: unknown }) {
    super(component, 'DCS_UNREACHABLE', message, options);
    this.name = 'DcsUnreachableError';
  }
}

export function isPgwardenError(error: unknown, code?: PgwardenErrorCode): error is PgwardenError {
  return error instanceof PgwardenError && (code === undefined || error.code === code);
}
