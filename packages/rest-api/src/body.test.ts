import { Readable } from 'node:stream';
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH, jsonDepthExceeds, parseJsonObject, readJsonBody } from './body.js';

function request(headers: Record<string, string>, chunks: string[]): IncomingMessage {
  const stream = Readable.from(chunks.map((chunk) => Buffer.from(chunk))) as unknown as IncomingMessage & { headers: unknown; complete: boolean };
  stream.headers = headers;
  stream.on('end', () => (stream.complete = true));
  return stream;
}

describe('parseJsonObject', () => {
  it('takes a JSON object; an empty body is {} only when optional', () => {
    expect(parseJsonObject('{"a":1}', false)).toEqual({ ok: true, value: { a: 1 } });
    expect(parseJsonObject('  ', true)).toEqual({ ok: true, value: {} });
    expect(parseJsonObject('{}', true)).toEqual({ ok: true, value: {} });
  });

  it('refuses with 400 and a reason', () => {
    expect(parseJsonObject('', false)).toMatchObject({ ok: false, status: 400 });
    expect(parseJsonObject('{}', false)).toMatchObject({ ok: false, status: 400, reason: 'the request body is an empty JSON object' });
    expect(parseJsonObject('{"a":', false)).toMatchObject({ ok: false, status: 400, reason: expect.stringMatching(/not valid JSON/) as unknown });
    for (const text of ['[1]', 'null', '"x"', '3']) {
      expect(parseJsonObject(text, true)).toMatchObject({ ok: false, status: 400, reason: 'the request body must be a JSON object' });
    }
  });
});

describe('nesting depth', () => {
  // Regression: 10,000 levels fit in 64 KiB and used to come back as 500 "Maximum call stack size exceeded".
  it('refuses a deeply nested body with 400 before parsing it', () => {
    const deep = `{"a":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    expect(deep.length).toBeLessThan(64 * 1024);
    expect(parseJsonObject(deep, false)).toEqual({ ok: false, status: 400, reason: `the request body nests deeper than ${MAX_JSON_DEPTH} levels` });
    const objects = `${'{"a":'.repeat(5_000)}1${'}'.repeat(5_000)}`;
    expect(parseJsonObject(objects, true)).toMatchObject({ ok: false, status: 400 });
  });

  it('accepts nesting up to the limit, and does not count brackets inside strings', () => {
    const atLimit = `${'{"a":'.repeat(MAX_JSON_DEPTH)}1${'}'.repeat(MAX_JSON_DEPTH)}`;
    expect(parseJsonObject(atLimit, false).ok).toBe(true);
    expect(jsonDepthExceeds(atLimit, MAX_JSON_DEPTH)).toBe(false);
    expect(jsonDepthExceeds(`{"a":"${'['.repeat(500)}\\"${'{'.repeat(500)}"}`, 2)).toBe(false);
    expect(jsonDepthExceeds('[[[]]]', 2)).toBe(true);
  });
});

describe('readJsonBody', () => {
  it('answers 411 when a required body is not announced, {} when optional', async () => {
    expect(await readJsonBody(request({}, []), { optional: false, maxBytes: 100 })).toMatchObject({ ok: false, status: 411 });
    expect(await readJsonBody(request({}, []), { optional: true, maxBytes: 100 })).toEqual({ ok: true, value: {} });
    expect(await readJsonBody(request({ 'content-length': '0' }, []), { optional: true, maxBytes: 100 })).toEqual({ ok: true, value: {} });
  });

  it('reads announced and chunked bodies', async () => {
    expect(await readJsonBody(request({ 'content-length': '7' }, ['{"a":', '1}']), { optional: false, maxBytes: 100 })).toEqual({
      ok: true,
      value: { a: 1 },
    });
    expect(await readJsonBody(request({ 'transfer-encoding': 'chunked' }, ['{"b":2}']), { optional: false, maxBytes: 100 })).toEqual({
      ok: true,
      value: { b: 2 },
    });
  });

  it('answers 413 past the limit, announced or not', async () => {
    expect(await readJsonBody(request({ 'content-length': '101' }, []), { optional: false, maxBytes: 100 })).toMatchObject({ status: 413 });
    const big = request({ 'transfer-encoding': 'chunked' }, ['{"a":"', 'x'.repeat(200), '"}']);
    expect(await readJsonBody(big, { optional: false, maxBytes: 100 })).toMatchObject({ status: 413 });
  });

  it('answers 400 for a body that is not UTF-8', async () => {
    const stream = Readable.from([Buffer.from([0x7b, 0xff, 0x7d])]) as unknown as IncomingMessage & { headers: unknown };
    stream.headers = { 'content-length': '3' };
    expect(await readJsonBody(stream, { optional: false, maxBytes: 100 })).toMatchObject({ status: 400, reason: 'the request body is not valid UTF-8' });
  });
});
