/**
 * The endpoints that change something: switchover and failover, restart, reinitialize, reload and the dynamic
 * configuration. Every rule is core's; these read the request, carry it to `NodeOperations` and answer with
 * Patroni's status codes and texts.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { checkSwitchoverRequest, parseFailsafePayload, resolveDynamicConfig } from '@pgwarden/core';
import type { Effect, Logger, PeerStatus, SwitchoverVerdict } from '@pgwarden/core';
import { readJsonBody } from './body.js';
import { dynamicConfigProblem, patchConfig, sameConfig } from './config-patch.js';
import { isTrue } from './dynamic-config.js';
import type { NodeOperations, RestApiNode } from './node.js';
import { parseRestartRequest } from './restart-request.js';

export interface MutatingContext {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly operations: NodeOperations;
  /** Aborts when the client goes away or the server closes the connection. */
  readonly signal: AbortSignal;
}

export interface Responder {
  /** A plain-text answer, as Patroni's `write_response` sends it. */
  text(res: ServerResponse, status: number, body: string, headers?: Readonly<Record<string, string>>): void;
  json(res: ServerResponse, status: number, value: unknown): void;
}

export interface MutatingDeps {
  readonly node: RestApiNode;
  readonly logger: Logger;
  readonly respond: Responder;
  readonly maxBodyBytes: number;
  /** How often a switchover's outcome is polled; Patroni polls every second. */
  readonly pollIntervalMs: number;
}

export type MutatingRoute = (context: MutatingContext) => Promise<void>;

type Action = 'switchover' | 'failover';

const title = (action: Action): string => (action === 'switchover' ? 'Switchover' : 'Failover');

/** Drives core's check, answering its `peers.probe` effects; it asks for nothing else. */
async function runCheck(check: Generator<Effect, SwitchoverVerdict, unknown>, operations: NodeOperations): Promise<SwitchoverVerdict> {
  let step = check.next();
  while (!step.done) {
    const effect = step.value;
    if (effect.kind !== 'peers.probe') throw new Error(`[rest-api] the switchover check asked for an unexpected effect: ${effect.kind}`);
    const statuses: PeerStatus[] = await operations.probeMembers(effect.members);
    step = check.next(statuses);
  }
  return step.value;
}

/** A name field of the switchover body: a string, or nothing ('' counts as nothing, as in Patroni). */
function nameField(body: Readonly<Record<string, unknown>>, key: string): { ok: true; value: string | null } | { ok: false; message: string } {
  const value = body[key];
  if (value === undefined || value === null || value === '') return { ok: true, value: null };
  if (typeof value !== 'string') return { ok: false, message: `${key} must be a string` };
  return { ok: true, value };
}

export function createMutatingRoutes(deps: MutatingDeps): Record<string, Partial<Record<'POST' | 'PUT' | 'PATCH' | 'DELETE', MutatingRoute>>> {
  const { node, logger, respond, maxBodyBytes, pollIntervalMs } = deps;
  const body = (req: IncomingMessage, optional: boolean) => readJsonBody(req, { optional, maxBytes: maxBodyBytes });

  /** Patroni's wait for a switchover's outcome: up to 2 * max(10, loop_wait) polls of the DCS. */
  const pollResult = async (
    operations: NodeOperations,
    leader: string | null,
    candidate: string | null,
    action: Action,
    signal: AbortSignal,
  ): Promise<[number, string] | null> => {
    const polls = 2 * Math.max(10, node.snapshot().loopWait);
    const done = action === 'switchover' ? 'switched' : 'failed';
    for (let attempt = 0; attempt < polls; attempt++) {
      try {
        await sleep(pollIntervalMs, undefined, { signal });
      } catch {
        return null; // the client went away: nobody to answer
      }
      try {
        const cluster = await operations.dcs.loadCluster();
        const newLeader = cluster.leader?.name;
        if (newLeader && newLeader !== leader) {
          if (!candidate || candidate === newLeader) return [200, `Successfully ${done} over to "${newLeader}"`];
          return [200, `${done[0]!.toUpperCase()}${done.slice(1)} over to "${newLeader}" instead of "${candidate}"`];
        }
        if (!cluster.failover) return [503, `${title(action)} failed`];
      } catch (error) {
        logger.log('debug', `[rest-api] polling the ${action} result failed`, { error: String(error) });
      }
    }
    const seconds = Math.round((polls * pollIntervalMs) / 1000);
    return [503, `${title(action)} status unknown after ${seconds} seconds; operation may still be in progress`];
  };

  const switchover =
    (requested: Action): MutatingRoute =>
    async ({ req, res, operations, signal }) => {
      const read = await body(req, false);
      if (!read.ok) return respond.text(res, read.status, read.reason);
      const leader = nameField(read.value, 'leader');
      const candidate = nameField(read.value, read.value['candidate'] ? 'candidate' : 'member');
      const scheduledAt = nameField(read.value, 'scheduled_at');
      for (const field of [leader, candidate, scheduledAt]) if (!field.ok) return respond.text(res, 400, field.message);
      if (!leader.ok || !candidate.ok || !scheduledAt.ok) return;
      logger.log('info', `[rest-api] received ${requested} request`, {
        leader: leader.value,
        candidate: candidate.value,
        scheduledAt: scheduledAt.value,
      });
      const cluster = await operations.dcs.loadCluster();
      const request = { action: requested, leader: leader.value, candidate: candidate.value, scheduledAt: scheduledAt.value };
      const verdict = await runCheck(checkSwitchoverRequest(cluster, request, operations.now()), operations);
      if (!verdict.ok) return respond.text(res, verdict.status, verdict.message);
      const failover = { leader: verdict.leader, candidate: verdict.candidate, scheduledAt: verdict.scheduledAt };
      if (!(await operations.dcs.setFailover(failover, cluster.failover?.version))) {
        return respond.text(res, 503, 'failed to write failover key into DCS');
      }
      operations.wakeUp();
      if (verdict.scheduledAt) return respond.text(res, 202, `${title(verdict.action)} scheduled`);
      const outcome = await pollResult(operations, cluster.leader?.name ?? null, verdict.candidate, verdict.action, signal);
      if (outcome) respond.text(res, outcome[0], outcome[1]);
    };

  return {
    switchover: {
      POST: switchover('switchover'),
      DELETE: async ({ res, operations }) => {
        const { failover } = await operations.dcs.loadCluster();
        if (!failover?.scheduledAt) return respond.text(res, 404, 'no switchover is scheduled');
        if (!(await operations.dcs.setFailover(null, failover.version))) {
          return respond.text(res, 409, 'the failover key changed meanwhile: the scheduled switchover was not deleted');
        }
        respond.text(res, 200, 'scheduled switchover deleted');
      },
    },
    failover: { POST: switchover('failover') },

    restart: {
      POST: async ({ req, res, operations }) => {
        const read = await body(req, true);
        if (!read.ok) return respond.text(res, read.status, read.reason);
        const snapshot = node.snapshot();
        const parsed = parseRestartRequest(read.value, snapshot.paused, operations.now());
        if (!parsed.ok) return respond.text(res, parsed.status, parsed.message);
        if (parsed.kind === 'scheduled') {
          const restart = { ...parsed.restart, postmasterStartTime: snapshot.postgres?.postmasterStartTime ?? null };
          const outcome = await operations.submit({ kind: 'scheduleRestart', restart });
          if (outcome.accepted) return respond.text(res, 202, 'Restart scheduled');
          return respond.text(res, outcome.message === 'Another restart is already scheduled' ? 409 : 500, outcome.message);
        }
        const outcome = await operations.submit({ kind: 'restart', ...parsed.filters });
        if (!outcome.accepted) return respond.text(res, 503, outcome.message);
        const timeout = parsed.filters.timeout ?? resolveDynamicConfig(snapshot.cluster?.config?.data ?? {}).primaryStartTimeout;
        const task = await operations.waitForTask(timeout * 1000);
        if (task?.state === 'succeeded') return respond.text(res, 200, 'restarted successfully');
        if (task?.state === 'failed') return respond.text(res, 503, 'restart failed');
        respond.text(res, 503, 'postgres is still starting');
      },
      DELETE: async ({ res, operations }) => {
        const outcome = await operations.submit({ kind: 'cancelScheduledRestart' });
        if (outcome.accepted) respond.text(res, 200, 'scheduled restart deleted');
        else respond.text(res, 404, 'no restarts are scheduled');
      },
    },

    reinitialize: {
      POST: async ({ req, res, operations }) => {
        const read = await body(req, true);
        if (!read.ok) return respond.text(res, read.status, read.reason);
        const force = isTrue(read.value['force']);
        const fromLeader = isTrue(read.value['from_leader']);
        let outcome = await operations.submit({ kind: 'reinitialize', fromLeader });
        // As in Patroni, `force` cancels only a task that stands in the way, then asks again.
        if (!outcome.accepted && force && outcome.message.endsWith('already in progress')) {
          await operations.cancelTask();
          outcome = await operations.submit({ kind: 'reinitialize', fromLeader });
        }
        if (outcome.accepted) respond.text(res, 200, 'reinitialize started');
        else respond.text(res, 503, outcome.message);
      },
    },

    reload: {
      POST: async ({ res, operations }) => {
        // Like SIGHUP: scheduled, not awaited; a failure is the agent's to log.
        operations.reload().catch((error: unknown) => logger.log('error', '[rest-api] reload failed', { error: String(error) }));
        respond.text(res, 202, 'reload scheduled');
        return Promise.resolve();
      },
    },

    config: {
      PATCH: async ({ req, res, operations }) => {
        const read = await body(req, false);
        if (!read.ok) return respond.text(res, read.status, read.reason);
        const cluster = await operations.dcs.loadCluster();
        if (!cluster.config?.version) return respond.text(res, 503, 'the cluster has no configuration in the DCS to patch');
        const { changed, result } = patchConfig(cluster.config.data, read.value);
        if (changed) {
          const problem = dynamicConfigProblem(result);
          if (problem) return respond.text(res, 400, `invalid configuration: ${problem}`);
          if (!(await operations.dcs.setConfig(result, cluster.config.version))) {
            return respond.text(res, 409, 'the configuration changed meanwhile: read it again and retry');
          }
        }
        operations.wakeUp();
        respond.json(res, 200, result);
      },
      PUT: async ({ req, res, operations }) => {
        const read = await body(req, false);
        if (!read.ok) return respond.text(res, read.status, read.reason);
        const problem = dynamicConfigProblem(read.value);
        if (problem) return respond.text(res, 400, `invalid configuration: ${problem}`);
        const cluster = await operations.dcs.loadCluster();
        if (!(cluster.config && sameConfig(read.value, cluster.config.data))) {
          if (!(await operations.dcs.setConfig(read.value, cluster.config?.version || null))) {
            return respond.text(res, 502, 'failed to write the configuration into DCS');
          }
        }
        operations.wakeUp();
        respond.json(res, 200, read.value);
      },
    },
    failsafe: {
      // A primary that lost the store asks whether it may stay primary: 200 `Accepted` with our position, else 500.
      POST: async ({ req, res, operations }) => {
        if (!operations.failsafeModeEnabled || !operations.acceptFailsafe) {
          return respond.text(res, 501, 'POST /failsafe is not available: this node serves the REST API without failsafe support');
        }
        if (!operations.failsafeModeEnabled()) return respond.json(res, 502, { error: 'failsafe mode is not enabled' });
        const read = await body(req, false);
        if (!read.ok) return respond.text(res, read.status, read.reason);
        const parsed = parseFailsafePayload(read.value);
        if (!parsed.ok) return respond.text(res, 400, `invalid failsafe request: ${parsed.reason}`);
        const answer = operations.acceptFailsafe(parsed.payload);
        if (!answer.accepted) return respond.text(res, 500, answer.message);
        respond.text(res, 200, 'Accepted', answer.lsn !== null ? { lsn: String(answer.lsn) } : undefined);
      },
    },
  };
}
