/** create_replica_methods with `no_leader`: an empty member creates its replica without a source when there is no leader. */
import { describe, expect, it } from 'vitest';
import type { HaSettings } from './cycle.js';
import { isNoCloneSource } from './effects.js';
import { NO_CLONE_SOURCE, noLeaderCloneMethods } from './no-leader-clone.js';
import { BASE_CONFIG, SYSTEM_ID, cluster, member, pgObservation, runCycle, settings } from './test-support.js';

const empty = pgObservation({ dataDirectory: 'empty', systemId: null, controlState: null, running: false, accepting: false, role: null, timeline: null, walPosition: null, receiveLsn: null, replayLsn: null, replicationState: null, standbySignal: false });
const restoring: HaSettings = { ...settings, noLeaderReplicaMethods: ['pgbackrest'] };
const leaderless = cluster({ overrides: { initialize: SYSTEM_ID } });

describe('noLeaderCloneMethods', () => {
  it('offers the no_leader methods unless another member is bootstrapping', () => {
    expect(noLeaderCloneMethods({ initialize: SYSTEM_ID, noLeaderMethods: ['wal_g', 'pgbackrest'], standbyMethods: null })).toEqual(['wal_g', 'pgbackrest']);
    expect(noLeaderCloneMethods({ initialize: null, noLeaderMethods: ['wal_g'], standbyMethods: null })).toEqual(['wal_g']);
    expect(noLeaderCloneMethods({ initialize: '', noLeaderMethods: ['wal_g'], standbyMethods: null })).toEqual([]);
    expect(noLeaderCloneMethods({ initialize: SYSTEM_ID, noLeaderMethods: [], standbyMethods: null })).toEqual([]);
  });

  it('in a standby cluster only its own methods count, those marked no_leader', () => {
    expect(noLeaderCloneMethods({ initialize: SYSTEM_ID, noLeaderMethods: ['wal_g'], standbyMethods: ['basebackup', 'wal_g'] })).toEqual(['wal_g']);
    expect(noLeaderCloneMethods({ initialize: SYSTEM_ID, noLeaderMethods: ['wal_g'], standbyMethods: [] })).toEqual([]);
  });

  it('the no-source marker is told apart from an upstream', () => {
    expect(isNoCloneSource(NO_CLONE_SOURCE)).toBe(true);
    expect(isNoCloneSource({ name: 'node0', host: '127.0.0.1', port: 5432 })).toBe(false);
  });
});

describe('an empty member without a leader in the HA cycle', () => {
  it('creates its replica with the no_leader methods, without a source', async () => {
    const { result, of } = await runCycle({ pg: empty, cluster: leaderless }, { settings: restoring });
    expect(result.decision.reason).toBe('clone_without_leader_started');
    expect(result.decision.message).toContain('pgbackrest');
    expect(of('task.start')).toEqual([{ kind: 'task.start', task: { kind: 'clone', source: NO_CLONE_SOURCE, methods: ['pgbackrest'] } }]);
    expect(result.role).toBe('uninitialized');
  });

  it('waits while another member bootstraps (initialize is "")', async () => {
    const bootstrapping = cluster({ overrides: { initialize: '' } });
    const { result, kinds } = await runCycle({ pg: empty, cluster: bootstrapping }, { settings: restoring });
    expect(result.decision.reason).toBe('waiting_for_leader_to_bootstrap');
    expect(kinds).not.toContain('task.start');
  });

  it('without no_leader methods it waits for a leader, as before', async () => {
    const { result, kinds } = await runCycle({ pg: empty, cluster: leaderless });
    expect(result.decision.reason).toBe('waiting_for_leader_to_bootstrap');
    expect(kinds).not.toContain('task.start');
  });

  it('with a leader it clones from the leader, not from the backup', async () => {
    const led = cluster({ leader: 'node0', members: [member('node0', { role: 'primary' }), member('node1')] });
    const { result, of } = await runCycle({ pg: empty, cluster: led }, { settings: restoring });
    expect(result.decision.reason).toBe('clone_started');
    expect(of('task.start')[0]?.task).toEqual({ kind: 'clone', source: { name: 'node0', host: '127.0.0.1', port: 5432 } });
  });

  it('no initialize key: a member that may bootstrap races for it first (the restore is for a cluster that exists)', async () => {
    const fresh = cluster({ overrides: { initialize: null } });
    const { result } = await runCycle({ pg: empty, cluster: fresh }, { settings: restoring });
    expect(result.decision.reason).toBe('bootstrap_started');
  });

  it('in a standby cluster uses the standby_cluster methods marked no_leader', async () => {
    const standby = cluster({ config: { ...BASE_CONFIG, standby_cluster: { host: '10.0.0.9', port: 5432, create_replica_methods: ['pgbackrest', 'basebackup'] } } });
    const { result, of } = await runCycle({ pg: empty, cluster: standby }, { settings: restoring });
    expect(result.decision.reason).toBe('clone_without_leader_started');
    expect(of('task.start')[0]?.task).toEqual({ kind: 'clone', source: NO_CLONE_SOURCE, methods: ['pgbackrest'] });
  });
});
