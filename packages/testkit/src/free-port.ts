/**
 * Ports for servers the tests start. They are drawn from below the kernel's ephemeral range (32768-60999 on
 * Linux), so an outgoing connection's local port can never take one between allocation and use, and a port is
 * never handed out twice by one process, so a member restarted late in a test still finds its ports free.
 */
import { createServer } from 'node:net';

const RANGE_START = 20000;
const RANGE_END = 32000;
const handedOut = new Set<number>();
// Each test process starts at its own offset so parallel workers rarely probe the same ports.
let cursor = RANGE_START + ((process.pid * 7919) % (RANGE_END - RANGE_START));

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** A TCP port on 127.0.0.1 that is free now and that this process has not handed out before. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < RANGE_END - RANGE_START; attempt++) {
    const port = cursor;
    cursor = cursor + 1 >= RANGE_END ? RANGE_START : cursor + 1;
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`[testkit] no free port left in ${RANGE_START}-${RANGE_END - 1}`);
}
