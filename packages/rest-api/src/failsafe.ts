import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import type { IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { FailsafeAck, FailsafePayload } from '@pgwarden/core';

export interface PostFailsafeOptions {
  /** Deadline of one attempt (connect, headers, body). Patroni uses 2 s and one retry. */
  readonly timeoutMs: number;
  /** Attempts after a failed one (no answer; a refusal is an answer). Default 1, as Patroni. */
  readonly retries?: number;
  readonly signal?: AbortSignal;
  /** For TLS settings (ca, client certificate): your own https.Agent. */
  readonly agent?: HttpAgent;
  /** Used for https:// members only. */
  readonly httpsAgent?: HttpsAgent;
  /** e.g. `authorization` for `restapi.authentication`: the members guard POST /failsafe like other writes. */
  readonly headers?: OutgoingHttpHeaders;
}

const AGENT_OPTIONS = { keepAlive: true, maxSockets: 2, maxFreeSockets: 1, timeout: 60_000 } as const;
const defaultHttpAgent = new HttpAgent(AGENT_OPTIONS);
const defaultHttpsAgent = new HttpsAgent(AGENT_OPTIONS);
const MAX_ANSWER_BYTES = 64 * 1024;

/** The member's `/failsafe` URL: its api_url with the path replaced, as Patroni builds endpoint URLs. */
export function failsafeUrl(apiUrl: string): URL | null {
  try {
    const url = new URL(apiUrl);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') return null;
    url.pathname = '/failsafe';
    url.search = '';
    return url;
  } catch {
    return null;
  }
}

/**
 * `POST /failsafe` to every member in parallel, as core's `peers.failsafe` effect wants. Accepted means 200 with
 * the body `Accepted`; the `lsn` header carries the member's position. Never throws: a failure is not accepted.
 */
export function postFailsafe(
  members: ReadonlyArray<{ readonly name: string; readonly apiUrl: string }>,
  payload: FailsafePayload,
  options: PostFailsafeOptions,
): Promise<FailsafeAck[]> {
  const body = JSON.stringify(payload);
  return Promise.all(
    members.map(async ({ name, apiUrl }): Promise<FailsafeAck> => {
      const url = failsafeUrl(apiUrl);
      if (!url) return { name, accepted: false, lsn: null };
      for (let attempt = 0; attempt <= (options.retries ?? 1); attempt++) {
        if (options.signal?.aborted) break;
        try {
          const answer = await post(url, body, options);
          const lsn = Number(answer.lsn);
          return { name, accepted: answer.status === 200 && answer.body === 'Accepted', lsn: answer.lsn && Number.isSafeInteger(lsn) ? lsn : null };
        } catch {
          // no answer: try once more, then count it as not accepted
        }
      }
      return { name, accepted: false, lsn: null };
    }),
  );
}

function post(url: URL, body: string, options: PostFailsafeOptions): Promise<{ status: number; body: string; lsn: string | undefined }> {
  return new Promise((resolve, reject) => {
    const https = url.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    let settled = false;
    const finish = (error: Error | null, answer?: { status: number; body: string; lsn: string | undefined }): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      options.signal?.removeEventListener('abort', onAbort);
      if (error || !answer) {
        request.destroy();
        reject(error ?? new Error('no answer'));
      } else resolve(answer);
    };
    const deadline = setTimeout(() => finish(new Error(`no answer from ${url.host} within ${options.timeoutMs} ms`)), options.timeoutMs);
    const onAbort = (): void => finish(new Error('aborted'));
    options.signal?.addEventListener('abort', onAbort, { once: true });
    const request = send(url, {
      method: 'POST',
      agent: (https ? options.httpsAgent : undefined) ?? options.agent ?? (https ? defaultHttpsAgent : defaultHttpAgent),
      headers: { ...options.headers, 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) },
    });
    request.on('error', (error) => finish(error));
    request.on('response', (response: IncomingMessage) => {
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) finish(new Error(`answer from ${url.host} is too large`));
        else chunks.push(chunk);
      });
      response.on('end', () => {
        const lsn = response.headers['lsn'];
        finish(null, { status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), lsn: Array.isArray(lsn) ? lsn[0] : lsn });
      });
      response.on('error', (error) => finish(error));
    });
    request.end(body);
  });
}
