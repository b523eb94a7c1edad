/** Injected ports: library code never reads the real clock or writes to the console by itself. */

export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or rejects with the signal's reason when aborted. */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export interface Logger {
  log(level: LogLevel, message: string, fields?: Record<string, unknown>): void;
}

export const silentLogger: Logger = { log() {} };

export function childLogger(parent: Logger, fields: Record<string, unknown>): Logger {
  return { log: (level, message, extra) => parent.log(level, message, { ...fields, ...extra }) };
}
