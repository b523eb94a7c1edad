import { describe, expect, it } from 'vitest';
import type { TimelineHistoryEntry } from '../model.js';
import { SKIPPED_TIMELINE_REASON, leftBehindByHistory } from './timeline-reservation.js';
import { cluster, member, pgObservation, runCycle } from './test-support.js';

const r = 'no recovery target specified';
// The lineage as the leader on timeline 7 writes it: 5 switched to 7 at 140057103, number 6 was skipped (another
// member had promoted to 6 off timeline 5 at 136985500 and was demoted before anyone followed it).
const lines: TimelineHistoryEntry[] = [
  [1, 1000, r],
  [2, 2000, r],
  [3, 3000, r],
  [4, 4000, r],
  [5, 140057103, r],
  [6, 140057103, SKIPPED_TIMELINE_REASON],
];

describe('leftBehindByHistory', () => {
  it('a replica past the switch away from its timeline has diverged; one before it has not', () => {
    expect(leftBehindByHistory(lines, 5, 140057104)).toBe(true);
    expect(leftBehindByHistory(lines, 5, 140057103)).toBe(false);
    expect(leftBehindByHistory(lines, 5, 139000000)).toBe(false);
  });

  it('a replica on a skipped number has diverged wherever it stands (its timeline is no part of the lineage)', () => {
    // Seed 3198: the former primary on timeline 6 stood at 139535132, below the zero-length line's position.
    expect(leftBehindByHistory(lines, 6, 139535132)).toBe(true);
    expect(leftBehindByHistory(lines, 6, 140057200)).toBe(true);
  });

  it('says nothing without a line for the timeline or without a replay position', () => {
    expect(leftBehindByHistory(lines, 7, 1)).toBe(false);
    expect(leftBehindByHistory([], 6, 139535132)).toBe(false);
    expect(leftBehindByHistory(lines, 6, null)).toBe(false);
    expect(leftBehindByHistory(lines, null, 139535132)).toBe(false);
  });
});

describe('a replica left on a skipped timeline (simulator seed 3198)', () => {
  // A former primary, demoted and restarted as a replica (nothing remembers it was a primary), on timeline 6 below
  // the position where the leader's lineage passed number 6 by; it cannot stream from timeline 7.
  const view = cluster({
    leader: 'node0',
    members: [member('node0', { role: 'primary', timeline: 7 }), member('node1', { timeline: 6 })],
    overrides: { history: { version: '9', lines } },
  });
  const stuck = pgObservation({ timeline: 6, walPosition: 139535132, receiveLsn: 139535132, replayLsn: 139535132, replicationState: null });

  it('is stopped for a rewind once seen on two cycles in a row', async () => {
    const first = await runCycle({ pg: stuck, cluster: view });
    expect(first.result.decision.reason).not.toBe('stopping_for_rewind');
    expect(first.result.memory.divergenceSuspectedOn).toBe(7);
    const { result, effects } = await runCycle({ pg: stuck, cluster: view }, { memory: first.result.memory });
    expect(result.decision.reason).toBe('stopping_for_rewind');
    expect(effects).toContainEqual({ kind: 'pg.stop', mode: 'fast' });
    expect(result.memory.rewindArmed).toBe(true);
  });

  it('a replica on the leader’s own parent timeline below the switch point keeps streaming', async () => {
    const behind = pgObservation({ timeline: 5, walPosition: 139535132, receiveLsn: 139535132, replayLsn: 139535132, replicationState: null });
    const first = await runCycle({ pg: behind, cluster: view });
    const { result, effects } = await runCycle({ pg: behind, cluster: view }, { memory: first.result.memory });
    expect(result.decision.reason).toBe('following_leader');
    expect(effects).not.toContainEqual({ kind: 'pg.stop', mode: 'fast' });
  });
});
