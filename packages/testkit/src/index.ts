export type { TestClock } from './memory-dcs-clock.js';
export { createTestClock } from './memory-dcs-clock.js';
export type { MemoryDcsOptions, MemoryStore, MemoryStoreOptions } from './memory-dcs.js';
export { createMemoryDcs, createMemoryStore } from './memory-dcs.js';
export type { DcsContractCase, DcsContractHarness, DcsContractOptions, DcsContractOptOut } from './dcs-contract.js';
export { DCS_CONTRACT_CASES, describeDcsContract } from './dcs-contract.js';
export { freePort } from './free-port.js';
