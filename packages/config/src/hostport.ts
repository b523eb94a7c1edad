/** Parsed views of the address strings Patroni's configuration holds, so callers never re-parse them. */

export interface HostPort {
  /** Without IPv6 brackets; may be empty for a listen address meaning "all interfaces". */
  readonly host: string;
  readonly port: number;
}

export interface ListenAddresses {
  /** One or more addresses (`*` allowed); the first is used for local connections. */
  readonly hosts: readonly string[];
  readonly port: number;
}

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

function stripBrackets(host: string): string {
  const trimmed = host.trim();
  return trimmed.startsWith('[') && trimmed.endsWith(']') ? trimmed.slice(1, -1) : trimmed;
}

/**
 * Splits `host:port` (or `[v6]:port`) on the last colon, as Patroni does. Without a colon,
 * `defaultPort` is used when given; otherwise the value is invalid. Returns undefined when invalid.
 */
export function tryParseHostPort(value: string, defaultPort?: number): HostPort | undefined {
  const text = value.trim();
  const bracketed = /^\[([^\]]*)\](?::(.*))?$/.exec(text);
  let host: string;
  let portText: string | undefined;
  if (bracketed) {
    host = bracketed[1] ?? '';
    portText = bracketed[2];
  } else {
    // Like Patroni, the port is whatever follows the last colon.
    const colon = text.lastIndexOf(':');
    host = colon === -1 ? text : text.slice(0, colon);
    portText = colon === -1 ? undefined : text.slice(colon + 1);
  }
  const port = portText === undefined ? defaultPort : parsePort(portText);
  if (port === undefined || /[\s,/]/.test(host)) return undefined;
  return { host: stripBrackets(host), port };
}

/** Like {@link tryParseHostPort} but throws a `TypeError` naming the value when it is invalid. */
export function parseHostPort(value: string, defaultPort?: number): HostPort {
  const parsed = tryParseHostPort(value, defaultPort);
  if (!parsed) throw new TypeError(`invalid host:port ${JSON.stringify(value)}`);
  return parsed;
}

/** Parses `postgresql.listen`: `addr1,addr2:port` (addresses may be `*` or bracketed IPv6). */
export function tryParseListen(value: string): ListenAddresses | undefined {
  const text = value.trim();
  const colon = text.lastIndexOf(':');
  if (colon === -1) return undefined;
  const port = parsePort(text.slice(colon + 1));
  if (port === undefined) return undefined;
  const hosts = text
    .slice(0, colon)
    .split(',')
    .map((host) => stripBrackets(host));
  if (hosts.some((host) => host === '' || /\s/.test(host))) return undefined;
  return { hosts, port };
}

export function parseListen(value: string): ListenAddresses {
  const parsed = tryParseListen(value);
  if (!parsed) throw new TypeError(`invalid listen address ${JSON.stringify(value)} (expected "addr[,addr]:port")`);
  return parsed;
}

/** Formats a host and port back to `host:port`, bracketing IPv6 literals. */
export function formatHostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
