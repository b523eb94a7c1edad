/**
 * `Dcs` on Kubernetes, laid out as Patroni's `kubernetes` plugin: the cluster's state is annotations on
 * ConfigMaps (`<scope>-leader`, `<scope>-config`, `<scope>-failover`, `<scope>-sync`) or, with
 * `useEndpoints`, on Endpoints (`<scope>` holding the leader's address, `<scope>-config`, ...). Members are
 * the Pods themselves (annotation `status`). Kubernetes has no TTL: the lock's validity is judged by each
 * client, which treats the leader record as expired once it has seen no change to it for `ttl` seconds.
 * Every write that must not lose a race carries the object's `resourceVersion` (409 Conflict otherwise).
 */
import { KubeConfig } from '@kubernetes/client-node';
import {
  DcsUnreachableError,
  PgwardenError,
  buildCluster,
  clusterPrefix,
  encodeConfig,
  encodeFailover,
  encodeFailsafe,
  encodeHistory,
  encodeMember,
  encodeSync,
  silentLogger,
} from '@pgwarden/core';
import type { Cluster, Dcs, DcsIdentity, Logger, RawCluster, RawMember, RawValue, ValueVersion } from '@pgwarden/core';
import { TransportError, createApiClient } from './api-client.js';
import type { ApiClient, KubeObject } from './api-client.js';
import { createObjectCache } from './object-cache.js';

const COMPONENT = 'dcs-k8s';
const MERGE_PATCH = 'application/merge-patch+json';

export interface KubernetesPort {
  readonly name?: string;
  readonly port: number;
  readonly protocol?: string;
}

export interface KubernetesDcsOptions extends DcsIdentity {
  /**
   * The Kubernetes namespace of the objects and Pods (`kubernetes.namespace`), default `default`. Named apart
   * from `namespace`, which is the key prefix of the identity (`/service`) and has no meaning on Kubernetes.
   */
  readonly kubernetesNamespace?: string;
  /** Labels put on every object and used, with the scope label, to select them and the member Pods. */
  readonly labels?: Readonly<Record<string, string>>;
  /** Default `cluster-name`. */
  readonly scopeLabel?: string;
  /** The Pod label that carries the member's role; default `role`. */
  readonly roleLabel?: string;
  /** Default `primary`. */
  readonly leaderLabelValue?: string;
  /** Default `replica`. */
  readonly followerLabelValue?: string;
  /** The role label of a standby cluster's leader; default `primary`. */
  readonly standbyLeaderLabelValue?: string;
  /** Keep the leader in Endpoints `<scope>` (with the leader's address), not in ConfigMap `<scope>-leader`. */
  readonly useEndpoints?: boolean;
  /** This Pod's IP, written to the leader Endpoints; required with `useEndpoints`. */
  readonly podIp?: string;
  /** Ports of the leader Endpoints, e.g. `[{ name: 'postgresql', port: 5432 }]`. */
  readonly ports?: readonly KubernetesPort[];
  /** This member's Pod; default the member name. Members are listed under their Pod's name. */
  readonly podName?: string;
  /** Plain API URL with no credentials (the emulator, `kubectl proxy`); takes precedence over `kubeConfig`. */
  readonly apiUrl?: string;
  /** Connection details; default: KUBECONFIG / ~/.kube/config, or the in-cluster service account. */
  readonly kubeConfig?: KubeConfig;
  /** A kubeconfig context to use instead of the current one. */
  readonly context?: string;
  /** `timeoutSeconds` of one Pod watch stream before it is resumed; default 60 (tests use less). */
  readonly podWatchSeconds?: number;
  readonly logger?: Logger;
}

/** A read failed in a way a retry can fix: no answer, or a 5xx / 429 from the API server. */
class Retriable extends Error {}

const RETRIABLE_STATUS = new Set([429, 500, 502, 503, 504]);

type Kind = 'configmaps' | 'endpoints';
type Annotations = Record<string, string | null>;

function annotationsOf(object: KubeObject | undefined): Record<string, string> {
  return object?.metadata.annotations ?? {};
}

function reasonOf(body: unknown): string {
  if (typeof body === 'object' && body !== null) {
    const { reason, message } = body as { reason?: unknown; message?: unknown };
    return `${typeof reason === 'string' ? reason : ''}${typeof message === 'string' ? `: ${message}` : ''}`;
  }
  return typeof body === 'string' ? body.slice(0, 200) : '';
}

function resolveKubeConfig(options: KubernetesDcsOptions): { apiUrl: string } | { kubeConfig: KubeConfig } {
  if (options.apiUrl !== undefined) return { apiUrl: options.apiUrl };
  try {
    const kubeConfig = options.kubeConfig ?? new KubeConfig();
    if (!options.kubeConfig) kubeConfig.loadFromDefault();
    if (options.context !== undefined) kubeConfig.setCurrentContext(options.context);
    if (!kubeConfig.getCurrentCluster()) throw new Error('no current cluster in the kubeconfig');
    return { kubeConfig };
  } catch (error) {
    throw new PgwardenError(COMPONENT, 'CONFIG_INVALID', `cannot load the Kubernetes configuration: ${(error as Error).message}`, {
      cause: error,
    });
  }
}

export function createKubernetesDcs(options: KubernetesDcsOptions): Dcs {
  const logger = options.logger ?? silentLogger;
  const name = options.name;
  const scope = options.scope;
  const podName = options.podName ?? name;
  const k8sNamespace = options.kubernetesNamespace ?? 'default';
  const scopeLabel = options.scopeLabel ?? 'cluster-name';
  const roleLabel = options.roleLabel ?? 'role';
  const leaderLabelValue = options.leaderLabelValue ?? 'primary';
  const followerLabelValue = options.followerLabelValue ?? 'replica';
  // Patroni's default is `primary` whatever leader_label_value says.
  const standbyLeaderLabelValue = options.standbyLeaderLabelValue ?? 'primary';
  const useEndpoints = options.useEndpoints ?? false;
  const kind: Kind = useEndpoints ? 'endpoints' : 'configmaps';
  if (useEndpoints && !options.podIp) {
    throw new PgwardenError(COMPONENT, 'CONFIG_INVALID', 'use_endpoints needs pod_ip (the address the leader Endpoints point to)');
  }
  const labels: Record<string, string> = { ...(options.labels ?? {}), [scopeLabel]: scope };
  const selector = Object.entries(labels)
    .map(([key, value]) => `${key}=${value}`)
    .join(',');
  const names = {
    leader: useEndpoints ? scope : `${scope}-leader`,
    config: `${scope}-config`,
    failover: `${scope}-failover`,
    sync: `${scope}-sync`,
  };
  const api: ApiClient = createApiClient(resolveKubeConfig(options));
  const collection = (resource: Kind | 'pods' | 'services'): string =>
    `/api/v1/namespaces/${encodeURIComponent(k8sNamespace)}/${resource}`;
  const objectPath = (resource: Kind | 'pods' | 'services', objectName: string): string =>
    `${collection(resource)}/${encodeURIComponent(objectName)}`;

  let ttl = options.ttl;
  let retryTimeoutMs = options.retryTimeout * 1_000;
  let closed = false;
  let configServiceCreated = false;
  const lifetime = new AbortController();
  /** The member Pods, listed once and then watched: loadCluster reads them from here. */
  const pods = createObjectCache({
    api,
    collectionPath: collection('pods'),
    labelSelector: selector,
    logger,
    listTimeoutMs: () => retryTimeoutMs,
    ...(options.podWatchSeconds !== undefined ? { watchSeconds: options.podWatchSeconds } : {}),
  });
  /** The leader object as last read or written by this client: tells touchMember whether we hold the lock. */
  let lastLeaderObject: KubeObject | undefined;

  /**
   * When this client last saw the leader object change (by resourceVersion), on a monotonic clock. The lock
   * expires `ttl` seconds after that: every client judges it from its own observations, as Patroni does.
   */
  let observed: { readonly resourceVersion: string; readonly at: number } | null = null;
  const now = (): number => performance.now();

  function observe(object: KubeObject | undefined): void {
    lastLeaderObject = object;
    const version = object?.metadata.resourceVersion;
    if (version === undefined) observed = null;
    else if (observed?.resourceVersion !== version) observed = { resourceVersion: version, at: now() };
  }

  function leaderTtlMs(object: KubeObject): number {
    const annotated = Number(annotationsOf(object)['ttl']);
    return (Number.isFinite(annotated) && annotated > 0 ? annotated : ttl) * 1_000;
  }

  /** Milliseconds until the observed lock expires; 0 when it has; null when nobody holds it. */
  function lockRemainingMs(object: KubeObject | undefined): number | null {
    if (!object || !annotationsOf(object)['leader']) return null;
    observe(object);
    if (!observed) return null;
    return Math.max(0, observed.at + leaderTtlMs(object) - now());
  }

  /** The lock as the cluster view shows it: who holds it and a version that renewals leave unchanged. */
  function effectiveLeader(object: KubeObject | undefined): RawValue | null {
    const remaining = lockRemainingMs(object);
    if (remaining === null || remaining <= 0 || !object) return null;
    const annotations = annotationsOf(object);
    const holder = annotations['leader'] ?? '';
    // One tenure = one acquisition; renewals rewrite renewTime only, so they wake no watcher.
    return { value: holder, version: `${holder}@${annotations['acquireTime'] ?? object.metadata.resourceVersion ?? ''}` };
  }

  function closedError(operation: string): PgwardenError {
    return new PgwardenError(COMPONENT, 'DCS_CLOSED', `${operation} after close`);
  }

  function protocolError(operation: string, status: number, body: unknown): PgwardenError {
    return new PgwardenError(COMPONENT, 'DCS_PROTOCOL', `${operation}: the API server answered ${status} ${reasonOf(body)}`.trim());
  }

  /**
   * Runs one operation within retry_timeout: no answer, 429 and 5xx are retried with a short backoff; what
   * is left at the deadline is `DcsUnreachableError`.
   */
  async function call<T>(operation: string, run: (deadline: number, attempt: number) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (closed) throw closedError(operation);
    const deadline = Date.now() + retryTimeoutMs;
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new PgwardenError(COMPONENT, 'DCS_ABORTED', `${operation} aborted`);
      try {
        return await run(deadline, attempt);
      } catch (error) {
        if (closed) throw closedError(operation);
        if (signal?.aborted) throw new PgwardenError(COMPONENT, 'DCS_ABORTED', `${operation} aborted`);
        if (!(error instanceof TransportError || error instanceof Retriable)) throw error;
        const backoff = Math.min(1_000, 100 * 2 ** attempt);
        if (Date.now() + backoff >= deadline) {
          throw new DcsUnreachableError(COMPONENT, `${operation}: ${error.message}`, { cause: error });
        }
        logger.log('debug', 'Kubernetes API request failed, retrying', { operation, attempt, error: error.message });
        await new Promise((resolve) => setTimeout(resolve, backoff));
      }
    }
  }

  async function send(
    operation: string,
    method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE',
    path: string,
    deadline: number,
    body?: unknown,
    signal?: AbortSignal,
  ): Promise<{ status: number; body: unknown }> {
    const combined = signal ? AbortSignal.any([signal, lifetime.signal]) : lifetime.signal;
    const answer = await api.request(method, path, {
      deadline,
      signal: combined,
      ...(body !== undefined ? { body, contentType: method === 'PATCH' ? MERGE_PATCH : 'application/json' } : {}),
    });
    if (RETRIABLE_STATUS.has(answer.status)) throw new Retriable(`${method} ${path}: ${answer.status} ${reasonOf(answer.body)}`);
    if (answer.status === 401 || answer.status === 403) throw protocolError(operation, answer.status, answer.body);
    return answer;
  }

  async function list(operation: string, resource: Kind | 'pods', deadline: number, signal?: AbortSignal): Promise<KubeObject[]> {
    const answer = await send(operation, 'GET', `${collection(resource)}?labelSelector=${encodeURIComponent(selector)}`, deadline, undefined, signal);
    if (answer.status !== 200) throw protocolError(operation, answer.status, answer.body);
    return ((answer.body as { items?: KubeObject[] }).items ?? []).filter((item) => typeof item?.metadata?.name === 'string');
  }

  async function get(operation: string, resource: Kind | 'pods', objectName: string, deadline: number): Promise<KubeObject | undefined> {
    const answer = await send(operation, 'GET', objectPath(resource, objectName), deadline);
    if (answer.status === 404) return undefined;
    if (answer.status !== 200) throw protocolError(operation, answer.status, answer.body);
    return answer.body as KubeObject;
  }

  /** Creates an object of this cluster; `exists` when someone created it first. */
  async function create(
    operation: string,
    objectName: string,
    annotations: Annotations,
    extra: Record<string, unknown>,
    deadline: number,
  ): Promise<KubeObject | 'exists'> {
    const set = Object.fromEntries(Object.entries(annotations).filter((entry): entry is [string, string] => entry[1] !== null));
    const body = { apiVersion: 'v1', kind: useEndpoints ? 'Endpoints' : 'ConfigMap', metadata: { name: objectName, labels, annotations: set }, ...extra };
    const answer = await send(operation, 'POST', collection(kind), deadline, body);
    if (answer.status === 409) return 'exists';
    if (answer.status !== 201 && answer.status !== 200) throw protocolError(operation, answer.status, answer.body);
    return answer.body as KubeObject;
  }

  /** Merge-patches annotations (null deletes one); with `resourceVersion`, only if the object is still at it. */
  async function patch(
    operation: string,
    resource: Kind | 'pods',
    objectName: string,
    body: { annotations?: Annotations; labels?: Record<string, string | null>; extra?: Record<string, unknown> },
    resourceVersion: string | undefined,
    deadline: number,
  ): Promise<KubeObject | 'conflict' | 'absent'> {
    const metadata: Record<string, unknown> = {};
    if (body.annotations) metadata['annotations'] = body.annotations;
    if (body.labels) metadata['labels'] = body.labels;
    if (resourceVersion !== undefined) metadata['resourceVersion'] = resourceVersion;
    const answer = await send(operation, 'PATCH', objectPath(resource, objectName), deadline, { metadata, ...(body.extra ?? {}) });
    if (answer.status === 409) return 'conflict';
    if (answer.status === 404) return 'absent';
    if (answer.status !== 200) throw protocolError(operation, answer.status, answer.body);
    return answer.body as KubeObject;
  }

  /** Writes annotations whatever the object's version, creating the object when it does not exist. */
  async function upsert(operation: string, objectName: string, annotations: Annotations, deadline: number, extra: Record<string, unknown> = {}): Promise<KubeObject> {
    for (;;) {
      const patched = await patch(operation, kind, objectName, { annotations, extra }, undefined, deadline);
      if (typeof patched === 'object') return patched;
      if (patched === 'absent') {
        const created = await create(operation, objectName, annotations, extra, deadline);
        if (created !== 'exists') return created;
      }
      if (Date.now() >= deadline) throw new DcsUnreachableError(COMPONENT, `${operation}: ${objectName} keeps changing`);
    }
  }

  /**
   * Compare-and-set of annotations on one object: `expected` a version = only at that resourceVersion;
   * null = only while `hasValue` is false (creating the object if needed); undefined = unconditional.
   */
  async function compareAndSet(
    operation: string,
    objectName: string,
    annotations: Annotations,
    expected: ValueVersion | null | undefined,
    hasValue: (object: KubeObject) => boolean,
  ): Promise<KubeObject | false> {
    /**
     * After an attempt whose answer never came, a 409 (or a value already there) may be our own write that
     * was applied: read the object and take it as ours when its annotations are exactly what we wrote and it
     * moved past `expected`, the check Patroni makes after a retried leader update.
     */
    const ownEarlierWrite = async (deadline: number): Promise<KubeObject | false> => {
      const current = await get(operation, kind, objectName, deadline);
      if (!current || (typeof expected === 'string' && current.metadata.resourceVersion === expected)) return false;
      const there = annotationsOf(current);
      const same = Object.entries(annotations).every(([key, value]) => (value === null ? there[key] === undefined : there[key] === value));
      return same ? current : false;
    };
    return call(operation, async (deadline, attempt) => {
      if (expected === undefined) return upsert(operation, objectName, annotations, deadline);
      if (expected !== null) {
        const patched = await patch(operation, kind, objectName, { annotations }, expected, deadline);
        if (typeof patched === 'object') return patched;
        return patched === 'conflict' && attempt > 0 ? ownEarlierWrite(deadline) : false;
      }
      for (;;) {
        const current = await get(operation, kind, objectName, deadline);
        if (!current) {
          const created = await create(operation, objectName, annotations, {}, deadline);
          if (created !== 'exists') return created;
          continue;
        }
        if (hasValue(current)) return attempt > 0 ? ownEarlierWrite(deadline) : false;
        const patched = await patch(operation, kind, objectName, { annotations }, current.metadata.resourceVersion, deadline);
        if (typeof patched === 'object') return patched;
        // Another annotation of the object changed meanwhile: look again.
        if (Date.now() >= deadline) throw new DcsUnreachableError(COMPONENT, `${operation}: ${objectName} keeps changing`);
      }
    });
  }

  const present = (...keys: string[]) => (object: KubeObject): boolean => keys.some((key) => annotationsOf(object)[key] !== undefined);

  function failoverValue(object: KubeObject): string {
    const annotations = annotationsOf(object);
    const value: Record<string, string> = {};
    for (const key of ['leader', 'member', 'scheduled_at']) {
      const text = annotations[key];
      if (text) value[key] = text;
    }
    return JSON.stringify(value);
  }

  function syncValue(object: KubeObject): string {
    const annotations = annotationsOf(object);
    if (!present('leader', 'sync_standby', 'quorum')(object)) return '';
    const quorum = Number(annotations['quorum']);
    return JSON.stringify({
      leader: annotations['leader'] ?? null,
      sync_standby: annotations['sync_standby'] || null,
      quorum: Number.isFinite(quorum) ? quorum : 0,
    });
  }

  function statusValue(object: KubeObject): string | undefined {
    const annotations = annotationsOf(object);
    const optime = annotations['optime'];
    if (optime === undefined) return undefined;
    const parse = (text: string | undefined): unknown => {
      try {
        return text === undefined ? undefined : JSON.parse(text);
      } catch {
        return undefined;
      }
    };
    const value: Record<string, unknown> = { optime: /^\d+$/.test(optime) ? Number(optime) : optime };
    const slots = parse(annotations['slots']);
    if (slots && typeof slots === 'object' && Object.keys(slots).length) value['slots'] = slots;
    const retain = parse(annotations['retain_slots']);
    if (Array.isArray(retain) && retain.length) value['retain_slots'] = retain;
    return JSON.stringify(value);
  }

  function toRaw(objects: readonly KubeObject[], pods: readonly KubeObject[]): RawCluster {
    const byName = new Map(objects.map((object) => [object.metadata.name, object] as const));
    const leaderObject = byName.get(names.leader);
    lastLeaderObject = leaderObject;
    const configObject = byName.get(names.config);
    const failoverObject = byName.get(names.failover);
    const syncObject = byName.get(names.sync);
    const annotated = (object: KubeObject | undefined, key: string): RawValue | undefined => {
      const value = annotationsOf(object)[key];
      return object && value !== undefined ? { value, version: object.metadata.resourceVersion ?? '' } : undefined;
    };
    const versioned = (object: KubeObject | undefined, value: string | undefined): RawValue | undefined =>
      object && value !== undefined ? { value, version: object.metadata.resourceVersion ?? '' } : undefined;
    const members: RawMember[] = pods
      .filter((pod) => annotationsOf(pod)['status'] !== undefined)
      .map((pod) => ({ name: pod.metadata.name, value: annotationsOf(pod)['status'] ?? '', version: pod.metadata.resourceVersion ?? '' }))
      .sort((a, b) => a.name.localeCompare(b.name));
    return {
      initialize: annotated(configObject, 'initialize'),
      config: annotated(configObject, 'config'),
      history: annotated(configObject, 'history'),
      leader: effectiveLeader(leaderObject) ?? undefined,
      status: leaderObject ? versioned(leaderObject, statusValue(leaderObject)) : undefined,
      failsafe: annotated(leaderObject, 'failsafe'),
      failover: failoverObject ? versioned(failoverObject, failoverValue(failoverObject)) : undefined,
      sync: syncObject ? versioned(syncObject, syncValue(syncObject)) : undefined,
      members,
    };
  }

  const isoNow = (): string => new Date().toISOString().replace('Z', '+00:00');

  /** The leader Endpoints point at the holder; an empty subset list when nobody holds the lock. */
  function leaderExtra(holding: boolean): Record<string, unknown> {
    if (!useEndpoints) return {};
    if (!holding) return { subsets: [] };
    const ports = (options.ports ?? [{ name: 'postgresql', port: 5432 }]).map((port) => ({
      ...(port.name !== undefined ? { name: port.name } : {}),
      port: port.port,
      protocol: port.protocol ?? 'TCP',
    }));
    return { subsets: [{ addresses: [{ ip: options.podIp, targetRef: { kind: 'Pod', name: podName, namespace: k8sNamespace } }], ports }] };
  }

  /** Endpoints mode: a headless Service `<scope>-config` keeps the Endpoints from being garbage-collected. */
  async function ensureConfigService(deadline: number): Promise<void> {
    if (!useEndpoints || configServiceCreated) return;
    const body = { apiVersion: 'v1', kind: 'Service', metadata: { name: names.config, labels }, spec: { clusterIP: 'None' } };
    const answer = await send('createConfigService', 'POST', collection('services'), deadline, body).catch((error: unknown) => {
      logger.log('warn', 'could not create the config Service', { error: (error as Error).message });
      return undefined;
    });
    if (answer && (answer.status === 201 || answer.status === 409)) configServiceCreated = true;
  }

  /**
   * The role label Patroni 4 puts on a member's Pod: the lock holder gets the leader (or standby leader)
   * value whatever its data says; another running member its role, `replica` mapped to the follower value;
   * anything else no label.
   */
  function roleLabelValue(data: { role?: unknown; state?: unknown }): string | null {
    if (annotationsOf(lastLeaderObject)['leader'] === name) {
      return data.role === 'standby_leader' ? standbyLeaderLabelValue : leaderLabelValue;
    }
    if (data.state === 'running' && typeof data.role === 'string' && data.role !== 'primary' && data.role !== 'master') {
      return data.role === 'replica' ? followerLabelValue : data.role;
    }
    return null;
  }

  function abortableWait(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, Math.max(0, ms));
      function done(): void {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        resolve();
      }
      signal.addEventListener('abort', done, { once: true });
    });
  }

  const dcs: Dcs = {
    kind: 'kubernetes',
    clusterPrefix: clusterPrefix(options),

    async loadCluster(loadOptions): Promise<Cluster> {
      const signal = loadOptions?.signal;
      if (signal?.aborted) throw new PgwardenError(COMPONENT, 'DCS_ABORTED', 'loadCluster aborted');
      pods.start();
      const objects = await call('loadCluster', (deadline) => list('loadCluster', kind, deadline, signal), signal);
      // The Pods come from the watched cache; wait for its first list as long as one call may take.
      if (!(await pods.whenReady(Date.now() + retryTimeoutMs, signal))) {
        if (closed) throw closedError('loadCluster');
        if (signal?.aborted) throw new PgwardenError(COMPONENT, 'DCS_ABORTED', 'loadCluster aborted');
        const cause = pods.lastError;
        throw new DcsUnreachableError(COMPONENT, `loadCluster: the Pods could not be listed${cause ? `: ${cause.message}` : ''}`, { cause });
      }
      return buildCluster(toRaw(objects, pods.snapshot()), options.onMalformed);
    },

    acquireLeader() {
      return call('acquireLeader', async (deadline) => {
        await ensureConfigService(deadline);
        for (;;) {
          const current = await get('acquireLeader', kind, names.leader, deadline);
          const remaining = lockRemainingMs(current);
          if (remaining !== null && remaining > 0) return false;
          const acquireTime = isoNow();
          const previous = annotationsOf(current);
          const transitions = Number(previous['transitions'] ?? '0');
          const annotations: Annotations = {
            leader: name,
            acquireTime,
            renewTime: acquireTime,
            ttl: String(ttl),
            transitions: String((Number.isFinite(transitions) ? transitions : 0) + (previous['leader'] === name ? 0 : 1)),
          };
          const written = current
            ? await patch('acquireLeader', kind, names.leader, { annotations, extra: leaderExtra(true) }, current.metadata.resourceVersion, deadline)
            : await create('acquireLeader', names.leader, annotations, leaderExtra(true), deadline);
          if (typeof written === 'object') {
            observe(written);
            return true;
          }
          // Lost a race: someone else wrote first. Ours only if what is there is exactly what we wrote.
          const after = await get('acquireLeader', kind, names.leader, deadline);
          const there = annotationsOf(after);
          if (there['leader'] === name && there['acquireTime'] === acquireTime) {
            observe(after);
            return true;
          }
          const held = lockRemainingMs(after);
          if (held !== null && held > 0) return false;
          // A write that did not touch the lock (status, failsafe) moved the version: try again.
          if (Date.now() >= deadline) return false;
        }
      });
    },

    renewLeader() {
      return call('renewLeader', async (deadline) => {
        for (;;) {
          const current = await get('renewLeader', kind, names.leader, deadline);
          if (!current || annotationsOf(current)['leader'] !== name) return false;
          const renewTime = isoNow();
          const written = await patch(
            'renewLeader',
            kind,
            names.leader,
            { annotations: { leader: name, renewTime, ttl: String(ttl) }, extra: leaderExtra(true) },
            current.metadata.resourceVersion,
            deadline,
          );
          if (typeof written === 'object') {
            observe(written);
            return true;
          }
          if (written === 'absent') return false;
          if (Date.now() >= deadline) return false;
        }
      });
    },

    releaseLeader() {
      return call('releaseLeader', async (deadline) => {
        for (;;) {
          const current = await get('releaseLeader', kind, names.leader, deadline);
          if (!current || annotationsOf(current)['leader'] !== name) return false;
          const written = await patch(
            'releaseLeader',
            kind,
            names.leader,
            // The annotation goes away (null in a merge patch), as Patroni releases it.
            { annotations: { leader: null }, extra: leaderExtra(false) },
            current.metadata.resourceVersion,
            deadline,
          );
          if (typeof written === 'object') {
            observe(written);
            return true;
          }
          if (written === 'absent') return false;
          if (Date.now() >= deadline) return false;
        }
      });
    },

    touchMember(data) {
      const label = roleLabelValue(data);
      const status = encodeMember(data);
      // Nothing changed since the watched Pod was last seen: no write, as Patroni skips it too.
      const cached = pods.ready ? pods.snapshot().find((pod) => pod.metadata.name === podName) : undefined;
      if (cached && annotationsOf(cached)['status'] === status && (cached.metadata.labels?.[roleLabel] ?? null) === label) {
        return Promise.resolve(true);
      }
      return call('touchMember', async (deadline) => {
        const written = await patch('touchMember', 'pods', podName, { annotations: { status }, labels: { [roleLabel]: label } }, undefined, deadline);
        if (written === 'absent') {
          logger.log('warn', 'this member has no Pod: its data cannot be written', { pod: podName, namespace: k8sNamespace });
          return false;
        }
        if (typeof written === 'object') pods.offer(written);
        return typeof written === 'object';
      });
    },

    deleteMember(member) {
      return call('deleteMember', async (deadline) => {
        // The Pod is not ours to delete: the member disappears with its `status` annotation.
        const written = await patch('deleteMember', 'pods', member ?? podName, { annotations: { status: null } }, undefined, deadline);
        if (typeof written === 'object') pods.offer(written);
        return written !== 'conflict';
      });
    },

    async initialize({ create: createOnly, sysid }) {
      const written = await compareAndSet('initialize', names.config, { initialize: sysid }, createOnly ? null : undefined, present('initialize'));
      return written !== false;
    },

    async cancelInitialization() {
      return call('cancelInitialization', async (deadline) => {
        const written = await patch('cancelInitialization', kind, names.config, { annotations: { initialize: null } }, undefined, deadline);
        return written !== 'conflict';
      });
    },

    async setConfig(data, expected) {
      return (await compareAndSet('setConfig', names.config, { config: encodeConfig(data) }, expected, present('config'))) !== false;
    },

    async setFailover(value, expected) {
      const parsed = JSON.parse(encodeFailover(value)) as Record<string, string>;
      const annotations: Annotations = {
        leader: parsed['leader'] ?? null,
        member: parsed['member'] ?? null,
        scheduled_at: parsed['scheduled_at'] ?? null,
      };
      const hasValue = (object: KubeObject): boolean => failoverValue(object) !== '{}';
      return (await compareAndSet('setFailover', names.failover, annotations, expected, hasValue)) !== false;
    },

    async setSync(value, expected) {
      const parsed = JSON.parse(encodeSync(value)) as { leader: string | null; sync_standby: string | null; quorum: number };
      const annotations: Annotations = { leader: parsed.leader, sync_standby: parsed.sync_standby, quorum: String(parsed.quorum) };
      const written = await compareAndSet('setSync', names.sync, annotations, expected, (object) => syncValue(object) !== '');
      return written === false ? false : (written.metadata.resourceVersion ?? '');
    },

    async deleteSync(expected) {
      const annotations: Annotations = { leader: null, sync_standby: null, quorum: null };
      return call('deleteSync', async (deadline) => {
        const written = await patch('deleteSync', kind, names.sync, { annotations }, expected ?? undefined, deadline);
        // Nothing to delete is a success unless a version was demanded.
        return written === 'absent' ? typeof expected !== 'string' : written !== 'conflict';
      });
    },

    async setHistory(lines) {
      return (await compareAndSet('setHistory', names.config, { history: encodeHistory(lines) }, undefined, present('history'))) !== false;
    },

    async writeStatus(status) {
      const annotations: Annotations = {
        optime: String(status.optime),
        slots: Object.keys(status.slots).length ? JSON.stringify(status.slots) : null,
        retain_slots: status.retainSlots.length ? JSON.stringify(status.retainSlots) : null,
      };
      return call('writeStatus', async (deadline) => {
        observe(await upsert('writeStatus', names.leader, annotations, deadline));
        return true;
      });
    },

    async writeFailsafe(members) {
      return call('writeFailsafe', async (deadline) => {
        observe(await upsert('writeFailsafe', names.leader, { failsafe: encodeFailsafe(members) }, deadline));
        return true;
      });
    },

    async watchLeader(leaderVersion, timeoutMs, signal) {
      if (closed) throw closedError('watchLeader');
      if (signal?.aborted) return false;
      const deadline = Date.now() + Math.max(0, timeoutMs);
      const stop = new AbortController();
      const onStop = (): void => stop.abort();
      signal?.addEventListener('abort', onStop, { once: true });
      lifetime.signal.addEventListener('abort', onStop, { once: true });
      const timer = setTimeout(onStop, Math.max(0, timeoutMs));
      try {
        while (!stop.signal.aborted) {
          let start: { object: KubeObject | undefined; listVersion: string };
          try {
            start = await call(
              'watchLeader',
              async (callDeadline) => {
                const path = `${collection(kind)}?fieldSelector=${encodeURIComponent(`metadata.name=${names.leader}`)}`;
                const answer = await send('watchLeader', 'GET', path, callDeadline, undefined, stop.signal);
                if (answer.status !== 200) throw protocolError('watchLeader', answer.status, answer.body);
                const body = answer.body as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
                return { object: body.items?.[0], listVersion: body.metadata?.resourceVersion ?? '0' };
              },
              stop.signal,
            );
          } catch (error) {
            if (stop.signal.aborted) return false;
            throw error;
          }
          if ((effectiveLeader(start.object)?.version ?? null) !== leaderVersion) return true;

          // The lock also "changes" when it expires in this client's eyes: wake then too.
          let expired = false;
          let expiry: ReturnType<typeof setTimeout> | undefined;
          const watchStop = new AbortController();
          const endWatch = (): void => watchStop.abort();
          stop.signal.addEventListener('abort', endWatch, { once: true });
          const armExpiry = (object: KubeObject | undefined): void => {
            clearTimeout(expiry);
            const remaining = lockRemainingMs(object);
            if (remaining === null || leaderVersion === null) return;
            expiry = setTimeout(() => {
              expired = true;
              endWatch();
            }, remaining + 1);
          };
          armExpiry(start.object);
          let changed = false;
          try {
            const path =
              `${collection(kind)}?watch=1&resourceVersion=${encodeURIComponent(start.listVersion)}` +
              `&fieldSelector=${encodeURIComponent(`metadata.name=${names.leader}`)}`;
            await api.watch(
              path,
              (event) => {
                const object = event.type === 'DELETED' ? undefined : event.object;
                if ((effectiveLeader(object)?.version ?? null) !== leaderVersion) {
                  changed = true;
                  return true;
                }
                armExpiry(object);
                return false;
              },
              watchStop.signal,
            );
          } catch (error) {
            if (!watchStop.signal.aborted) logger.log('debug', 'leader watch failed', { error: (error as Error).message });
          } finally {
            clearTimeout(expiry);
            stop.signal.removeEventListener('abort', endWatch);
          }
          if (changed || expired) return true;
          if (stop.signal.aborted) return false;
          // The stream ended (server timeout, error): pause briefly, then list and watch again.
          await abortableWait(Math.min(500, deadline - Date.now()), stop.signal);
        }
        return false;
      } finally {
        clearTimeout(timer);
        signal?.removeEventListener('abort', onStop);
        lifetime.signal.removeEventListener('abort', onStop);
      }
    },

    setTiming(timing) {
      ttl = timing.ttl;
      retryTimeoutMs = timing.retryTimeout * 1_000;
    },

    deleteCluster() {
      return call('deleteCluster', async (deadline) => {
        // As Patroni: one deletecollection of this cluster's ConfigMaps/Endpoints by label. The headless
        // config Service stays (Patroni leaves it too); it only keeps `<scope>-config` from being cleaned up.
        const path = `${collection(kind)}?labelSelector=${encodeURIComponent(selector)}`;
        const answer = await send('deleteCluster', 'DELETE', path, deadline);
        if (answer.status !== 200 && answer.status !== 202) throw protocolError('deleteCluster', answer.status, answer.body);
        // The Pods stay; they stop being members when their status is removed (Patroni leaves them as
        // they are; pgwarden's contract says a removed cluster has no members).
        for (const pod of await list('deleteCluster', 'pods', deadline)) {
          if (annotationsOf(pod)['status'] === undefined) continue;
          const written = await patch('deleteCluster', 'pods', pod.metadata.name, { annotations: { status: null } }, undefined, deadline);
          if (typeof written === 'object') pods.offer(written);
        }
        observed = null;
        lastLeaderObject = undefined;
        return true;
      });
    },

    async close() {
      if (closed) return;
      closed = true;
      pods.close();
      lifetime.abort();
    },

    async [Symbol.asyncDispose]() {
      await dcs.close();
    },
  };
  return dcs;
}
