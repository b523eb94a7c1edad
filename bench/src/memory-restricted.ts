/**
 * One pgwarden agent (a one-member cluster) under the memory limits this machine lets us set: an address-space rlimit
 * (prlimit --as) always, and a cgroup memory limit when a memory controller is writable (v2 memory.max, else v1
 * memory.limit_in_bytes). Shows whether the REST API keeps answering and the HA cycle keeps running.
 */
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { BenchCluster, PROFILES } from './cluster.js';
import { sampleProcess } from './proc.js';
import { say } from './scenarios.js';

export interface MemoryRestrictedVariant {
  readonly label: string;
  /** Address-space rlimit on the agent (inherited by PostgreSQL), MiB; null for none. */
  readonly addressSpaceLimitMb: number | null;
  /** Node started with --disable-wasm-trap-handler (no 10 GiB guard reservation for WebAssembly memory). */
  readonly disableWasmTrapHandler: boolean;
  readonly cgroup: { readonly kind: 'v2' | 'v1'; readonly limitMb: number; readonly peakMb: number | null; readonly failcnt: number | null } | { readonly kind: 'none'; readonly why: string };
  readonly bootstrapped: boolean;
  readonly windowSeconds: number;
  readonly restOk: number;
  readonly restTotal: number;
  readonly cycleLines: number;
  readonly expectedCycles: number;
  readonly agentAlive: boolean;
  readonly rssMb: number | null;
  readonly error: string | null;
  /** The agent's last log line when it died. */
  readonly lastLogLine: string | null;
}

export interface MemoryRestrictedResult {
  readonly variants: MemoryRestrictedVariant[];
}

interface Cgroup {
  readonly kind: 'v1' | 'v2';
  readonly dir: string;
  add(pid: number): void;
  peakMb(): number | null;
  failcnt(): number | null;
  remove(): void;
}

function makeCgroup(limitBytes: number): Cgroup | string {
  const name = `pgwarden-bench-${process.pid}`;
  const v2 = '/sys/fs/cgroup';
  const v1 = '/sys/fs/cgroup/memory';
  const readNumber = (file: string) => {
    try {
      return Number(readFileSync(file, 'utf8').trim());
    } catch {
      return null;
    }
  };
  const attempt = (kind: 'v1' | 'v2', base: string, limitFile: string, peakFile: string, failFile: string | null): Cgroup | string => {
    const dir = join(base, name);
    try {
      mkdirSync(dir);
      writeFileSync(join(dir, limitFile), String(limitBytes));
    } catch (error) {
      try {
        rmdirSync(dir);
      } catch {
        // never created
      }
      return `${kind}: ${(error as Error).message}`;
    }
    return {
      kind,
      dir,
      add: (pid) => writeFileSync(join(dir, 'cgroup.procs'), String(pid)),
      peakMb: () => {
        const value = readNumber(join(dir, peakFile));
        return value === null ? null : Math.round(value / 1024 / 1024);
      },
      failcnt: () => (failFile ? readNumber(join(dir, failFile)) : null),
      remove: () => {
        for (let i = 0; i < 20; i++) {
          try {
            rmdirSync(dir);
            return;
          } catch {
            // processes may still be leaving
          }
        }
      },
    };
  };
  const reasons: string[] = [];
  if (existsSync(join(v2, 'cgroup.controllers')) && readFileSync(join(v2, 'cgroup.controllers'), 'utf8').includes('memory')) {
    const got = attempt('v2', v2, 'memory.max', 'memory.peak', null);
    if (typeof got !== 'string') return got;
    reasons.push(got);
  } else reasons.push('v2: no memory controller in /sys/fs/cgroup');
  if (existsSync(join(v1, 'memory.limit_in_bytes'))) {
    const got = attempt('v1', v1, 'memory.limit_in_bytes', 'memory.max_usage_in_bytes', 'memory.failcnt');
    if (typeof got !== 'string') return got;
    reasons.push(got);
  } else reasons.push('v1: no memory controller');
  return reasons.join('; ');
}

export interface MemoryRestrictedOptions {
  readonly addressSpaceMb: number;
  readonly cgroupMb: number;
  readonly windowSeconds: number;
  readonly agentBin: string;
}

/**
 * Two runs: the address-space limit alone on a plain `node` (what `ulimit -v` does to an unprepared Node agent), then
 * the same limit with --disable-wasm-trap-handler plus the cgroup memory limit when one can be set.
 */
export async function runMemoryRestricted(options: MemoryRestrictedOptions): Promise<MemoryRestrictedResult> {
  const variants: MemoryRestrictedVariant[] = [];
  variants.push(await runVariant(options, { label: 'address-space rlimit, plain node', wasmFlag: false, useCgroup: false }));
  variants.push(await runVariant(options, { label: 'address-space rlimit + node --disable-wasm-trap-handler + cgroup memory limit', wasmFlag: true, useCgroup: true }));
  return { variants };
}

async function runVariant(options: MemoryRestrictedOptions, variant: { label: string; wasmFlag: boolean; useCgroup: boolean }): Promise<MemoryRestrictedVariant> {
  const cgroup = variant.useCgroup ? makeCgroup(options.cgroupMb * 1024 * 1024) : 'not requested';
  say(`memory-restricted (${variant.label}): prlimit --as=${options.addressSpaceMb}MiB${typeof cgroup === 'string' ? `, no cgroup (${cgroup})` : `, cgroup ${cgroup.kind} limit ${options.cgroupMb}MiB`}`);
  const cluster = await BenchCluster.create({
    implementation: 'pgwarden',
    profile: PROFILES['fast']!,
    members: 1,
    agentBin: options.agentBin,
    scope: variant.wasmFlag ? 'restricted-prepared' : 'restricted-plain',
    wrap: (command, args) => ['prlimit', [`--as=${options.addressSpaceMb * 1024 * 1024}`, '--', command, ...(variant.wasmFlag ? ['--disable-wasm-trap-handler'] : []), ...args]],
    onSpawn: (_member, pid) => {
      if (typeof cgroup !== 'string') cgroup.add(pid);
    },
  });
  let bootstrapped = false;
  let restOk = 0;
  let restTotal = 0;
  let error: string | null = null;
  let cyclesAtStart = 0;
  let rssMb: number | null = null;
  let agentAlive = false;
  const member = cluster.members[0]!;
  try {
    cluster.startAll();
    await cluster.waitHealthy(90_000, 250);
    bootstrapped = true;
    cyclesAtStart = member.cycleLines;
    const started = Date.now();
    while (Date.now() - started < options.windowSeconds * 1000) {
      const tick = Date.now();
      restTotal++;
      if ((await cluster.httpStatus(member.name, '/health', 900)) === 200) restOk++;
      await delay(Math.max(0, 1000 - (Date.now() - tick)));
    }
    const pid = cluster.agentPid(member.name);
    const sample = pid ? sampleProcess(pid) : null;
    rssMb = sample ? Math.round(sample.rssKb / 1024) : null;
  } catch (caught) {
    error = (caught as Error).message.split('\n')[0] ?? 'unknown';
  }
  agentAlive = member.process !== null && member.process.exitCode === null && member.process.signalCode === null;
  const cycleLines = member.cycleLines - cyclesAtStart;
  const cgroupResult: MemoryRestrictedVariant['cgroup'] =
    typeof cgroup === 'string' ? { kind: 'none', why: cgroup } : { kind: cgroup.kind, limitMb: options.cgroupMb, peakMb: cgroup.peakMb(), failcnt: cgroup.failcnt() };
  const lastLogLine = agentAlive ? null : lastMeaningfulLine(member.logFile);
  await cluster.stopAll();
  if (typeof cgroup !== 'string') cgroup.remove();
  return {
    label: variant.label,
    addressSpaceLimitMb: options.addressSpaceMb,
    disableWasmTrapHandler: variant.wasmFlag,
    cgroup: cgroupResult,
    bootstrapped,
    windowSeconds: options.windowSeconds,
    restOk,
    restTotal,
    cycleLines,
    expectedCycles: Math.floor(options.windowSeconds / PROFILES['fast']!.loopWait),
    agentAlive,
    rssMb,
    error,
    lastLogLine,
  };
}

function lastMeaningfulLine(file: string): string | null {
  try {
    const lines = readFileSync(file, 'utf8').split('\n').map((line) => line.trim()).filter(Boolean);
    return lines.find((line) => /Error|error:/.test(line)) ?? lines.at(-1) ?? null;
  } catch {
    return null;
  }
}
