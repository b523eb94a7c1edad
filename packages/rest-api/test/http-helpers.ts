import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { connect } from 'node:net';
import type { IncomingHttpHeaders, IncomingMessage } from 'node:http';

export interface Answer {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** One request on a fresh connection, the way HAProxy or curl would send it. */
export function call(baseUrl: string, method: string, path: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(`${baseUrl}${path}`, { method, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export function json(answer: Answer): unknown {
  return JSON.parse(answer.body) as unknown;
}

export interface SendOptions {
  /** A string is sent as is; anything else as JSON. */
  readonly body?: unknown;
  readonly headers?: Record<string, string>;
  /** For https URLs: CA to trust and an optional client certificate. */
  readonly tls?: { readonly ca: Buffer; readonly cert?: Buffer; readonly key?: Buffer };
}

/** One request on a fresh connection, with an optional body, over HTTP or HTTPS. */
export function send(baseUrl: string, method: string, path: string, options: SendOptions = {}): Promise<Answer> {
  const body = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  const url = `${baseUrl}${path}`;
  const requestOptions = { method, agent: false as const, headers: { ...options.headers }, ...options.tls };
  return new Promise((resolve, reject) => {
    const onResponse = (res: IncomingMessage): void => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    };
    const req = url.startsWith('https:') ? httpsRequest(url, requestOptions, onResponse) : request(url, requestOptions, onResponse);
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * Writes `parts` to a raw connection, `pauseMs` apart, and returns everything the server sent until it closed
 * (or until `readMs` passed, then the connection is dropped).
 */
export function raw(port: number, parts: readonly string[], options: { pauseMs?: number; readMs?: number } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    let giveUp: NodeJS.Timeout | undefined;
    socket.on('data', (chunk: Buffer) => (data += chunk.toString('utf8')));
    socket.on('error', (error: NodeJS.ErrnoException) => (error.code === 'ECONNRESET' ? undefined : reject(error)));
    socket.on('close', () => {
      clearTimeout(giveUp);
      resolve(data);
    });
    socket.on('connect', () => {
      void (async () => {
        for (const [index, part] of parts.entries()) {
          if (index > 0 && options.pauseMs) await new Promise((wake) => setTimeout(wake, options.pauseMs));
          if (socket.destroyed) return;
          socket.write(part);
        }
        if (options.readMs !== undefined) giveUp = setTimeout(() => socket.destroy(), options.readMs);
      })();
    });
  });
}

export function statusLine(response: string): string {
  return response.split('\r\n')[0] ?? '';
}
