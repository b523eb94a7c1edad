import { defineConfig } from 'tsup';
import { packagePreset } from '../../tsup.preset.js';

export default defineConfig({ ...packagePreset(['src/index.ts', 'src/etcd.ts', 'src/postgres.ts']), external: ['vitest'] });
