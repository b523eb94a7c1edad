import { defineConfig } from 'tsup';
import { packagePreset } from '../../tsup.preset.js';

export default defineConfig({ ...packagePreset(['src/index.ts', 'src/etcd.ts', 'src/kubernetes-emulator.ts', 'src/zookeeper.ts', 'src/postgres.ts', 'src/consul-emulator.ts', 'src/simulator.ts']), external: ['vitest'] });
