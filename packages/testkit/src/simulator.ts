/**
 * `@pgwarden/testkit/simulator`: the deterministic cluster simulator. It runs the core's HA cycle, unchanged,
 * for several members against a simulated DCS and simulated PostgreSQL in virtual time, under faults drawn
 * from a seed, and checks the safety and liveness invariants after every event.
 */
export type { FaultKind, LeaderChange, SimulationOptions, SimulationResult, TraceEntry, Violation } from './simulator/simulation.js';
export { ALL_FAULTS, DEFAULT_FAULTS, Simulation, formatTrace, runSimulation } from './simulator/simulation.js';
export type { SyncEffectHandlers, World } from './simulator/node.js';
export { SimNode, asEffectHandlers } from './simulator/node.js';
export type { Branch, DataState, RewindOutcome } from './simulator/postgres.js';
export { SimPostgres, branchAt, canStream, divergencePoint, rewind } from './simulator/postgres.js';
export { SimStore } from './simulator/store.js';
export { Scheduler } from './simulator/scheduler.js';
export type { Rng } from './simulator/prng.js';
export { createRng } from './simulator/prng.js';
export type { CliIo } from './simulator/cli.js';
export { runSimulatorCli } from './simulator/cli.js';
export { KNOWN_FAILING_SEEDS } from './simulator/known-failing.js';
