import { defineConfig } from 'vitest/config';
const conditions = ['@pgwarden/source'];
export default defineConfig({
  ssr: { resolve: { conditions } },
  test: { include: ['packages/config/src/**/*.test.ts'], root: '/work/main' },
});
