/** Fixtures for tests that run a real PostgreSQL: binaries, an unprivileged OS user, owned temp dirs, free ports. */
import { execFileSync } from 'node:child_process';
import { chown, mkdtemp } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';

/** PostgreSQL 15's binaries (Debian layout), or `PGWARDEN_PG_BIN_DIR`. */
export function postgresBinDir(): string {
  return process.env['PGWARDEN_PG_BIN_DIR'] || '/usr/lib/postgresql/15/bin';
}

export interface OsUser {
  readonly uid: number;
  readonly gid: number;
  readonly name: string;
}

/** The user PostgreSQL runs as: `postgres` when we are root (PostgreSQL refuses root), else the current user. */
export function unprivilegedUser(): OsUser {
  if (process.getuid?.() !== 0) {
    const me = userInfo();
    return { uid: me.uid, gid: me.gid, name: me.username };
  }
  const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
  const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
  return { uid, gid, name: 'postgres' };
}

/** A fresh directory under the system temp dir, owned by `unprivilegedUser()`; the caller removes it. */
export async function makeTempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), prefix.endsWith('-') ? prefix : `${prefix}-`));
  if (process.getuid?.() === 0) {
    const user = unprivilegedUser();
    await chown(dir, user.uid, user.gid);
  }
  return dir;
}

export { freePort } from './free-port.js';
export type { MemberConfigOptions } from './member-config.js';
export { memberConfigYaml, TEST_SUPERUSER } from './member-config.js';
