/**
 * The fixed address a standby cluster points at in production: a TCP proxy that sends each connection to the
 * member of a cluster answering `GET /primary` with 200, as HAProxy does with Patroni's REST health checks
 * (`option httpchk GET /primary` with `on-marked-down shutdown-sessions`). When the primary changes, sessions to
 * the former one are cut, so a walreceiver reconnects and lands on the new primary.
 */
import type { Server, Socket } from 'node:net';
import { connect, createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '@pgwarden/testkit/postgres';
import type { LocalCluster } from './cluster.js';

export interface PrimaryProxy {
  readonly port: number;
  /** The member connections go to now; null while no member answers as primary. */
  readonly target: string | null;
  /** The members the open sessions go to, one entry per session. */
  sessions(): string[];
  stop(): Promise<void>;
}

const CHECK_INTERVAL_MS = 500;

export async function startPrimaryProxy(cluster: LocalCluster): Promise<PrimaryProxy> {
  const port = await freePort();
  const open = new Map<Socket, { member: string; upstream: Socket }>();
  let target: string | null = null;
  let stopped = false;

  const cut = (member: string | null) => {
    for (const [client, session] of open) {
      if (member === null || session.member === member) {
        client.destroy();
        session.upstream.destroy();
      }
    }
  };

  const server: Server = createServer((client) => {
    const member = target;
    if (member === null) {
      client.destroy();
      return;
    }
    const upstream = connect({ host: '127.0.0.1', port: cluster.member(member).pgPort });
    open.set(client, { member, upstream });
    const close = () => {
      open.delete(client);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
    client.pipe(upstream);
    upstream.pipe(client);
  });

  const check = async () => {
    while (!stopped) {
      const primaries = await cluster.primaries();
      // Two members both claiming the primary role (a moment during a switchover): keep the current one.
      const next = primaries.length === 1 ? primaries[0]! : primaries.length === 0 ? null : target;
      if (next !== target) {
        const previous = target;
        target = next;
        if (previous !== null) cut(previous);
      }
      await delay(CHECK_INTERVAL_MS);
    }
  };

  await new Promise<void>((resolveListen, rejectListen) => {
    server.once('error', rejectListen);
    server.listen(port, '127.0.0.1', () => resolveListen());
  });
  const checking = check();

  return {
    port,
    get target() {
      return target;
    },
    sessions: () => [...open.values()].map((session) => session.member),
    async stop() {
      stopped = true;
      await checking;
      cut(null);
      await new Promise<void>((resolveClose) => server.close(() => resolveClose()));
    },
  };
}
