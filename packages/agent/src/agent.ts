/**
 * The reference agent: wires the configured DCS plugin, the PostgreSQL driver and the REST API around the
 * core's HA cycle, and runs it every loop_wait until the signal aborts.
 */
import type {
  Clock,
  Cluster,
  Command,
  CycleResult,
  Dcs,
  EffectHandlers,
  FailsafeContact,
  HaMemory,
  HaSettings,
  Logger,
  PostgresObservation,
  TaskSpec,
  Timing,
  Upstream,
} from '@pgwarden/core';
import {
  INITIAL_MEMORY,
  PATRONI_COMPAT_VERSION,
  PGWARDEN_VERSION,
  PgwardenError,
  answerFailsafePost,
  childLogger,
  failsafeActive,
  failsafeModeEnabled,
  haCycle,
  interpret,
  isNoCloneSource,
  needsHotStandbyFeedback,
  primaryStopKillAfter,
  shutdownSequence,
  slotSettings,
  standbyClusterOf,
} from '@pgwarden/core';
import type { PgwardenConfig } from '@pgwarden/config';
import { parseHostPort } from '@pgwarden/config';
import type { PostgresDriver } from '@pgwarden/postgres-driver';
import { createPostgresDriver } from '@pgwarden/postgres-driver';
import type { NodeOperations, NodeSnapshot, RestApiNode, RestApiServer } from '@pgwarden/rest-api';
import { createRestApiHandler, postFailsafe, probePeers, startRestApiServer } from '@pgwarden/rest-api';
import type { Watchdog } from '@pgwarden/watchdog';
import { createWatchdog } from '@pgwarden/watchdog';
import type { PeerRequestOptions } from './peer-client.js';
import { peerClient } from './peer-client.js';
import { ScriptRunner } from './callbacks.js';
import { createDcs } from './dcs-loader.js';
import { driverOptions, haSettings, initialTiming, mergedParameters } from './settings.js';
import { TaskRunner } from './tasks.js';

export interface AgentDeps {
  readonly clock: Clock;
  readonly logger: Logger;
  /** Aborting it stops the agent gracefully (SIGTERM). */
  readonly signal: AbortSignal;
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Overrides for tests and embedders; by default the configured plugin and the real driver. */
  readonly dcs?: Dcs;
  readonly postgres?: PostgresDriver;
  /** Fires `reload` events (SIGHUP): postgres parameters are applied again and postgres reloads. */
  readonly reloadSignal?: EventTarget;
}

const PEER_TIMEOUT_MS = 2000;
/** How old an observation `GET /patroni` may answer with: peers compare WAL positions with it. */
const FRESH_OBSERVATION_MS = 250;
const DCS_RETRY_AT_START_MS = 5000;

/** Runs until `deps.signal` aborts; resolves after the graceful stop. Throws only for problems at start-up. */
export async function runAgent(config: PgwardenConfig, deps: AgentDeps): Promise<void> {
  const { logger } = deps;
  const env = deps.env ?? process.env;
  const settings = haSettings(config, env);
  const timing = initialTiming(config, env);

  // Closed in reverse order on the way out, whatever happens.
  const owned: AsyncDisposable[] = [];
  try {
    const dcs =
      deps.dcs ??
      own(
        await createDcs(
          config,
          {
            scope: config.scope,
            namespace: config.namespace,
            name: config.name,
            ttl: timing.ttl,
            retryTimeout: timing.retryTimeout,
            loopWait: timing.loopWait,
            onMalformed: ({ key, reason }) => logger.log('warn', `skipping malformed value of ${key}: ${reason}`),
          },
          logger,
        ),
      );
    const postgres = deps.postgres ?? own(createPostgresDriver(driverOptions(config, env, logger)));
    await runLoop({ config, deps, settings, timing, dcs, postgres, own });
  } finally {
    for (const resource of owned.reverse()) await Promise.resolve(resource[Symbol.asyncDispose]()).catch(() => undefined);
  }

  function own<T extends AsyncDisposable>(resource: T): T {
    owned.push(resource);
    return resource;
  }
}

interface LoopParts {
  readonly config: PgwardenConfig;
  readonly deps: AgentDeps;
  readonly settings: HaSettings;
  readonly timing: Timing;
  readonly dcs: Dcs;
  readonly postgres: PostgresDriver;
  readonly own: <T extends AsyncDisposable>(resource: T) => T;
}

async function runLoop(parts: LoopParts): Promise<void> {
  const { config, deps, settings, dcs, postgres, own } = parts;
  const { clock, logger, signal } = deps;
  const peers = peerClient(config);
  const peerOptions: PeerRequestOptions = { timeoutMs: PEER_TIMEOUT_MS, headers: peers.headers, ...(peers.httpsAgent ? { httpsAgent: peers.httpsAgent } : {}) };
  let timing = parts.timing;
  await refuseDuplicateName(dcs, config.name, logger, clock, signal);

  let memory: HaMemory = INITIAL_MEMORY;
  let last: CycleResult | null = null;
  // The last POST /failsafe this member accepted: a primary without the store is alive (failsafe mode).
  let failsafeContact: FailsafeContact | null = null;
  const startedAt = clock.now();
  let lastCycleAt: number | null = startedAt;
  let appliedParameters = JSON.stringify(mergedParameters(config.bootstrap.dcs.postgresql?.parameters ?? {}, config));

  const tasks = new TaskRunner((spec, taskSignal) => runTask(spec, postgres, logger, taskSignal), clock);
  const scripts = new ScriptRunner({
    scope: config.scope,
    callbacks: config.postgresql.callbacks ?? {},
    prePromote: config.postgresql.pre_promote,
    env: deps.env ?? process.env,
    logger,
  });
  let operations: NodeOperations | undefined;
  const watchdog = own(
    createWatchdog({
      mode: config.watchdog.mode,
      device: config.watchdog.device,
      safetyMargin: config.watchdog.safety_margin,
      loopWait: timing.loopWait,
      ttl: timing.ttl,
      logger: childLogger(logger, { component: 'watchdog' }),
    }),
  );

  // PostgreSQL as last seen by a cycle or by a fresh /patroni request, whichever is newer.
  let observed: { at: number; postgres: PostgresObservation } | null = null;
  let observing: Promise<void> | null = null;
  const observeNow = (): Promise<void> =>
    (observing ??= postgres
      .observe()
      .then((postgres) => {
        observed = { at: clock.now(), postgres };
      })
      .catch(() => undefined)
      .finally(() => {
        observing = null;
      }));

  const node: RestApiNode = {
    freshSnapshot: async () => {
      if (!observed || clock.now() - observed.at > FRESH_OBSERVATION_MS) await observeNow();
      return node.snapshot();
    },
    snapshot: (): NodeSnapshot => {
      const now = clock.now();
      const currentPostgres = observed && (!last || observed.at >= (lastCycleAt ?? 0)) ? observed.postgres : (last?.postgres ?? null);
      const cluster = last?.cluster ?? null;
      return {
        name: config.name,
        scope: config.scope,
        patroniVersion: PATRONI_COMPAT_VERSION,
        pgwardenVersion: PGWARDEN_VERSION,
        state: last?.state ?? 'unknown',
        // What PostgreSQL runs as now, like Patroni's /patroni; the cycle's role when it does not answer.
        // The standby leader runs in recovery: the cycle's role tells it apart from a replica.
        role:
          currentPostgres?.running && currentPostgres.role
            ? currentPostgres.role === 'replica' && last?.role === 'standby_leader'
              ? 'standby_leader'
              : currentPostgres.role
            : (last?.role ?? 'uninitialized'),
        postgres: currentPostgres,
        holdsValidLock: memory.lockValidUntil !== null && memory.lockValidUntil > now,
        isStandbyCluster: standbyClusterOf(cluster?.config?.data ?? memory.configData) !== null,
        clusterUnlocked: cluster !== null && cluster.leader === null,
        paused: last?.dynamic.pause ?? false,
        // A primary kept running by its members, or a replica such a primary asked less than ttl ago.
        failsafeActive:
          failsafeActive(memory.failsafeActiveSince ?? null, now, timing.ttl) || failsafeActive(failsafeContact?.receivedAt ?? null, now, timing.ttl),
        dcsLastSeen: memory.lastDcsContact === null ? null : Math.floor(memory.lastDcsContact / 1000),
        lastCycleAt,
        now,
        ttl: timing.ttl,
        loopWait: timing.loopWait,
        maximumLagOnFailover: last?.dynamic.maximumLagOnFailover ?? 1_048_576,
        tags: settings.tags,
        cluster,
        pendingRestart: last?.postgres.pendingRestart ?? false,
        watchdogFailed: !watchdog.isHealthy,
        scheduledRestart: memory.scheduledRestart,
        lastDecision: last && lastCycleAt !== null ? { ...last.decision, at: lastCycleAt } : null,
      };
    },
    loadCluster: () => dcs.loadCluster(),
    get operations() {
      return operations;
    },
  };

  const listen = parseHostPort(config.restapi.listen);
  const server: RestApiServer = own(await startRestApiServer({ host: listen.host, port: listen.port, logger, ...restApiServing(config, node, logger) }));
  logger.log('info', `pgwarden ${PGWARDEN_VERSION} started: member ${config.name} of cluster ${config.scope}`, {
    restapi: config.restapi.listen,
    dcs: dcs.kind,
  });

  const handlers = effectHandlers(dcs, postgres, tasks, scripts, watchdog, timing, peerOptions);
  let wake: (() => void) | null = null;
  tasks.onFinish(() => wake?.());
  let lastWarnings = '';

  /** Cycles and operator commands run one at a time: a command is decided in a cycle of its own. */
  let queue: Promise<unknown> = Promise.resolve();
  function serialized<T>(work: () => Promise<T>): Promise<T> {
    const run = queue.then(work, work);
    queue = run.catch(() => undefined);
    return run;
  }

  async function cycle(command: Command | null): Promise<CycleResult> {
    const cycleStart = clock.now();
    const result = await interpret(
      haCycle({ settings, memory, now: cycleStart, task: tasks.take(), command, watchdog: { running: watchdog.isRunning, healthy: watchdog.isHealthy }, failsafeContact }),
      handlers,
    );
    memory = result.memory;
    last = result;
    lastCycleAt = clock.now();
    logCycle(logger, config.name, result);
    if (
      result.dynamic.timing.ttl !== timing.ttl ||
      result.dynamic.timing.retryTimeout !== timing.retryTimeout ||
      result.dynamic.timing.loopWait !== timing.loopWait
    ) {
      const { ttl, retryTimeout, loopWait } = result.dynamic.timing;
      dcs.setTiming({ ttl, retryTimeout, loopWait });
    }
    if (result.dynamic.timing.ttl !== timing.ttl || result.dynamic.timing.loopWait !== timing.loopWait) {
      await watchdog.reconfigure(result.dynamic.timing.ttl, { loopWait: result.dynamic.timing.loopWait });
    }
    timing = result.dynamic.timing;
    handlers.setTiming(timing);
    const warnings = result.dynamic.warnings.join('\n');
    if (warnings && warnings !== lastWarnings) for (const warning of result.dynamic.warnings) logger.log('warn', warning);
    lastWarnings = warnings;
    const wanted = JSON.stringify(withSlotParameters(mergedParameters(result.dynamic.parameters, config), result, config));
    if (wanted !== appliedParameters && result.postgres.dataDirectory === 'initialized' && !tasks.runningKind()) {
      appliedParameters = wanted;
      const reloaded = await applyParameters(postgres, JSON.parse(wanted) as Record<string, string | number | boolean>, logger);
      // As Patroni: a configuration change that reloaded a running postgres is announced.
      if (reloaded && result.postgres.running) scripts.runCallback('on_reload', result.role);
    }
    const took = clock.now() - cycleStart;
    if (took > timing.loopWait * 1000) logger.log('warn', `loop time exceeded: the cycle took ${took} ms`);
    return result;
  }

  operations = {
    dcs,
    submit: async (command) => {
      const result = await serialized(() => cycle(command));
      wake?.();
      return result.commandOutcome ?? { accepted: false, message: 'not processed' };
    },
    waitForTask: (timeoutMs) => tasks.waitForEnd(timeoutMs),
    cancelTask: () => tasks.cancel(),
    probeMembers: (members) => probePeers(members, peerOptions),
    reload: async () => {
      await serialized(async () => {
        logger.log('info', 'reloading: applying postgres parameters and reloading postgres');
        appliedParameters = JSON.stringify(mergedParameters(last?.dynamic.parameters ?? {}, config));
        await applyParameters(postgres, JSON.parse(appliedParameters) as Record<string, string | number | boolean>, logger);
        const reloaded = await postgres.reload().then(
          () => true,
          (error: unknown) => {
            logger.log('warn', `postgres reload failed: ${describe(error)}`);
            return false;
          },
        );
        await server.reloadCertificates().catch((error: unknown) => logger.log('warn', `could not reload certificates: ${describe(error)}`));
        // As Patroni: on_reload only once pg_ctl reload succeeded on a running postgres.
        if (reloaded && last?.postgres.running) scripts.runCallback('on_reload', last.role);
      });
    },
    wakeUp: () => wake?.(),
    now: () => clock.now(),
    failsafeModeEnabled: () => failsafeModeEnabled(memory.configData ?? settings.bootstrapDynamicConfig),
    acceptFailsafe: (payload) => {
      const answer = answerFailsafePost(node.snapshot().postgres);
      if (answer.accepted) failsafeContact = { payload, receivedAt: clock.now() };
      return answer;
    },
  };
  const onReload = () => void operations?.reload();
  deps.reloadSignal?.addEventListener('reload', onReload);

  while (!signal.aborted) {
    let failed = false;
    try {
      const result = await serialized(() => cycle(null));
      if (result.wakeSoon) continue;
    } catch (error) {
      // Anything unexpected is a bug to report, never a reason to exit.
      logger.log('error', `HA cycle failed: ${describe(error)}`);
      failed = true;
    }
    await waitForNextCycle(failed);
  }
  deps.reloadSignal?.removeEventListener('reload', onReload);

  // `last` is written by the cycles above; read it through its declared type.
  const finalResult = last as CycleResult | null;
  const paused = finalResult?.dynamic.pause ?? false;
  logger.log('info', paused ? 'stopping while paused: postgres and the leader lock stay as they are' : 'stopping: shutting down postgres, then releasing the leader lock');
  await tasks.cancel();
  const stopKillAfter = finalResult ? primaryStopKillAfter(finalResult.dynamic) : undefined;
  const stopDecision = await serialized(() =>
    interpret(
      shutdownSequence({
        memory,
        now: clock.now(),
        paused,
        watchdogRunning: watchdog.isRunning,
        ...(stopKillAfter === undefined ? {} : { primaryStopKillAfter: stopKillAfter }),
      }),
      handlers,
    ),
  ).catch(
    (error: unknown) => ({ message: `graceful stop failed: ${describe(error)}` }),
  );
  logger.log('info', stopDecision.message);
  await server.close();

  /** Until loop_wait passes, a scheduled time falls due, a task ends, or (non-leaders) the leader key changes. */
  async function waitForNextCycle(afterFailure: boolean): Promise<void> {
    const waitController = new AbortController();
    const onAbort = () => waitController.abort();
    signal.addEventListener('abort', onAbort, { once: true });
    const untilDue = last?.wakeAt ? Math.max(0, last.wakeAt - clock.now()) : Infinity;
    const sleepMs = Math.min(timing.loopWait * 1000, untilDue);
    const waiters: Promise<unknown>[] = [
      clock.sleep(sleepMs, waitController.signal).catch(() => undefined),
      new Promise<void>((resolve) => {
        wake = resolve;
      }),
    ];
    // After a failed cycle the last view is stale: a watch on it would fire at once and spin.
    // Without a leader the watch waits for one to appear (a member waiting for the bootstrap, or out of the race).
    const cluster = afterFailure ? null : last?.cluster;
    if (cluster && !last?.holdsLock) {
      waiters.push(
        dcs
          .watchLeader(cluster.leader?.version ?? null, sleepMs, waitController.signal)
          .catch(() => clock.sleep(sleepMs, waitController.signal).catch(() => undefined)),
      );
    }
    try {
      await Promise.race(waiters);
    } finally {
      wake = null;
      signal.removeEventListener('abort', onAbort);
      waitController.abort();
    }
  }
}

/** The `restapi` section as the REST package takes it: access rules, headers, limits and TLS. */
function restApiServing(config: PgwardenConfig, node: RestApiNode, logger: Logger) {
  const restapi = config.restapi;
  const tls = Boolean(restapi.certfile);
  const verifyClient = tls ? (restapi.verify_client ?? 'none') : 'none';
  const serverHeader =
    restapi.server_tokens === 'minimal'
      ? `Patroni/${PATRONI_COMPAT_VERSION}`
      : restapi.server_tokens === 'productonly'
        ? 'Patroni'
        : undefined;
  const handler = createRestApiHandler({
    node,
    logger,
    verifyClient,
    ...(restapi.authentication ? { authentication: { username: restapi.authentication.username, password: restapi.authentication.password } } : {}),
    ...(restapi.allowlist ? { allowlist: restapi.allowlist } : {}),
    allowlistIncludeMembers: restapi.allowlist_include_members === true,
    // pgwarden extension: health checks and status reads need credentials too.
    authenticateReads: restapi.authenticate_reads === true,
    ...(restapi.http_extra_headers ? { extraHeaders: restapi.http_extra_headers } : {}),
    ...(restapi.https_extra_headers ? { httpsExtraHeaders: restapi.https_extra_headers } : {}),
    ...(serverHeader ? { serverHeader } : {}),
    // Patroni's thread pool has at least 5 workers; requests past it and the queue get 503.
    maxConcurrentRequests: Math.max(5, restapi.thread_pool_size ?? 5),
    maxQueuedRequests: restapi.request_queue_size ?? 5,
  });
  const certFile = restapi.certfile;
  return {
    handler,
    ...(certFile
      ? {
          tls: {
            certFile,
            verifyClient,
            ...(restapi.keyfile ? { keyFile: restapi.keyfile } : {}),
            ...(restapi.keyfile_password ? { keyFilePassword: restapi.keyfile_password } : {}),
            ...(restapi.cafile ? { caFile: restapi.cafile } : {}),
            ...(restapi.ciphers ? { ciphers: restapi.ciphers } : {}),
          },
        }
      : {}),
  };
}

/**
 * Permanent logical slots on replicas need hot_standby_feedback: through it the primary keeps the catalog rows
 * their decoding needs. Forced on where ha/slots.ts says so, as Patroni does.
 */
function withSlotParameters(
  parameters: Record<string, string | number | boolean>,
  result: CycleResult,
  config: PgwardenConfig,
): Record<string, string | number | boolean> {
  const data = result.cluster?.config?.data ?? result.memory.configData;
  if (!data) return parameters;
  const tags = (config.tags ?? {}) as Record<string, unknown>;
  if (!needsHotStandbyFeedback(result.cluster, config.name, tags, slotSettings(data))) return parameters;
  return { ...parameters, hot_standby_feedback: 'on' };
}

/** Each cycle's one line: who holds the lock, who I am, and what was decided and why. */
function logCycle(logger: Logger, name: string, result: CycleResult): void {
  const level = result.decision.reason.includes('failed') || result.decision.reason === 'system_id_mismatch' ? 'warn' : 'info';
  const prefix = result.dynamic.pause ? 'PAUSE: ' : '';
  logger.log(level, `${prefix}Lock owner: ${result.lockOwner ?? 'none'}; I am ${name}: ${result.decision.message}`, {
    reason: result.decision.reason,
  });
}

async function applyParameters(
  postgres: PostgresDriver,
  parameters: Record<string, string | number | boolean>,
  logger: Logger,
): Promise<boolean> {
  try {
    const applied = await postgres.applySettings({ parameters });
    if (applied.changed.length) logger.log('info', `postgres parameters changed: ${applied.changed.join(', ')}`);
    if (applied.pendingRestart.length) logger.log('info', `pending restart for: ${applied.pendingRestart.join(', ')}`);
    if (applied.rejected.length) logger.log('warn', `unknown postgres parameters ignored: ${applied.rejected.join(', ')}`);
    // True when the driver reloaded postgres (it does so when anything changed and postgres runs).
    return applied.changed.length > 0 || applied.hbaChanged;
  } catch (error) {
    logger.log('warn', `could not apply postgres parameters: ${describe(error)}`);
    return false;
  }
}

/** Patroni's start-up check: a live member answering under our name means a second agent was started by mistake. */
async function refuseDuplicateName(dcs: Dcs, name: string, logger: Logger, clock: Clock, signal: AbortSignal): Promise<void> {
  let cluster: Cluster | null = null;
  while (!cluster && !signal.aborted) {
    try {
      cluster = await dcs.loadCluster({ signal });
    } catch (error) {
      logger.log('warn', `waiting for the DCS: ${describe(error)}`);
      await clock.sleep(DCS_RETRY_AT_START_MS, signal).catch(() => undefined);
    }
  }
  const existing = cluster?.members.find((member) => member.name === name);
  const apiUrl = existing?.data.api_url;
  if (typeof apiUrl !== 'string') return;
  const liveness = new URL(apiUrl);
  liveness.pathname = '/liveness';
  const answer = await fetch(liveness, { signal: AbortSignal.any([signal, AbortSignal.timeout(PEER_TIMEOUT_MS)]) }).catch(() => null);
  if (answer?.ok) {
    throw new PgwardenError('agent', 'DUPLICATE_MEMBER', `cannot start: there is already a node named ${name} running (its REST API at ${apiUrl} answers /liveness)`);
  }
}

function effectHandlers(
  dcs: Dcs,
  postgres: PostgresDriver,
  tasks: TaskRunner,
  scripts: ScriptRunner,
  watchdog: Watchdog,
  initial: Timing,
  peerOptions: PeerRequestOptions,
): EffectHandlers & { setTiming(timing: Timing): void } {
  let timing = initial;
  const attempt = async <T>(operation: () => Promise<T>) => {
    try {
      return { ok: true as const, value: await operation() };
    } catch (error) {
      return { ok: false as const, error: describe(error) };
    }
  };
  const orNull = async <T>(operation: () => Promise<T>): Promise<T | null> => operation().catch(() => null);
  return {
    setTiming(next: Timing) {
      timing = next;
    },
    'pg.observe': () => postgres.observe(),
    'pg.promote': ({ reserveTimelines }) => postgres.promote({ timeout: Math.max(timing.loopWait, 10), reserveTimelines }).catch(() => false),
    'pg.stop': ({ mode, killAfter }) => postgres.stop(killAfter === undefined ? { mode } : { mode, timeout: killAfter, killAfterTimeout: true }).catch(() => false),
    'pg.follow': ({ upstream }) => orNull(() => postgres.follow(upstream)),
    'pg.changeSlots': ({ changes }) => orNull(() => postgres.changeReplicationSlots(changes)),
    'pg.timelineHistory': ({ timeline }) => orNull(() => postgres.readTimelineHistory(timeline)),
    'dcs.load': () => attempt(() => dcs.loadCluster()),
    'dcs.acquireLeader': () => attempt(() => dcs.acquireLeader()),
    'dcs.renewLeader': async () => {
      const renewed = await attempt(() => dcs.renewLeader());
      // The watchdog counts down from each successful renewal: a hung loop resets the host before the lock expires.
      if (renewed.ok && renewed.value && watchdog.isRunning) await watchdog.keepalive();
      return renewed;
    },
    'dcs.releaseLeader': () => attempt(() => dcs.releaseLeader()),
    'dcs.touchMember': ({ data }) => attempt(() => dcs.touchMember(data)),
    'dcs.initialize': ({ create, sysid }) => attempt(() => dcs.initialize({ create, sysid })),
    'dcs.cancelInitialization': () => attempt(() => dcs.cancelInitialization()),
    'dcs.setConfig': ({ data, expected }) => attempt(() => dcs.setConfig(data, expected)),
    'dcs.clearFailover': ({ expected }) => attempt(() => dcs.setFailover(null, expected)),
    'dcs.setHistory': ({ lines }) => attempt(() => dcs.setHistory(lines)),
    'dcs.writeStatus': ({ status }) => attempt(() => dcs.writeStatus(status)),
    'dcs.setSync': ({ value, expected }) => attempt(() => dcs.setSync(value, expected)),
    'dcs.deleteSync': ({ expected }) => attempt(() => dcs.deleteSync(expected)),
    'pg.setSyncStandbyNames': ({ value }) => postgres.setSynchronousStandbyNames(value).catch(() => false),
    'task.start': ({ task }) => Promise.resolve(tasks.start(task)),
    'callback.run': ({ action, role }) => Promise.resolve(scripts.runCallback(action, role)),
    'pg.prePromote': () => scripts.runPrePromote(),
    'watchdog.activate': () => watchdog.activate(timing.ttl),
    'watchdog.disable': () => watchdog.disable().then(() => true),
    'peers.probe': ({ members }) => probePeers(members, peerOptions),
    'peers.failsafe': ({ members, payload }) => postFailsafe(members, payload, peerOptions),
    'dcs.writeFailsafe': ({ members }) => attempt(() => dcs.writeFailsafe(members)),
    'watchdog.keepalive': async () => {
      if (watchdog.isRunning) await watchdog.keepalive();
      return true;
    },
  };
}

/** The long operations, each reporting progress so a user can follow a basebackup or a rewind. */
async function runTask(spec: TaskSpec, postgres: PostgresDriver, logger: Logger, signal: AbortSignal): Promise<void> {
  const progress = (message: string, fields?: Record<string, unknown>) => logger.log('info', `${spec.kind}: ${message}`, fields);
  const startReplica = async (upstream: Upstream | null, timeout: number) => {
    if (!(await postgres.start({ role: 'replica', upstream, timeout, signal }))) throw new Error('postgres did not start');
  };
  switch (spec.kind) {
    case 'bootstrap':
      try {
        await postgres.bootstrap({ progress, signal });
      } catch (error) {
        await postgres.stop({ mode: 'immediate' }).catch(() => false);
        const movedTo = await postgres.moveDataDirectoryAside().catch(() => null);
        progress(movedTo ? `failed: the half-initialized data directory is kept as ${movedTo}` : 'failed');
        throw error;
      }
      return;
    case 'clone': {
      // No source (no_leader methods): start read-only without an upstream; the cycle points it at a leader later.
      const source = isNoCloneSource(spec.source) ? null : spec.source;
      try {
        await postgres.cloneFrom(source, { progress, signal, ...(spec.methods ? { methods: spec.methods } : {}) });
      } catch (error) {
        await postgres.removeDataDirectory().catch(() => undefined);
        throw error;
      }
      progress(source ? `starting as a replica of ${source.name}` : 'starting read-only: there is no leader to follow yet');
      return startReplica(source, 60);
    }
    case 'rewind': {
      const { rewound } = await postgres.rewindFrom(spec.source, { progress, signal });
      progress(rewound ? `rewound; starting as a replica of ${spec.source.name}` : `no rewind needed; starting as a replica of ${spec.source.name}`);
      return startReplica(spec.source, 60);
    }
    case 'reinitialize':
      progress('stopping postgres and removing the data directory');
      await postgres.stop({ mode: 'immediate' }).catch(() => false);
      await postgres.removeDataDirectory();
      try {
        await postgres.cloneFrom(spec.source, { progress, signal });
      } catch (error) {
        await postgres.removeDataDirectory().catch(() => undefined);
        throw error;
      }
      return startReplica(spec.source, 60);
    case 'restart':
      if (spec.installSlots) {
        const { source, slots } = spec.installSlots;
        progress(`copying logical slots ${slots.map((slot) => slot.name).join(', ')} from ${source.name}`);
        const copied = await postgres.copyLogicalSlots(source, slots, { upstream: spec.upstream, timeout: spec.timeout, signal });
        progress(copied.length ? `copied logical slots ${copied.join(', ')}` : 'no logical slot to copy yet on the primary');
        return;
      }
      progress(`restarting postgres as ${spec.role}`);
      if (!(await postgres.restart({ role: spec.role, upstream: spec.upstream, timeout: spec.timeout, signal }))) {
        throw new Error(`postgres did not start again, or did not accept connections within ${spec.timeout}s (the driver logged why)`);
      }
      return;
    case 'start':
      progress(`starting postgres as ${spec.role}${spec.upstream ? ` following ${spec.upstream.name}` : ''}`);
      if (!(await postgres.start({ role: spec.role, upstream: spec.upstream, timeout: spec.timeout, signal }))) {
        throw new Error(`postgres did not start, or did not accept connections within ${spec.timeout}s (the driver logged why)`);
      }
      return;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
