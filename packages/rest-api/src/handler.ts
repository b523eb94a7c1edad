import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';
import { isPgwardenError, silentLogger } from '@pgwarden/core';
import type { Cluster, Logger, PgwardenErrorCode } from '@pgwarden/core';
import { clusterJson } from './cluster-json.js';
import { isTrue } from './dynamic-config.js';
import { healthCheckStatus, livenessStatus, readinessStatus } from './health.js';
import { metricsText } from './metrics.js';
import type { NodeSnapshot, RestApiNode } from './node.js';
import { parseRequestTarget } from './request-target.js';
import type { RequestTarget } from './request-target.js';
import { memberStatusJson } from './status.js';

/** Mount it on any `node:http` or `node:https` server. It never throws; failures answer 500 and are logged. */
export type RestApiHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface RestApiOptions {
  readonly node: RestApiNode;
  readonly logger?: Logger;
  /** Value of the `Server` header (Patroni's `server_tokens`); none by default. */
  readonly serverHeader?: string;
  /** Headers added to every full response (Patroni's `http_extra_headers`). */
  readonly extraHeaders?: Readonly<Record<string, string>>;
}

type HttpMethod = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/** What a route handler gets; later, mutating routes also read the body from `req`. */
export interface RouteContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly target: RequestTarget;
  readonly node: RestApiNode;
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

export function createRestApiHandler(options: RestApiOptions): RestApiHandler {
  const { node } = options;
  const logger = options.logger ?? silentLogger;
  const baseHeaders: OutgoingHttpHeaders = { ...options.extraHeaders };
  if (options.serverHeader !== undefined) baseHeaders['server'] = options.serverHeader;

  const sendBody = (res: ServerResponse, status: number, contentType: string, body: string): void => {
    res.writeHead(status, {
      ...baseHeaders,
      'content-type': contentType,
      'content-length': Buffer.byteLength(body),
    });
    res.end(body);
  };
  const sendJson = (res: ServerResponse, status: number, value: unknown): void => {
    sendBody(res, status, 'application/json', JSON.stringify(value));
  };
  // HAProxy and probes read only the status line; Patroni sends no headers at all, Node needs a length.
  const sendStatusOnly = (res: ServerResponse, status: number): void => {
    res.sendDate = false;
    res.writeHead(status, { 'content-length': 0 });
    res.end();
  };
  const sendError = (res: ServerResponse, status: number, reason: string): void => {
    sendJson(res, status, { error: reason });
  };

  /** The view /history, /config and /failsafe answer from: the HA cycle's, read fresh only before the first one. */
  const knownCluster = async (snapshot: NodeSnapshot): Promise<Cluster> => snapshot.cluster ?? (await node.loadCluster());

  const healthCheck: RouteHandler = ({ res, target }) => {
    const snapshot = node.snapshot();
    sendJson(res, healthCheckStatus(snapshot, target.path, target.query), memberStatusJson(snapshot));
  };

  // One table: the mutating endpoints (POST /restart, PATCH /config, ...) join it in a later milestone.
  const routes = new Map<string, RouteMethods>([
    ['patroni', { GET: ({ res }) => sendJson(res, 200, memberStatusJson(node.snapshot())) }],
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
      },
    ],
    [
      'metrics',
      { GET: ({ res }) => sendBody(res, 200, 'text/plain; version=0.0.4; charset=utf-8', metricsText(node.snapshot())) },
    ],
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
    if (res.headersSent) {
      res.destroy();
      return;
    }
    try {
      sendError(res, status, reason);
    } catch {
      res.destroy();
    }
  };

  return (req, res) => {
    const method = req.method ?? 'GET';
    const target = parseRequestTarget(req.url);
    try {
      let handler: RouteHandler | undefined;
      if (method === 'HEAD' || method === 'OPTIONS') {
        // As in Patroni, HEAD and OPTIONS on any path evaluate the health check of that path, status line only.
        const snapshot = node.snapshot();
        sendStatusOnly(res, healthCheckStatus(snapshot, target.path, target.query));
        return;
      }
      const methods = routes.get(target.route);
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
      const outcome = handler({ req, res, target, node });
      if (outcome !== undefined) void outcome.catch((error: unknown) => fail(res, error, target, method));
    } catch (error) {
      fail(res, error, target, method);
    }
  };
}

function allowedMethods(methods: RouteMethods): string {
  const allowed = Object.keys(methods);
  if (methods.GET) allowed.push('HEAD', 'OPTIONS');
  return allowed.join(', ');
}
