/**
 * The few Kubernetes API calls the plugin makes, over node:http(s). `@kubernetes/client-node` supplies the
 * connection details (server URL, CA, client certificates, bearer tokens incl. exec/OIDC refresh) through its
 * KubeConfig; requests go out directly because the plugin needs what its generated API hides or makes awkward:
 * JSON merge patches with a `resourceVersion` precondition, the raw status code of each answer (404, 409
 * AlreadyExists vs Conflict), one deadline per operation, and a watch that an AbortSignal ends.
 */
import { request as httpRequest } from 'node:http';
import type { IncomingMessage, RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

/** A Kubernetes object as the plugin reads it: metadata plus whatever else the kind carries. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  [key: string]: unknown;
}

export interface ApiAnswer {
  readonly status: number;
  readonly body: unknown;
}

/** A request that got no HTTP answer (refused, reset, timed out): retriable. */
export class TransportError extends Error {}

/**
 * A watch asked for a `resourceVersion` older than the server still keeps (410 Gone / Expired): resuming
 * is impossible, the client must list again.
 */
export class WatchExpiredError extends TransportError {}

export interface WatchEvent {
  readonly type: string;
  readonly object: KubeObject;
}

export interface ApiClient {
  request(
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    path: string,
    options: { body?: unknown; contentType?: string; deadline: number; signal?: AbortSignal },
  ): Promise<ApiAnswer>;
  /** Streams watch events until the server ends the stream, the signal aborts, or `onEvent` returns true. */
  watch(path: string, onEvent: (event: WatchEvent) => boolean, signal: AbortSignal): Promise<void>;
}

export function createApiClient(connection: { readonly apiUrl: string } | { readonly kubeConfig: KubeConfig }): ApiClient {
  const server = new URL('apiUrl' in connection ? connection.apiUrl : serverOf(connection.kubeConfig));
  const base = server.pathname.replace(/\/+$/, '');

  async function requestOptions(method: string, path: string): Promise<RequestOptions> {
    const options: RequestOptions & { headers: Record<string, string> } = {
      method,
      protocol: server.protocol,
      hostname: server.hostname.replace(/^\[|\]$/g, ''),
      port: server.port || (server.protocol === 'https:' ? 443 : 80),
      path: base + path,
      headers: { accept: 'application/json' },
    };
    if ('kubeConfig' in connection) {
      // Fills in CA, client certificate, bearer token and the https agent for the current context.
      await connection.kubeConfig.applyToHTTPSOptions(options);
      if (server.protocol !== 'https:') delete options.agent;
    }
    return options;
  }

  function send(options: RequestOptions, body: string | undefined, timeoutMs: number, signal?: AbortSignal): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const send = server.protocol === 'https:' ? httpsRequest : httpRequest;
      const request = send({ ...options, ...(signal ? { signal } : {}) }, resolve);
      request.setTimeout(Math.max(1, timeoutMs), () => request.destroy(new TransportError(`no answer within ${timeoutMs} ms`)));
      request.on('error', (error) => reject(error instanceof TransportError || signal?.aborted ? error : new TransportError(error.message, { cause: error })));
      request.end(body);
    });
  }

  return {
    async request(method, path, { body, contentType, deadline, signal }) {
      const options = await requestOptions(method, path);
      const text = body === undefined ? undefined : JSON.stringify(body);
      if (text !== undefined) {
        (options.headers as Record<string, string>)['content-type'] = contentType ?? 'application/json';
        (options.headers as Record<string, string>)['content-length'] = String(Buffer.byteLength(text));
      }
      const response = await send(options, text, deadline - Date.now(), signal);
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of response) chunks.push(chunk as Buffer);
      } catch (error) {
        throw new TransportError(`answer cut short: ${(error as Error).message}`, { cause: error });
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      let parsed: unknown = raw;
      try {
        parsed = raw === '' ? undefined : JSON.parse(raw);
      } catch {
        // Not JSON (a proxy's error page): kept as text for the error message.
      }
      return { status: response.statusCode ?? 0, body: parsed };
    },

    async watch(path, onEvent, signal) {
      const options = await requestOptions('GET', path);
      // A watch has no deadline of its own: the caller's signal ends it.
      const response = await send(options, undefined, 2 ** 31 - 1, signal);
      if (response.statusCode !== 200) {
        response.resume();
        const Failure = response.statusCode === 410 ? WatchExpiredError : TransportError;
        throw new Failure(`watch answered ${response.statusCode ?? 0}`);
      }
      let pending = '';
      try {
        for await (const chunk of response) {
          pending += (chunk as Buffer).toString('utf8');
          let newline: number;
          while ((newline = pending.indexOf('\n')) >= 0) {
            const line = pending.slice(0, newline).trim();
            pending = pending.slice(newline + 1);
            if (line === '') continue;
            const event = JSON.parse(line) as WatchEvent;
            if (event.type === 'ERROR') {
              const code = (event.object as { code?: unknown }).code;
              const Failure = code === 410 ? WatchExpiredError : TransportError;
              throw new Failure(`watch error: ${JSON.stringify(event.object)}`);
            }
            if (onEvent(event)) {
              response.destroy();
              return;
            }
          }
        }
      } catch (error) {
        if (signal.aborted) return;
        throw error instanceof TransportError ? error : new TransportError(String(error), { cause: error });
      }
    },
  };
}

function serverOf(kubeConfig: KubeConfig): string {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  return cluster.server;
}
