/**
 * The client the issue describes: every 50 ms it asks every member's GET /primary and inserts a row into the one that
 * answers 200. Each success is recorded with its time and member; write unavailability is read from the gaps.
 */
import { setTimeout as delay } from 'node:timers/promises';
import type { BenchCluster } from './cluster.js';

export const WRITE_INTERVAL_MS = 50;

export interface WriteSuccess {
  readonly at: number;
  readonly member: string;
}

export class Writer {
  readonly successes: WriteSuccess[] = [];
  attempts = 0;
  private running = false;
  private loop: Promise<void> | null = null;

  constructor(private readonly cluster: BenchCluster) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.loop;
  }

  private async run(): Promise<void> {
    while (this.running) {
      const started = Date.now();
      this.attempts++;
      const primaries = await this.cluster.primaries(500);
      const target = primaries[0];
      if (target !== undefined) {
        try {
          await this.cluster.query(target, 'INSERT INTO bench_writes DEFAULT VALUES', 1_000);
          this.successes.push({ at: Date.now(), member: target });
        } catch {
          // not writable now: the gap in successes is the figure
        }
      }
      await delay(Math.max(0, WRITE_INTERVAL_MS - (Date.now() - started)));
    }
  }

  /** First success at or after `since` on a member other than `old`. */
  firstOnOther(old: string, since: number): WriteSuccess | undefined {
    return this.successes.find((success) => success.at >= since && success.member !== old);
  }

  /** The last success on `member` before `before`. */
  lastOn(member: string, before: number): WriteSuccess | undefined {
    let found: WriteSuccess | undefined;
    for (const success of this.successes) {
      if (success.at >= before) break;
      if (success.member === member) found = success;
    }
    return found;
  }

  async waitFirstOnOther(old: string, since: number, timeoutMs: number): Promise<WriteSuccess | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const found = this.firstOnOther(old, since);
      if (found) return found;
      await delay(20);
    }
    return undefined;
  }
}
