/**
 * An emulator of the part of the Kubernetes API that a DCS plugin uses, written to the documented API
 * semantics (no Kubernetes server can run here): core/v1 ConfigMaps, Endpoints, Pods and Services in
 * namespaces, with GET, LIST (equality-based `labelSelector`, `fieldSelector` on `metadata.name`), WATCH
 * (newline-delimited JSON events from a `resourceVersion`), CREATE, PATCH (JSON merge patch; strategic merge
 * is accepted and applied as a merge patch, which is the same for maps and for lists without merge keys),
 * PUT and DELETE, one global monotonically increasing `resourceVersion`, optimistic concurrency (409 Conflict)
 * and `Status` objects for errors. Plain HTTP on 127.0.0.1, no authentication.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** The resources the emulator serves, by their URL plural. */
export type KubernetesResource = 'configmaps' | 'endpoints' | 'pods' | 'services';

const KINDS: Readonly<Record<KubernetesResource, string>> = {
  configmaps: 'ConfigMap',
  endpoints: 'Endpoints',
  pods: 'Pod',
  services: 'Service',
};

/** A stored object: any JSON with `metadata`. */
export interface KubernetesObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion?: string;
    uid?: string;
    creationTimestamp?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

export interface PodSpec {
  readonly name: string;
  /** Default `default`. */
  readonly namespace?: string;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  /** `status.podIP`; default 127.0.0.1. */
  readonly podIp?: string;
}

export interface KubernetesEmulator extends AsyncDisposable {
  /** `http://127.0.0.1:<port>`: the API server URL. */
  readonly url: string;
  /** Creates a Pod (as the kubelet's controller would), or replaces the labels/annotations of an existing one. */
  createPod(spec: PodSpec): KubernetesObject;
  /** Deletes a Pod; watchers see DELETED. False when absent. */
  deletePod(namespace: string, name: string): boolean;
  /** A copy of a stored object, or undefined. */
  get(resource: KubernetesResource, namespace: string, name: string): KubernetesObject | undefined;
  /** Stores `object` as is (creating or replacing it, with a new resourceVersion), bypassing the API. */
  put(resource: KubernetesResource, namespace: string, object: KubernetesObject): KubernetesObject;
  /** The current global resourceVersion. */
  readonly resourceVersion: number;
  /** Every request seen, as `METHOD path?query`, for tests that check what a client sent. */
  readonly requests: readonly string[];
  /**
   * Called before each request is handled, e.g. to make another writer win a race deterministically by
   * changing an object between a client's read and its write. Returning `drop-answer` applies the request
   * but closes the connection instead of answering (an answer lost on the way back).
   */
  onRequest: ((request: { readonly method: string; readonly path: string }) => void | 'drop-answer') | undefined;
  /**
   * Forgets the event history, as a compaction of the API server's store does: a watch asked to start from
   * an older resourceVersion then gets a 410 Gone (Expired) ERROR event. Open watches go on.
   */
  compact(): void;
  /** Ends every open watch stream, as the API server does when a watch's timeout passes or it restarts. */
  endWatches(): void;
  /** How many watch streams are open now. */
  readonly openWatches: number;
  /** Stops the server and ends every open watch. Safe to call twice. */
  stop(): Promise<void>;
}

interface WatchEvent {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly resource: KubernetesResource;
  readonly namespace: string;
  readonly object: KubernetesObject;
  readonly resourceVersion: number;
}

interface Watcher {
  readonly resource: KubernetesResource;
  readonly namespace: string;
  readonly matches: (object: KubernetesObject) => boolean;
  readonly response: ServerResponse;
}

/** Events kept for watches that start from an older resourceVersion; older ones get 410 Gone. */
const EVENTS_KEPT = 10_000;

class ApiError extends Error {
  constructor(
    readonly code: number,
    readonly reason: string,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const clone = <T>(value: T): T => structuredClone(value);

/** RFC 7386 JSON merge patch: null deletes, objects merge recursively, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isRecord(patch)) return clone(patch);
  const result: Record<string, unknown> = isRecord(target) ? { ...target } : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete result[key];
    else result[key] = mergePatch(result[key], value);
  }
  return result;
}

type Requirement = { key: string; op: '=' | '!=' | 'exists' | '!exists'; value?: string };

/** Parses an equality-based selector: `a=b`, `a==b`, `a!=b`, `a`, `!a`, comma-separated (all must hold). */
export function parseSelector(selector: string): Requirement[] {
  const requirements: Requirement[] = [];
  for (const part of selector.split(',').map((text) => text.trim()).filter(Boolean)) {
    const match = /^([^=!]+?)\s*(==|=|!=)\s*(.*)$/.exec(part);
    if (match) {
      const [, key = '', op, value = ''] = match;
      requirements.push({ key: key.trim(), op: op === '!=' ? '!=' : '=', value: value.trim() });
    } else if (part.startsWith('!')) {
      requirements.push({ key: part.slice(1).trim(), op: '!exists' });
    } else if (/^[\w./-]+$/.test(part)) {
      requirements.push({ key: part, op: 'exists' });
    } else {
      throw new ApiError(400, 'BadRequest', `unable to parse requirement: ${part}`);
    }
  }
  return requirements;
}

function satisfies(values: Readonly<Record<string, string>>, requirements: readonly Requirement[]): boolean {
  return requirements.every(({ key, op, value }) => {
    const actual = values[key];
    switch (op) {
      case '=':
        return actual === value;
      case '!=':
        return actual !== value;
      case 'exists':
        return actual !== undefined;
      case '!exists':
        return actual === undefined;
    }
  });
}

function fieldsOf(object: KubernetesObject): Record<string, string> {
  return { 'metadata.name': object.metadata.name, 'metadata.namespace': object.metadata.namespace ?? '' };
}

function statusBody(error: ApiError, resource?: KubernetesResource): Record<string, unknown> {
  return {
    kind: 'Status',
    apiVersion: 'v1',
    metadata: {},
    status: 'Failure',
    message: error.message,
    reason: error.reason,
    ...(error.details ? { details: { ...error.details, ...(resource ? { kind: resource } : {}) } } : {}),
    code: error.code,
  };
}

function validateMetadata(object: unknown): asserts object is KubernetesObject {
  if (!isRecord(object) || !isRecord(object['metadata'])) throw new ApiError(400, 'BadRequest', 'the object has no metadata');
  const metadata = object['metadata'];
  for (const field of ['labels', 'annotations'] as const) {
    const map = metadata[field];
    if (map === undefined) continue;
    if (!isRecord(map)) throw new ApiError(422, 'Invalid', `metadata.${field} must be a map of strings`);
    for (const [key, value] of Object.entries(map)) {
      if (typeof value !== 'string') {
        throw new ApiError(422, 'Invalid', `metadata.${field}.${key}: Invalid value: must be a string`);
      }
    }
  }
}

function readBody(request: IncomingMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('error', reject);
    request.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      if (text.trim() === '') return resolve(undefined);
      try {
        resolve(JSON.parse(text));
      } catch {
        reject(new ApiError(400, 'BadRequest', 'the request body is not JSON'));
      }
    });
  });
}

export async function startKubernetesEmulator(): Promise<KubernetesEmulator> {
  const store = new Map<string, KubernetesObject>();
  const events: WatchEvent[] = [];
  const watchers = new Set<Watcher>();
  const sockets = new Set<Socket>();
  const requests: string[] = [];
  const dropped = new WeakSet<ServerResponse>();
  let resourceVersion = 1;
  let uids = 0;

  const keyOf = (resource: KubernetesResource, namespace: string, name: string): string => `${resource}/${namespace}/${name}`;

  function emit(type: WatchEvent['type'], resource: KubernetesResource, namespace: string, object: KubernetesObject): void {
    const event: WatchEvent = { type, resource, namespace, object: clone(object), resourceVersion };
    events.push(event);
    if (events.length > EVENTS_KEPT) events.shift();
    for (const watcher of watchers) {
      if (watcher.resource === resource && watcher.namespace === namespace && watcher.matches(event.object)) {
        watcher.response.write(`${JSON.stringify({ type, object: event.object })}\n`);
      }
    }
  }

  /** Stores a new state of an object with the next resourceVersion and tells the watchers. */
  function write(resource: KubernetesResource, namespace: string, object: KubernetesObject, created: boolean): KubernetesObject {
    resourceVersion += 1;
    const stored = clone(object);
    stored.apiVersion = 'v1';
    stored.kind = KINDS[resource];
    stored.metadata.namespace = namespace;
    stored.metadata.resourceVersion = String(resourceVersion);
    if (created || stored.metadata.uid === undefined) {
      stored.metadata.uid = `00000000-0000-4000-8000-${String(++uids).padStart(12, '0')}`;
      stored.metadata.creationTimestamp = new Date().toISOString().replace(/\.\d+Z$/, 'Z');
    }
    store.set(keyOf(resource, namespace, stored.metadata.name), stored);
    emit(created ? 'ADDED' : 'MODIFIED', resource, namespace, stored);
    return clone(stored);
  }

  function remove(resource: KubernetesResource, namespace: string, name: string): KubernetesObject | undefined {
    const key = keyOf(resource, namespace, name);
    const existing = store.get(key);
    if (!existing) return undefined;
    store.delete(key);
    resourceVersion += 1;
    const gone = clone(existing);
    gone.metadata.resourceVersion = String(resourceVersion);
    emit('DELETED', resource, namespace, gone);
    return gone;
  }

  function notFound(resource: KubernetesResource, name: string): ApiError {
    return new ApiError(404, 'NotFound', `${resource} "${name}" not found`, { name });
  }

  function conflict(resource: KubernetesResource, name: string): ApiError {
    return new ApiError(
      409,
      'Conflict',
      `Operation cannot be fulfilled on ${resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      { name },
    );
  }

  /** A write that leaves the object as it was is a no-op: no new resourceVersion, no event. */
  function sameContent(a: KubernetesObject, b: KubernetesObject): boolean {
    const strip = (object: KubernetesObject): unknown => ({ ...object, metadata: { ...object.metadata, resourceVersion: '' } });
    return JSON.stringify(strip(a)) === JSON.stringify(strip(b));
  }

  function selectorsOf(query: URLSearchParams): (object: KubernetesObject) => boolean {
    const labels = parseSelector(query.get('labelSelector') ?? '');
    const fields = parseSelector(query.get('fieldSelector') ?? '');
    return (object) => satisfies(object.metadata.labels ?? {}, labels) && satisfies(fieldsOf(object), fields);
  }

  function list(resource: KubernetesResource, namespace: string, matches: (object: KubernetesObject) => boolean): KubernetesObject[] {
    const prefix = `${resource}/${namespace}/`;
    return [...store.entries()]
      .filter(([key, object]) => key.startsWith(prefix) && matches(object))
      .map(([, object]) => clone(object))
      .sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  }

  function startWatch(
    resource: KubernetesResource,
    namespace: string,
    query: URLSearchParams,
    response: ServerResponse,
  ): void {
    const matches = selectorsOf(query);
    const from = query.get('resourceVersion');
    const since = from === null || from === '' || from === '0' ? null : Number(from);
    if (since !== null && !Number.isFinite(since)) throw new ApiError(400, 'BadRequest', `invalid resourceVersion: ${from}`);
    const oldest = events[0]?.resourceVersion ?? resourceVersion + 1;
    response.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    // A watch answers at once and streams later: clients wait for the headers before reading events.
    response.flushHeaders();
    if (since !== null && since < oldest - 1 && since < resourceVersion) {
      // The history needed is gone: the documented answer is an ERROR event with a 410 Status.
      const gone = new ApiError(410, 'Expired', `too old resource version: ${since} (${oldest - 1})`);
      response.end(`${JSON.stringify({ type: 'ERROR', object: statusBody(gone) })}\n`);
      return;
    }
    if (since === null) {
      // No resourceVersion: the current state first, as synthetic ADDED events.
      for (const object of list(resource, namespace, matches)) response.write(`${JSON.stringify({ type: 'ADDED', object })}\n`);
    } else {
      for (const event of events) {
        if (event.resourceVersion > since && event.resource === resource && event.namespace === namespace && matches(event.object)) {
          response.write(`${JSON.stringify({ type: event.type, object: event.object })}\n`);
        }
      }
    }
    const watcher: Watcher = { resource, namespace, matches, response };
    watchers.add(watcher);
    const timeoutSeconds = Number(query.get('timeoutSeconds') ?? '0');
    const timer = timeoutSeconds > 0 ? setTimeout(() => response.end(), timeoutSeconds * 1_000) : undefined;
    response.on('close', () => {
      clearTimeout(timer);
      watchers.delete(watcher);
    });
  }

  async function handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? '/', 'http://emulator');
    const method = request.method ?? 'GET';
    requests.push(`${method} ${url.pathname}${url.search}`);
    if (emulator.onRequest?.({ method, path: url.pathname }) === 'drop-answer') dropped.add(response);
    if (url.pathname === '/version' && method === 'GET') {
      return send(response, 200, { major: '1', minor: '30', gitVersion: 'v1.30.0-pgwarden-emulator' });
    }
    const match = /^\/api\/v1\/namespaces\/([^/]+)\/(configmaps|endpoints|pods|services)(?:\/([^/]+))?$/.exec(url.pathname);
    if (!match) throw new ApiError(404, 'NotFound', `the server could not find the requested resource (${url.pathname})`);
    const namespace = decodeURIComponent(match[1] ?? '');
    const resource = match[2] as KubernetesResource;
    const name = match[3] === undefined ? undefined : decodeURIComponent(match[3]);

    if (name === undefined) {
      if (method === 'GET') {
        const watch = url.searchParams.get('watch');
        if (watch === '1' || watch === 'true') return startWatch(resource, namespace, url.searchParams, response);
        const items = list(resource, namespace, selectorsOf(url.searchParams));
        return send(response, 200, {
          kind: `${KINDS[resource]}List`,
          apiVersion: 'v1',
          metadata: { resourceVersion: String(resourceVersion) },
          items,
        });
      }
      if (method === 'POST') {
        const body = await readBody(request);
        validateMetadata(body);
        const objectName = body.metadata.name;
        if (typeof objectName !== 'string' || objectName === '') throw new ApiError(422, 'Invalid', 'metadata.name: Required value');
        if (body.metadata.namespace !== undefined && body.metadata.namespace !== namespace) {
          throw new ApiError(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
        }
        if (body.metadata.resourceVersion !== undefined && body.metadata.resourceVersion !== '') {
          throw new ApiError(500, 'InternalError', 'resourceVersion should not be set on objects to be created');
        }
        if (store.has(keyOf(resource, namespace, objectName))) {
          throw new ApiError(409, 'AlreadyExists', `${resource} "${objectName}" already exists`, { name: objectName });
        }
        return send(response, 201, write(resource, namespace, body, true));
      }
      if (method === 'DELETE') {
        // deletecollection: every object the selectors match goes; the answer is a Success Status.
        for (const object of list(resource, namespace, selectorsOf(url.searchParams))) remove(resource, namespace, object.metadata.name);
        return send(response, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success' });
      }
      throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported on a collection`);
    }

    const key = keyOf(resource, namespace, name);
    const existing = store.get(key);
    switch (method) {
      case 'GET':
        if (!existing) throw notFound(resource, name);
        return send(response, 200, existing);
      case 'PATCH': {
        const type = (request.headers['content-type'] ?? '').split(';')[0]?.trim();
        if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json') {
          throw new ApiError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format: ${type ?? ''}`);
        }
        const patch = await readBody(request);
        if (!isRecord(patch)) throw new ApiError(400, 'BadRequest', 'a merge patch must be a JSON object');
        if (!existing) throw notFound(resource, name);
        const metadata = isRecord(patch['metadata']) ? patch['metadata'] : {};
        const expected = metadata['resourceVersion'];
        // A resourceVersion in the patch is a precondition (optimistic concurrency).
        if (typeof expected === 'string' && expected !== '' && expected !== existing.metadata.resourceVersion) {
          throw conflict(resource, name);
        }
        if (metadata['name'] !== undefined && metadata['name'] !== name) throw new ApiError(400, 'BadRequest', 'the name cannot be changed');
        const merged = mergePatch(existing, patch);
        validateMetadata(merged);
        merged.metadata.name = name;
        merged.metadata.resourceVersion = existing.metadata.resourceVersion ?? '';
        if (sameContent(merged, existing)) return send(response, 200, existing);
        return send(response, 200, write(resource, namespace, merged, false));
      }
      case 'PUT': {
        const body = await readBody(request);
        validateMetadata(body);
        if (body.metadata.name !== name) throw new ApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
        if (!existing) throw notFound(resource, name);
        const expected = body.metadata.resourceVersion;
        // Without a resourceVersion a PUT is an unconditional update.
        if (expected !== undefined && expected !== '' && expected !== existing.metadata.resourceVersion) throw conflict(resource, name);
        const replaced = clone(body);
        replaced.metadata.uid = existing.metadata.uid ?? '';
        replaced.metadata.creationTimestamp = existing.metadata.creationTimestamp ?? '';
        replaced.metadata.resourceVersion = existing.metadata.resourceVersion ?? '';
        if (sameContent(replaced, existing)) return send(response, 200, existing);
        return send(response, 200, write(resource, namespace, replaced, false));
      }
      case 'DELETE': {
        const body = await readBody(request);
        if (!existing) throw notFound(resource, name);
        const preconditions = isRecord(body) && isRecord(body['preconditions']) ? body['preconditions'] : {};
        const expected = preconditions['resourceVersion'];
        if (typeof expected === 'string' && expected !== existing.metadata.resourceVersion) throw conflict(resource, name);
        const gone = remove(resource, namespace, name);
        return send(response, 200, {
          kind: 'Status',
          apiVersion: 'v1',
          metadata: {},
          status: 'Success',
          details: { name, kind: resource, uid: gone?.metadata.uid },
        });
      }
      default:
        throw new ApiError(405, 'MethodNotAllowed', `${method} is not supported`);
    }
  }

  function send(response: ServerResponse, code: number, body: unknown): void {
    if (dropped.delete(response)) {
      response.socket?.destroy();
      return;
    }
    response.writeHead(code, { 'content-type': 'application/json' });
    response.end(JSON.stringify(body));
  }

  const server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      const apiError = error instanceof ApiError ? error : new ApiError(500, 'InternalError', String(error));
      if (response.headersSent) {
        response.end();
        return;
      }
      send(response, apiError.code, statusBody(apiError));
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('[testkit] the Kubernetes emulator has no TCP address');

  let stopped: Promise<void> | undefined;
  const emulator: KubernetesEmulator = {
    url: `http://127.0.0.1:${address.port}`,
    get resourceVersion() {
      return resourceVersion;
    },
    requests,
    onRequest: undefined,
    createPod(spec) {
      const namespace = spec.namespace ?? 'default';
      const existing = store.get(keyOf('pods', namespace, spec.name));
      const pod: KubernetesObject = existing
        ? clone(existing)
        : {
            metadata: { name: spec.name },
            spec: { containers: [{ name: 'postgres', image: 'postgres' }] },
            status: { phase: 'Running', podIP: spec.podIp ?? '127.0.0.1' },
          };
      pod.metadata.labels = { ...(spec.labels ?? {}) };
      pod.metadata.annotations = { ...(spec.annotations ?? {}) };
      return write('pods', namespace, pod, !existing);
    },
    compact() {
      events.length = 0;
    },
    endWatches() {
      for (const watcher of watchers) watcher.response.end();
    },
    get openWatches() {
      return watchers.size;
    },
    deletePod(namespace, name) {
      return remove('pods', namespace, name) !== undefined;
    },
    get(resource, namespace, name) {
      const object = store.get(keyOf(resource, namespace, name));
      return object ? clone(object) : undefined;
    },
    put(resource, namespace, object) {
      validateMetadata(object);
      return write(resource, namespace, object, !store.has(keyOf(resource, namespace, object.metadata.name)));
    },
    stop() {
      stopped ??= new Promise<void>((resolve) => {
        for (const watcher of watchers) watcher.response.end();
        server.close(() => resolve());
        for (const socket of sockets) socket.destroy();
      });
      return stopped;
    },
    async [Symbol.asyncDispose]() {
      await emulator.stop();
    },
  };
  return emulator;
}
