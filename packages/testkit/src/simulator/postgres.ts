/**
 * A model of one node's PostgreSQL: data directory, system id, WAL as a lineage of timeline branches, the
 * postmaster's life, and replication from an upstream. Branches carry a unique id besides their timeline
 * number, so two servers that reuse a timeline number on different histories are told apart: WAL that
 * diverged never streams, and a wrong HA decision shows up as a replica that never catches up.
 */
import type { ControlState, PostgresObservation } from '@pgwarden/core';

/** From `start` (bytes) on, WAL belongs to timeline `tl` of branch `uid`. */
export interface Branch {
  readonly uid: number;
  readonly tl: number;
  readonly start: number;
}

export type DataState = 'missing' | 'empty' | 'initialized';

export class SimPostgres {
  dataDirectory: DataState = 'empty';
  systemId: string | null = null;
  lineage: Branch[] = [];
  /** End of WAL on disk (written on a primary, received and replayed on a replica). */
  lsn = 0;
  controlState: ControlState | null = null;
  running = false;
  accepting = false;
  mode: 'primary' | 'replica' = 'replica';
  standbySignal = false;
  /** Member name of the upstream in the standby configuration. */
  upstream: string | null = null;
  /** The replica streams right now (set by the replication step). */
  streaming = false;
  /** The node (VM) is frozen: nothing runs. */
  frozen = false;
  startCount = 0;
  /** synchronous_standby_names in postgresql.conf (outside the data directory: survives wipe and clone). */
  synchronousStandbyNames: string | null = null;
  /**
   * Timeline history files in pg_wal, by number: those of its own lineage, those fetched from an upstream on a
   * later timeline, planted ones (timeline reservation). A promotion moves past an unbroken run of them.
   */
  historyFiles = new Set<number>();
  /** Replication slots (pg_replslot): gone with the data directory, not copied by a clone, emptied by a rewind. */
  slots = new Map<string, { readonly type: 'physical' | 'logical'; restartLsn: number | null; readonly database: string | null; readonly plugin: string | null }>();

  get timeline(): number | null {
    return this.lineage.at(-1)?.tl ?? null;
  }

  /** Running read-write: the state in which a client write succeeds. */
  writable(): boolean {
    return this.running && this.accepting && this.mode === 'primary' && !this.frozen;
  }

  observe(): PostgresObservation {
    const up = this.running && this.accepting;
    const initialized = this.dataDirectory === 'initialized';
    return {
      dataDirectory: this.dataDirectory,
      systemId: initialized ? this.systemId : null,
      controlState: initialized ? this.controlState : null,
      running: this.running,
      accepting: up,
      role: up ? this.mode : null,
      timeline: up ? this.timeline : null,
      walPosition: up ? this.lsn : null,
      receiveLsn: up && this.mode === 'replica' ? this.lsn : null,
      replayLsn: up && this.mode === 'replica' ? this.lsn : null,
      replicationState: up && this.mode === 'replica' ? (this.streaming ? 'streaming' : 'in archive recovery') : null,
      upstream: up && this.upstream ? { host: this.upstream, port: 5432, applicationName: null } : null,
      standbySignal: this.standbySignal,
      postmasterStartTime: this.running ? `start-${this.startCount}` : null,
      serverVersion: 150000,
      replication: [],
      pendingRestart: false,
      synchronousStandbyNames: up ? this.synchronousStandbyNames : null,
    };
  }

  initdb(systemId: string, uid: number): void {
    this.dataDirectory = 'initialized';
    this.systemId = systemId;
    this.lineage = [{ uid, tl: 1, start: 0 }];
    this.historyFiles = new Set();
    this.lsn = 0x3000000;
    this.controlState = 'shut down';
    this.standbySignal = false;
  }

  start(role: 'primary' | 'replica', upstream: string | null): boolean {
    if (this.dataDirectory !== 'initialized' || this.running) return this.running;
    this.running = true;
    this.accepting = true;
    this.startCount++;
    this.mode = role;
    this.standbySignal = role === 'replica';
    this.upstream = role === 'replica' ? upstream : null;
    this.streaming = false;
    this.controlState = role === 'primary' ? 'in production' : 'in archive recovery';
    return true;
  }

  stop(mode: 'smart' | 'fast' | 'immediate'): void {
    if (!this.running) return;
    this.running = false;
    this.accepting = false;
    this.streaming = false;
    // An immediate stop (or a crash) leaves the control file as it was: crash recovery on the next start.
    if (mode !== 'immediate') this.controlState = this.mode === 'primary' ? 'shut down' : 'shut down in recovery';
  }

  crash(): void {
    this.stop('immediate');
  }

  /** Writes history files for these timelines where pg_wal has none (the driver's timeline reservation). */
  plantHistoryFiles(timelines: readonly number[]): number[] {
    const planted = timelines.filter((tl) => tl > 1 && !this.historyFiles.has(tl));
    for (const tl of planted) this.historyFiles.add(tl);
    return planted;
  }

  /**
   * Ends recovery on a new timeline branching at the current position. As PostgreSQL does, the number is one
   * past the last of an unbroken run of history files above its own timeline.
   */
  promote(uid: number): boolean {
    if (!this.running || !this.accepting || this.mode !== 'replica') return this.running && this.mode === 'primary';
    let newest = this.timeline ?? 0;
    while (this.historyFiles.has(newest + 1)) newest++;
    const tl = newest + 1;
    this.historyFiles.add(tl);
    this.lineage = [...this.lineage, { uid, tl, start: this.lsn }];
    this.mode = 'primary';
    this.standbySignal = false;
    this.upstream = null;
    this.streaming = false;
    this.controlState = 'in production';
    return true;
  }

  /** [parent timeline, switch position, reason] for each switch up to `timeline`, as a `.history` file says. */
  history(timeline: number): Array<[number, number, string]> {
    const lines: Array<[number, number, string]> = [];
    for (let index = 1; index < this.lineage.length; index++) {
      const branch = this.lineage[index]!;
      if (branch.tl > timeline) break;
      lines.push([this.lineage[index - 1]!.tl, branch.start, 'no recovery target specified']);
    }
    return lines;
  }

  wipe(): void {
    this.running = false;
    this.accepting = false;
    this.dataDirectory = 'empty';
    this.systemId = null;
    this.lineage = [];
    this.historyFiles = new Set();
    this.lsn = 0;
    this.controlState = null;
    this.standbySignal = false;
    this.upstream = null;
    this.streaming = false;
    this.slots.clear();
  }

  /** pg_basebackup: a copy of the source's data directory, configured as its standby. */
  copyFrom(source: SimPostgres): void {
    this.dataDirectory = 'initialized';
    this.systemId = source.systemId;
    this.lineage = [...source.lineage];
    // pg_basebackup sends every history file in pg_wal.
    this.historyFiles = new Set(source.historyFiles);
    this.lsn = source.lsn;
    this.controlState = 'in archive recovery';
    this.standbySignal = true;
    this.slots.clear();
  }

  /**
   * Streaming moved this replica onto `upstream`'s later timeline: the walreceiver fetched the history files
   * of the timelines in between, as far as the upstream has them.
   */
  fetchHistoryFiles(upstream: SimPostgres, fromTimeline: number): void {
    const to = this.timeline ?? 0;
    for (const tl of upstream.historyFiles) if (tl > fromTimeline && tl <= to) this.historyFiles.add(tl);
  }
}

/** The branch id in effect at `position` of a lineage. */
export function branchAt(lineage: readonly Branch[], position: number): number | null {
  let uid: number | null = null;
  for (const branch of lineage) {
    if (branch.start <= position) uid = branch.uid;
    else break;
  }
  return uid;
}

/**
 * The first position where two lineages disagree, looking only below `limit`; null when they agree there.
 * WAL in [0, limit) is the same on both exactly when every switch point below limit lands on the same branch.
 */
export function divergencePoint(a: readonly Branch[], b: readonly Branch[], limit: number): number | null {
  const points = [...new Set([0, ...a.map((x) => x.start), ...b.map((x) => x.start)])].filter((p) => p < limit).sort((x, y) => x - y);
  for (const point of points) if (branchAt(a, point) !== branchAt(b, point)) return point;
  return null;
}

/** Streaming from `upstream` is possible: the replica's WAL is a prefix of the upstream's history. */
export function canStream(replica: SimPostgres, upstream: SimPostgres): boolean {
  if (replica.systemId !== upstream.systemId) return false;
  if (divergencePoint(replica.lineage, upstream.lineage, replica.lsn) !== null) return false;
  // A replica ahead of its upstream on the same branch cannot start streaming either.
  return replica.lsn <= upstream.lsn;
}

export type RewindOutcome =
  | { readonly ok: true; readonly rewound: boolean; readonly detail: string }
  | { readonly ok: false; readonly error: string };

/**
 * pg_rewind against `source`: needs a source on a later timeline than ours when the histories diverged
 * (pg_rewind compares timeline numbers: on equal numbers it reports "no rewind required" and leaves a
 * diverged directory diverged, as the real tool does when two servers reused a timeline number).
 */
export function rewind(target: SimPostgres, source: SimPostgres): RewindOutcome {
  if (target.dataDirectory !== 'initialized') return { ok: false, error: 'target data directory is not initialized' };
  if (target.systemId !== source.systemId) return { ok: false, error: 'source and target clusters are from different systems' };
  const targetTl = target.timeline ?? 0;
  const sourceTl = source.timeline ?? 0;
  if (targetTl === sourceTl) return { ok: true, rewound: false, detail: 'source and target cluster are on the same timeline' };
  const point = divergencePoint(target.lineage, source.lineage, Math.max(target.lsn, source.lsn) + 1);
  if (point === null || point >= target.lsn) return { ok: true, rewound: false, detail: 'no rewind required' };
  if (sourceTl < targetTl) return { ok: false, error: `source timeline ${sourceTl} is older than target timeline ${targetTl}` };
  target.lineage = source.lineage.filter((branch) => branch.start <= point);
  // pg_rewind copies pg_wal's history files from the source and removes those the source does not have.
  target.historyFiles = new Set(source.historyFiles);
  target.lsn = point;
  target.slots.clear();
  target.controlState = 'in archive recovery';
  target.standbySignal = true;
  return { ok: true, rewound: true, detail: `rewound to ${point} on timeline ${target.timeline ?? '?'}` };
}
