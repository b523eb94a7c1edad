/**
 * remove_data_directory_on_diverged_timelines: a former primary that cannot be rewound is wiped and cloned again
 * when the user allows it; otherwise it is left to follow (and, diverged, to fail streaming) as Patroni does.
 */
import { describe, expect, it } from 'vitest';
import type { HaMemory, HaSettings } from './cycle.js';
import { INITIAL_MEMORY } from './cycle.js';
import { divergenceRemedy, reinitializeAfterRewindFailure } from './diverged.js';
import type { TaskState } from './effects.js';
import { BASE_CONFIG, NOW, cluster, member, pgObservation, runCycle, settings, stoppedPrimary } from './test-support.js';

const noRewind = { ...BASE_CONFIG, postgresql: { use_pg_rewind: false } };
const members = [member('node0', { role: 'primary', timeline: 2 }), member('node1'), member('node2')];
const led = cluster({ leader: 'node0', members, config: noRewind });
const diverging: HaSettings = { ...settings, removeDataDirectoryOnDivergedTimelines: true };
const source = { name: 'node0', host: '127.0.0.1', port: 5432 };

describe('divergenceRemedy', () => {
  it('rewinds when it may, wipes when only the wipe is allowed (never in a standby cluster), else nothing', () => {
    expect(divergenceRemedy({ usePgRewind: true, removeDataDirectoryOnDivergedTimelines: true, standbyCluster: false })).toBe('rewind');
    expect(divergenceRemedy({ usePgRewind: false, removeDataDirectoryOnDivergedTimelines: true, standbyCluster: false })).toBe('reinitialize');
    expect(divergenceRemedy({ usePgRewind: false, removeDataDirectoryOnDivergedTimelines: true, standbyCluster: true })).toBe('none');
    expect(divergenceRemedy({ usePgRewind: false, removeDataDirectoryOnDivergedTimelines: false, standbyCluster: false })).toBe('none');
  });

  it('a failed rewind lets the data directory go with either setting', () => {
    expect(reinitializeAfterRewindFailure({ removeDataDirectoryOnRewindFailure: false })).toBe(false);
    expect(reinitializeAfterRewindFailure({ removeDataDirectoryOnRewindFailure: true })).toBe(true);
    expect(reinitializeAfterRewindFailure({ removeDataDirectoryOnRewindFailure: false, removeDataDirectoryOnDivergedTimelines: true })).toBe(true);
  });
});

describe('remove_data_directory_on_diverged_timelines in the HA cycle', () => {
  it('without use_pg_rewind: reinitializes a stopped former primary from the leader', async () => {
    const { result, of } = await runCycle({ pg: stoppedPrimary, cluster: led }, { settings: diverging });
    expect(result.decision.reason).toBe('reinitialize_diverged_timelines');
    expect(of('task.start')).toEqual([{ kind: 'task.start', task: { kind: 'reinitialize', source } }]);
  });

  it('off (the default): the former primary starts following the leader, as Patroni leaves it', async () => {
    const { result, of } = await runCycle({ pg: stoppedPrimary, cluster: led });
    expect(result.decision.reason).toBe('starting_replica');
    expect(of('task.start')[0]?.task.kind).toBe('start');
  });

  it('off: a running former primary on an older timeline is not stopped over and over', async () => {
    const armed: HaMemory = { ...INITIAL_MEMORY, rewindArmed: true };
    const { result, kinds } = await runCycle({ pg: pgObservation({ timeline: 1, replicationState: null }), cluster: led }, { memory: armed });
    expect(result.decision.reason).not.toBe('stopping_for_rewind');
    expect(kinds).not.toContain('pg.stop');
  });

  it('on: the same former primary is stopped, to be reinitialized by the next cycle', async () => {
    const armed: HaMemory = { ...INITIAL_MEMORY, rewindArmed: true };
    const { result } = await runCycle({ pg: pgObservation({ timeline: 1, replicationState: null }), cluster: led }, { memory: armed, settings: diverging });
    expect(result.decision.reason).toBe('stopping_for_rewind');
  });

  it('use_pg_rewind wins: pg_rewind runs first', async () => {
    const rewinding = cluster({ leader: 'node0', members });
    const { result } = await runCycle({ pg: stoppedPrimary, cluster: rewinding }, { settings: diverging });
    expect(result.decision.reason).toBe('rewind_started');
  });

  it('a failed pg_rewind reinitializes when this setting is on', async () => {
    const rewinding = cluster({ leader: 'node0', members });
    const failed: TaskState = { kind: 'rewind', state: 'failed', startedAt: NOW - 5000, error: 'pg_rewind exited with 1' };
    const { result, of } = await runCycle({ pg: stoppedPrimary, cluster: rewinding }, { settings: diverging, task: failed });
    expect(result.decision.reason).toBe('rewind_failed_reinitializing');
    expect(of('task.start')).toEqual([{ kind: 'task.start', task: { kind: 'reinitialize', source } }]);
  });

  it('not in a standby cluster: the member follows instead', async () => {
    const standby = { ...noRewind, standby_cluster: { host: '10.0.0.9', port: 5432 } };
    const { result, kinds } = await runCycle({ pg: stoppedPrimary, cluster: cluster({ leader: 'node0', members, config: standby }) }, { settings: diverging });
    expect(result.decision.reason).toBe('starting_replica');
    expect(kinds).toContain('task.start');
  });
});
