/** The Kubernetes API emulator over HTTP on loopback: the documented semantics the DCS plugin relies on. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startKubernetesEmulator } from '../src/kubernetes-emulator.js';
import type { KubernetesEmulator } from '../src/kubernetes-emulator.js';

describe('Kubernetes API emulator', () => {
  let emulator: KubernetesEmulator;
  beforeAll(async () => {
    emulator = await startKubernetesEmulator();
  });
  afterAll(async () => {
    await emulator.stop();
  });

  const base = (namespace = 'default', resource = 'configmaps') => `${emulator.url}/api/v1/namespaces/${namespace}/${resource}`;
  async function call(method: string, url: string, body?: unknown, contentType = 'application/json') {
    const answer = await fetch(url, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': contentType } }),
    });
    return { status: answer.status, body: (await answer.json()) as Record<string, any> };
  }
  const patch = (url: string, body: unknown, type = 'application/merge-patch+json') => call('PATCH', url, body, type);

  it('creates, gets, refuses a duplicate, and answers 404 with a Status', async () => {
    const created = await call('POST', base('crud'), { metadata: { name: 'demo-config', labels: { a: 'b' }, annotations: { x: '1' } } });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ kind: 'ConfigMap', apiVersion: 'v1', metadata: { name: 'demo-config', namespace: 'crud' } });
    expect(Number(created.body['metadata'].resourceVersion)).toBeGreaterThan(0);
    expect((await call('GET', `${base('crud')}/demo-config`)).body).toEqual(created.body);

    const duplicate = await call('POST', base('crud'), { metadata: { name: 'demo-config' } });
    expect(duplicate).toMatchObject({ status: 409, body: { kind: 'Status', status: 'Failure', reason: 'AlreadyExists', code: 409 } });
    const missing = await call('GET', `${base('crud')}/nothing`);
    expect(missing).toMatchObject({ status: 404, body: { kind: 'Status', reason: 'NotFound', code: 404 } });
    expect((await call('GET', `${base('other')}/demo-config`)).status).toBe(404);
    // Annotation values must be strings.
    expect((await call('POST', base('crud'), { metadata: { name: 'bad', annotations: { n: 1 } } })).status).toBe(422);
  });

  it('patches with a resourceVersion precondition, bumps one global resourceVersion, skips no-op writes', async () => {
    const url = `${base('patch')}/lock`;
    const created = await call('POST', base('patch'), { metadata: { name: 'lock', annotations: { leader: 'a', keep: 'k' } } });
    const v1 = created.body['metadata'].resourceVersion as string;
    const ok = await patch(url, { metadata: { resourceVersion: v1, annotations: { leader: 'b', keep: null } } });
    expect(ok.status).toBe(200);
    expect(ok.body['metadata'].annotations).toEqual({ leader: 'b' });
    const v2 = ok.body['metadata'].resourceVersion as string;
    expect(Number(v2)).toBeGreaterThan(Number(v1));
    expect(Number(v2)).toBe(emulator.resourceVersion);

    const stale = await patch(url, { metadata: { resourceVersion: v1, annotations: { leader: 'c' } } });
    expect(stale).toMatchObject({ status: 409, body: { reason: 'Conflict', code: 409 } });
    // A strategic merge patch of annotations behaves the same; no precondition means unconditional.
    const strategic = await patch(url, { metadata: { annotations: { leader: 'd' } } }, 'application/strategic-merge-patch+json');
    expect(strategic.body['metadata'].annotations).toEqual({ leader: 'd' });
    const same = await patch(url, { metadata: { annotations: { leader: 'd' } } });
    expect(same.body['metadata'].resourceVersion).toBe(strategic.body['metadata'].resourceVersion);
    expect((await patch(url, [{ op: 'add' }], 'application/json-patch+json')).status).toBe(415);
    expect((await patch(`${base('patch')}/absent`, { metadata: {} })).status).toBe(404);
  });

  it('replaces with PUT (conditional when a resourceVersion is given) and deletes with preconditions', async () => {
    const created = await call('POST', base('put'), { metadata: { name: 'obj', annotations: { a: '1' } } });
    const version = created.body['metadata'].resourceVersion as string;
    const replaced = await call('PUT', `${base('put')}/obj`, { metadata: { name: 'obj', resourceVersion: version, annotations: { b: '2' } } });
    expect(replaced.status).toBe(200);
    expect(replaced.body['metadata'].annotations).toEqual({ b: '2' });
    expect(replaced.body['metadata'].uid).toBe(created.body['metadata'].uid);
    expect((await call('PUT', `${base('put')}/obj`, { metadata: { name: 'obj', resourceVersion: version } })).status).toBe(409);
    expect((await call('PUT', `${base('put')}/none`, { metadata: { name: 'none' } })).status).toBe(404);

    expect((await call('DELETE', `${base('put')}/obj`, { preconditions: { resourceVersion: version } })).status).toBe(409);
    const deleted = await call('DELETE', `${base('put')}/obj`);
    expect(deleted).toMatchObject({ status: 200, body: { kind: 'Status', status: 'Success' } });
    expect((await call('DELETE', `${base('put')}/obj`)).status).toBe(404);
  });

  it('lists with equality-based label selectors and a name field selector', async () => {
    emulator.createPod({ namespace: 'list', name: 'node0', labels: { app: 'pg', 'cluster-name': 'one', role: 'primary' } });
    emulator.createPod({ namespace: 'list', name: 'node1', labels: { app: 'pg', 'cluster-name': 'one', role: 'replica' } });
    emulator.createPod({ namespace: 'list', name: 'node2', labels: { app: 'pg', 'cluster-name': 'two' } });
    const names = async (query: string) =>
      ((await call('GET', `${base('list', 'pods')}?${query}`)).body['items'] as { metadata: { name: string } }[]).map((item) => item.metadata.name);
    expect(await names(`labelSelector=${encodeURIComponent('app=pg,cluster-name=one')}`)).toEqual(['node0', 'node1']);
    expect(await names(`labelSelector=${encodeURIComponent('cluster-name==one,role!=primary')}`)).toEqual(['node1']);
    expect(await names(`labelSelector=${encodeURIComponent('!role')}`)).toEqual(['node2']);
    expect(await names(`fieldSelector=${encodeURIComponent('metadata.name=node2')}`)).toEqual(['node2']);
    const listed = await call('GET', base('list', 'pods'));
    expect(listed.body).toMatchObject({ kind: 'PodList', metadata: { resourceVersion: String(emulator.resourceVersion) } });
    expect(listed.body['items'][0]).toMatchObject({ status: { podIP: '127.0.0.1' } });
  });

  it('watches from a resourceVersion: ADDED, MODIFIED, DELETED as newline-delimited JSON', async () => {
    const listed = await call('GET', base('watch'));
    const from = listed.body['metadata'].resourceVersion as string;
    // A change before the watch starts, after the list: it must still be delivered.
    await call('POST', base('watch'), { metadata: { name: 'early', labels: { app: 'pg' } } });
    const controller = new AbortController();
    const response = await fetch(`${base('watch')}?watch=1&resourceVersion=${from}&labelSelector=app%3Dpg`, { signal: controller.signal });
    expect(response.status).toBe(200);
    const reader = response.body!.getReader();
    const seen: { type: string; name: string; rv: string }[] = [];
    let pending = '';
    const next = async () => {
      while (!pending.includes('\n')) {
        const { value } = await reader.read();
        pending += new TextDecoder().decode(value);
      }
      const line = pending.slice(0, pending.indexOf('\n'));
      pending = pending.slice(pending.indexOf('\n') + 1);
      const event = JSON.parse(line) as { type: string; object: { metadata: { name: string; resourceVersion: string } } };
      seen.push({ type: event.type, name: event.object.metadata.name, rv: event.object.metadata.resourceVersion });
    };
    await next();
    await call('POST', base('watch'), { metadata: { name: 'ignored', labels: { app: 'other' } } });
    await patch(`${base('watch')}/early`, { metadata: { annotations: { leader: 'x' } } });
    await next();
    await call('DELETE', `${base('watch')}/early`);
    await next();
    controller.abort();
    expect(seen.map(({ type, name }) => `${type} ${name}`)).toEqual(['ADDED early', 'MODIFIED early', 'DELETED early']);
    expect(Number(seen[2]!.rv)).toBeGreaterThan(Number(seen[1]!.rv));
  });

  it('deletes a collection by label selector, answering a Success Status', async () => {
    await call('POST', base('collection'), { metadata: { name: 'a', labels: { app: 'pg', scope: 'one' } } });
    await call('POST', base('collection'), { metadata: { name: 'b', labels: { app: 'pg', scope: 'two' } } });
    const answer = await call('DELETE', `${base('collection')}?labelSelector=${encodeURIComponent('app=pg,scope=one')}`);
    expect(answer).toMatchObject({ status: 200, body: { kind: 'Status', status: 'Success' } });
    const items = (await call('GET', base('collection'))).body['items'] as Array<{ metadata: { name: string } }>;
    expect(items.map((item) => item.metadata.name)).toEqual(['b']);
  });

  it('answers a watch from a compacted resourceVersion with a 410 Expired ERROR event; endWatches ends streams', async () => {
    const from = (await call('GET', base('compact'))).body['metadata'].resourceVersion as string;
    const open = await fetch(`${base('compact')}?watch=1&resourceVersion=${from}`);
    const ended = open.text();
    emulator.endWatches();
    await expect(ended).resolves.toBe('');
    await call('POST', base('compact'), { metadata: { name: 'after' } });
    emulator.compact();
    const text = await (await fetch(`${base('compact')}?watch=1&resourceVersion=${from}`)).text();
    const event = JSON.parse(text.trim()) as { type: string; object: { code: number; reason: string } };
    expect(event).toMatchObject({ type: 'ERROR', object: { code: 410, reason: 'Expired' } });
  });

  it('applies a request but drops its answer when onRequest says so', async () => {
    emulator.onRequest = ({ method }) => (method === 'POST' ? 'drop-answer' : undefined);
    await expect(call('POST', base('dropped'), { metadata: { name: 'x' } })).rejects.toThrow();
    emulator.onRequest = undefined;
    expect(emulator.get('configmaps', 'dropped', 'x')).toBeDefined();
  });

  it('ends open watches on stop', async () => {
    const other = await startKubernetesEmulator();
    const response = await fetch(`${other.url}/api/v1/namespaces/default/configmaps?watch=true`);
    const reading = response.text();
    await other.stop();
    await expect(reading).resolves.toBeDefined();
    await other.stop();
  });
});
