#!/usr/bin/env node
// Starts the agent without sizing libuv's thread pool: an ES module runs after Node's loader has already started the
// pool, so `thread_pool_size` cannot apply here. The `pgwarden` command is bin/pgwarden.cjs, which sizes the pool and
// then loads the agent; this file is kept so `node bin/pgwarden.js` still works (the agent logs the pool it got).
const { main } = await import('../dist/index.js');
process.exitCode = await main(process.argv.slice(2));
