/**
 * The loader imports only the configured store's plugin: opening a ZooKeeper store must not load the etcd
 * (gRPC), Consul or Kubernetes clients. Nothing is mocked here; a module resolve hook and the CommonJS cache
 * record what this process actually loads (the other test file mocks the plugins, so it cannot tell).
 */
import { MessageChannel } from 'node:worker_threads';
import { createRequire, register } from 'node:module';
import { describe, expect, it } from 'vitest';

const HOOK = `
let port;
export function initialize(data) {
  port = data.port;
  // Answers a flush after every URL posted before it: messages on one port arrive in order.
  port.on('message', (message) => port.postMessage({ flushed: message }));
  port.unref();
}
export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  port.postMessage(resolved.url);
  return resolved;
}`;

const CONFIG = `scope: demo
name: node1
restapi:
  listen: 0.0.0.0:8008
  connect_address: 10.0.0.1:8008
postgresql:
  listen: 0.0.0.0:5432
  connect_address: 10.0.0.1:5432
  data_dir: /var/lib/pg/data
  pgpass: /tmp/pgpass
  authentication:
    superuser: {username: postgres}
    replication: {username: replicator}
zookeeper:
  hosts: ['127.0.0.1:2181']
`;

/** The client libraries of the other plugins, as they appear in a resolved path. */
const FOREIGN = ['/etcd3/', '/@grpc/grpc-js/', '/consul/', '/@kubernetes/client-node/'];

describe('createDcs imports only the configured plugin', () => {
  it('loads node-zookeeper-client for zookeeper, and none of the etcd, Consul or Kubernetes clients', async () => {
    const channel = new MessageChannel();
    const resolved: string[] = [];
    let flushed: (() => void) | undefined;
    channel.port1.on('message', (message: unknown) => {
      if (typeof message === 'string') resolved.push(message);
      else flushed?.();
    });
    register(`data:text/javascript,${encodeURIComponent(HOOK)}`, { data: { port: channel.port2 }, transferList: [channel.port2] });
    const cjsCache = createRequire(import.meta.url).cache;
    const loaded = (): string[] => [...resolved, ...Object.keys(cjsCache).map((path) => `file://${path}`)];
    const foreignBefore = loaded().filter((url) => FOREIGN.some((part) => url.includes(part)));
    expect(foreignBefore, 'nothing foreign before the loader runs').toEqual([]);

    // Imported only now, with the hook in place: a static import at the top would load the loader's own
    // imports before the hook could see them.
    const { parseConfig } = await import('@pgwarden/config');
    const { silentLogger } = await import('@pgwarden/core');
    const { createDcs } = await import('./dcs-loader.js');
    const config = parseConfig(CONFIG, 'node1.yml', {});
    const dcs = await createDcs(config, { scope: 'demo', name: 'node1', ttl: 30, retryTimeout: 10 }, silentLogger);
    await dcs.close();
    // Hook messages arrive asynchronously: one round trip through the channel delivers every earlier one.
    await new Promise<void>((resolve) => {
      flushed = resolve;
      channel.port1.postMessage('flush');
    });
    channel.port1.close();

    expect(dcs.kind).toBe('zookeeper');
    // The detection sees the plugin that was loaded, so it would see the others too.
    expect(loaded().some((url) => url.includes('/node-zookeeper-client/'))).toBe(true);
    expect(loaded().filter((url) => FOREIGN.some((part) => url.includes(part)))).toEqual([]);
  });
});
