// Lint enforces the architecture (STYLE.md item 12): type-checked rules, total switches, no floating promises,
// type-only imports, and the package layering through no-restricted-imports.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const PACKAGES = ['core', 'config', 'dcs-etcd', 'dcs-zookeeper', 'dcs-consul', 'dcs-k8s', 'postgres-driver', 'rest-api', 'watchdog', 'testkit', 'agent', 'ctl'];

/** Packages a package may import; everything else under @pgwarden/* is refused. */
const ALLOWED = {
  core: [],
  config: ['core'],
  'dcs-etcd': ['core'],
  'dcs-zookeeper': ['core'],
  'dcs-consul': ['core'],
  'dcs-k8s': ['core'],
  'postgres-driver': ['core'],
  'rest-api': ['core'],
  watchdog: ['core'],
  testkit: ['core'],
  agent: ['core', 'config', 'dcs-etcd', 'dcs-zookeeper', 'dcs-consul', 'dcs-k8s', 'postgres-driver', 'rest-api', 'watchdog'],
  ctl: ['core', 'config', 'dcs-etcd', 'dcs-zookeeper', 'dcs-consul', 'dcs-k8s', 'rest-api'],
};

function layering(pkg) {
  const refused = PACKAGES.filter((other) => other !== pkg && !ALLOWED[pkg].includes(other));
  const patterns = [
    ...refused.map((other) => ({ group: [`@pgwarden/${other}`, `@pgwarden/${other}/*`], message: `${pkg} must not depend on ${other} (STYLE.md item 13).` })),
    { group: ['../../*/src/*', '../../../packages/*'], message: 'Import another package by its name, never its files.' },
  ];
  if (pkg === 'core') patterns.push({ group: ['node:*'], message: 'core does no I/O: it imports no node:* module.' });
  return {
    files: [`packages/${pkg}/src/**/*.ts`],
    ignores: [`packages/${pkg}/src/**/*.test.ts`],
    rules: { 'no-restricted-imports': ['error', { patterns }] },
  };
}

export default tseslint.config(
  {
    ignores: [
      '**/dist/**',
      '**/node_modules/**',
      'bench/results/**',
      '**/*.js',
      '**/*.mjs',
      '**/*.cjs',
      'packages/*/native/**',
      // Build and test-runner configuration, outside every package's tsconfig.
      '**/tsup.config.ts',
      'tsup.preset.ts',
      'vitest.config.ts',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      '@typescript-eslint/no-floating-promises': 'error',
      // A `let` assigned once, after closures that read it were created, cannot be a `const`.
      'prefer-const': ['error', { ignoreReadBeforeAssign: true }],
      // Implementations of async contracts (Dcs, handlers) stay `async` without awaiting, so a throw is a rejection.
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'separate-type-imports' }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' }],
    },
  },
  {
    // node-zookeeper-client declares its Exception apart from Error: `as Error` keeps rejections typed as errors.
    files: ['packages/dcs-zookeeper/**/*.ts', 'packages/testkit/src/zookeeper.ts', 'tests/e2e/failover-zookeeper.test.ts'],
    rules: { '@typescript-eslint/no-unnecessary-type-assertion': 'off' },
  },
  {
    // Tests poke at JSON answers of servers and emulators; untyped access there is the point, not a risk.
    files: ['**/*.test.ts', 'tests/**/*.ts', 'packages/*/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
    },
  },
  ...PACKAGES.map(layering),
);
