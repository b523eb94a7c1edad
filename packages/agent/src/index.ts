export type { AgentDeps } from './agent.js';
export { runAgent } from './agent.js';
export type { AgentLogOptions } from './logging.js';
export { createAgentLogger } from './logging.js';
export { main } from './cli.js';
