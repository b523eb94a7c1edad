/** What the benchmark reads from etcd itself: the leader key, its lease, its changes, and the server's request counters. */
import { Etcd3 } from 'etcd3';
import type { Watcher } from 'etcd3';

export interface LeaderEvent {
  readonly at: number;
  readonly kind: 'put' | 'delete';
  readonly value: string;
}

export class EtcdProbe implements AsyncDisposable {
  private readonly client: Etcd3;
  readonly events: LeaderEvent[] = [];
  private watcher: Watcher | null = null;

  constructor(
    private readonly clientUrl: string,
    private readonly leaderKey: string,
  ) {
    this.client = new Etcd3({ hosts: clientUrl });
  }

  async leader(): Promise<{ holder: string; lease: string } | null> {
    const response = await this.client.get(this.leaderKey).exec();
    const kv = response.kvs[0];
    return kv ? { holder: kv.value.toString(), lease: kv.lease } : null;
  }

  /** Remaining and granted TTL, in seconds, of the leader key's lease (etcd answers whole seconds). */
  async leaseTtl(lease: string): Promise<{ remaining: number; granted: number }> {
    const answer = await this.client.leaseClient.leaseTimeToLive({ ID: lease, keys: false });
    return { remaining: Number(answer.TTL), granted: Number(answer.grantedTTL) };
  }

  async watchLeader(): Promise<void> {
    this.watcher = await this.client.watch().key(this.leaderKey).create();
    this.watcher.on('put', (kv) => this.events.push({ at: Date.now(), kind: 'put', value: kv.value.toString() }));
    this.watcher.on('delete', (kv) => this.events.push({ at: Date.now(), kind: 'delete', value: kv.value.toString() }));
  }

  eventAfter(since: number, predicate: (event: LeaderEvent) => boolean): LeaderEvent | undefined {
    return this.events.find((event) => event.at >= since && predicate(event));
  }

  /** Requests etcd's gRPC server received (unary calls and stream messages), by method, from GET /metrics. */
  async requestCounters(): Promise<Map<string, number>> {
    const text = await (await fetch(`${this.clientUrl}/metrics`, { signal: AbortSignal.timeout(5_000) })).text();
    return parseGrpcReceived(text);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.watcher?.cancel().catch(() => undefined);
    this.client.close();
  }
}

/** `grpc_server_msg_received_total{grpc_method="Range",grpc_service="etcdserverpb.KV",grpc_type="unary"} 12` lines, summed per method. */
export function parseGrpcReceived(metrics: string): Map<string, number> {
  const counters = new Map<string, number>();
  for (const line of metrics.split('\n')) {
    if (!line.startsWith('grpc_server_msg_received_total{')) continue;
    const method = /grpc_method="([^"]+)"/.exec(line)?.[1] ?? 'unknown';
    const value = Number(line.slice(line.lastIndexOf(' ') + 1));
    if (Number.isFinite(value)) counters.set(method, (counters.get(method) ?? 0) + value);
  }
  return counters;
}

export function counterDelta(before: Map<string, number>, after: Map<string, number>): Record<string, number> {
  const delta: Record<string, number> = {};
  for (const [method, value] of after) {
    const change = value - (before.get(method) ?? 0);
    if (change > 0) delta[method] = change;
  }
  return delta;
}
