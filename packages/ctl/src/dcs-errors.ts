/** What an operator reads when the store cannot be reached: which addresses were tried and where they came from. */
import type { CtlDcsSettings } from './settings.js';

function list(value: unknown): string[] {
  if (Array.isArray(value)) return value.map(String);
  if (typeof value === 'string' && value !== '') return value.split(',').map((item) => item.trim()).filter(Boolean);
  return [];
}

/** The addresses the plugin was given, as written in the settings. */
export function dcsAddresses(dcs: CtlDcsSettings): string[] {
  const section = dcs.section;
  const addresses = [...list(section['hosts']), ...list(section['host']), ...list(section['urls']), ...list(section['url']), ...list(section['proxy'])];
  if (addresses.length === 0 && typeof section['srv'] === 'string') addresses.push(`SRV ${section['srv']}`);
  if (addresses.length === 0 && dcs.kind === 'kubernetes') addresses.push('the Kubernetes API (in-cluster or kubeconfig)');
  return addresses;
}

/** The first line of the store client's message, bounded: gRPC errors carry pages of detail. */
function shortCause(error: Error): string {
  let cause: unknown = error;
  while (cause instanceof Error && cause.cause instanceof Error) cause = cause.cause;
  const message = cause instanceof Error ? cause.message : String(cause);
  const line = (message.split('\n')[0] ?? '').trim();
  return line.length > 200 ? `${line.slice(0, 197)}...` : line;
}

/** The text after `Error: ` for a DcsUnreachableError. */
export function describeDcsUnreachable(error: Error, dcs: CtlDcsSettings, origin: string): string {
  const addresses = dcsAddresses(dcs);
  const section = dcs.kind === 'etcd' ? 'etcd/etcd3' : dcs.kind;
  return [
    `cannot reach the DCS (${dcs.kind} at ${addresses.length ? addresses.join(', ') : 'no address'}, from ${origin}): ${shortCause(error)}`,
    `Check that the store is up and reachable from here, the address given with -d/--dcs-url (e.g. -d etcd3://HOST:2379),`,
    `or the ${section} hosts in the configuration file (-c) or PATRONI_${dcs.kind.toUpperCase()}_HOSTS, and the store's TLS and credentials settings.`,
  ].join('\n');
}
