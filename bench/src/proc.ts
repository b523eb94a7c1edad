/** Processes the benchmark starts (always stopped, on errors too) and what /proc says about them. */
import type { ChildProcess, SpawnOptions } from 'node:child_process';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';

const children = new Set<ChildProcess>();
/** Data directories whose postmaster must not outlive the benchmark. */
const dataDirs = new Set<string>();
/** Temporary roots to remove if the benchmark is interrupted before it removes them itself. */
const tempRoots = new Set<string>();

export function trackTempRoot(dir: string): void {
  tempRoots.add(dir);
}

export function trackDataDir(dir: string): void {
  dataDirs.add(dir);
}

export function spawnTracked(command: string, args: readonly string[], options: SpawnOptions): ChildProcess {
  const child = spawn(command, args, options);
  children.add(child);
  child.once('exit', () => children.delete(child));
  child.once('error', () => children.delete(child));
  return child;
}

export function postmasterPid(dataDir: string): number | null {
  const file = join(dataDir, 'postmaster.pid');
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, 'utf8').split('\n')[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/**
 * Processes whose working directory is `dir` or below it (a removed directory reads as "<path> (deleted)", which
 * still matches), with their command line.
 */
export function processesUnder(dir: string): { pid: number; command: string }[] {
  const found: { pid: number; command: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry) || Number(entry) === process.pid) continue;
    try {
      const cwd = readlinkSync(`/proc/${entry}/cwd`);
      if (cwd !== dir && !cwd.startsWith(`${dir}/`) && !cwd.startsWith(`${dir} `)) continue;
      const command = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim();
      found.push({ pid: Number(entry), command: command.slice(0, 120) });
    } catch {
      // gone meanwhile, or a kernel thread
    }
  }
  return found;
}

export function killQuietly(pid: number | null | undefined, signal: NodeJS.Signals = 'SIGKILL'): void {
  if (!pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}

/** Last resort: whatever is still running when the benchmark ends or is interrupted. */
export function killEverything(): void {
  for (const child of children) killQuietly(child.pid, 'SIGKILL');
  for (const dir of dataDirs) killQuietly(postmasterPid(dir), 'SIGKILL');
  for (const dir of tempRoots) rmSync(dir, { recursive: true, force: true });
}

let hooked = false;
export function installCleanupHooks(): void {
  if (hooked) return;
  hooked = true;
  process.once('exit', killEverything);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      killEverything();
      process.exit(130);
    });
  }
}

export async function waitExit(child: ChildProcess, timeoutMs: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return true;
  const exited = new Promise<true>((resolve) => child.once('exit', () => resolve(true)));
  return Promise.race([exited, delay(timeoutMs, false)]);
}

export const CLOCK_TICKS = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

export interface ProcSample {
  readonly rssKb: number;
  /**
   * Unique set size: the pages only this process maps (Private_Clean + Private_Dirty). RSS also counts the
   * interpreter's or runtime's binary pages that every process running it shares; USS is what one more agent costs.
   */
  readonly ussKb: number | null;
  readonly vmSizeKb: number;
  readonly threads: number;
  /** utime + stime, in clock ticks. */
  readonly cpuTicks: number;
}

function uniqueSetKb(pid: number): number | null {
  try {
    const rollup = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(rollup)?.[1] ?? NaN);
    const uss = field('Private_Clean') + field('Private_Dirty');
    return Number.isFinite(uss) ? uss : null;
  } catch {
    return null;
  }
}

export function sampleProcess(pid: number): ProcSample | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const field = (name: string) => Number(/^(\S+):\s+(\d+)/m.exec(status.split('\n').find((line) => line.startsWith(`${name}:`)) ?? '')?.[2] ?? NaN);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at ")"; utime and stime are fields 14 and 15.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const utime = Number(rest[11]);
    const stime = Number(rest[12]);
    return { rssKb: field('VmRSS'), ussKb: uniqueSetKb(pid), vmSizeKb: field('VmSize'), threads: field('Threads'), cpuTicks: utime + stime };
  } catch {
    return null;
  }
}
