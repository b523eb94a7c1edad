/**
 * Who may call the unsafe endpoints: Patroni's `restapi.allowlist`, `allowlist_include_members` and
 * `authentication`. Pure helpers; name resolution is injected.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';
import type { Cluster } from '@pgwarden/core';

export interface BasicCredentials {
  readonly username: string;
  readonly password: string;
}

/** Resolves a host name to its addresses (`dns.promises.lookup(host, { all: true })` in the agent). */
export type ResolveHost = (host: string) => Promise<readonly string[]>;

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * Why the `Authorization` header does not carry `credentials`, or null when it does. Patroni's texts; the
 * comparison takes the same time whatever the header holds.
 */
export function basicAuthProblem(header: string | undefined, credentials: BasicCredentials): string | null {
  if (header === undefined) return 'no auth header received';
  const expected = Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64');
  if (!header.startsWith('Basic ')) return 'not authenticated';
  return timingSafeEqual(digest(header.slice(6)), digest(expected)) ? null : 'not authenticated';
}

/** `::ffff:10.0.0.1` (an IPv4 client on a dual-stack socket) -> `10.0.0.1`; zone ids dropped. */
export function normalizeAddress(address: string): string {
  const bare = address.replace(/%.*$/, '');
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(bare);
  return mapped?.[1] ?? bare;
}

export interface ParsedAllowlist {
  /** IPs and networks given literally. */
  readonly networks: ReadonlyArray<{ readonly address: string; readonly prefix: number; readonly family: 'ipv4' | 'ipv6' }>;
  /** Host names, resolved when checked. */
  readonly hosts: readonly string[];
  /** Entries that are neither: logged by the caller and ignored, as Patroni does. */
  readonly invalid: readonly string[];
}

/** Splits `restapi.allowlist` entries into networks (`10.0.0.0/8`, `fd00::/8`, `10.0.0.5`) and host names. */
export function parseAllowlist(entries: readonly string[]): ParsedAllowlist {
  const networks: Array<ParsedAllowlist['networks'][number]> = [];
  const hosts: string[] = [];
  const invalid: string[] = [];
  for (const raw of entries) {
    const entry = raw.trim();
    const slash = entry.indexOf('/');
    const address = normalizeAddress(slash >= 0 ? entry.slice(0, slash) : entry);
    const version = isIP(address);
    if (slash >= 0) {
      const prefixText = entry.slice(slash + 1);
      const prefix = /^\d{1,3}$/.test(prefixText) ? Number(prefixText) : NaN;
      if (version === 0 || !(prefix <= (version === 4 ? 32 : 128))) invalid.push(raw);
      else networks.push({ address, prefix, family: version === 4 ? 'ipv4' : 'ipv6' });
    } else if (version !== 0) {
      networks.push({ address, prefix: version === 4 ? 32 : 128, family: version === 4 ? 'ipv4' : 'ipv6' });
    } else if (/^[A-Za-z0-9._-]+$/.test(entry)) {
      hosts.push(entry);
    } else {
      invalid.push(raw);
    }
  }
  return { networks, hosts, invalid };
}

/** Whether `address` falls in any of `networks` or equals one of `addresses` (both v4 and v6). */
export function addressAllowed(
  address: string,
  networks: ParsedAllowlist['networks'],
  addresses: readonly string[],
): boolean {
  const client = normalizeAddress(address);
  const family = isIP(client);
  if (family === 0) return false;
  const list = new BlockList();
  for (const network of networks) list.addSubnet(network.address, network.prefix, network.family);
  for (const other of addresses) {
    const normalized = normalizeAddress(other);
    const otherFamily = isIP(normalized);
    if (otherFamily !== 0) list.addAddress(normalized, otherFamily === 4 ? 'ipv4' : 'ipv6');
  }
  return list.check(client, family === 4 ? 'ipv4' : 'ipv6');
}

/** The hosts of the members' `api_url`s, which `allowlist_include_members` lets in. */
export function memberApiHosts(cluster: Cluster | null): string[] {
  const hosts = new Set<string>();
  for (const member of cluster?.members ?? []) {
    const apiUrl = member.data.api_url;
    if (typeof apiUrl !== 'string') continue;
    try {
      const host = new URL(apiUrl).hostname.replace(/^\[(.*)\]$/, '$1');
      if (host) hosts.add(host);
    } catch {
      // An unreadable api_url lets nobody in.
    }
  }
  return [...hosts];
}

/** Resolves host names through `resolve`, remembering answers for `ttlMs` so repeated checks stay cheap. */
export function cachedResolver(resolve: ResolveHost, ttlMs: number, now: () => number): (host: string) => Promise<readonly string[]> {
  const cache = new Map<string, { at: number; addresses: Promise<readonly string[]> }>();
  return (host) => {
    if (isIP(normalizeAddress(host)) !== 0) return Promise.resolve([host]);
    const hit = cache.get(host);
    if (hit && now() - hit.at < ttlMs) return hit.addresses;
    // A failed lookup lets nobody in through that name, until the next try.
    const addresses = resolve(host).catch(() => [] as readonly string[]);
    cache.set(host, { at: now(), addresses });
    return addresses;
  };
}
