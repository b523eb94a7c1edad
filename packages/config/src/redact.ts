import { isRecord } from './merge.js';

export const REDACTED = '***';

const SECRET_KEYS = new Set(['password', 'keyfile_password', 'key_password', 'sslpassword', 'token']);
/** Mappings whose every value is a secret (ZooKeeper `auth_data` holds credentials by scheme). */
const SECRET_MAPPINGS = new Set(['auth_data']);

function redactValue(value: unknown, hideAll: boolean): unknown {
  if (Array.isArray(value)) return value.map((item) => redactValue(item, hideAll));
  if (isRecord(value)) {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [
        key,
        SECRET_KEYS.has(key) && !isRecord(item) && item !== null && item !== undefined
          ? REDACTED
          : redactValue(item, hideAll || SECRET_MAPPINGS.has(key)),
      ]),
    );
  }
  return hideAll && value !== null && value !== undefined ? REDACTED : value;
}

/** A deep copy safe to log: passwords, key passphrases and tokens become `***`. */
export function redactConfig<T>(config: T): T {
  return redactValue(config, false) as T;
}
