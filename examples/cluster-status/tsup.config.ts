import { defineConfig } from 'tsup';
import { packagePreset } from '../../tsup.preset.js';

// Two entries: the library part (index) and the program (main), run as `node dist/main.js`.
export default defineConfig(packagePreset(['src/index.ts', 'src/main.ts']));
