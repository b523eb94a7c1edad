/**
 * The ports of a run. They are drawn once (the testkit's freePort) and every cluster of the run gets the same ones, so
 * pgwarden and Patroni listen on exactly the same PostgreSQL, REST API and etcd ports. The clusters run one after the
 * other; before each one starts, every port must be bindable again.
 */
import { execFileSync } from 'node:child_process';
import { createServer } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '@pgwarden/testkit/postgres';

export interface MemberPorts {
  readonly pg: number;
  readonly api: number;
}

export interface BenchPorts {
  /** One entry per member, in member order (node0, node1, ...). */
  readonly members: readonly MemberPorts[];
  readonly etcdClient: number;
  readonly etcdPeer: number;
}

export async function allocatePorts(members: number): Promise<BenchPorts> {
  const list: MemberPorts[] = [];
  for (let index = 0; index < members; index++) list.push({ pg: await freePort(), api: await freePort() });
  return { members: list, etcdClient: await freePort(), etcdPeer: await freePort() };
}

/** Every port with what listens there, for messages. */
export function labelledPorts(ports: BenchPorts): { port: number; what: string }[] {
  return [
    ...ports.members.flatMap((member, index) => [
      { port: member.pg, what: `PostgreSQL node${index}` },
      { port: member.api, what: `REST API node${index}` },
    ]),
    { port: ports.etcdClient, what: 'etcd client' },
    { port: ports.etcdPeer, what: 'etcd peer' },
  ];
}

/** Whether a listener could take the port on 127.0.0.1 now (as the servers do: address reuse, so TIME_WAIT is no obstacle). */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** Who listens on these ports, from `ss` (best effort, for the error message). */
function listeners(ports: readonly number[]): string {
  try {
    const out = execFileSync('ss', ['-Htlnp'], { encoding: 'utf8', timeout: 5_000 });
    const lines = out.split('\n').filter((line) => ports.some((port) => new RegExp(`:${port}\\s`).test(line)));
    return lines.length ? lines.map((line) => line.replace(/\s+/g, ' ').trim()).join('; ') : 'no listener shown by ss';
  } catch {
    return 'ss unavailable';
  }
}

/**
 * Waits (bounded) until every port of the run can be bound; throws naming the ports still taken and their holders.
 */
export async function waitPortsBindable(ports: BenchPorts, timeoutMs = 30_000, signal?: AbortSignal): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const busy: { port: number; what: string }[] = [];
    for (const entry of labelledPorts(ports)) if (!(await canBind(entry.port))) busy.push(entry);
    if (!busy.length) return;
    if (Date.now() > deadline || signal?.aborted) {
      const list = busy.map((entry) => `${entry.port} (${entry.what})`).join(', ');
      throw new Error(
        `[bench] ports of the run still in use after ${Math.round(timeoutMs / 1000)} s, so the next cluster cannot have the same ports: ${list}; ` +
          `listeners: ${listeners(busy.map((entry) => entry.port))}`,
      );
    }
    await delay(250, undefined, signal ? { signal } : {}).catch(() => undefined);
  }
}
