/**
 * Counts the gRPC traffic one member's Dcs puts on etcd per HA-like cycle, from etcd's own /metrics.
 *
 * Starts a private etcd on loopback, then drives two members directly (no agent, no PostgreSQL):
 * - leader: loadCluster + touchMember + renewLeader, then a pause;
 * - replica: loadCluster + touchMember + watchLeader(leader version, pause).
 * Each role runs two warm-up cycles (the cache's watch starts with the second read), then N measured cycles, alone (the other member is idle); the figures are the
 * deltas of `grpc_server_started_total` (RPCs opened), `grpc_server_handled_total` (RPCs finished) and
 * `grpc_server_msg_received_total` (every unary request and every message on a stream: what the benchmark
 * counts) over the measured cycles, per method.
 *
 * Run from the repository root (bundles the sources, etcd3 stays external):
 *   npx esbuild packages/dcs-etcd/scripts/measure-load.ts --bundle --platform=node --format=esm \
 *     --conditions=@pgwarden/source --external:etcd3 --external:cockatiel --target=node20 \
 *     --outfile=packages/dcs-etcd/scripts/.out/measure-load.mjs \
 *   && node packages/dcs-etcd/scripts/.out/measure-load.mjs [cycles] [pauseMs]
 */
import { startEtcd } from '@pgwarden/testkit/etcd';
import type { MemberData } from '@pgwarden/core';
import { createEtcdDcs } from '../src/index.js';

type Counts = Map<string, number>;
type Snapshot = Record<'started' | 'handled' | 'received', Counts>;

const METRICS = {
  started: 'grpc_server_started_total',
  handled: 'grpc_server_handled_total',
  received: 'grpc_server_msg_received_total',
} as const;

async function scrape(clientUrl: string): Promise<Snapshot> {
  const text = await (await fetch(`${clientUrl}/metrics`)).text();
  const snapshot: Snapshot = { started: new Map(), handled: new Map(), received: new Map() };
  for (const line of text.split('\n')) {
    for (const [kind, metric] of Object.entries(METRICS) as [keyof Snapshot, string][]) {
      if (!line.startsWith(`${metric}{`)) continue;
      const method = /grpc_method="([^"]+)"/.exec(line)?.[1] ?? '?';
      const value = Number(line.slice(line.lastIndexOf(' ') + 1));
      snapshot[kind].set(method, (snapshot[kind].get(method) ?? 0) + value);
    }
  }
  return snapshot;
}

function delta(before: Snapshot, after: Snapshot): Snapshot {
  const out: Snapshot = { started: new Map(), handled: new Map(), received: new Map() };
  for (const kind of Object.keys(out) as (keyof Snapshot)[]) {
    for (const [method, value] of after[kind]) {
      const difference = value - (before[kind].get(method) ?? 0);
      if (difference !== 0) out[kind].set(method, difference);
    }
  }
  return out;
}

function describe(label: string, counts: Snapshot, cycles: number): void {
  const total = (map: Counts): number => [...map.values()].reduce((sum, value) => sum + value, 0);
  const detail = (map: Counts): string =>
    [...map].sort(([a], [b]) => a.localeCompare(b)).map(([method, value]) => `${method} ${value}`).join(', ') || '-';
  console.log(`${label} (${cycles} cycles)`);
  for (const kind of ['received', 'started', 'handled'] as const) {
    const sum = total(counts[kind]);
    console.log(`  ${kind.padEnd(8)} ${String(sum).padStart(4)}  = ${(sum / cycles).toFixed(2)} per cycle  [${detail(counts[kind])}]`);
  }
}

const member = (name: string, port: number): MemberData => ({
  conn_url: `postgres://127.0.0.1:${port}/postgres`,
  api_url: `http://127.0.0.1:${port + 1000}/patroni`,
  state: 'running',
  role: name === 'leader' ? 'primary' : 'replica',
  version: '4.1.4',
  xlog_location: 67_108_960,
  timeline: 1,
});

const cycles = Number(process.argv[2] ?? 10);
const pauseMs = Number(process.argv[3] ?? 1_200);
const etcd = await startEtcd();
try {
  const identity = { scope: 'load', ttl: 30, retryTimeout: 10 };
  await using leader = createEtcdDcs({ ...identity, name: 'leader', hosts: [etcd.endpoint] });
  await using replica = createEtcdDcs({ ...identity, name: 'replica', hosts: [etcd.endpoint] });
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  async function leaderCycle(): Promise<void> {
    const cluster = await leader.loadCluster();
    await leader.touchMember(member('leader', 5432));
    if (cluster.leader?.name === 'leader') {
      if (!(await leader.renewLeader())) throw new Error('lost the lock');
    } else if (!(await leader.acquireLeader())) throw new Error('could not take the lock');
    await sleep(pauseMs);
  }
  async function replicaCycle(): Promise<void> {
    const cluster = await replica.loadCluster();
    await replica.touchMember(member('replica', 5433));
    await replica.watchLeader(cluster.leader?.version ?? null, pauseMs);
  }

  for (const [label, cycle] of [
    ['leader', leaderCycle],
    ['replica', replicaCycle],
  ] as const) {
    const start = await scrape(etcd.clientUrl);
    await cycle();
    await cycle();
    const warm = await scrape(etcd.clientUrl);
    for (let index = 0; index < cycles; index++) await cycle();
    const end = await scrape(etcd.clientUrl);
    describe(`${label}: first two cycles`, delta(start, warm), 2);
    describe(`${label}: steady state`, delta(warm, end), cycles);
  }
} finally {
  await etcd.stop();
}
