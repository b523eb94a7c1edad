/** The agent's log: pino, with a plain one-line format by default and JSON with `log.type: json`. */
import { Writable } from 'node:stream';
import pino from 'pino';
import type { Logger, LogLevel } from '@pgwarden/core';

const PINO_LEVELS: Record<string, LogLevel> = { 10: 'debug', 20: 'debug', 30: 'info', 40: 'warn', 50: 'error', 60: 'error' };

export interface AgentLogOptions {
  readonly level: 'DEBUG' | 'INFO' | 'WARNING' | 'ERROR' | 'CRITICAL';
  readonly type: 'plain' | 'json';
  readonly destination?: NodeJS.WritableStream;
}

function pinoLevel(level: AgentLogOptions['level']): pino.Level {
  switch (level) {
    case 'DEBUG':
      return 'debug';
    case 'INFO':
      return 'info';
    case 'WARNING':
      return 'warn';
    case 'ERROR':
      return 'error';
    case 'CRITICAL':
      return 'fatal';
  }
}

/** `2026-11-21 21:30:00,123 INFO: message key=value`, close to what Patroni users read today. */
function plainStream(out: NodeJS.WritableStream): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      const record = JSON.parse(chunk.toString()) as Record<string, unknown>;
      const { level, time, msg, pid: _pid, hostname: _hostname, ...fields } = record;
      const when = new Date(Number(time)).toISOString().replace('T', ' ').replace('Z', '');
      const extras = Object.entries(fields)
        .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`)
        .join(' ');
      const name = (PINO_LEVELS[String(level)] ?? 'info').toUpperCase();
      out.write(`${when} ${name}: ${String(msg)}${extras ? ` ${extras}` : ''}\n`);
      callback();
    },
  });
}

export function createAgentLogger(options: AgentLogOptions): Logger {
  const out = options.destination ?? process.stderr;
  const base = pino(
    { level: pinoLevel(options.level), base: null },
    options.type === 'json' ? (out as pino.DestinationStream) : plainStream(out),
  );
  return {
    log(level, message, fields) {
      base[level](fields ?? {}, message);
    },
  };
}
