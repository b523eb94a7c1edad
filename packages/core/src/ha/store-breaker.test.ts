import { describe, expect, it } from 'vitest';
import { NOW, cluster, leaderMemory, runCycle, runningPrimary } from './test-support.js';

describe('a store failure in the middle of a cycle', () => {
  it('skips the cycle\'s later store calls and brings the next cycle forward so a lost store ends in demotion within the lease', async () => {
    const unreachable = { ok: false, error: 'DCS unreachable' };
    const { result, kinds } = await runCycle(
      { pg: runningPrimary, cluster: cluster({ leader: 'node1' }), answers: { 'dcs.writeStatus': () => unreachable } },
      { memory: leaderMemory },
    );
    expect(result.holdsLock).toBe(true);
    expect(kinds.filter((kind) => kind.startsWith('dcs.'))).toEqual(['dcs.load', 'dcs.renewLeader', 'dcs.writeStatus']);
    expect(kinds).not.toContain('dcs.touchMember');
    // Renewed at NOW with ttl 30: the next cycle's failed read (retry_timeout 10) must end before NOW + 30 s.
    expect(result.wakeAt).toBe(NOW + 30_000 - 11_000);
  });

  it('leaves the pace alone when every store call succeeds', async () => {
    const { result, kinds } = await runCycle({ pg: runningPrimary, cluster: cluster({ leader: 'node1' }) }, { memory: leaderMemory });
    expect(kinds).toContain('dcs.touchMember');
    expect(result.wakeAt).toBeNull();
  });
});
