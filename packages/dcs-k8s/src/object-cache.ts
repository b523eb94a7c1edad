/**
 * A label-selected collection (the cluster's Pods) kept in memory by one LIST and then a WATCH resumed from
 * the last `resourceVersion` seen, the list-then-watch pattern the Kubernetes API documents. `loadCluster`
 * reads it instead of listing the Pods on every HA cycle. A watch the server ends (its timeout) is resumed
 * where it stopped; 410 Gone (the history was compacted) or any failure means listing again.
 */
import type { Logger } from '@pgwarden/core';
import { TransportError, WatchExpiredError } from './api-client.js';
import type { ApiClient, KubeObject } from './api-client.js';

export interface ObjectCacheOptions {
  readonly api: ApiClient;
  /** `/api/v1/namespaces/<ns>/pods`. */
  readonly collectionPath: string;
  /** Equality-based label selector, e.g. `application=pgwarden,cluster-name=batman`. */
  readonly labelSelector: string;
  readonly logger: Logger;
  /** How long one LIST may take, in ms (retry_timeout). */
  readonly listTimeoutMs: () => number;
  /** `timeoutSeconds` asked of the server for one watch stream. */
  readonly watchSeconds?: number;
  /** Pause after a failed LIST or WATCH before listing again; default 1 s. */
  readonly failurePauseMs?: number;
}

export interface ObjectCache {
  /** Starts listing and watching (once); later calls do nothing. */
  start(): void;
  /**
   * Resolves true once the cache holds a listed state (at once when it does), false when `deadline` (epoch
   * ms) passes or the signal aborts first.
   */
  whenReady(deadline: number, signal?: AbortSignal): Promise<boolean>;
  /** The objects as last seen, sorted by name. */
  snapshot(): KubeObject[];
  /** Takes the object a write of ours returned, unless the cache already holds a newer state of it. */
  offer(object: KubeObject): void;
  /** True while the cache holds a listed state that the watch keeps current. */
  readonly ready: boolean;
  /** Why the last LIST or WATCH failed, for the error a caller reports. */
  readonly lastError: Error | undefined;
  close(): void;
}

/** resourceVersions are opaque strings, but in practice etcd revisions; compare them as numbers when they are. */
function newer(candidate: string | undefined, current: string | undefined): boolean {
  if (candidate === undefined || current === undefined) return true;
  const a = Number(candidate);
  const b = Number(current);
  return Number.isFinite(a) && Number.isFinite(b) ? a > b : candidate !== current;
}

export function createObjectCache(options: ObjectCacheOptions): ObjectCache {
  const { api, logger } = options;
  const watchSeconds = options.watchSeconds ?? 60;
  const failurePauseMs = options.failurePauseMs ?? 1_000;
  const objects = new Map<string, KubeObject>();
  const stop = new AbortController();
  let started = false;
  let ready = false;
  let lastError: Error | undefined;
  let waiters: Array<(value: boolean) => void> = [];

  function setReady(value: boolean): void {
    ready = value;
    if (!value) return;
    const woken = waiters;
    waiters = [];
    for (const wake of woken) wake(true);
  }

  function pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        stop.signal.removeEventListener('abort', done);
        resolve();
      }
      stop.signal.addEventListener('abort', done, { once: true });
    });
  }

  async function list(): Promise<string> {
    const path = `${options.collectionPath}?labelSelector=${encodeURIComponent(options.labelSelector)}`;
    const answer = await api.request('GET', path, { deadline: Date.now() + options.listTimeoutMs(), signal: stop.signal });
    if (answer.status !== 200) throw new TransportError(`list answered ${answer.status}`);
    const body = answer.body as { items?: KubeObject[]; metadata?: { resourceVersion?: string } };
    objects.clear();
    for (const item of body.items ?? []) {
      if (typeof item?.metadata?.name === 'string') objects.set(item.metadata.name, item);
    }
    return body.metadata?.resourceVersion ?? '0';
  }

  /** Watches from `from` until the stream ends; returns the last resourceVersion seen. */
  async function watch(from: string): Promise<string> {
    let version = from;
    const path =
      `${options.collectionPath}?watch=1&resourceVersion=${encodeURIComponent(from)}` +
      `&labelSelector=${encodeURIComponent(options.labelSelector)}&timeoutSeconds=${watchSeconds}`;
    // A connection that died silently would leave the stream open forever: give up a little after the
    // server should have ended it, and resume.
    const silent = new AbortController();
    const guard = setTimeout(() => silent.abort(), (watchSeconds + 5) * 1_000 + options.listTimeoutMs());
    try {
      await api.watch(
        path,
        (event) => {
          const object = event.object;
          const name = object?.metadata?.name;
          if (typeof name !== 'string') return false;
          if (event.type === 'BOOKMARK') {
            if (object.metadata.resourceVersion !== undefined) version = object.metadata.resourceVersion;
            return false;
          }
          const eventVersion = object.metadata.resourceVersion;
          if (event.type === 'ADDED' || event.type === 'MODIFIED') {
            if (newer(eventVersion, objects.get(name)?.metadata.resourceVersion)) objects.set(name, object);
          } else if (event.type === 'DELETED') {
            if (newer(eventVersion, objects.get(name)?.metadata.resourceVersion)) objects.delete(name);
          }
          // Every event, BOOKMARK included, moves the point a resumed watch starts from.
          if (eventVersion !== undefined) version = eventVersion;
          return false;
        },
        AbortSignal.any([stop.signal, silent.signal]),
      );
    } finally {
      clearTimeout(guard);
    }
    return version;
  }

  async function run(): Promise<void> {
    while (!stop.signal.aborted) {
      try {
        let version = await list();
        setReady(true);
        // Resume until the server says the history is gone or something fails.
        while (!stop.signal.aborted) version = await watch(version);
      } catch (error) {
        if (stop.signal.aborted) return;
        lastError = error as Error;
        if (error instanceof WatchExpiredError) {
          logger.log('debug', 'pod watch expired (410 Gone), listing again', { error: lastError.message });
          continue;
        }
        // Until it is listed again, readers must not trust a state that may be missing events.
        setReady(false);
        logger.log('debug', 'pod list/watch failed, listing again', { error: lastError.message });
        await pause(failurePauseMs);
      }
    }
  }

  return {
    start() {
      if (started || stop.signal.aborted) return;
      started = true;
      void run();
    },
    whenReady(deadline, signal) {
      if (ready) return Promise.resolve(true);
      if (stop.signal.aborted || signal?.aborted) return Promise.resolve(false);
      return new Promise((resolve) => {
        const finish = (value: boolean): void => {
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          waiters = waiters.filter((waiter) => waiter !== finish);
          resolve(value);
        };
        const onAbort = (): void => finish(false);
        const timer = setTimeout(onAbort, Math.max(0, deadline - Date.now()));
        signal?.addEventListener('abort', onAbort, { once: true });
        waiters.push(finish);
      });
    },
    snapshot() {
      return [...objects.values()].sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
    },
    offer(object) {
      if (!ready) return;
      const name = object.metadata.name;
      if (newer(object.metadata.resourceVersion, objects.get(name)?.metadata.resourceVersion)) objects.set(name, object);
    },
    get ready() {
      return ready;
    },
    get lastError() {
      return lastError;
    },
    close() {
      stop.abort();
      setReady(false);
      const woken = waiters;
      waiters = [];
      for (const wake of woken) wake(false);
    },
  };
}
