/**
 * How this agent talks to the other members' REST APIs (probes before a promotion, failsafe POSTs): the
 * credentials and certificates Patroni uses for the same requests. Basic auth from `ctl.authentication`, else
 * `restapi.authentication`; CA from `ctl.cacert`, else `restapi.cafile`; a client certificate from
 * `ctl.certfile`/`keyfile`/`keyfile_password`; `ctl.insecure` skips server certificate checks.
 */
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import type { PgwardenConfig } from '@pgwarden/config';

/** What the REST package's probePeers and postFailsafe take. */
export interface PeerRequestOptions {
  readonly timeoutMs: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly httpsAgent?: HttpsAgent;
}

export interface PeerClient {
  readonly headers: Readonly<Record<string, string>>;
  /** Only when a TLS setting is configured; the default agent serves otherwise. */
  readonly httpsAgent?: HttpsAgent;
}

export function peerClient(config: PgwardenConfig): PeerClient {
  const ctl = config.ctl ?? {};
  const auth = ctl.authentication ?? config.restapi.authentication;
  const headers = auth ? { authorization: `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}` } : {};
  const caFile = ctl.cacert ?? config.restapi.cafile;
  const insecure = ctl.insecure === true;
  if (!caFile && !ctl.certfile && !insecure) return { headers };
  const httpsAgent = new HttpsAgent({
    keepAlive: true,
    maxSockets: 4,
    maxFreeSockets: 2,
    timeout: 60_000,
    ...(caFile ? { ca: readFileSync(caFile) } : {}),
    ...(ctl.certfile ? { cert: readFileSync(ctl.certfile), key: readFileSync(ctl.keyfile ?? ctl.certfile) } : {}),
    ...(ctl.keyfile_password ? { passphrase: ctl.keyfile_password } : {}),
    rejectUnauthorized: !insecure,
  });
  return { headers, httpsAgent };
}
