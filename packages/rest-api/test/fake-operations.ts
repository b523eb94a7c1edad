import { createMemoryDcs, createMemoryStore, createTestClock } from '@pgwarden/testkit';
import type { Command, CommandOutcome, Dcs, PeerStatus, TaskState } from '@pgwarden/core';
import type { NodeOperations, NodeSnapshot, RestApiNode } from '../src/node.js';
import { NOW, primarySnapshot } from './fixtures.js';

const IDENTITY = { scope: 'demo', ttl: 30, retryTimeout: 10 } as const;

/** `NodeOperations` over an in-memory store, with scripted answers for the HA loop's side. */
export class FakeOperations implements NodeOperations {
  readonly clock = createTestClock(NOW);
  readonly store = createMemoryStore({ clock: this.clock });
  readonly members: Record<'node1' | 'node2' | 'node3', Dcs> = {
    node1: createMemoryDcs({ ...IDENTITY, name: 'node1', store: this.store }),
    node2: createMemoryDcs({ ...IDENTITY, name: 'node2', store: this.store }),
    node3: createMemoryDcs({ ...IDENTITY, name: 'node3', store: this.store }),
  };
  failFailoverWrites = false;
  failConfigWrites = false;
  configWrites = 0;
  readonly dcs: NodeOperations['dcs'] = {
    loadCluster: (options) => this.members.node1.loadCluster(options),
    setFailover: (value, expected) => (this.failFailoverWrites ? Promise.resolve(false) : this.members.node1.setFailover(value, expected)),
    setConfig: (data, expected) => {
      this.configWrites++;
      return this.failConfigWrites ? Promise.resolve(false) : this.members.node1.setConfig(data, expected);
    },
  };

  readonly submitted: Command[] = [];
  /** Answers to `submit`, in order; accepted by default. */
  readonly outcomes: CommandOutcome[] = [];
  task: TaskState | null = { kind: 'restart', state: 'succeeded', startedAt: NOW };
  /** When set, `waitForTask` waits for it (a slow restart). */
  taskGate: Promise<void> | null = null;
  readonly waits: number[] = [];
  cancelled = 0;
  reloads = 0;
  wakeUps = 0;
  /** What the HA loop does when woken (a switchover carried out, or not). */
  onWakeUp: () => Promise<void> = () => Promise.resolve();
  probeAnswer: (name: string) => PeerStatus = (name) => ({
    name,
    reachable: true,
    role: 'replica',
    state: 'running',
    walPosition: 0,
    timeline: 3,
    tags: {},
    watchdogFailed: false,
  });
  readonly probed: string[][] = [];

  async seed(): Promise<void> {
    const { node1, node2, node3 } = this.members;
    await node1.initialize({ create: true, sysid: '7300000000000000001' });
    await node1.setConfig({ ttl: 30, loop_wait: 10, postgresql: { parameters: { max_connections: 100 } } }, null);
    await node1.touchMember({ api_url: 'http://127.0.0.1:8008/patroni', role: 'primary', state: 'running' });
    await node2.touchMember({ api_url: 'http://127.0.0.2:8008/patroni', role: 'replica', state: 'running' });
    await node3.touchMember({ api_url: 'http://127.0.0.3:8008/patroni', role: 'replica', state: 'running' });
    await node1.acquireLeader();
  }

  submit(command: Command): Promise<CommandOutcome> {
    this.submitted.push(command);
    return Promise.resolve(this.outcomes.shift() ?? { accepted: true, message: 'ok' });
  }
  async waitForTask(timeoutMs: number): Promise<TaskState | null> {
    this.waits.push(timeoutMs);
    if (this.taskGate) await this.taskGate;
    return this.task;
  }
  cancelTask(): Promise<void> {
    this.cancelled++;
    return Promise.resolve();
  }
  probeMembers(members: ReadonlyArray<{ name: string; apiUrl: string }>): Promise<PeerStatus[]> {
    this.probed.push(members.map((member) => member.name));
    return Promise.resolve(members.map((member) => this.probeAnswer(member.name)));
  }
  reload(): Promise<void> {
    this.reloads++;
    return Promise.resolve();
  }
  wakeUp(): void {
    this.wakeUps++;
    void this.onWakeUp();
  }
  now(): number {
    return NOW;
  }
}

/** A node whose snapshot tests set, with the fake operations (or none). */
export class OperationsNode implements RestApiNode {
  current: NodeSnapshot = primarySnapshot();
  constructor(readonly operations: FakeOperations | undefined) {}
  snapshot(): NodeSnapshot {
    return this.current;
  }
  loadCluster() {
    return this.operations ? this.operations.dcs.loadCluster() : Promise.reject(new Error('no store'));
  }
}
