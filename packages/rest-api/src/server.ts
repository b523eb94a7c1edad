import { readFile } from 'node:fs/promises';
import { createServer as createHttpServer, STATUS_CODES } from 'node:http';
import type { Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Server as HttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import type { SecureContextOptions } from 'node:tls';
import { PgwardenError, silentLogger } from '@pgwarden/core';
import type { Logger } from '@pgwarden/core';
import type { RestApiHandler, VerifyClient } from './handler.js';

/** Patroni's `restapi` TLS settings; the files are read at start and by `reloadCertificates()`. */
export interface RestApiTlsOptions {
  /** `restapi.certfile`: PEM certificate (chain). Setting it turns HTTPS on. */
  readonly certFile: string;
  /** `restapi.keyfile`: PEM private key, when not inside `certFile`. */
  readonly keyFile?: string;
  /** `restapi.keyfile_password`. */
  readonly keyFilePassword?: string;
  /** `restapi.cafile`: CAs that client certificates must chain to. */
  readonly caFile?: string;
  /** `restapi.ciphers`: OpenSSL cipher list. */
  readonly ciphers?: string;
  /**
   * `restapi.verify_client`: `none` (default) asks for no certificate; `optional` asks for one and the handler
   * demands it on the unsafe endpoints; `required` refuses the handshake without a valid one. Give the handler
   * the same value.
   */
  readonly verifyClient?: VerifyClient;
}

export interface RestApiServerOptions {
  /** Address to listen on, e.g. `127.0.0.1` or `::`. */
  readonly host: string;
  /** 0 picks a free port. */
  readonly port: number;
  readonly handler: RestApiHandler;
  /** Serve HTTPS with these settings instead of HTTP. */
  readonly tls?: RestApiTlsOptions;
  /** Aborting closes the server. */
  readonly signal?: AbortSignal;
  /** How long close() lets in-flight requests finish before cutting connections; default 1000 ms. */
  readonly closeGraceMs?: number;
  /** Largest request head (request line and headers), bytes; larger gets 431. Default 16 KiB. */
  readonly maxHeaderBytes?: number;
  /** Time to receive the request head, ms; slower gets 408. Default 10 s. */
  readonly headersTimeoutMs?: number;
  /** Time to receive the whole request (head and body), ms; slower gets 408. Default 30 s. */
  readonly requestTimeoutMs?: number;
  /** How long an idle keep-alive connection stays open, ms. Default 5 s. */
  readonly keepAliveTimeoutMs?: number;
  /** Malformed requests and failed TLS handshakes are logged at debug level. */
  readonly logger?: Logger;
}

export interface RestApiServer extends AsyncDisposable {
  readonly address: { readonly host: string; readonly port: number; readonly url: string };
  /** Re-reads the TLS files (after a certificate renewal, on SIGHUP); new connections use them. No-op on HTTP. */
  reloadCertificates(): Promise<void>;
  /** Stops listening, lets in-flight requests finish (up to the grace period), then closes every connection. */
  close(): Promise<void>;
}

// Health checks are tiny: a slow or oversized client is cut off rather than holding a socket.
const HEADERS_TIMEOUT_MS = 10_000;
const REQUEST_TIMEOUT_MS = 30_000;
const KEEP_ALIVE_TIMEOUT_MS = 5_000;
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_REQUESTS_PER_SOCKET = 1000;

async function secureContext(tls: RestApiTlsOptions): Promise<SecureContextOptions> {
  const read = async (path: string, setting: string): Promise<Buffer> => {
    try {
      return await readFile(path);
    } catch (error) {
      throw new PgwardenError('rest-api', 'CONFIG_INVALID', `cannot read restapi.${setting} ${path}: ${(error as Error).message}`, {
        cause: error,
      });
    }
  };
  const cert = await read(tls.certFile, 'certfile');
  const context: { -readonly [K in keyof SecureContextOptions]: SecureContextOptions[K] } = {
    cert,
    key: tls.keyFile !== undefined ? await read(tls.keyFile, 'keyfile') : cert,
  };
  if (tls.keyFilePassword !== undefined) context.passphrase = tls.keyFilePassword;
  if (tls.caFile !== undefined) context.ca = await read(tls.caFile, 'cafile');
  if (tls.ciphers !== undefined) context.ciphers = tls.ciphers;
  return context;
}

/** Answers what the HTTP parser refused, with a reason, instead of Node's bare status line. */
function answerClientError(error: NodeJS.ErrnoException, socket: Socket, logger: Logger): void {
  logger.log('debug', '[rest-api] malformed or slow request', { code: error.code, error: error.message });
  if (!socket.writable || socket.bytesWritten > 0) {
    socket.destroy();
    return;
  }
  let status = 400;
  let reason = `malformed request: ${error.message}`;
  if (error.code === 'HPE_HEADER_OVERFLOW') {
    status = 431;
    reason = 'request headers are too large';
  } else if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    status = 408;
    reason = 'the request took too long to arrive';
  } else if (error.code === 'ECONNRESET') {
    socket.destroy();
    return;
  }
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`,
  );
}

/** Serves `handler` over HTTP, or HTTPS with `tls`; or mount the handler on a server of your own. */
export async function startRestApiServer(options: RestApiServerOptions): Promise<RestApiServer> {
  const { host, port, handler, signal, tls } = options;
  const logger = options.logger ?? silentLogger;
  signal?.throwIfAborted();
  const requestTimeout = options.requestTimeoutMs ?? REQUEST_TIMEOUT_MS;
  // Node insists that the head's deadline is not later than the whole request's.
  const headersTimeout = Math.min(options.headersTimeoutMs ?? HEADERS_TIMEOUT_MS, requestTimeout);
  const httpOptions = {
    headersTimeout,
    requestTimeout,
    // Node checks the deadlines on this period (30 s by default): keep it well under the shortest one.
    connectionsCheckingInterval: Math.max(20, Math.min(1000, Math.floor(headersTimeout / 4))),
    maxHeaderSize: options.maxHeaderBytes ?? MAX_HEADER_BYTES,
    keepAlive: true,
    keepAliveTimeout: options.keepAliveTimeoutMs ?? KEEP_ALIVE_TIMEOUT_MS,
  };
  let server: HttpServer | HttpsServer;
  if (tls) {
    const verifyClient = tls.verifyClient ?? 'none';
    server = createHttpsServer(
      {
        ...httpOptions,
        ...(await secureContext(tls)),
        requestCert: verifyClient !== 'none',
        rejectUnauthorized: verifyClient === 'required',
        handshakeTimeout: headersTimeout,
      },
      handler,
    );
    server.on('tlsClientError', (error: Error) => logger.log('debug', '[rest-api] TLS handshake failed', { error: error.message }));
  } else {
    server = createHttpServer(httpOptions, handler);
  }
  server.maxRequestsPerSocket = MAX_REQUESTS_PER_SOCKET;
  server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => answerClientError(error, socket, logger));

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
  const scheme = tls ? 'https' : 'http';
  const address = { host: info.address, port: info.port, url: `${scheme}://${urlHost}:${info.port}` };

  const reloadCertificates = async (): Promise<void> => {
    if (!tls || !('setSecureContext' in server)) return;
    server.setSecureContext(await secureContext(tls));
  };

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

  return { address, close, reloadCertificates, [Symbol.asyncDispose]: close };
}
