// Builds the optional native addon (native/ -> native/build/Release/pgwarden_watchdog.node) with node-gyp.
// Never fails the install: without the addon the package still works with the software driver, and the
// Linux driver reports why it cannot open the device. No prebuilt binaries are downloaded.
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const packageDir = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = join(packageDir, 'native');
const failureFile = join(nativeDir, 'build-failure.txt');

function skip(reason) {
  writeFileSync(failureFile, `${reason}\n`);
  console.warn(`@pgwarden/watchdog: native addon not built (${reason}); the Linux /dev/watchdog driver is unavailable, the software driver works.`);
  process.exit(0);
}

if (process.platform !== 'linux') skip(`platform ${process.platform} has no Linux watchdog API`);
if (process.env.PGWARDEN_WATCHDOG_SKIP_NATIVE === '1') skip('PGWARDEN_WATCHDOG_SKIP_NATIVE=1');

// node-gyp: the one on PATH (npm and pnpm put theirs there for install scripts), else npm's bundled copy.
function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    const npmDir = dirname(createRequire(import.meta.url).resolve('npm/package.json', { paths: [join(dirname(process.execPath), '..', 'lib', 'node_modules')] }));
    candidates.push(join(npmDir, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  } catch {
    // npm not installed beside node: rely on PATH.
  }
  candidates.push(join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  for (const candidate of candidates) if (candidate && existsSync(candidate)) return [process.execPath, candidate];
  return ['node-gyp'];
}

const args = ['rebuild', `--directory=${nativeDir}`];
// Build against the headers of the running Node when they are installed beside it (distribution packages,
// official tarballs): node-gyp would otherwise try to download them.
const nodedir = process.env.npm_config_nodedir ?? resolve(dirname(process.execPath), '..');
if (existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`);

const [command, ...prefix] = findNodeGyp();
const result = spawnSync(command, [...prefix, ...args], { cwd: packageDir, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
if (result.error || result.status !== 0) {
  const output = `${result.stdout ?? ''}${result.stderr ?? ''}`.trim().split('\n').slice(-15).join('\n');
  skip(`node-gyp ${result.error ? result.error.message : `exited with ${result.status}`}${output ? `:\n${output}` : ''}`);
}
rmSync(failureFile, { force: true });
