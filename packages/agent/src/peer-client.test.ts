import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseConfig } from '@pgwarden/config';
import { peerClient } from './peer-client.js';

const BASE = `scope: demo
name: node1
restapi:
  listen: 127.0.0.1:8008
  connect_address: 127.0.0.1:8008
etcd3:
  hosts: 127.0.0.1:2379
postgresql:
  listen: 127.0.0.1:5432
  connect_address: 127.0.0.1:5432
  data_dir: /var/lib/pg/data
  authentication:
    superuser: {username: postgres, password: secret}
    replication: {username: replicator, password: rep}
`;

const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

describe('requests to the other members', () => {
  it('use restapi.authentication, or ctl.authentication first, and the default agent without TLS settings', () => {
    const plain = peerClient(parseConfig(`${BASE}`, 'test.yml'));
    expect(plain).toEqual({ headers: {} });
    const restapi = peerClient(parseConfig(BASE.replace('  connect_address: 127.0.0.1:8008\n', '  connect_address: 127.0.0.1:8008\n  authentication: {username: api, password: apipass}\n'), 'test.yml'));
    expect(restapi.headers).toEqual({ authorization: basic('api', 'apipass') });
    const ctl = peerClient(parseConfig(`${BASE}ctl:\n  authentication: {username: ops, password: opspass}\n`, 'test.yml'));
    expect(ctl.headers).toEqual({ authorization: basic('ops', 'opspass') });
    expect(ctl.httpsAgent).toBeUndefined();
  });

  it('trust the configured CA (ctl.cacert, else restapi.cafile) and honour ctl.insecure', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pgwarden-peer-client-'));
    try {
      const ca = join(dir, 'ca.pem');
      writeFileSync(ca, 'not a real certificate, only read');
      const withCa = peerClient(parseConfig(BASE.replace('  connect_address: 127.0.0.1:8008\n', `  connect_address: 127.0.0.1:8008\n  cafile: ${ca}\n`), 'test.yml'));
      expect(withCa.httpsAgent?.options.ca?.toString()).toBe('not a real certificate, only read');
      expect(withCa.httpsAgent?.options.rejectUnauthorized).toBe(true);
      const insecure = peerClient(parseConfig(`${BASE}ctl:\n  insecure: true\n`, 'test.yml'));
      expect(insecure.httpsAgent?.options.rejectUnauthorized).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
