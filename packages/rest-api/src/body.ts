import type { IncomingMessage } from 'node:http';

/** A request body read as a JSON object, or the status and reason to refuse it with. */
export type JsonBody =
  | { readonly ok: true; readonly value: Record<string, unknown> }
  | { readonly ok: false; readonly status: 400 | 411 | 413; readonly reason: string };

export interface ReadBodyOptions {
  /** `POST /restart` and `/reinitialize` take no body at all; the others need a non-empty object. */
  readonly optional: boolean;
  readonly maxBytes: number;
}

const EMPTY: JsonBody = { ok: true, value: {} };

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * Nesting deeper than this is refused before parsing. Real bodies (a config patch, a switchover) nest a few levels;
 * a deep one would overflow the stack of whatever walks the parsed value afterwards (merge, validation, logging).
 */
export const MAX_JSON_DEPTH = 100;

/** The deepest nesting of objects and arrays in `text`, stopping once past `limit`; brackets in strings do not count. */
export function jsonDepthExceeds(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  for (let index = 0; index < text.length; index++) {
    const code = text.charCodeAt(index);
    if (inString) {
      if (code === 0x5c /* \ */) index++;
      else if (code === 0x22 /* " */) inString = false;
    } else if (code === 0x22) inString = true;
    else if (code === 0x7b /* { */ || code === 0x5b /* [ */) {
      if (++depth > limit) return true;
    } else if (code === 0x7d /* } */ || code === 0x5d /* ] */) depth--;
  }
  return false;
}

/**
 * Patroni's reading of a JSON body: an object, non-empty unless the body is optional; an empty body counts as
 * `{}` when optional. Pure, so the rules are unit-tested apart from the socket.
 */
export function parseJsonObject(text: string, optional: boolean): JsonBody {
  if (text.trim() === '') {
    return optional ? EMPTY : { ok: false, status: 400, reason: 'the request body is empty: a JSON object is required' };
  }
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
    return { ok: false, status: 400, reason: `the request body nests deeper than ${MAX_JSON_DEPTH} levels` };
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    return { ok: false, status: 400, reason: `the request body is not valid JSON: ${(error as Error).message}` };
  }
  if (!isRecord(parsed)) return { ok: false, status: 400, reason: 'the request body must be a JSON object' };
  if (!optional && Object.keys(parsed).length === 0) {
    return { ok: false, status: 400, reason: 'the request body is an empty JSON object' };
  }
  return { ok: true, value: parsed };
}

/**
 * Reads the body of `req` up to `maxBytes`. Like Patroni, a request that announces no body (no Content-Length)
 * gets 411 when one is required; unlike it, a chunked body is read rather than ignored.
 */
export async function readJsonBody(req: IncomingMessage, options: ReadBodyOptions): Promise<JsonBody> {
  const declared = req.headers['content-length'];
  const chunked = req.headers['transfer-encoding'] !== undefined;
  if (declared === undefined && !chunked) {
    return options.optional ? EMPTY : { ok: false, status: 411, reason: 'Length Required: send the JSON body with a Content-Length' };
  }
  if (declared !== undefined) {
    const length = Number(declared);
    if (length > options.maxBytes) return tooLarge(options.maxBytes);
    if (length === 0) return parseJsonObject('', options.optional);
  }
  // Events rather than `for await`: leaving an async iterator early would destroy the socket before the 413 goes out.
  const body = await new Promise<Buffer | null>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let total = 0;
    const cleanup = (): void => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
      req.off('close', onClose);
    };
    const onData = (chunk: Buffer): void => {
      total += chunk.length;
      if (total > options.maxBytes) {
        cleanup();
        req.pause();
        resolve(null);
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = (): void => {
      cleanup();
      resolve(Buffer.concat(chunks));
    };
    const onError = (error: Error): void => {
      cleanup();
      reject(error);
    };
    const onClose = (): void => {
      cleanup();
      if (!req.complete) reject(new Error('[rest-api] the client went away before sending the whole body'));
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
    req.on('close', onClose);
  });
  if (body === null) return tooLarge(options.maxBytes);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body);
  } catch {
    return { ok: false, status: 400, reason: 'the request body is not valid UTF-8' };
  }
  return parseJsonObject(text, options.optional);
}

function tooLarge(maxBytes: number): JsonBody {
  return { ok: false, status: 413, reason: `the request body is larger than ${maxBytes} bytes` };
}
