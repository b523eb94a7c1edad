/**
 * Against the API emulator: the Pod watch that feeds loadCluster (list once, resume, re-list on 410 Gone),
 * Patroni 4's role labels and lock release, compare-and-set after a lost answer, and that the plugin's
 * requests in both modes are exactly what examples/kubernetes/rbac.yaml grants.
 */
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import type { Dcs, MemberData } from '@pgwarden/core';
import { startKubernetesEmulator } from '@pgwarden/testkit/kubernetes';
import type { KubernetesEmulator } from '@pgwarden/testkit/kubernetes';
import { createKubernetesDcs } from '../src/index.js';
import type { KubernetesDcsOptions } from '../src/index.js';

const LABELS = { application: 'pgwarden' };

const member = (role: string, state = 'running', extra: Partial<MemberData> = {}): MemberData => ({
  conn_url: 'postgres://10.0.0.1:5432/postgres',
  api_url: 'http://10.0.0.1:8008/patroni',
  state,
  role,
  version: '4.1.4',
  ...extra,
});

const until = async (check: () => Promise<boolean>, what: string): Promise<void> => {
  for (let tries = 0; tries < 200; tries++) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`never happened: ${what}`);
};

describe('Kubernetes plugin: Pod watch, Patroni parity, RBAC', () => {
  let emulator: KubernetesEmulator;
  let scopes = 0;
  beforeAll(async () => {
    emulator = await startKubernetesEmulator();
  });
  afterAll(async () => {
    await emulator.stop();
  });

  function cluster(extra: Partial<KubernetesDcsOptions> = {}, mode: 'configmaps' | 'endpoints' = 'configmaps') {
    const scope = `parity-${++scopes}`;
    const namespace = `ns-${scope}`;
    const open: Dcs[] = [];
    return {
      scope,
      namespace,
      podsPath: `/api/v1/namespaces/${namespace}/pods`,
      member(name: string, more: Partial<KubernetesDcsOptions> = {}): Dcs {
        if (!emulator.get('pods', namespace, name)) {
          emulator.createPod({ namespace, name, labels: { ...LABELS, 'cluster-name': scope } });
        }
        const dcs = createKubernetesDcs({
          scope,
          name,
          ttl: 10,
          retryTimeout: 2,
          apiUrl: emulator.url,
          kubernetesNamespace: namespace,
          labels: LABELS,
          ...(mode === 'endpoints' ? { useEndpoints: true, podIp: '127.0.0.1' } : {}),
          ...extra,
          ...more,
        });
        open.push(dcs);
        return dcs;
      },
      label: (name: string) => emulator.get('pods', namespace, name)?.metadata.labels?.['role'],
      async close() {
        await Promise.all(open.map((dcs) => dcs.close()));
      },
    };
  }

  /** Pod LISTs (not watches) sent to this namespace since `from`. */
  const podLists = (podsPath: string, from: number): number =>
    emulator.requests.slice(from).filter((line) => line.startsWith(`GET ${podsPath}?`) && !/[?&]watch=/.test(line)).length;

  it('loadCluster lists the Pods once, then sees other members through the watch', async () => {
    const c = cluster();
    const before = emulator.requests.length;
    const alpha = c.member('alpha');
    const bravo = c.member('bravo');
    expect(await alpha.touchMember(member('replica'))).toBe(true);
    expect((await bravo.loadCluster()).members.map((m) => m.name)).toEqual(['alpha']);
    for (let index = 0; index < 3; index++) await bravo.loadCluster();
    expect(podLists(c.podsPath, before), 'one LIST by the cache, none per loadCluster').toBe(1);

    // Another member's change reaches bravo's view by the watch alone.
    expect(await alpha.touchMember(member('replica', 'running', { xlog_location: 42 }))).toBe(true);
    await until(async () => (await bravo.loadCluster()).members[0]?.data.xlog_location === 42, 'bravo sees the new xlog_location');
    // A Pod deleted by Kubernetes disappears from the view.
    emulator.deletePod(c.namespace, 'alpha');
    await until(async () => (await bravo.loadCluster()).members.length === 0, 'the deleted Pod is gone');
    expect(podLists(c.podsPath, before)).toBe(1);
    expect(emulator.requests.slice(before).some((line) => line.startsWith(`GET ${c.podsPath}?watch=1`))).toBe(true);
    await c.close();
  });

  it('a watch the server ends is resumed from its resourceVersion; 410 Gone makes it list again', async () => {
    const c = cluster({ podWatchSeconds: 30 });
    const before = emulator.requests.length;
    const alpha = c.member('alpha');
    const bravo = c.member('bravo');
    await bravo.loadCluster();
    const watches = (): string[] => emulator.requests.slice(before).filter((line) => line.startsWith(`GET ${c.podsPath}?watch=1`));
    expect(watches()).toHaveLength(1);

    // The server ends the stream; a change made meanwhile is replayed by the resumed watch, not a LIST.
    emulator.endWatches();
    expect(await alpha.touchMember(member('replica'))).toBe(true);
    await until(async () => (await bravo.loadCluster()).members.length === 1, 'the change made between two watches');
    expect(watches().length).toBeGreaterThanOrEqual(2);
    const resumedFrom = /resourceVersion=(\d+)/.exec(watches()[1] ?? '')?.[1];
    expect(Number(resumedFrom)).toBeGreaterThan(1);
    expect(podLists(c.podsPath, before)).toBe(1);

    // The history is compacted while no watch is open: resuming answers 410, the cache lists again.
    await until(async () => emulator.openWatches > 0, 'the watch is open again');
    // Something the watch does not select changes, then its event is compacted away: bravo's last
    // resourceVersion is now older than the oldest the server keeps.
    emulator.put('configmaps', c.namespace, { metadata: { name: 'unrelated' } });
    emulator.compact();
    emulator.endWatches();
    expect(await alpha.touchMember(member('replica', 'running', { xlog_location: 7 }))).toBe(true);
    await until(async () => (await bravo.loadCluster()).members[0]?.data.xlog_location === 7, 'the change made across the 410');
    expect(podLists(c.podsPath, before)).toBe(2);
    await c.close();
  });

  it('loadCluster reports the API unreachable when the Pods cannot be listed', async () => {
    const c = cluster();
    const dcs = c.member('alpha', { apiUrl: 'http://127.0.0.1:1', retryTimeout: 1 });
    await expect(dcs.loadCluster()).rejects.toMatchObject({ code: 'DCS_UNREACHABLE' });
    await c.close();
  });

  it("role labels as Patroni 4: the holder's Pod gets the leader value, running members their role", async () => {
    const c = cluster({ leaderLabelValue: 'master', followerLabelValue: 'follower' });
    const alpha = c.member('alpha');
    expect(await alpha.touchMember(member('primary'))).toBe(true);
    expect(c.label('alpha'), 'primary data without the lock: no label').toBeUndefined();
    expect(await alpha.acquireLeader()).toBe(true);
    expect(await alpha.touchMember(member('primary', 'running', { xlog_location: 1 }))).toBe(true);
    expect(c.label('alpha')).toBe('master');
    // The holder keeps the leader value whatever its data says (e.g. while demoting), standby leaders
    // get the standby leader value (default `primary`).
    expect(await alpha.touchMember(member('replica', 'stopping'))).toBe(true);
    expect(c.label('alpha')).toBe('master');
    expect(await alpha.touchMember(member('standby_leader'))).toBe(true);
    expect(c.label('alpha')).toBe('primary');
    expect(await alpha.releaseLeader()).toBe(true);
    expect(await alpha.touchMember(member('replica'))).toBe(true);
    expect(c.label('alpha')).toBe('follower');
    expect(await alpha.touchMember(member('demoted'))).toBe(true);
    expect(c.label('alpha'), 'another running role: its own name').toBe('demoted');
    expect(await alpha.touchMember(member('replica', 'starting'))).toBe(true);
    expect(c.label('alpha'), 'not running: no label').toBeUndefined();
    await c.close();
  });

  it('release deletes the leader annotation, and Patroni-released objects read as no leader', async () => {
    const c = cluster();
    const alpha = c.member('alpha');
    const bravo = c.member('bravo');
    expect(await alpha.acquireLeader()).toBe(true);
    expect(await alpha.releaseLeader()).toBe(true);
    const annotations = emulator.get('configmaps', c.namespace, `${c.scope}-leader`)?.metadata.annotations ?? {};
    expect(annotations).not.toHaveProperty('leader');
    expect(annotations).toMatchObject({ transitions: '1' });
    expect((await bravo.loadCluster()).leader).toBeNull();
    expect(await bravo.acquireLeader()).toBe(true);
    expect(emulator.get('configmaps', c.namespace, `${c.scope}-leader`)?.metadata.annotations).toMatchObject({ leader: 'bravo', transitions: '2' });
    await c.close();
  });

  it('a compare-and-set whose answer was lost is recognised on the retry; a real conflict is false', async () => {
    const c = cluster();
    const alpha = c.member('alpha');
    expect(await alpha.setConfig({ ttl: 30 }, null)).toBe(true);
    const configPath = `/api/v1/namespaces/${c.namespace}/configmaps/${c.scope}-config`;
    const version = (await alpha.loadCluster()).config?.version ?? null;
    // The first PATCH is applied but its answer never arrives; the retry meets 409 on its own write.
    emulator.onRequest = ({ method, path }) => {
      if (method !== 'PATCH' || path !== configPath) return;
      emulator.onRequest = undefined;
      return 'drop-answer';
    };
    const before = emulator.requests.length;
    expect(await alpha.setConfig({ ttl: 40 }, version)).toBe(true);
    expect(emulator.requests.slice(before).filter((line) => line.startsWith(`PATCH ${configPath}`))).toHaveLength(2);
    expect((await alpha.loadCluster()).config?.data).toEqual({ ttl: 40 });
    // The same stale version again: a genuine conflict.
    expect(await alpha.setConfig({ ttl: 50 }, version)).toBe(false);
    // Create-only after a lost answer: the value found is ours.
    const failoverPath = `/api/v1/namespaces/${c.namespace}/configmaps/${c.scope}-failover`;
    emulator.onRequest = ({ method, path }) => {
      if (method !== 'POST' || path !== failoverPath.replace(/\/[^/]+$/, '')) return;
      emulator.onRequest = undefined;
      return 'drop-answer';
    };
    expect(await alpha.setFailover({ leader: 'alpha', candidate: 'bravo', scheduledAt: null }, null)).toBe(true);
    expect(await alpha.setFailover({ leader: 'alpha', candidate: 'charlie', scheduledAt: null }, null)).toBe(false);
    await c.close();
  });

  it('every request of both modes, deleteCluster included, is allowed by examples/kubernetes/rbac.yaml, and nothing more', async () => {
    const rbacText = readFileSync(new URL('../../../examples/kubernetes/rbac.yaml', import.meta.url), 'utf8');
    const role = parseAllDocuments(rbacText)
      .map((document) => document.toJS() as { kind?: string; rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[] }> })
      .find((document) => document.kind === 'Role');
    const granted = new Set<string>();
    for (const rule of role?.rules ?? []) {
      expect(rule.apiGroups).toEqual(['']);
      for (const resource of rule.resources) for (const verb of rule.verbs) granted.add(`${verb} ${resource}`);
    }

    const used = new Set<string>();
    for (const mode of ['configmaps', 'endpoints'] as const) {
      const c = cluster({ retryTimeout: 2, ttl: 1 }, mode);
      const before = emulator.requests.length;
      const alpha = c.member('alpha');
      const bravo = c.member('bravo');
      expect(await alpha.initialize({ create: true, sysid: '1' })).toBe(true);
      expect(await alpha.initialize({ create: false, sysid: '2' })).toBe(true);
      expect(await alpha.setConfig({ ttl: 1 }, null)).toBe(true);
      expect(await alpha.setHistory([])).toBe(true);
      expect(await alpha.touchMember(member('primary'))).toBe(true);
      expect(await alpha.acquireLeader()).toBe(true);
      expect(await alpha.renewLeader()).toBe(true);
      expect(await alpha.writeStatus({ optime: 1, slots: {}, retainSlots: [] })).toBe(true);
      expect(await alpha.writeFailsafe({ alpha: 'http://x' })).toBe(true);
      expect(await alpha.setFailover({ leader: 'alpha', candidate: 'bravo', scheduledAt: null })).toBe(true);
      const version = await alpha.setSync({ leader: 'alpha', syncStandby: ['bravo'], quorum: 0 }, null);
      expect(version).not.toBe(false);
      expect(await alpha.deleteSync(version === false ? null : version)).toBe(true);
      const view = await bravo.loadCluster();
      expect(await bravo.watchLeader(view.leader?.version ?? null, 2_000)).toBe(true);
      expect(await alpha.releaseLeader()).toBe(true);
      expect(await alpha.cancelInitialization()).toBe(true);
      expect(await bravo.deleteMember('alpha')).toBe(true);
      expect(await alpha.deleteCluster()).toBe(true);
      expect(emulator.get(mode, c.namespace, `${c.scope}-config`), 'deleteCluster removed the objects').toBeUndefined();
      await c.close();

      for (const line of emulator.requests.slice(before)) {
        const match = /^(\w+) \/api\/v1\/namespaces\/[^/]+\/(\w+)(\/[^?]+)?(\?.*)?$/.exec(line);
        if (!match) throw new Error(`unexpected request ${line}`);
        const [, method, resource, objectName, query = ''] = match;
        const verb =
          method === 'GET'
            ? objectName
              ? 'get'
              : /[?&]watch=(1|true)/.test(query)
                ? 'watch'
                : 'list'
            : method === 'POST'
              ? 'create'
              : method === 'PATCH'
                ? 'patch'
                : method === 'PUT'
                  ? 'update'
                  : objectName
                    ? 'delete'
                    : 'deletecollection';
        used.add(`${verb} ${resource}`);
      }
    }
    for (const request of used) expect(granted, `rbac.yaml must grant "${request}"`).toContain(request);
    for (const grant of granted) expect(used, `rbac.yaml grants "${grant}", which the plugin never uses`).toContain(grant);
  });
});
