/**
 * pgwardenctl against a REST API that demands basic auth and TLS client certificates (verify_client: required),
 * with the cluster in a real etcd: the restart reaches the member only with the CA, the client certificate and
 * the password from the ctl section.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeSnapshot, RestApiNode, RestApiServer } from '@pgwarden/rest-api';
import { createRestApiHandler, startRestApiServer } from '@pgwarden/rest-api';
import type { Cluster, Command, CommandOutcome, Dcs } from '@pgwarden/core';
import { emptyCluster } from '@pgwarden/core';
import { createEtcdDcs } from '@pgwarden/dcs-etcd';
import { startEtcd } from '@pgwarden/testkit/etcd';
import type { EtcdFixture } from '@pgwarden/testkit/etcd';
import { runCtl } from '../src/index.js';

const SCOPE = 'tls-demo';
let dir: string;
let etcd: EtcdFixture;
let dcs: Dcs;
let server: RestApiServer;
const commands: Command[] = [];

function openssl(args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
}

/** A CA, a server certificate for 127.0.0.1 and a client certificate it signed. */
function makeCertificates(): void {
  openssl(['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=ctl test CA']);
  writeFileSync(join(dir, 'server.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n');
  writeFileSync(join(dir, 'client.ext'), 'extendedKeyUsage=clientAuth\n');
  for (const [name, cn] of [['server', 'localhost'], ['client', 'operator']] as const) {
    openssl(['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`]);
    openssl(['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`]);
  }
}

function snapshot(cluster: Cluster | null): NodeSnapshot {
  const now = Date.now();
  return {
    name: 'pg0',
    scope: SCOPE,
    patroniVersion: '4.1.4',
    pgwardenVersion: '0.1.0',
    state: 'running',
    role: 'primary',
    postgres: {
      dataDirectory: 'initialized',
      systemId: '7300000000000000001',
      controlState: 'in production',
      running: true,
      accepting: true,
      role: 'primary',
      timeline: 1,
      walPosition: 0x3000000,
      receiveLsn: null,
      replayLsn: null,
      replicationState: null,
      upstream: null,
      standbySignal: false,
      postmasterStartTime: '2026-01-01 00:00:00.000 UTC',
      serverVersion: 150000,
      replication: [],
      pendingRestart: false,
      synchronousStandbyNames: '',
    },
    holdsValidLock: true,
    isStandbyCluster: false,
    clusterUnlocked: false,
    paused: false,
    failsafeActive: false,
    dcsLastSeen: Math.floor(now / 1000),
    lastCycleAt: now,
    now,
    ttl: 30,
    loopWait: 10,
    maximumLagOnFailover: 1_048_576,
    tags: {},
    cluster,
    pendingRestart: false,
    watchdogFailed: false,
  };
}

/** The member side: the real handler and server; the restart itself is only recorded. */
async function startMember(): Promise<RestApiServer> {
  let cluster: Cluster | null = emptyCluster();
  const node: RestApiNode = {
    snapshot: () => snapshot(cluster),
    loadCluster: async () => (cluster = await dcs.loadCluster()),
    operations: {
      dcs,
      submit: (command: Command): Promise<CommandOutcome> => {
        commands.push(command);
        return Promise.resolve({ accepted: true, message: 'restarting' });
      },
      waitForTask: () => Promise.resolve({ kind: 'restart', state: 'succeeded', startedAt: Date.now() }),
      cancelTask: () => Promise.resolve(),
      probeMembers: () => Promise.resolve([]),
      reload: () => Promise.resolve(),
      wakeUp: () => undefined,
      now: () => Date.now(),
    },
  };
  const handler = createRestApiHandler({ node, authentication: { username: 'admin', password: 'r3st-secret' }, verifyClient: 'required' });
  return startRestApiServer({
    host: '127.0.0.1',
    port: 0,
    handler,
    tls: { certFile: join(dir, 'server.crt'), keyFile: join(dir, 'server.key'), caFile: join(dir, 'ca.crt'), verifyClient: 'required' },
  });
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'pgwardenctl-tls-'));
  makeCertificates();
  etcd = await startEtcd();
  dcs = createEtcdDcs({ hosts: [etcd.endpoint], scope: SCOPE, namespace: '/service', name: 'pg0', ttl: 30, retryTimeout: 10 });
  server = await startMember();
  await dcs.initialize({ create: true, sysid: '7300000000000000001' });
  await dcs.touchMember({
    conn_url: 'postgres://127.0.0.1:5432/postgres',
    api_url: `https://127.0.0.1:${server.address.port}/patroni`,
    state: 'running',
    role: 'primary',
    version: '4.1.4',
    timeline: 1,
  });
  expect(await dcs.acquireLeader()).toBe(true);
}, 60_000);

afterAll(async () => {
  await server?.[Symbol.asyncDispose]();
  await dcs?.close();
  await etcd?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function ctl(ctlSection: string, argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const file = join(dir, `ctl-${Math.random().toString(36).slice(2)}.yml`);
  writeFileSync(file, `scope: ${SCOPE}\netcd3:\n  hosts: ${etcd.endpoint}\nctl:\n${ctlSection}`);
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCtl(['-c', file, ...argv], {
    stdout: { write: (chunk: string) => out.push(chunk) },
    stderr: { write: (chunk: string) => err.push(chunk) },
    env: { HOME: '/nonexistent-home' },
    prompt: () => Promise.reject(new Error('no prompt expected')),
  });
  return { code, out: out.join(''), err: err.join('') };
}

const CA = () => `  cacert: ${join(dir, 'ca.crt')}\n`;
const CLIENT_CERT = () => `  certfile: ${join(dir, 'client.crt')}\n  keyfile: ${join(dir, 'client.key')}\n`;
const AUTH = '  authentication: {username: admin, password: r3st-secret}\n';

describe('pgwardenctl over TLS with client certificates and basic auth', () => {
  it('restarts a member with the CA, the client certificate and the password', async () => {
    const before = commands.length;
    const result = await ctl(CA() + CLIENT_CERT() + AUTH, ['restart', SCOPE, 'pg0', '--force']);
    expect(result.err).toBe('');
    expect(result.out).toContain('Success: restart on member pg0\n');
    expect(result.code).toBe(0);
    expect(commands.slice(before)).toEqual([{ kind: 'restart' }]);
  });

  it('is refused 401 with a wrong password, and reaches nothing without a client certificate', async () => {
    const before = commands.length;
    const wrong = await ctl(CA() + CLIENT_CERT() + '  authentication: {username: admin, password: nope}\n', ['restart', SCOPE, 'pg0', '--force']);
    expect(wrong.out).toContain('Failed: restart for member pg0, status code=401');
    expect(wrong.code).toBe(1);
    const noCert = await ctl(CA() + AUTH, ['restart', SCOPE, 'pg0', '--force']);
    expect(noCert.code).toBe(1);
    expect(noCert.err).toMatch(/^Error: /);
    const untrusted = await ctl(CLIENT_CERT() + AUTH, ['restart', SCOPE, 'pg0', '--force']);
    expect(untrusted.err).toMatch(/self[- ]signed|unable to verify|certificate/i);
    expect(commands.length).toBe(before);
  });
});
