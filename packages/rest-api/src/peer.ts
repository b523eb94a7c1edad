import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { ClientRequest, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { PeerStatus, Tags } from '@pgwarden/core';

/** What the HA rules need from a peer's `/patroni` answer. */
export interface PeerStatusEssentials {
  readonly role: string | null;
  readonly state: string | null;
  /** It runs in recovery (replica, standby leader): it reported no primary `xlog.location` and no primary role. */
  readonly inRecovery: boolean;
  /** Primary: `xlog.location`; in recovery: max(received, replayed). Bytes, 0 when unknown. */
  readonly walPosition: number;
  /** null when not reported. */
  readonly timeline: number | null;
  readonly tags: Tags;
  readonly watchdogFailed: boolean;
  readonly replicationState: string | null;
}

export type FetchedMemberStatus =
  | { readonly reachable: true; readonly status: PeerStatusEssentials; readonly raw: Readonly<Record<string, unknown>> }
  | { readonly reachable: false; readonly error: string };

export interface FetchMemberStatusOptions {
  /** Hard deadline for the whole exchange: connect, headers and body. Patroni uses 2 s. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
  /** For TLS settings (ca, client certificate) pass your own https.Agent; http(s) keep-alive agents by default. */
  readonly agent?: HttpAgent;
  /** Used for https:// members only (so one setting serves a cluster whose members mix http and https). */
  readonly httpsAgent?: HttpsAgent;
  readonly headers?: OutgoingHttpHeaders;
}

// Few sockets per peer, kept alive between HA cycles; idle ones do not hold the process open.
const AGENT_OPTIONS = { keepAlive: true, maxSockets: 4, maxFreeSockets: 2, timeout: 60_000 } as const;
const defaultHttpAgent = new HttpAgent(AGENT_OPTIONS);
const defaultHttpsAgent = new HttpsAgent(AGENT_OPTIONS);

/** A `/patroni` answer is small; anything larger is not one. */
const MAX_BODY_BYTES = 1024 * 1024;

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function bytes(value: unknown): number {
  return typeof value === 'number' && Number.isFinite(value) ? value : 0;
}

/**
 * Reads the essentials from a member's status JSON. An answer without a WAL section (PostgreSQL not answering on
 * that member) does not count as a usable status, as in Patroni's leader race.
 */
export function parseMemberStatus(raw: unknown): FetchedMemberStatus {
  if (!isRecord(raw)) return { reachable: false, error: 'the answer is not a JSON object' };
  const wal = isRecord(raw['wal']) ? raw['wal'] : raw['xlog'];
  if (!isRecord(wal)) return { reachable: false, error: 'the answer has no WAL position (PostgreSQL does not answer)' };
  const role = typeof raw['role'] === 'string' ? raw['role'] : null;
  const inRecovery = !(Boolean(wal['location']) || role === 'primary' || role === 'master');
  const walPosition = inRecovery
    ? Math.max(bytes(wal['received_location']), bytes(wal['replayed_location']))
    : bytes(wal['location']);
  return {
    reachable: true,
    raw,
    status: {
      role,
      state: typeof raw['state'] === 'string' ? raw['state'] : null,
      inRecovery,
      walPosition,
      timeline: typeof raw['timeline'] === 'number' ? raw['timeline'] : null,
      tags: isRecord(raw['tags']) ? raw['tags'] : {},
      watchdogFailed: raw['watchdog_failed'] === true,
      replicationState: typeof raw['replication_state'] === 'string' ? raw['replication_state'] : null,
    },
  };
}

/** GETs a member's `api_url` (`http(s)://host:port/patroni`) and reads its status. Never throws. */
export async function fetchMemberStatus(
  apiUrl: string,
  options: FetchMemberStatusOptions,
): Promise<FetchedMemberStatus> {
  let url: URL;
  try {
    url = new URL(apiUrl);
  } catch {
    return { reachable: false, error: `not a URL: ${apiUrl}` };
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    return { reachable: false, error: `unsupported scheme in ${apiUrl}` };
  }
  if (options.signal?.aborted) return { reachable: false, error: 'aborted' };
  try {
    const body = await getBody(url, options);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return { reachable: false, error: `invalid JSON from ${apiUrl}` };
    }
    return parseMemberStatus(parsed);
  } catch (error) {
    return { reachable: false, error: error instanceof Error ? error.message : String(error) };
  }
}

/**
 * Asks every member in parallel, as core's `peers.probe` effect wants: the agent's handler for that effect is
 * `({ members }) => probePeers(members, { timeoutMs: 2000 })`.
 */
export function probePeers(
  members: ReadonlyArray<{ readonly name: string; readonly apiUrl: string }>,
  options: FetchMemberStatusOptions,
): Promise<PeerStatus[]> {
  return Promise.all(
    members.map(async ({ name, apiUrl }): Promise<PeerStatus> => {
      const fetched = await fetchMemberStatus(apiUrl, options);
      if (!fetched.reachable) return { name, reachable: false, error: fetched.error };
      const { role, state, walPosition, timeline, tags, watchdogFailed } = fetched.status;
      return { name, reachable: true, role, state, walPosition, timeline, tags, watchdogFailed };
    }),
  );
}

function getBody(url: URL, options: FetchMemberStatusOptions): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const https = url.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    let request: ClientRequest | null = null;
    let settled = false;
    const finish = (error: Error | null, body?: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      options.signal?.removeEventListener('abort', onAbort);
      if (error) {
        request?.destroy();
        reject(error);
      } else resolve(body ?? '');
    };
    const deadline = setTimeout(
      () => finish(new Error(`no answer from ${url.host} within ${options.timeoutMs} ms`)),
      options.timeoutMs,
    );
    const onAbort = (): void => finish(new Error('aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });

    request = send(url, {
      method: 'GET',
      agent: (https ? options.httpsAgent : undefined) ?? options.agent ?? (https ? defaultHttpsAgent : defaultHttpAgent),
      headers: { accept: 'application/json', ...options.headers },
    });
    request.on('error', (error) => finish(error));
    request.on('response', (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_BODY_BYTES) finish(new Error(`answer from ${url.host} exceeds ${MAX_BODY_BYTES} bytes`));
        else chunks.push(chunk);
      });
      response.on('end', () => finish(null, Buffer.concat(chunks).toString('utf8')));
      response.on('error', (error) => finish(error));
      response.on('close', () => {
        if (!response.complete) finish(new Error(`connection to ${url.host} closed mid-answer`));
      });
    });
    request.end();
  });
}
