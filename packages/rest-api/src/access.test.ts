import { describe, expect, it } from 'vitest';
import { addressAllowed, basicAuthProblem, cachedResolver, memberApiHosts, normalizeAddress, parseAllowlist } from './access.js';
import { clusterWith, member } from '../test/fixtures.js';

const basic = (text: string): string => `Basic ${Buffer.from(text).toString('base64')}`;

describe('basicAuthProblem', () => {
  const credentials = { username: 'admin', password: 'sécret:x' };

  it("accepts the right credentials and words refusals like Patroni", () => {
    expect(basicAuthProblem(basic('admin:sécret:x'), credentials)).toBeNull();
    expect(basicAuthProblem(undefined, credentials)).toBe('no auth header received');
    expect(basicAuthProblem(basic('admin:wrong'), credentials)).toBe('not authenticated');
    expect(basicAuthProblem(`Bearer ${basic('admin:sécret:x').slice(6)}`, credentials)).toBe('not authenticated');
    expect(basicAuthProblem('Basic', credentials)).toBe('not authenticated');
  });
});

describe('allowlist', () => {
  it('splits networks, addresses and host names, and flags the rest', () => {
    expect(parseAllowlist(['10.0.0.0/8', '192.168.1.7', 'fd00::/8', '::1', 'db1.example.com', '10.0.0.0/40', 'not a host', 'x/8'])).toEqual({
      networks: [
        { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
        { address: '192.168.1.7', prefix: 32, family: 'ipv4' },
        { address: 'fd00::', prefix: 8, family: 'ipv6' },
        { address: '::1', prefix: 128, family: 'ipv6' },
      ],
      hosts: ['db1.example.com'],
      invalid: ['10.0.0.0/40', 'not a host', 'x/8'],
    });
  });

  it('matches v4 and v6 clients, including v4 clients on a dual-stack socket', () => {
    const { networks } = parseAllowlist(['10.0.0.0/8', 'fd00::/8', '192.168.1.7']);
    expect(addressAllowed('10.1.2.3', networks, [])).toBe(true);
    expect(addressAllowed('::ffff:10.1.2.3', networks, [])).toBe(true);
    expect(addressAllowed('fd12::5', networks, [])).toBe(true);
    expect(addressAllowed('192.168.1.7', networks, [])).toBe(true);
    expect(addressAllowed('192.168.1.8', networks, [])).toBe(false);
    expect(addressAllowed('fe80::1', networks, [])).toBe(false);
    expect(addressAllowed('172.16.0.1', networks, ['172.16.0.1'])).toBe(true);
    expect(addressAllowed('2001:db8::1', [], ['2001:db8:0::1'])).toBe(true);
    expect(addressAllowed('', networks, [])).toBe(false);
  });

  it('normalizes addresses', () => {
    expect(normalizeAddress('::FFFF:127.0.0.1')).toBe('127.0.0.1');
    expect(normalizeAddress('fe80::1%eth0')).toBe('fe80::1');
  });

  it("takes the members' api_url hosts", () => {
    const cluster = clusterWith({
      members: [
        member('a', { api_url: 'http://10.0.0.1:8008/patroni' }),
        member('b', { api_url: 'https://[fd00::2]:8008/patroni' }),
        member('c', { api_url: 'http://db3.example.com:8008/patroni' }),
        member('d', { api_url: 'not a url' }),
        member('e', {}),
      ],
    });
    expect(memberApiHosts(cluster)).toEqual(['10.0.0.1', 'fd00::2', 'db3.example.com']);
    expect(memberApiHosts(null)).toEqual([]);
  });
});

describe('cachedResolver', () => {
  it('resolves names once per ttl, passes addresses through and swallows failures', async () => {
    let now = 0;
    const asked: string[] = [];
    const resolve = cachedResolver(
      (host) => {
        asked.push(host);
        return host === 'bad' ? Promise.reject(new Error('ENOTFOUND')) : Promise.resolve(['10.0.0.9']);
      },
      1000,
      () => now,
    );
    expect(await resolve('db')).toEqual(['10.0.0.9']);
    expect(await resolve('db')).toEqual(['10.0.0.9']);
    expect(await resolve('10.0.0.1')).toEqual(['10.0.0.1']);
    expect(await resolve('bad')).toEqual([]);
    now = 1000;
    await resolve('db');
    expect(asked).toEqual(['db', 'bad', 'db']);
  });
});
