/**
 * The ZooKeeper fixture must know its own server: a port already answered by another process (another
 * test's server that took it first) must not pass for a ready ZooKeeper.
 */
import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort } from '../src/free-port.js';
import { startZooKeeper } from '../src/zookeeper.js';

describe('startZooKeeper', () => {
  it('is not fooled by another server answering imok on its port', async () => {
    const port = await freePort();
    // Answers every four-letter word as a healthy ZooKeeper's `ruok` would.
    const impostor = createServer((socket) => {
      socket.on('error', () => {});
      socket.once('data', () => socket.end('imok'));
    });
    await new Promise<void>((resolve) => impostor.listen(port, '127.0.0.1', resolve));
    try {
      await expect(startZooKeeper({ port, startTimeoutMs: 20_000 })).rejects.toThrow(/zookeeper (exited|did not become ready)/);
    } finally {
      await new Promise<void>((resolve) => impostor.close(() => resolve()));
    }
  });

  it('starts its own server and reports its endpoint', async () => {
    await using zookeeper = await startZooKeeper();
    expect(zookeeper.endpoint).toBe(`127.0.0.1:${zookeeper.port}`);
  });
});
