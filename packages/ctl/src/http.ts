/** Requests to members' REST APIs: basic auth and TLS from the `ctl` (or `restapi`) section. */
import { readFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import type { IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { CtlHttpSettings } from './settings.js';

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  readonly url: string;
  /** Sent as JSON. */
  readonly body?: unknown;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

export interface HttpResponse {
  readonly status: number;
  readonly body: string;
}

/** Throws when no answer came (connection refused, TLS failure, timeout): callers fall back or try the next member. */
export interface CtlHttpClient {
  request(request: HttpRequest): Promise<HttpResponse>;
}

/** The URL of an endpoint next to a member's `api_url` (`http://host:8008/patroni` -> `http://host:8008/switchover`). */
export function endpointUrl(apiUrl: string, endpoint: string): string {
  return new URL(endpoint, apiUrl).toString();
}

const DEFAULT_TIMEOUT_MS = 30_000;

/** The node functions the client sends with; a test passes recorders. */
export interface HttpTransport {
  readonly http: typeof httpRequest;
  readonly https: typeof httpsRequest;
}

const NODE_TRANSPORT: HttpTransport = { http: httpRequest, https: httpsRequest };

/** Sends basic auth on every request (reads included: an API may guard them) and TLS settings on https URLs. */
export function createHttpClient(settings: CtlHttpSettings, transport: HttpTransport = NODE_TRANSPORT): CtlHttpClient {
  const tls = {
    ...(settings.cacert ? { ca: readFileSync(settings.cacert) } : {}),
    ...(settings.certfile ? { cert: readFileSync(settings.certfile) } : {}),
    ...(settings.keyfile ? { key: readFileSync(settings.keyfile) } : {}),
    ...(settings.keyfilePassword ? { passphrase: settings.keyfilePassword } : {}),
    rejectUnauthorized: !settings.insecure,
  };
  const authorization = settings.auth ? `Basic ${Buffer.from(`${settings.auth.username}:${settings.auth.password}`).toString('base64')}` : undefined;
  return {
    request({ method, url, body, timeoutMs = DEFAULT_TIMEOUT_MS, signal }) {
      const target = new URL(url);
      const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
      const headers: Record<string, string> = {
        ...(authorization ? { authorization } : {}),
        ...(payload ? { 'content-type': 'application/json', 'content-length': String(payload.length) } : {}),
      };
      const timeout = AbortSignal.timeout(timeoutMs);
      const combined = signal ? AbortSignal.any([signal, timeout]) : timeout;
      return new Promise<HttpResponse>((resolve, reject) => {
        const options = { method, headers, signal: combined };
        const onResponse = (response: IncomingMessage) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('end', () => resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
          response.on('error', reject);
        };
        const req = target.protocol === 'https:' ? transport.https(target, { ...options, ...tls }, onResponse) : transport.http(target, options, onResponse);
        req.on('error', (error) => reject(timeout.aborted ? new Error(`no answer from ${target.origin} within ${timeoutMs} ms`, { cause: error }) : error));
        req.end(payload);
      });
    },
  };
}
