import { lookup } from 'node:dns/promises';
import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import type { TLSSocket } from 'node:tls';
import { isPgwardenError, silentLogger } from '@pgwarden/core';
import type { Cluster, Logger, PgwardenErrorCode } from '@pgwarden/core';
import { addressAllowed, basicAuthProblem, cachedResolver, memberApiHosts, parseAllowlist } from './access.js';
import type { BasicCredentials, ResolveHost } from './access.js';
import { clusterJson } from './cluster-json.js';
import { isTrue } from './dynamic-config.js';
import { healthCheckStatus, livenessStatus, readinessStatus } from './health.js';
import { createLimiter } from './limiter.js';
import { metricsText } from './metrics.js';
import { createMutatingRoutes } from './mutating.js';
import type { MutatingRoute } from './mutating.js';
import type { NodeSnapshot, RestApiNode } from './node.js';
import { parseRequestTarget } from './request-target.js';
import type { RequestTarget } from './request-target.js';
import { memberStatusJson } from './status.js';

/** Mount it on any `node:http` or `node:https` server. It never throws; failures answer 500 and are logged. */
export type RestApiHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** Patroni's `restapi.verify_client`. */
export type VerifyClient = 'none' | 'optional' | 'required';

export interface RestApiOptions {
  readonly node: RestApiNode;
  readonly logger?: Logger;
  /** Value of the `Server` header (Patroni's `server_tokens`); none by default. */
  readonly serverHeader?: string;
  /** Headers added to every full response (Patroni's `http_extra_headers`). */
  readonly extraHeaders?: Readonly<Record<string, string>>;
  /** Added to `extraHeaders` on TLS connections only (Patroni's `https_extra_headers`). */
  readonly httpsExtraHeaders?: Readonly<Record<string, string>>;
  /** Basic auth required on the unsafe endpoints (Patroni's `restapi.authentication`). */
  readonly authentication?: BasicCredentials;
  /**
   * pgwarden's own: reads (GET, HEAD, OPTIONS) go through the same access check as the unsafe endpoints
   * (allowlist, client certificate, basic auth). Off by default, as in Patroni, so probes need no credentials.
   */
  readonly authenticateReads?: boolean;
  /** Hosts, IPs and CIDR networks (v4 and v6) allowed to call the unsafe endpoints (Patroni's `allowlist`). */
  readonly allowlist?: readonly string[];
  /** Also allow the hosts of the members' `api_url`s (Patroni's `allowlist_include_members`). */
  readonly allowlistIncludeMembers?: boolean;
  /** How host names in the allowlist and in `api_url`s are resolved; `dns.lookup` by default. */
  readonly resolveHost?: ResolveHost;
  /**
   * Patroni's `verify_client`, as given to the TLS server: `optional` demands a valid client certificate on the
   * unsafe endpoints, `required` on every request (the TLS handshake already insists). Ignored on plain HTTP.
   */
  readonly verifyClient?: VerifyClient;
  /** Largest request body accepted, bytes; larger ones get 413. Default 64 KiB. */
  readonly maxBodyBytes?: number;
  /**
   * How many requests that read or write the DCS may run at once (in the spirit of Patroni's
   * `restapi.thread_pool_size`, default 5). Health checks answer from the snapshot and never wait for a slot.
   */
  readonly maxConcurrentRequests?: number;
  /** How many more may wait for a slot (in the spirit of `restapi.request_queue_size`, default 5); the rest get 503. */
  readonly maxQueuedRequests?: number;
  /** How often `POST /switchover` and `/failover` poll the DCS for the outcome; Patroni's 1000 ms by default. */
  readonly switchoverPollIntervalMs?: number;
}

type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a route handler gets. */
export interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly target: RequestTarget;
  readonly node: RestApiNode;
  /** Aborts when the client goes away or the connection is cut. */
  readonly signal: AbortSignal;
}

type RouteHandler = (context: RouteContext) => void | Promise<void>;
type RouteMethods = Partial<Record<HttpMethod, RouteHandler>>;

/** Methods that name an action this API may offer on some path: elsewhere they get 404, other methods 405. */
const ROUTABLE_METHODS: ReadonlySet<string> = new Set(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);

/** Typed failures to HTTP statuses, in one place. */
const STATUS_FOR_ERROR: Partial<Record<PgwardenErrorCode, number>> = {
  DCS_UNREACHABLE: 503,
  DCS_CLOSED: 503,
  DCS_ABORTED: 503,
};

/** GET routes that answer from the snapshot alone: they never wait for a slot (the health checks too). */
const CHEAP_ROUTES: ReadonlySet<string> = new Set(['patroni', 'liveness', 'readiness', 'metrics']);

const DEFAULT_MAX_BODY_BYTES = 64 * 1024;
/** How long resolved host names (allowlist, members' api_url) are trusted. */
const RESOLVE_TTL_MS = 10_000;

interface Refusal {
  readonly status: number;
  readonly reason: string;
  readonly headers?: Readonly<Record<string, string>>;
}

function isTls(req: IncomingMessage): boolean {
  return (req.socket as Partial<TLSSocket>).encrypted === true;
}

/** The request announced a body that has not been read to its end. */
function bodyUnread(req: IncomingMessage): boolean {
  if (req.complete) return false;
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && Number(length) !== 0);
}

const defaultResolveHost: ResolveHost = async (host) => (await lookup(host, { all: true })).map((entry) => entry.address);

export function createRestApiHandler(options: RestApiOptions): RestApiHandler {
  const { node } = options;
  const logger = options.logger ?? silentLogger;
  const httpHeaders: OutgoingHttpHeaders = { ...options.extraHeaders };
  if (options.serverHeader !== undefined) httpHeaders['server'] = options.serverHeader;
  const httpsHeaders: OutgoingHttpHeaders = { ...httpHeaders, ...options.httpsExtraHeaders };
  const verifyClient = options.verifyClient ?? 'none';
  const allowlist = parseAllowlist(options.allowlist ?? []);
  for (const entry of allowlist.invalid) logger.log('error', '[rest-api] invalid allowlist entry ignored', { entry });
  const allowlistActive = (options.allowlist?.length ?? 0) > 0;
  const includeMembers = options.allowlistIncludeMembers === true;
  const resolve = cachedResolver(options.resolveHost ?? defaultResolveHost, RESOLVE_TTL_MS, () => performance.now());
  const limiter = createLimiter(Math.max(1, options.maxConcurrentRequests ?? 5), Math.max(0, options.maxQueuedRequests ?? 5));

  const sendBody = (res: ServerResponse, status: number, contentType: string, body: string, extra?: OutgoingHttpHeaders): void => {
    if (res.headersSent || res.destroyed) return;
    const headers: OutgoingHttpHeaders = {
      ...(isTls(res.req) ? httpsHeaders : httpHeaders),
      ...extra,
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
    };
    // A body left unread (413, or a refusal before reading) would be parsed as the next request: close instead.
    if (bodyUnread(res.req)) headers['connection'] = 'close';
    res.writeHead(status, headers);
    res.end(body);
  };
  const sendJson = (res: ServerResponse, status: number, value: unknown): void => {
    sendBody(res, status, 'application/json', JSON.stringify(value));
  };
  // Patroni's write_response: plain text under its default content type.
  const sendText = (res: ServerResponse, status: number, body: string, extra?: Readonly<Record<string, string>>): void => {
    sendBody(res, status, 'text/html; charset=utf-8', body, extra);
  };
  // HAProxy and probes read only the status line; Patroni sends no headers at all, Node needs a length.
  const sendStatusOnly = (res: ServerResponse, status: number, extra?: Readonly<Record<string, string>>): void => {
    if (res.headersSent || res.destroyed) return;
    res.sendDate = false;
    const headers: OutgoingHttpHeaders = { ...extra, 'content-length': 0 };
    if (bodyUnread(res.req)) headers['connection'] = 'close';
    res.writeHead(status, headers);
    res.end();
  };
  const sendError = (res: ServerResponse, status: number, reason: string): void => {
    sendJson(res, status, { error: reason });
  };

  /**
   * Patroni's check_access, in its order: the allowlist (403), the client certificate (403), basic auth (401).
   * `guarded` is false for reads, which only `verify_client: required` concerns.
   */
  const accessRefusal = async (req: IncomingMessage, guarded: boolean, checkMembers = true): Promise<Refusal | null> => {
    const certificateMissing = isTls(req) && (req.socket as TLSSocket).authorized !== true;
    if (!guarded) {
      return verifyClient === 'required' && certificateMissing ? { status: 403, reason: 'client certificate required' } : null;
    }
    // POST /failsafe skips the members part (as Patroni): the store that lists the members may be down.
    const withMembers = includeMembers && checkMembers;
    if (allowlistActive || withMembers) {
      const hosts = [...allowlist.hosts, ...(withMembers ? memberApiHosts(node.snapshot().cluster) : [])];
      const addresses = (await Promise.all(hosts.map((host) => resolve(host)))).flat();
      if (!addressAllowed(req.socket.remoteAddress ?? '', allowlist.networks, addresses)) {
        return { status: 403, reason: 'Access is denied' };
      }
    }
    if (verifyClient !== 'none' && certificateMissing) return { status: 403, reason: 'client certificate required' };
    if (options.authentication) {
      const problem = basicAuthProblem(req.headers.authorization, options.authentication);
      if (problem) return { status: 401, reason: problem, headers: { 'www-authenticate': 'Basic realm="Patroni"' } };
    }
    return null;
  };

  /** The view /history, /config and /failsafe answer from: the HA cycle's, read fresh only before the first one. */
  const knownCluster = async (snapshot: NodeSnapshot): Promise<Cluster> => snapshot.cluster ?? (await node.loadCluster());

  const healthCheck: RouteHandler = ({ res, target }) => {
    const snapshot = node.snapshot();
    sendJson(res, healthCheckStatus(snapshot, target.path, target.query), memberStatusJson(snapshot));
  };

  const withOperations =
    (route: MutatingRoute): RouteHandler =>
    async ({ req, res, target, signal }) => {
      const operations = node.operations;
      if (!operations) {
        sendText(res, 501, `${req.method ?? ''} ${target.path} is not available: this node serves the REST API without operations`);
        return;
      }
      await route({ req, res, operations, signal });
    };

  const mutating = createMutatingRoutes({
    node,
    logger,
    respond: { text: sendText, json: sendJson },
    maxBodyBytes: options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES,
    pollIntervalMs: options.switchoverPollIntervalMs ?? 1000,
  });
  const unsafeRoutes = (name: string): RouteMethods => {
    const methods: RouteMethods = {};
    for (const [method, route] of Object.entries(mutating[name] ?? {})) methods[method as HttpMethod] = withOperations(route);
    return methods;
  };

  // One table: first path segment and method to handler; unknown GET paths fall into the health check.
  const routes = new Map<string, RouteMethods>([
    ['patroni', { GET: async ({ res }) => sendJson(res, 200, memberStatusJson(node.freshSnapshot ? await node.freshSnapshot() : node.snapshot())) }],
    ['liveness', { GET: ({ res }) => sendStatusOnly(res, livenessStatus(node.snapshot())) }],
    [
      'readiness',
      {
        GET: ({ res, target }) => {
          const verdict = readinessStatus(node.snapshot(), target.query);
          if (verdict.reason !== null) logger.log('debug', '[rest-api] not ready', { reason: verdict.reason });
          sendStatusOnly(res, verdict.status);
        },
      },
    ],
    [
      'cluster',
      {
        GET: async ({ res }) => {
          const cluster = await node.loadCluster();
          sendJson(res, 200, clusterJson(cluster, node.snapshot().scope));
        },
      },
    ],
    [
      'history',
      {
        GET: async ({ res }) => {
          const cluster = await knownCluster(node.snapshot());
          sendJson(res, 200, cluster.history?.lines ?? []);
        },
      },
    ],
    [
      'config',
      {
        GET: async ({ res }) => {
          const cluster = await knownCluster(node.snapshot());
          if (cluster.config && cluster.config.version) sendJson(res, 200, cluster.config.data);
          else sendError(res, 502, 'the cluster has no configuration in the DCS');
        },
        ...unsafeRoutes('config'),
      },
    ],
    [
      'failsafe',
      {
        GET: async ({ res }) => {
          const cluster = await knownCluster(node.snapshot());
          if (isTrue(cluster.config?.data['failsafe_mode']) && cluster.failsafe) sendJson(res, 200, cluster.failsafe);
          else sendError(res, 502, 'failsafe mode is not enabled or has no data');
        },
        ...unsafeRoutes('failsafe'),
      },
    ],
    [
      'metrics',
      { GET: ({ res }) => sendBody(res, 200, 'text/plain; version=0.0.4; charset=utf-8', metricsText(node.snapshot())) },
    ],
    ['switchover', unsafeRoutes('switchover')],
    ['failover', unsafeRoutes('failover')],
    ['restart', unsafeRoutes('restart')],
    ['reinitialize', unsafeRoutes('reinitialize')],
    ['reload', unsafeRoutes('reload')],
  ]);

  const fail = (res: ServerResponse, error: unknown, target: RequestTarget, method: string): void => {
    const status = (isPgwardenError(error) && STATUS_FOR_ERROR[error.code]) || 500;
    const reason = error instanceof Error ? error.message : String(error);
    logger.log(status === 500 ? 'error' : 'warn', '[rest-api] request failed', {
      method,
      path: target.path,
      status,
      error: reason,
    });
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    try {
      sendError(res, status, reason);
    } catch {
      res.destroy();
    }
  };

  /** Access check, then a slot for what is not cheap, then the route; every failure becomes an answer. */
  const run = async (
    context: RouteContext,
    handler: RouteHandler,
    method: string,
    guarded: boolean,
    cheap: boolean,
    statusOnly: boolean,
  ): Promise<void> => {
    const { req, res, signal } = context;
    if (guarded || verifyClient === 'required') {
      const refusal = await accessRefusal(req, guarded, context.target.route !== 'failsafe');
      if (refusal) {
        logger.log('warn', '[rest-api] access refused', {
          method,
          path: context.target.path,
          client: req.socket.remoteAddress,
          status: refusal.status,
          reason: refusal.reason,
        });
        if (statusOnly) sendStatusOnly(res, refusal.status, refusal.headers);
        else sendText(res, refusal.status, refusal.reason, refusal.headers);
        return;
      }
    }
    if (cheap) {
      await handler(context);
      return;
    }
    const waiting = limiter.acquire(signal);
    if (limiter.queued > 0) {
      logger.log('debug', '[rest-api] request waits for a slot', { method, path: context.target.path, queued: limiter.queued });
    }
    const release = await waiting;
    if (!release) {
      if (!signal.aborted) sendText(res, 503, 'too many requests in progress: retry later', { 'retry-after': '1' });
      return;
    }
    try {
      await handler(context);
    } finally {
      release();
    }
  };

  return (req, res) => {
    const method = req.method ?? 'GET';
    const target = parseRequestTarget(req.url);
    try {
      const context = new RequestContext(req, res, target, node);
      const guardReads = options.authenticateReads === true;
      let outcome: Promise<void>;
      if (method === 'HEAD' || method === 'OPTIONS') {
        // As in Patroni, HEAD and OPTIONS on any path evaluate the health check of that path, status line only.
        const probe: RouteHandler = () => sendStatusOnly(res, healthCheckStatus(node.snapshot(), target.path, target.query));
        if (!guardReads && verifyClient !== 'required') {
          void probe(context);
          return;
        }
        outcome = run(context, probe, method, guardReads, true, true);
      } else {
        const methods = routes.get(target.route);
        let handler: RouteHandler | undefined;
        if (method === 'GET') {
          handler = methods?.GET ?? healthCheck;
        } else if (ROUTABLE_METHODS.has(method)) {
          handler = methods?.[method as HttpMethod];
          if (handler === undefined) {
            if (methods === undefined) sendError(res, 404, `no ${method} handler for ${target.path}`);
            else {
              res.setHeader('allow', allowedMethods(methods));
              sendError(res, 405, `${method} is not allowed on ${target.path}`);
            }
            return;
          }
        } else {
          res.setHeader('allow', methods ? allowedMethods(methods) : 'GET, HEAD, OPTIONS');
          sendError(res, 405, `method ${method} is not supported`);
          return;
        }
        const unsafe = method !== 'GET';
        const cheap = method === 'GET' && (CHEAP_ROUTES.has(target.route) || methods?.GET === undefined);
        if (cheap && !guardReads && verifyClient !== 'required') {
          // The hot path of health checks: no promise, no slot.
          const result = handler(context);
          if (result !== undefined) void result.catch((error: unknown) => fail(res, error, target, method));
          return;
        }
        outcome = run(context, handler, method, unsafe || guardReads, cheap, false);
      }
      void outcome.catch((error: unknown) => fail(res, error, target, method));
    } catch (error) {
      fail(res, error, target, method);
    }
  };
}

/**
 * A route's context. The signal is made on first use, and aborts only when the connection closes before the answer
 * is complete (the client went away). Health checks never touch it: an AbortController and a 'close' listener per
 * request, aborted after every answer, made young-generation GC pauses several times longer under load (see
 * bench/README.md, "REST latency").
 */
class RequestContext implements RouteContext {
  #controller: AbortController | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly target: RequestTarget,
    readonly node: RestApiNode,
  ) {}

  get signal(): AbortSignal {
    if (this.#controller === undefined) {
      const controller = new AbortController();
      this.#controller = controller;
      const res = this.res;
      if (res.closed) {
        if (!res.writableFinished) controller.abort();
      } else {
        res.once('close', () => {
          if (!res.writableFinished) controller.abort();
        });
      }
    }
    return this.#controller.signal;
  }
}

function allowedMethods(methods: RouteMethods): string {
  const allowed = Object.keys(methods);
  if (methods.GET) allowed.push('HEAD', 'OPTIONS');
  return allowed.join(', ');
}
