import { defineConfig } from 'vitest/config';

// Packages resolve each other's src/ through the @pgwarden/source condition: no build before tests.
// Tests run on the server side, so the condition goes into ssr.resolve too ('import' stays out: pg is CommonJS).
const resolve = { conditions: ['@pgwarden/source'] };
const ssr = { resolve: { conditions: ['@pgwarden/source', 'module', 'node', 'development|production'] } };

export default defineConfig({
  resolve,
  ssr,
  test: {
    projects: [
      {
        resolve,
        ssr,
        test: {
          name: 'unit',
          include: ['packages/*/src/**/*.test.ts', 'examples/*/src/**/*.test.ts'],
          testTimeout: 10_000,
        },
      },
      {
        resolve,
        ssr,
        test: {
          name: 'integration',
          include: ['packages/*/test/**/*.test.ts', 'examples/*/test/**/*.test.ts'],
          testTimeout: 60_000,
          hookTimeout: 60_000,
          fileParallelism: false,
        },
      },
      {
        resolve,
        ssr,
        test: {
          // The simulator over thousands of seeds: no processes, no sockets, a few minutes of CPU.
          name: 'simulation',
          include: ['tests/simulation/**/*.test.ts'],
          testTimeout: 600_000,
        },
      },
      {
        resolve,
        ssr,
        test: {
          // Both directions against Patroni 3.0.2 (Debian package `patroni`): patronictl on pgwarden, pgwardenctl on Patroni.
          name: 'compat',
          include: ['tests/compat/**/*.test.ts'],
          testTimeout: 240_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
      {
        resolve,
        ssr,
        test: {
          name: 'e2e',
          include: ['tests/e2e/**/*.test.ts'],
          testTimeout: 240_000,
          hookTimeout: 240_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
