import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpClient, endpointUrl } from './http.js';
import type { HttpTransport } from './http.js';

interface Sent {
  readonly scheme: 'http' | 'https';
  readonly url: string;
  readonly options: Record<string, unknown>;
  body: Buffer | undefined;
}

/** Records what would go out and answers 200 with `answer`. */
function recorder(sent: Sent[], answer = 'OK'): HttpTransport {
  const make =
    (scheme: 'http' | 'https') =>
    (url: unknown, options: unknown, onResponse: unknown) => {
      const record: Sent = { scheme, url: String(url), options: options as Record<string, unknown>, body: undefined };
      sent.push(record);
      const req = new EventEmitter() as EventEmitter & { end(payload?: Buffer): void };
      req.end = (payload?: Buffer) => {
        record.body = payload;
        const response = Object.assign(new PassThrough(), { statusCode: 200 });
        (onResponse as (response: unknown) => void)(response);
        response.end(answer);
      };
      return req;
    };
  return { http: make('http'), https: make('https') } as unknown as HttpTransport;
}

describe('createHttpClient', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  });

  it('sends basic auth on reads and writes, JSON bodies with their length, and no TLS options over http', async () => {
    const sent: Sent[] = [];
    const client = createHttpClient({ auth: { username: 'admin', password: 'pä:ss' }, insecure: false }, recorder(sent));
    expect(await client.request({ method: 'GET', url: 'http://10.0.0.1:8008/patroni' })).toEqual({ status: 200, body: 'OK' });
    await client.request({ method: 'POST', url: 'http://10.0.0.1:8008/restart', body: { restart_pending: true } });
    const authorization = `Basic ${Buffer.from('admin:pä:ss').toString('base64')}`;
    expect(sent.map((s) => [s.scheme, s.options['method'], s.options['headers']])).toEqual([
      ['http', 'GET', { authorization }],
      ['http', 'POST', { authorization, 'content-type': 'application/json', 'content-length': String('{"restart_pending":true}'.length) }],
    ]);
    expect(sent[1]!.body?.toString()).toBe('{"restart_pending":true}');
    expect(sent[0]!.options).not.toHaveProperty('ca');
    expect(sent[0]!.options).not.toHaveProperty('rejectUnauthorized');
  });

  it('passes the CA, the client certificate, its key and passphrase to https requests', async () => {
    dir = mkdtempSync(join(tmpdir(), 'pgwardenctl-http-'));
    for (const name of ['ca.pem', 'client.pem', 'client.key']) writeFileSync(join(dir, name), `contents of ${name}`);
    const sent: Sent[] = [];
    const client = createHttpClient(
      { cacert: join(dir, 'ca.pem'), certfile: join(dir, 'client.pem'), keyfile: join(dir, 'client.key'), keyfilePassword: 'kp', insecure: false },
      recorder(sent),
    );
    await client.request({ method: 'GET', url: 'https://db1:8008/cluster' });
    const options = sent[0]!.options;
    expect(sent[0]!.scheme).toBe('https');
    expect(String(options['ca'])).toBe('contents of ca.pem');
    expect(String(options['cert'])).toBe('contents of client.pem');
    expect(String(options['key'])).toBe('contents of client.key');
    expect(options['passphrase']).toBe('kp');
    expect(options['rejectUnauthorized']).toBe(true);
    expect(options['headers']).toEqual({});
  });

  it('skips certificate checks when insecure', async () => {
    const sent: Sent[] = [];
    await createHttpClient({ insecure: true }, recorder(sent)).request({ method: 'GET', url: 'https://db1:8008/patroni' });
    expect(sent[0]!.options['rejectUnauthorized']).toBe(false);
  });
});

describe('endpointUrl', () => {
  it('puts the endpoint next to the api_url', () => {
    expect(endpointUrl('https://db1:8008/patroni', 'restart')).toBe('https://db1:8008/restart');
  });
});
