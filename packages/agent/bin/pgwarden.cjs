#!/usr/bin/env node
// The `pgwarden` launcher. It is CommonJS on purpose: libuv starts its whole thread pool at the first asynchronous
// call and never resizes it, and Node's ES module loader makes such calls before an ES module's first line runs.
// Here nothing asynchronous has happened yet, so UV_THREADPOOL_SIZE set below is the size the pool gets.
'use strict';

const { readdirSync, readFileSync, statSync } = require('node:fs');
const { join } = require('node:path');

const DEFAULT_SIZE = 5; // Patroni's default and minimum for thread_pool_size
const LIBUV_MAX = 1024; // libuv caps UV_THREADPOOL_SIZE here

// Same integer forms as the configuration's environment parser (decimal, 0x hex, 0-prefixed octal).
function parseInteger(text) {
  const match = /^([+-]?)(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9]\d*)$/.exec(String(text).trim());
  if (!match) return undefined;
  const digits = match[2];
  const magnitude = /^0[xX]/.test(digits)
    ? Number.parseInt(digits.slice(2), 16)
    : digits.length > 1 && digits.startsWith('0')
      ? Number.parseInt(digits.slice(1), 8)
      : Number.parseInt(digits, 10);
  return match[1] === '-' ? -magnitude : magnitude;
}

/** The top-level `thread_pool_size` of one YAML document, undefined when absent; throws on a parse problem. */
function fromYaml(text) {
  const { parse } = require('yaml');
  const value = parse(text, { version: '1.1' });
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return undefined;
  return value.thread_pool_size;
}

/** The configuration file or directory, found the way the CLI's parser finds it: the first positional argument. */
function configPath(argv) {
  for (const arg of argv) {
    if (arg === '--') return undefined;
    if (!arg.startsWith('-')) return arg;
  }
  return undefined;
}

/**
 * `thread_pool_size` as the agent's configuration loader resolves it: the file (or the directory's *.yml/*.yaml files in
 * sorted order, the last one setting it wins) with PATRONI_THREAD_POOL_SIZE over it; else PATRONI_CONFIGURATION alone;
 * else the variable alone. Undefined when unset or unreadable: the real loader reports any problem.
 */
function configuredSize(argv, env) {
  const fromEnv = env.PATRONI_THREAD_POOL_SIZE ? parseInteger(env.PATRONI_THREAD_POOL_SIZE) : undefined;
  const path = configPath(argv);
  if (path !== undefined) {
    if (fromEnv !== undefined) return fromEnv;
    const files = statSync(path).isDirectory()
      ? readdirSync(path, { withFileTypes: true })
          .filter((entry) => entry.isFile() && (entry.name.endsWith('.yml') || entry.name.endsWith('.yaml')))
          .map((entry) => entry.name)
          .sort()
          .map((name) => join(path, name))
      : [path];
    let size;
    for (const file of files) {
      const value = fromYaml(readFileSync(file, 'utf8'));
      if (value !== undefined) size = value;
    }
    return size;
  }
  if (env.PATRONI_CONFIGURATION) return fromYaml(env.PATRONI_CONFIGURATION);
  return fromEnv;
}

function poolSize(argv, env) {
  let configured;
  try {
    configured = configuredSize(argv, env);
  } catch {
    // unreadable or invalid configuration: the agent's loader reports it
  }
  if (typeof configured !== 'number' || !Number.isInteger(configured) || configured < 1) return DEFAULT_SIZE;
  return Math.min(LIBUV_MAX, Math.max(DEFAULT_SIZE, configured));
}

const argv = process.argv.slice(2);
// An operator's own UV_THREADPOOL_SIZE wins; the agent logs which one sized the pool.
const source = process.env.UV_THREADPOOL_SIZE ? 'UV_THREADPOOL_SIZE' : 'thread_pool_size';
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(poolSize(argv, process.env));
globalThis[Symbol.for('pgwarden.threadPoolSource')] = source;

import('../dist/index.js').then(
  async ({ main }) => {
    process.exitCode = await main(argv);
  },
  (error) => {
    process.stderr.write(`pgwarden: cannot load the agent: ${error && error.stack ? error.stack : String(error)}\n`);
    process.exitCode = 1;
  },
);
