import { describe, expect, it } from 'vitest';
import type { TimelineHistoryEntry } from '../model.js';
import { INITIAL_MEMORY } from './cycle.js';
import {
  MAX_RESERVED_TIMELINES,
  highestKnownTimeline,
  historyFileContent,
  historyFileName,
  SKIPPED_TIMELINE_REASON,
  knownTimelines,
  timelinesToReserve,
  withSkippedTimelines,
} from './timeline-reservation.js';
import { cluster, leaderMemory, member, peer, pgObservation, runCycle, runningPrimary } from './test-support.js';

const history = (lines: TimelineHistoryEntry[]) => ({ history: { version: '3', lines } });

describe('knownTimelines', () => {
  it('gathers the history key (each parent and the last switch + 1), member keys, memory and our own', () => {
    const view = cluster({
      members: [member('node0', { timeline: 6 }), member('node1', { timeline: 1 }), member('node2')],
      overrides: history([
        [1, 100, 'no recovery target specified'],
        [2, 200, 'no recovery target specified'],
      ]),
    });
    expect(knownTimelines(view, { highestTimelineSeen: 9 }, { timeline: 1 })).toEqual([1, 2, 3, 6, 9]);
    expect(highestKnownTimeline(view, INITIAL_MEMORY, { timeline: 1 })).toBe(6);
    expect(highestKnownTimeline(null, INITIAL_MEMORY, { timeline: null })).toBeNull();
  });

  it('ignores values that are not timeline numbers', () => {
    const view = cluster({ members: [member('node0', { timeline: -2 }), member('node1', { timeline: 2.5 }), member('node2', { timeline: 'x' as unknown as number })] });
    expect(knownTimelines(view, INITIAL_MEMORY, { timeline: 1 })).toEqual([1]);
  });
});

describe('timelinesToReserve', () => {
  it('reserves nothing when no known timeline is above ours', () => {
    const view = cluster({ members: [member('node0', { timeline: 2 })], overrides: history([[1, 100, 'x']]) });
    expect(timelinesToReserve(view, INITIAL_MEMORY, { timeline: 2 })).toEqual([]);
    expect(timelinesToReserve(view, INITIAL_MEMORY, { timeline: 3 })).toEqual([]);
  });

  it('reserves an unbroken run from our timeline + 1 up to the highest known, with the history key below each', () => {
    // Timeline 2 is in the history key; 4 only in a member key (its switch from 3 never reached the key).
    const view = cluster({
      members: [member('node0', { timeline: 4 })],
      overrides: history([
        [1, 0x3000000, 'no recovery target specified'],
        [2, 0x5000000, 'no recovery target specified'],
      ]),
    });
    expect(timelinesToReserve(view, INITIAL_MEMORY, { timeline: 1 })).toEqual([
      { timeline: 2, history: [[1, 0x3000000, 'no recovery target specified']] },
      {
        timeline: 3,
        history: [
          [1, 0x3000000, 'no recovery target specified'],
          [2, 0x5000000, 'no recovery target specified'],
        ],
      },
      {
        timeline: 4,
        history: [
          [1, 0x3000000, 'no recovery target specified'],
          [2, 0x5000000, 'no recovery target specified'],
        ],
      },
    ]);
  });

  it('counts a timeline only this member remembers (a member key that expired since)', () => {
    expect(timelinesToReserve(cluster(), { highestTimelineSeen: 3 }, { timeline: 1 }).map((r) => r.timeline)).toEqual([2, 3]);
  });

  it('keeps each file valid: strictly increasing parents, all below the file’s own number', () => {
    // A key written by two branches: timeline 2 twice, then a line out of order.
    const view = cluster({
      overrides: history([
        [1, 100, 'a'],
        [2, 300, 'b'],
        [2, 250, 'c'],
        [1, 50, 'd'],
        [3, 400, 'e'],
      ]),
    });
    const reserved = timelinesToReserve(view, INITIAL_MEMORY, { timeline: 1 });
    expect(reserved.map((r) => r.timeline)).toEqual([2, 3, 4]);
    expect(reserved[2]?.history).toEqual([
      [1, 100, 'a'],
      [2, 300, 'b'],
      [3, 400, 'e'],
    ]);
    for (const { timeline, history: lines } of reserved) {
      const parents = lines.map(([tl]) => tl);
      expect(parents.every((tl, index) => tl < timeline && (index === 0 || tl > parents[index - 1]!))).toBe(true);
    }
  });

  it('leaves out a number implausibly far ahead', () => {
    const view = cluster({ members: [member('node0', { timeline: 3 }), member('node1', { timeline: 2 + MAX_RESERVED_TIMELINES * 10 })] });
    expect(timelinesToReserve(view, INITIAL_MEMORY, { timeline: 1 }).map((r) => r.timeline)).toEqual([2, 3]);
  });
});

describe('history files', () => {
  it('names files as PostgreSQL does and writes parent, X/X position and a one-line reason', () => {
    expect(historyFileName(2)).toBe('00000002.history');
    expect(historyFileName(0x1a)).toBe('0000001A.history');
    expect(historyFileContent([])).toBe('');
    expect(
      historyFileContent([
        [1, 0x1_0300_00a0, 'no recovery target specified'],
        [2, 0x5000000, 'bad\treason\nsplit'],
        [3, 0x6000000, ''],
      ]),
    ).toBe('1\t1/30000A0\tno recovery target specified\n2\t0/5000000\tbad reason split\n3\t0/6000000\treserved by pgwarden\n');
  });
});

describe('promotion reserves timelines', () => {
  it('the promote effect carries the timelines known above ours, and the decision says so', async () => {
    const members = [member('node0', { timeline: 2 }), member('node1'), member('node2')];
    const { result, of } = await runCycle({
      pg: pgObservation(),
      pgAfter: [pgObservation({ role: 'primary', timeline: 3 })],
      cluster: cluster({ members, overrides: history([[1, 4000, 'no recovery target specified']]) }),
      answers: { 'peers.probe': () => [peer('node0', 4500, { timeline: 2 }), peer('node2', 5000)] },
    });
    expect(result.decision.reason).toBe('acquired_lock_promoting');
    expect(of('pg.promote')).toEqual([{ kind: 'pg.promote', reserveTimelines: [{ timeline: 2, history: [[1, 4000, 'no recovery target specified']] }] }]);
    expect(result.decision.message).toContain('timelines up to 2 reserved');
    expect(result.memory.highestTimelineSeen).toBe(2);
  });

  it('reserves nothing when nothing is known above our timeline', async () => {
    const { result, of } = await runCycle({
      pg: pgObservation(),
      cluster: cluster(),
      answers: { 'peers.probe': () => [peer('node0', 4000), peer('node2', 5000)] },
    });
    expect(result.decision.reason).toBe('acquired_lock_promoting');
    expect(of('pg.promote')).toEqual([{ kind: 'pg.promote', reserveTimelines: [] }]);
    expect(result.decision.message).not.toContain('reserved');
  });
});

describe('withSkippedTimelines', () => {
  const r = 'no recovery target specified';
  it('leaves an unbroken history as it is', () => {
    expect(withSkippedTimelines([[1, 100, r], [2, 200, r]], 3)).toEqual([[1, 100, r], [2, 200, r]]);
    expect(withSkippedTimelines([], 1)).toEqual([]);
  });

  it('adds a zero-length line for each skipped number, between switches and before our own timeline', () => {
    expect(withSkippedTimelines([[1, 100, r], [4, 300, r]], 7)).toEqual([
      [1, 100, r],
      [2, 100, SKIPPED_TIMELINE_REASON],
      [3, 100, SKIPPED_TIMELINE_REASON],
      [4, 300, r],
      [5, 300, SKIPPED_TIMELINE_REASON],
      [6, 300, SKIPPED_TIMELINE_REASON],
    ]);
  });

  it('the leader records skipped numbers in the history key, so last line + 1 is its timeline', async () => {
    const members = [member('node1', { role: 'primary', timeline: 4 }), member('node0')];
    const { of } = await runCycle(
      {
        pg: { ...runningPrimary, timeline: 4 },
        cluster: cluster({ leader: 'node1', members, overrides: history([[1, 100, r]]) }),
        answers: { 'pg.timelineHistory': () => [[1, 100, r], [2, 200, r]] },
      },
      { memory: leaderMemory },
    );
    const lines = of('dcs.setHistory')[0]?.lines ?? [];
    expect(lines.map((line) => line.slice(0, 3))).toEqual([[1, 100, r], [2, 200, r], [3, 200, SKIPPED_TIMELINE_REASON]]);
    expect(lines.at(-1)?.[4]).toBe('node1');
  });
});
