import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PgwardenError } from '@pgwarden/core';
import type { RestApiHandler } from './handler.js';

export interface RestApiServerOptions {
  /** Address to listen on, e.g. `127.0.0.1` or `::`. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly handler: RestApiHandler;
  /** Aborting closes the server. */
  readonly signal?: AbortSignal;
  /** How long close() lets in-flight requests finish before cutting connections; default 1000 ms. */
  readonly closeGraceMs?: number;
}

export interface RestApiServer extends AsyncDisposable {
  readonly address: { readonly host: string; readonly port: number; readonly url: string };
  /** Stops listening, lets in-flight requests finish (up to the grace period), then closes every connection. */
  close(): Promise<void>;
}

// Health checks are tiny: a slow or oversized client is cut off rather than holding a socket.
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_REQUESTS_PER_SOCKET = 1000;

/** Serves `handler` over plain HTTP. For HTTPS, mount the handler on your own `https.createServer`. */
export async function startRestApiServer(options: RestApiServerOptions): Promise<RestApiServer> {
  const { host, port, handler, signal } = options;
  signal?.throwIfAborted();
  const server: Server = createServer(
    {
      headersTimeout: HEADERS_TIMEOUT_MS,
      requestTimeout: REQUEST_TIMEOUT_MS,
      maxHeaderSize: MAX_HEADER_BYTES,
      keepAlive: true,
      keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    },
    handler,
  );
  server.maxRequestsPerSocket = MAX_REQUESTS_PER_SOCKET;

  await new Promise<void>((resolve, reject) => {
    const onError = (error: Error): void => {
      // The listen address is configuration (restapi.listen): a busy or foreign address is for the operator to fix.
      const message = `cannot listen on ${host}:${port}: ${error.message}`;
      reject(new PgwardenError('rest-api', 'CONFIG_INVALID', message, { cause: error }));
    };
    server.once('error', onError);
    server.listen({ host, port }, () => {
      server.off('error', onError);
      resolve();
    });
  });

  const info = server.address() as AddressInfo;
  const urlHost = info.family === 'IPv6' ? `[${info.address}]` : info.address;
  const address = { host: info.address, port: info.port, url: `http://${urlHost}:${info.port}` };

  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= new Promise<void>((resolve) => {
      signal?.removeEventListener('abort', onAbort);
      const cutOff = setTimeout(() => server.closeAllConnections(), options.closeGraceMs ?? 1000);
      cutOff.unref();
      server.close(() => {
        clearTimeout(cutOff);
        resolve();
      });
      server.closeIdleConnections();
    });
    return closing;
  };
  const onAbort = (): void => void close();
  signal?.addEventListener('abort', onAbort, { once: true });

  return { address, close, [Symbol.asyncDispose]: close };
}
