import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRestApiHandler } from '../src/handler.js';
import type { RestApiOptions } from '../src/handler.js';
import { startRestApiServer } from '../src/server.js';
import type { RestApiServer, RestApiServerOptions } from '../src/server.js';
import { makeCertificates } from './certificates.js';
import type { TestCertificates } from './certificates.js';
import { FakeOperations, OperationsNode } from './fake-operations.js';
import { clusterWith, member, primarySnapshot } from './fixtures.js';
import { send } from './http-helpers.js';

const basic = (user: string, password: string): Record<string, string> => ({
  authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

async function serve(
  options: Omit<RestApiOptions, 'node'>,
  server: Partial<RestApiServerOptions> = {},
): Promise<{ server: RestApiServer; node: OperationsNode; ops: FakeOperations }> {
  const ops = new FakeOperations();
  await ops.seed();
  const node = new OperationsNode(ops);
  node.current = primarySnapshot({ cluster: await ops.dcs.loadCluster() });
  const handler = createRestApiHandler({ node, ...options });
  return { server: await startRestApiServer({ host: '127.0.0.1', port: 0, handler, ...server }), node, ops };
}

describe('basic authentication', () => {
  it('guards the unsafe endpoints with 401 and WWW-Authenticate; reads stay open', async () => {
    const { server, ops } = await serve({ authentication: { username: 'admin', password: 's3cret' } });
    await using _ = server;
    const base = server.address.url;
    const none = await send(base, 'POST', '/reload');
    expect([none.status, none.body, none.headers['www-authenticate']]).toEqual([401, 'no auth header received', 'Basic realm="Patroni"']);
    const wrong = await send(base, 'POST', '/reload', { headers: basic('admin', 'nope') });
    expect([wrong.status, wrong.body]).toEqual([401, 'not authenticated']);
    const patch = await send(base, 'PATCH', '/config', { body: { ttl: 40 }, headers: basic('admin', 'nope') });
    expect(patch.status).toBe(401);
    expect(ops.reloads + ops.configWrites).toBe(0);
    const right = await send(base, 'POST', '/reload', { headers: basic('admin', 's3cret') });
    expect(right.status).toBe(202);
    expect(ops.reloads).toBe(1);
    for (const path of ['/patroni', '/', '/metrics', '/config', '/cluster']) expect((await send(base, 'GET', path)).status).toBe(200);
  });

  it('guards reads too with authenticateReads, status line only for HEAD', async () => {
    const { server } = await serve({ authentication: { username: 'admin', password: 's3cret' }, authenticateReads: true });
    await using _ = server;
    const base = server.address.url;
    for (const path of ['/patroni', '/', '/metrics', '/config', '/no-such-check']) {
      expect([path, (await send(base, 'GET', path)).status]).toEqual([path, 401]);
    }
    const head = await send(base, 'HEAD', '/primary');
    expect([head.status, head.headers['www-authenticate']]).toEqual([401, 'Basic realm="Patroni"']);
    expect((await send(base, 'HEAD', '/primary', { headers: basic('admin', 's3cret') })).status).toBe(200);
    expect((await send(base, 'GET', '/liveness', { headers: basic('admin', 's3cret') })).status).toBe(200);
  });
});

describe('allowlist', () => {
  it('refuses clients outside the allowlist with 403 on unsafe endpoints only', async () => {
    const { server, ops } = await serve({ allowlist: ['10.0.0.0/8', 'fd00::/8'] });
    await using _ = server;
    const refused = await send(server.address.url, 'POST', '/reload');
    expect([refused.status, refused.body]).toEqual([403, 'Access is denied']);
    expect(ops.reloads).toBe(0);
    expect((await send(server.address.url, 'GET', '/patroni')).status).toBe(200);
  });

  it('lets in listed addresses, networks and resolved host names', async () => {
    for (const allowlist of [['127.0.0.1'], ['127.0.0.0/8'], ['::ffff:127.0.0.1'], ['db.local']]) {
      const { server } = await serve({ allowlist, resolveHost: (host) => Promise.resolve(host === 'db.local' ? ['127.0.0.1'] : []) });
      await using _ = server;
      expect([allowlist, (await send(server.address.url, 'POST', '/reload')).status]).toEqual([allowlist, 202]);
    }
  });

  it("lets in the members' api_url hosts with allowlist_include_members", async () => {
    const { server, node } = await serve({
      allowlistIncludeMembers: true,
      resolveHost: (host) => Promise.resolve(host === 'node2.local' ? ['127.0.0.1'] : []),
    });
    await using _ = server;
    const base = server.address.url;
    node.current = primarySnapshot({ cluster: clusterWith({ members: [member('node2', { api_url: 'http://10.9.9.9:8008/patroni' })] }) });
    expect((await send(base, 'POST', '/reload')).status).toBe(403);
    node.current = primarySnapshot({ cluster: clusterWith({ members: [member('node2', { api_url: 'http://node2.local:8008/patroni' })] }) });
    expect((await send(base, 'POST', '/reload')).status).toBe(202);
  });

  it('checks the allowlist before the password', async () => {
    const { server } = await serve({ allowlist: ['10.0.0.0/8'], authentication: { username: 'a', password: 'b' } });
    await using _ = server;
    expect((await send(server.address.url, 'POST', '/reload')).status).toBe(403);
  });
});

describe('TLS', () => {
  let certs: TestCertificates;
  beforeAll(() => {
    certs = makeCertificates();
  });
  afterAll(() => certs.remove());

  const tlsServer = (verifyClient: 'none' | 'optional' | 'required') =>
    serve(
      { verifyClient, extraHeaders: { 'x-http': '1' }, httpsExtraHeaders: { 'strict-transport-security': 'max-age=60' } },
      { tls: { certFile: certs.certFile, keyFile: certs.keyFile, keyFilePassword: certs.keyPassword, caFile: certs.caFile, verifyClient } },
    );

  it('serves HTTPS with an encrypted key, and adds the https extra headers', async () => {
    const { server } = await tlsServer('none');
    await using _ = server;
    expect(server.address.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    const answer = await send(server.address.url, 'GET', '/patroni', { tls: { ca: certs.ca } });
    expect(answer.status).toBe(200);
    expect([answer.headers['x-http'], answer.headers['strict-transport-security']]).toEqual(['1', 'max-age=60']);
    expect((await send(server.address.url, 'POST', '/reload', { tls: { ca: certs.ca } })).status).toBe(202);
    await server.reloadCertificates();
    expect((await send(server.address.url, 'GET', '/patroni', { tls: { ca: certs.ca } })).status).toBe(200);
  });

  it('verify_client optional: reads without a certificate, unsafe endpoints only with a trusted one', async () => {
    const { server, ops } = await tlsServer('optional');
    await using _ = server;
    const base = server.address.url;
    expect((await send(base, 'GET', '/patroni', { tls: { ca: certs.ca } })).status).toBe(200);
    const bare = await send(base, 'POST', '/reload', { tls: { ca: certs.ca } });
    expect([bare.status, bare.body]).toEqual([403, 'client certificate required']);
    const stranger = await send(base, 'POST', '/reload', { tls: { ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey } });
    expect(stranger.status).toBe(403);
    expect(ops.reloads).toBe(0);
    const trusted = await send(base, 'POST', '/reload', { tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
    expect(trusted.status).toBe(202);
  });

  it('verify_client required: no request at all without a trusted certificate', async () => {
    const { server } = await tlsServer('required');
    await using _ = server;
    const base = server.address.url;
    await expect(send(base, 'GET', '/patroni', { tls: { ca: certs.ca } })).rejects.toThrow();
    await expect(send(base, 'GET', '/patroni', { tls: { ca: certs.ca, cert: certs.strangerCert, key: certs.strangerKey } })).rejects.toThrow();
    const trusted = await send(base, 'GET', '/patroni', { tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } });
    expect(trusted.status).toBe(200);
    expect((await send(base, 'POST', '/reload', { tls: { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey } })).status).toBe(202);
  });

  it('reports unreadable TLS files as a configuration error', async () => {
    await expect(serve({}, { tls: { certFile: `${certs.dir}/missing.crt` } })).rejects.toThrow(/\[rest-api\] cannot read restapi\.certfile/);
  });
});
