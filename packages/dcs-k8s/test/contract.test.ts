/**
 * The Kubernetes plugin against the API emulator (no Kubernetes server can run here): the conformance suite
 * in ConfigMaps and in Endpoints mode, then what only Kubernetes shows: Patroni's object names and
 * annotations, Pods as members, client-side lock expiry and 409 handling.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DcsIdentity, MemberData } from '@pgwarden/core';
import { describeDcsContract, freePort } from '@pgwarden/testkit';
import type { DcsContractOptOut } from '@pgwarden/testkit';
import { startKubernetesEmulator } from '@pgwarden/testkit/kubernetes';
import type { KubernetesEmulator, KubernetesObject } from '@pgwarden/testkit/kubernetes';
import { createKubernetesDcs } from '../src/index.js';
import type { KubernetesDcsOptions } from '../src/index.js';

const LABELS = { application: 'pgwarden' };

/** Members are Pods, not keys with a ttl: a member whose agent stops keeps its Pod and its `status`. */
const MEMBERS_ARE_PODS =
  'members are Pods, not TTL-bound keys: a silent member keeps its Pod and status annotation (leader expiry is tested below)';
const OPT_OUTS: readonly DcsContractOptOut[] = [
  { case: 'ttl-expiry', reason: MEMBERS_ARE_PODS },
  { case: 'set-timing', reason: MEMBERS_ARE_PODS },
];

type Mode = 'configmaps' | 'endpoints';

function objectNames(mode: Mode, scope: string) {
  return {
    kind: mode,
    leader: mode === 'endpoints' ? scope : `${scope}-leader`,
    config: `${scope}-config`,
    failover: `${scope}-failover`,
    sync: `${scope}-sync`,
  } as const;
}

/** Each scope gets its own Kubernetes namespace, so that member (= Pod) names never collide between cases. */
const namespaceOf = (scope: string): string => `ns-${scope}`;

function ensurePod(emulator: KubernetesEmulator, identity: Pick<DcsIdentity, 'scope' | 'name'>): void {
  const namespace = namespaceOf(identity.scope);
  if (!emulator.get('pods', namespace, identity.name)) {
    emulator.createPod({ namespace, name: identity.name, labels: { ...LABELS, 'cluster-name': identity.scope } });
  }
}

function annotation(object: KubernetesObject | undefined, key: string): string | undefined {
  return object?.metadata.annotations?.[key];
}

function setAnnotation(emulator: KubernetesEmulator, mode: Mode, scope: string, objectName: string, key: string, value: string): void {
  const namespace = namespaceOf(scope);
  const existing = emulator.get(mode, namespace, objectName) ?? {
    metadata: { name: objectName, labels: { ...LABELS, 'cluster-name': scope } },
  };
  existing.metadata.annotations = { ...(existing.metadata.annotations ?? {}), [key]: value };
  emulator.put(mode, namespace, existing);
}

function readRaw(emulator: KubernetesEmulator, mode: Mode, identity: DcsIdentity, key: string): string | null {
  const namespace = namespaceOf(identity.scope);
  const names = objectNames(mode, identity.scope);
  const object = (objectName: string) => emulator.get(mode, namespace, objectName);
  if (key.startsWith('members/')) return annotation(emulator.get('pods', namespace, key.slice(8)), 'status') ?? null;
  switch (key) {
    case 'leader':
      return annotation(object(names.leader), 'leader') || null;
    case 'initialize':
    case 'config':
    case 'history':
      return annotation(object(names.config), key) ?? null;
    case 'failsafe':
      return annotation(object(names.leader), 'failsafe') ?? null;
    case 'status': {
      const leader = object(names.leader);
      const optime = annotation(leader, 'optime');
      if (optime === undefined) return null;
      const value: Record<string, unknown> = { optime: Number(optime) };
      const slots = annotation(leader, 'slots');
      const retain = annotation(leader, 'retain_slots');
      if (slots) value['slots'] = JSON.parse(slots) as unknown;
      if (retain) value['retain_slots'] = JSON.parse(retain) as unknown;
      return JSON.stringify(value);
    }
    case 'failover': {
      const failover = object(names.failover);
      if (!failover) return null;
      const value: Record<string, string> = {};
      for (const field of ['leader', 'member', 'scheduled_at']) {
        const text = annotation(failover, field);
        if (text) value[field] = text;
      }
      return JSON.stringify(value);
    }
    case 'sync': {
      const sync = object(names.sync);
      if (annotation(sync, 'leader') === undefined) return null;
      return JSON.stringify({
        leader: annotation(sync, 'leader'),
        sync_standby: annotation(sync, 'sync_standby') ?? null,
        quorum: Number(annotation(sync, 'quorum') ?? '0'),
      });
    }
    default:
      throw new Error(`no raw reader for ${key}`);
  }
}

function writeRaw(emulator: KubernetesEmulator, mode: Mode, identity: DcsIdentity, key: string, value: string): void {
  const names = objectNames(mode, identity.scope);
  if (key.startsWith('members/')) {
    const name = key.slice(8);
    ensurePod(emulator, { scope: identity.scope, name });
    const pod = emulator.get('pods', namespaceOf(identity.scope), name)!;
    pod.metadata.annotations = { ...(pod.metadata.annotations ?? {}), status: value };
    emulator.put('pods', namespaceOf(identity.scope), pod);
  } else if (key === 'initialize' || key === 'config' || key === 'history') {
    setAnnotation(emulator, mode, identity.scope, names.config, key, value);
  } else if (key === 'leader' || key === 'failsafe') {
    setAnnotation(emulator, mode, identity.scope, names.leader, key, value);
  } else {
    throw new Error(`no raw writer for ${key}`);
  }
}

function optionsFor(mode: Mode, emulator: KubernetesEmulator, identity: DcsIdentity): KubernetesDcsOptions {
  return {
    ...identity,
    apiUrl: emulator.url,
    kubernetesNamespace: namespaceOf(identity.scope),
    labels: LABELS,
    ...(mode === 'endpoints' ? { useEndpoints: true, podIp: '127.0.0.1', ports: [{ name: 'postgresql', port: 5432 }] } : {}),
  };
}

for (const mode of ['configmaps', 'endpoints'] as const) {
  describeDcsContract({
    name: `Kubernetes, ${mode === 'configmaps' ? 'ConfigMaps' : 'Endpoints'} mode (API emulator)`,
    skip: OPT_OUTS,
    async setup() {
      const emulator = await startKubernetesEmulator();
      const closedPort = await freePort();
      return {
        ttlSeconds: 2,
        retryTimeoutSeconds: 2,
        create(identity) {
          ensurePod(emulator, identity);
          return createKubernetesDcs(optionsFor(mode, emulator, identity));
        },
        createUnreachable: (identity) =>
          createKubernetesDcs({ ...optionsFor(mode, emulator, identity), apiUrl: `http://127.0.0.1:${closedPort}` }),
        letTimePass: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
        writeRaw: async (identity, key, value) => writeRaw(emulator, mode, identity, key, value),
        readRaw: async (identity, key) => readRaw(emulator, mode, identity, key),
        teardown: () => emulator.stop(),
      };
    },
  });
}

const member = (name: string, role = 'replica'): MemberData => ({
  conn_url: `postgres://10.0.0.${name.length}:5432/postgres`,
  api_url: `http://10.0.0.${name.length}:8008/patroni`,
  state: 'running',
  role,
  version: '4.1.4',
});

describe('Kubernetes objects and annotations', () => {
  let emulator: KubernetesEmulator;
  let scopes = 0;
  beforeAll(async () => {
    emulator = await startKubernetesEmulator();
  });
  afterAll(async () => {
    await emulator.stop();
  });

  function cluster(mode: Mode = 'configmaps', ttl = 10) {
    const scope = `k8s-${mode}-${++scopes}`;
    const identity = (name: string): DcsIdentity => ({ scope, name, ttl, retryTimeout: 2 });
    const names = objectNames(mode, scope);
    const namespace = namespaceOf(scope);
    return {
      scope,
      names,
      namespace,
      member(name: string, extra: Partial<KubernetesDcsOptions> = {}) {
        ensurePod(emulator, identity(name));
        return createKubernetesDcs({ ...optionsFor(mode, emulator, identity(name)), ...extra });
      },
      object: (objectName: string) => emulator.get(mode, namespace, objectName),
      pod: (name: string) => emulator.get('pods', namespace, name),
    };
  }

  it("ConfigMaps mode writes Patroni's object names and annotations", async () => {
    const c = cluster('configmaps');
    await using alpha = c.member('alpha');
    expect(await alpha.initialize({ create: true, sysid: '7312345678901234567' })).toBe(true);
    expect(await alpha.setConfig({ ttl: 30, loop_wait: 10 }, null)).toBe(true);
    expect(await alpha.setHistory([[1, 50_331_808, 'no recovery target specified']])).toBe(true);
    expect(await alpha.touchMember(member('alpha', 'primary'))).toBe(true);
    expect(await alpha.acquireLeader()).toBe(true);
    expect(await alpha.writeStatus({ optime: 67_108_960, slots: { bravo: 67_108_960 }, retainSlots: ['bravo'] })).toBe(true);
    expect(await alpha.writeFailsafe({ alpha: 'http://10.0.0.5:8008/patroni' })).toBe(true);
    expect(await alpha.setFailover({ leader: 'alpha', candidate: 'bravo', scheduledAt: '2030-01-01T00:00:00+00:00' })).toBe(true);
    expect(await alpha.setSync({ leader: 'alpha', syncStandby: ['charlie', 'bravo'], quorum: 1 }, null)).not.toBe(false);

    const leader = c.object(`${c.scope}-leader`);
    expect(leader?.kind).toBe('ConfigMap');
    expect(leader?.metadata.labels).toEqual({ application: 'pgwarden', 'cluster-name': c.scope });
    expect(Object.keys(leader?.metadata.annotations ?? {}).sort()).toEqual(
      ['acquireTime', 'failsafe', 'leader', 'optime', 'renewTime', 'retain_slots', 'slots', 'transitions', 'ttl'].sort(),
    );
    expect(leader?.metadata.annotations).toMatchObject({
      leader: 'alpha',
      ttl: '10',
      transitions: '1',
      optime: '67108960',
      slots: '{"bravo":67108960}',
      retain_slots: '["bravo"]',
      failsafe: '{"alpha":"http://10.0.0.5:8008/patroni"}',
    });
    expect(leader?.metadata.annotations?.['acquireTime']).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+\+00:00$/);
    expect(c.object(`${c.scope}-config`)?.metadata.annotations).toEqual({
      initialize: '7312345678901234567',
      config: '{"ttl":30,"loop_wait":10}',
      history: '[[1,50331808,"no recovery target specified"]]',
    });
    expect(c.object(`${c.scope}-failover`)?.metadata.annotations).toEqual({
      leader: 'alpha',
      member: 'bravo',
      scheduled_at: '2030-01-01T00:00:00+00:00',
    });
    expect(c.object(`${c.scope}-sync`)?.metadata.annotations).toEqual({ leader: 'alpha', sync_standby: 'bravo,charlie', quorum: '1' });
    // The member is its Pod: data in `status`, role in the role label (role labels: test/patroni-parity).
    const pod = c.pod('alpha');
    expect(pod?.metadata.annotations?.['status']).toBe(JSON.stringify(member('alpha', 'primary')));
    expect(await alpha.touchMember({ ...member('alpha', 'primary'), xlog_location: 1 })).toBe(true);
    expect(c.pod('alpha')?.metadata.labels?.['role']).toBe('primary');
    expect(emulator.get('endpoints', c.namespace, c.scope)).toBeUndefined();
  });

  it('Endpoints mode keeps the leader in Endpoints <scope> pointing at the leader Pod, plus a headless config Service', async () => {
    const c = cluster('endpoints');
    await using alpha = c.member('alpha', { podIp: '10.1.2.3', ports: [{ name: 'postgresql', port: 5433 }] });
    expect(await alpha.acquireLeader()).toBe(true);
    const endpoints = c.object(c.scope);
    expect(endpoints?.kind).toBe('Endpoints');
    expect(endpoints?.metadata.annotations?.['leader']).toBe('alpha');
    expect(endpoints?.['subsets']).toEqual([
      {
        addresses: [{ ip: '10.1.2.3', targetRef: { kind: 'Pod', name: 'alpha', namespace: c.namespace } }],
        ports: [{ name: 'postgresql', port: 5433, protocol: 'TCP' }],
      },
    ]);
    expect(emulator.get('services', c.namespace, `${c.scope}-config`)?.['spec']).toEqual({ clusterIP: 'None' });
    expect(await alpha.setConfig({ ttl: 30 }, null)).toBe(true);
    expect(emulator.get('endpoints', c.namespace, `${c.scope}-config`)?.metadata.annotations?.['config']).toBe('{"ttl":30}');
    expect(await alpha.releaseLeader()).toBe(true);
    expect(c.object(c.scope)?.['subsets']).toEqual([]);
    expect(c.object(c.scope)?.metadata.annotations).not.toHaveProperty('leader');
    expect(emulator.get('configmaps', c.namespace, `${c.scope}-leader`)).toBeUndefined();
    expect(() =>
      createKubernetesDcs({ scope: c.scope, name: 'x', ttl: 10, retryTimeout: 2, apiUrl: emulator.url, useEndpoints: true }),
    ).toThrow(/^\[dcs-k8s\] use_endpoints needs pod_ip/);
  });

  it('reads a cluster that Patroni wrote', async () => {
    const c = cluster('configmaps');
    const labels = { ...LABELS, 'cluster-name': c.scope };
    emulator.createPod({
      namespace: c.namespace,
      name: 'pg1',
      labels: { ...labels, role: 'primary' },
      annotations: { status: '{"conn_url":"postgres://10.0.0.1:5432/postgres","api_url":"http://10.0.0.1:8008/patroni","state":"running","role":"primary","version":"4.1.4"}' },
    });
    emulator.put('configmaps', c.namespace, {
      metadata: {
        name: `${c.scope}-leader`,
        labels,
        annotations: { leader: 'pg1', acquireTime: '2024-05-01T10:00:00.000000+00:00', renewTime: '2024-05-01T10:00:00.000000+00:00', ttl: '30', transitions: '3', optime: '67108960' },
      },
    });
    emulator.put('configmaps', c.namespace, {
      metadata: { name: `${c.scope}-config`, labels, annotations: { config: '{"ttl":30,"postgresql":{"use_pg_rewind":true}}', initialize: '7312345678901234567' } },
    });
    emulator.put('configmaps', c.namespace, { metadata: { name: `${c.scope}-sync`, labels, annotations: { leader: 'pg1', sync_standby: 'pg2', quorum: '0' } } });
    // A Pod without `status` (its agent has not written yet) is not a member.
    emulator.createPod({ namespace: c.namespace, name: 'pg3', labels });
    await using reader = c.member('pg2');
    const view = await reader.loadCluster();
    expect(view.leader).toMatchObject({ name: 'pg1', member: { name: 'pg1' } });
    expect(view.status.optime).toBe(67_108_960);
    expect(view.config?.data).toEqual({ ttl: 30, postgresql: { use_pg_rewind: true } });
    expect(view.initialize).toBe('7312345678901234567');
    expect(view.sync).toMatchObject({ leader: 'pg1', syncStandby: ['pg2'], quorum: 0 });
    expect(view.members.map((m) => m.name)).toEqual(['pg1']);
  });

  it('judges lock expiry client-side: no change for ttl seconds since this client saw one', async () => {
    const c = cluster('configmaps', 2);
    await using alpha = c.member('alpha');
    await using bravo = c.member('bravo');
    expect(await alpha.acquireLeader()).toBe(true);
    const seen = await bravo.loadCluster();
    expect(seen.leader?.name).toBe('alpha');
    // Renewals change the object, keeping the lock alive for observers, without changing the lock's version.
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(await alpha.renewLeader()).toBe(true);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const renewed = await bravo.loadCluster();
    expect(renewed.leader).toMatchObject({ name: 'alpha', version: seen.leader?.version });
    expect(await bravo.acquireLeader()).toBe(false);

    // alpha stops renewing: bravo's watch wakes when the lock expires in its eyes.
    const started = performance.now();
    expect(await bravo.watchLeader(renewed.leader?.version ?? null, 10_000)).toBe(true);
    expect(performance.now() - started).toBeGreaterThan(500);
    expect((await bravo.loadCluster()).leader).toBeNull();
    // The annotation still names alpha: nothing on the server expires.
    expect(c.object(`${c.scope}-leader`)?.metadata.annotations?.['leader']).toBe('alpha');
    // A fresh client has seen no change yet, so to it the lock is still valid.
    await using charlie = c.member('charlie');
    expect((await charlie.loadCluster()).leader?.name).toBe('alpha');
    expect(await charlie.acquireLeader()).toBe(false);

    expect(await bravo.acquireLeader()).toBe(true);
    const annotations = c.object(`${c.scope}-leader`)?.metadata.annotations;
    expect(annotations).toMatchObject({ leader: 'bravo', transitions: '2' });
    expect(await alpha.renewLeader(), 'the expired holder has lost the lock').toBe(false);
    expect(await alpha.releaseLeader()).toBe(false);
  });

  it('a new ttl from setTiming is written to the lock and observers wait that long', async () => {
    const c = cluster('configmaps', 1);
    await using alpha = c.member('alpha');
    await using bravo = c.member('bravo');
    expect(await alpha.acquireLeader()).toBe(true);
    alpha.setTiming({ ttl: 3, retryTimeout: 2 });
    expect(await alpha.renewLeader()).toBe(true);
    expect(c.object(`${c.scope}-leader`)?.metadata.annotations?.['ttl']).toBe('3');
    await bravo.loadCluster();
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    expect((await bravo.loadCluster()).leader?.name, 'held past the old ttl').toBe('alpha');
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect((await bravo.loadCluster()).leader).toBeNull();
  });

  it('a 409 on the leader object: lost to another writer is false, lost to an unrelated write is retried', async () => {
    const c = cluster('configmaps');
    const leaderPath = `/api/v1/namespaces/${c.namespace}/configmaps/${c.scope}-leader`;
    await using alpha = c.member('alpha');
    await using bravo = c.member('bravo');
    expect(await alpha.acquireLeader()).toBe(true);
    expect(await alpha.releaseLeader()).toBe(true);

    /** Runs `change` once, just before the next PATCH of the leader object is handled. */
    const beforeNextPatch = (change: (object: KubernetesObject) => void): void => {
      emulator.onRequest = ({ method, path }) => {
        if (method !== 'PATCH' || path !== leaderPath) return;
        emulator.onRequest = undefined;
        const object = c.object(`${c.scope}-leader`)!;
        change(object);
        emulator.put('configmaps', c.namespace, object);
      };
    };

    // A Patroni member takes the lock between bravo's read and bravo's write.
    beforeNextPatch((object) => {
      object.metadata.annotations = { ...object.metadata.annotations, leader: 'mallory', acquireTime: new Date().toISOString() };
    });
    let before = emulator.requests.length;
    expect(await bravo.acquireLeader()).toBe(false);
    expect(emulator.requests.slice(before).filter((line) => line.startsWith('PATCH'))).toHaveLength(1);
    expect(c.object(`${c.scope}-leader`)?.metadata.annotations?.['leader']).toBe('mallory');

    // The lock is free again; an unrelated annotation changes under bravo's write: bravo re-reads and retries.
    const free = c.object(`${c.scope}-leader`)!;
    free.metadata.annotations = { ...free.metadata.annotations, leader: '' };
    emulator.put('configmaps', c.namespace, free);
    beforeNextPatch((object) => {
      object.metadata.annotations = { ...object.metadata.annotations, optime: '1' };
    });
    before = emulator.requests.length;
    expect(await bravo.acquireLeader()).toBe(true);
    expect(emulator.requests.slice(before).filter((line) => line.startsWith('PATCH'))).toHaveLength(2);
    expect(c.object(`${c.scope}-leader`)?.metadata.annotations).toMatchObject({ leader: 'bravo', optime: '1' });

    // Renewing through the same kind of conflict keeps the lock.
    beforeNextPatch((object) => {
      object.metadata.annotations = { ...object.metadata.annotations, optime: '2' };
    });
    expect(await bravo.renewLeader()).toBe(true);
    // And a stale resourceVersion is refused by the server with a Conflict Status.
    const answer = await fetch(`${emulator.url}${leaderPath}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/merge-patch+json' },
      body: JSON.stringify({ metadata: { resourceVersion: '1', annotations: { leader: 'mallory' } } }),
    });
    expect(answer.status).toBe(409);
    expect(await answer.json()).toMatchObject({ kind: 'Status', reason: 'Conflict', code: 409 });
    expect(c.object(`${c.scope}-leader`)?.metadata.annotations?.['leader']).toBe('bravo');
  });

  it('touchMember reports false when this member has no Pod', async () => {
    const c = cluster('configmaps');
    await using ghost = createKubernetesDcs(optionsFor('configmaps', emulator, { scope: c.scope, name: 'ghost', ttl: 10, retryTimeout: 2 }));
    expect(await ghost.touchMember(member('ghost'))).toBe(false);
  });

  it('scopes in one namespace do not see each other (label selection)', async () => {
    const namespace = 'shared';
    const make = (scope: string, name: string) => {
      emulator.createPod({ namespace, name, labels: { ...LABELS, 'cluster-name': scope } });
      return createKubernetesDcs({ scope, name, ttl: 10, retryTimeout: 2, apiUrl: emulator.url, kubernetesNamespace: namespace, labels: LABELS });
    };
    await using one = make('one', 'one-0');
    await using other = make('onex', 'onex-0');
    await one.touchMember(member('one-0'));
    await other.touchMember(member('onex-0'));
    expect(await other.setConfig({ ttl: 30 }, null)).toBe(true);
    expect(await one.deleteCluster()).toBe(true);
    expect((await other.loadCluster()).members.map((m) => m.name)).toEqual(['onex-0']);
    expect((await one.loadCluster()).members).toEqual([]);
    expect((await one.loadCluster()).config).toBeNull();
    // deleteCluster leaves Pods in place.
    expect(emulator.get('pods', namespace, 'one-0')).toBeDefined();
  });
});
