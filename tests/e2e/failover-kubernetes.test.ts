/**
 * The failover scenario on Kubernetes, plus what only Kubernetes shows: Patroni's ConfigMaps and annotations,
 * members as Pods with role labels. No Kubernetes server can run here: the agents talk to the Kubernetes API
 * emulator from testkit, through the pgwarden extension key `kubernetes.api_url`.
 */
import { expect } from 'vitest';
import type { KubernetesEmulator } from '@pgwarden/testkit/kubernetes';
import { startKubernetesEmulator } from '@pgwarden/testkit/kubernetes';
import type { LocalCluster } from './support/cluster.js';
import { describeFailoverScenario } from './support/failover-scenario.js';

const SCOPE = 'e2e-k8s';
const NAMESPACE = 'pgwarden-e2e';
const LABELS = { application: 'pgwarden', 'cluster-name': SCOPE };
let kubernetes: KubernetesEmulator | undefined;

const annotations = (name: string): Record<string, string> =>
  kubernetes?.get('configmaps', NAMESPACE, name)?.metadata.annotations ?? {};
const pod = (name: string) => kubernetes?.get('pods', NAMESPACE, name);

describeFailoverScenario({
  name: 'Kubernetes (API emulator)',
  scope: SCOPE,
  startDcs: async () => {
    const emulator = await startKubernetesEmulator();
    kubernetes = emulator;
    // Members are Pods: each agent's Pod exists before the agent starts, as in a StatefulSet.
    for (const name of ['node0', 'node1', 'node2']) emulator.createPod({ namespace: NAMESPACE, name, labels: LABELS });
    const yaml =
      'kubernetes:\n' +
      `  namespace: ${NAMESPACE}\n` +
      '  labels:\n    application: pgwarden\n' +
      '  pod_ip: 127.0.0.1\n' +
      `  api_url: ${emulator.url}\n`;
    return { yaml, stop: () => emulator.stop() };
  },
  afterBootstrap: async (cluster: LocalCluster, leader: string) => {
    const lock = annotations(`${SCOPE}-leader`);
    expect(lock).toMatchObject({ leader, ttl: '10' });
    expect(Object.keys(lock)).toEqual(expect.arrayContaining(['acquireTime', 'renewTime', 'transitions', 'optime']));
    const rows = await cluster.query<{ system_identifier: string }>(leader, 'SELECT system_identifier::text FROM pg_control_system()');
    expect(annotations(`${SCOPE}-config`)['initialize']).toBe(rows[0]?.system_identifier);
    expect(JSON.parse(annotations(`${SCOPE}-config`)['config'] ?? '{}')).toMatchObject({ ttl: 10, loop_wait: 2, retry_timeout: 3 });
    const member = JSON.parse(pod(leader)?.metadata.annotations?.['status'] ?? 'null') as Record<string, unknown>;
    expect(member).toMatchObject({
      conn_url: `postgres://127.0.0.1:${cluster.member(leader).pgPort}/postgres`,
      api_url: `http://127.0.0.1:${cluster.member(leader).apiPort}/patroni`,
      state: 'running',
      role: 'primary',
      timeline: 1,
    });
    // The role label follows each member's role, so Services can select the primary.
    expect(pod(leader)?.metadata.labels?.['role']).toBe('primary');
    for (const replica of cluster.members.map((handle) => handle.name).filter((name) => name !== leader)) {
      await cluster.waitFor(`${replica} labelled replica`, async () => pod(replica)?.metadata.labels?.['role'] === 'replica', 30_000);
    }

    // Bad input: a Pod with a malformed status is reported and skipped; nothing else changes.
    kubernetes!.createPod({ namespace: NAMESPACE, name: 'garbage', labels: LABELS, annotations: { status: '{this is not json' } });
    await cluster.waitFor(
      'the malformed value reported',
      async () => cluster.members.some((handle) => handle.log.some((line) => line.includes('members/garbage'))),
      30_000,
    );
    expect(await cluster.primaries()).toEqual([leader]);
    kubernetes!.deletePod(NAMESPACE, 'garbage');
  },
  afterGracefulStop: async (_cluster: LocalCluster, stopped: string) => {
    // The agent released the lock before exiting: nobody waits for the ttl to pass.
    expect(annotations(`${SCOPE}-leader`)['leader']).not.toBe(stopped);
  },
});
