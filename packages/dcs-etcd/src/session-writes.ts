/**
 * Read-your-writes across the Dcs instances of one process. Every successful write records its etcd revision
 * here, per etcd endpoint and cluster prefix; a read served from a watch-fed cache first waits until the cache
 * has seen that revision. Writes by other processes are not known here: they reach the cache with the watch's
 * delay, which the HA rules tolerate (as Patroni's cache does).
 */
import type { Etcd3 } from 'etcd3';

const horizons = new Map<string, bigint>();
const clientIds = new WeakMap<Etcd3, number>();
let nextClientId = 0;

/** A key naming one etcd (by its endpoints, or by the client object when one is shared) and one prefix. */
export function sessionKey(endpoint: { readonly client: Etcd3 } | { readonly hosts: readonly string[] }, prefix: string): string {
  if ('client' in endpoint) {
    let id = clientIds.get(endpoint.client);
    if (id === undefined) {
      id = ++nextClientId;
      clientIds.set(endpoint.client, id);
    }
    return `client#${id} ${prefix}`;
  }
  return `${[...endpoint.hosts].sort().join(',')} ${prefix}`;
}

/** Records a write that etcd committed at `revision`. */
export function noteWrite(key: string, revision: string | bigint): void {
  const value = BigInt(revision);
  if (value > (horizons.get(key) ?? -1n)) horizons.set(key, value);
}

/** The newest revision written through this process under `key`; -1 when none. */
export function writtenUpTo(key: string): bigint {
  return horizons.get(key) ?? -1n;
}

/**
 * A linearizable read that started after `seen` was recorded returned an older revision: the record comes from
 * another incarnation of the server (restarted at the same address). Forget it, unless it moved meanwhile.
 */
export function forgetFutureWrites(key: string, seen: bigint, readRevision: bigint): void {
  if (horizons.get(key) === seen && readRevision < seen) horizons.set(key, readRevision);
}
