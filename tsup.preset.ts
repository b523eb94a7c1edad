import type { Options } from 'tsup';

/** The one build preset every package uses: ESM, types, sourcemaps, node20. */
export function packagePreset(entry: string[] = ['src/index.ts']): Options {
  return {
    entry,
    format: ['esm'],
    dts: true,
    sourcemap: true,
    clean: true,
    target: 'node20',
    platform: 'node',
  };
}
