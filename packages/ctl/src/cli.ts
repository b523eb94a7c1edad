/**
 * `pgwardenctl`: patronictl's commands and options over commander. `runCtl(argv, deps)` is the whole program;
 * every side effect (output, prompts, HTTP, the DCS, PostgreSQL, the editor, time) comes in through `deps`.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { PATRONI_COMPAT_VERSION, PGWARDEN_VERSION, isNoFailover, isPgwardenError, memberTags } from '@pgwarden/core';
import type { Cluster, Dcs, Member } from '@pgwarden/core';
import { clusterJson } from '@pgwarden/rest-api';
import { describeDcsUnreachable } from './dcs-errors.js';
import { loadDcsPlugin } from './dcs-loader.js';
import type { DcsFactory } from './dcs-loader.js';
import { applyConfigChanges, applyConfigDocument, configDiff, formatConfigForEditing, parseConfigDocument, pgPairs, sameJson } from './edit-config.js';
import { CtlError } from './errors.js';
import { OUTPUT_FORMATS, formatHistory, formatMembers, printTable, toYaml } from './format.js';
import type { OutputFormat } from './format.js';
import { createHttpClient, endpointUrl } from './http.js';
import type { CtlHttpClient, HttpRequest, HttpResponse } from './http.js';
import { runPostgresQuery } from './query.js';
import type { QueryRunner } from './query.js';
import { loadCtlSettings } from './settings.js';
import type { CtlHttpSettings, CtlSettings } from './settings.js';

export interface PromptOptions {
  readonly default?: string;
  /** Do not echo what is typed (passwords). */
  readonly hidden?: boolean;
}

/** Asks the operator a question and resolves with the answer (the default when the answer is empty). */
export type PromptFunction = (question: string, options?: PromptOptions) => Promise<string>;

export interface CtlOutput {
  write(chunk: string): unknown;
}

export interface CtlDeps {
  readonly stdout: CtlOutput;
  readonly stderr: CtlOutput;
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly prompt: PromptFunction;
  /** Default: node:http(s) with basic auth and TLS from the settings. */
  readonly createHttpClient?: (settings: CtlHttpSettings) => CtlHttpClient;
  /** Default: imports the configured plugin only. */
  readonly createDcs?: DcsFactory;
  /** Default: `pg`. */
  readonly runQuery?: QueryRunner;
  /** Runs `$EDITOR file`; resolves with its exit code. */
  readonly runEditor?: (editor: string, file: string) => Promise<number>;
  readonly readStdin?: () => Promise<string>;
  readonly sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly now?: () => Date;
  /** Aborts watches and waits (Ctrl-C). */
  readonly signal?: AbortSignal;
}

type Role = 'leader' | 'primary' | 'standby-leader' | 'replica' | 'standby' | 'any';
const ROLES: readonly Role[] = ['leader', 'primary', 'standby-leader', 'replica', 'standby', 'any'];

const pad = (value: number, width = 2) => String(value).padStart(width, '0');

/** patronictl's timestamp: local time, `YYYY-MM-DD HH:MM:SS.fffff` (or without fraction). */
export function timestamp(date: Date, fraction = true): string {
  const base = `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} ${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  return fraction ? `${base}.${pad(date.getMilliseconds(), 3)}00`.slice(0, base.length + 6) : base;
}

/** ISO 8601 with the local offset, as Python's `isoformat()` of an aware datetime. */
export function isoWithOffset(date: Date): string {
  const offset = -date.getTimezoneOffset();
  const sign = offset >= 0 ? '+' : '-';
  const abs = Math.abs(offset);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}${sign}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** `--scheduled`: `now` (or nothing) means immediately; a time without a zone is local time. */
export function parseScheduled(value: string | undefined): Date | null {
  if (value === undefined || value === '' || value === 'now') return null;
  const date = new Date(value.trim().replace(/^(\d{4}-\d{2}-\d{2}) (\d)/, '$1T$2'));
  if (Number.isNaN(date.getTime())) {
    throw new CtlError(`Unable to parse scheduled timestamp (${value}). It should be in an unambiguous format (e.g. ISO 8601)`);
  }
  return date;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveNumber(value: string): number {
  const number = Number(value);
  if (!Number.isFinite(number) || number <= 0) throw new InvalidArgumentError('expected a positive number of seconds');
  return number;
}

const formatOption = () => new Option('-f, --format <format>', 'output format').choices([...OUTPUT_FORMATS]).default('pretty');
const roleOption = (help: string, fallback?: Role) => {
  const option = new Option('-r, --role <role>', help).choices([...ROLES]);
  return fallback ? option.default(fallback) : option;
};

/** One run of the program: settings, the DCS clients it opened, the HTTP client. */
class Session implements AsyncDisposable {
  private settingsValue: CtlSettings | null = null;
  private httpValue: CtlHttpClient | null = null;
  private readonly stores = new Map<string, Promise<Dcs>>();
  readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  readonly now: () => Date;

  constructor(
    readonly deps: CtlDeps,
    private readonly globals: () => { configFile?: string; dcsUrl?: string; dcs?: string; insecure?: boolean },
  ) {
    this.sleep = deps.sleep ?? ((ms, signal) => delay(ms, undefined, signal ? { signal } : {}));
    this.now = deps.now ?? (() => new Date());
  }

  get settings(): CtlSettings {
    if (!this.settingsValue) {
      const globals = this.globals();
      const dcsUrl = globals.dcsUrl ?? globals.dcs;
      this.settingsValue = loadCtlSettings({
        env: this.deps.env,
        ...(globals.configFile !== undefined ? { configFile: globals.configFile } : {}),
        ...(dcsUrl !== undefined ? { dcsUrl } : {}),
        insecure: globals.insecure === true,
      });
    }
    return this.settingsValue;
  }

  get http(): CtlHttpClient {
    this.httpValue ??= (this.deps.createHttpClient ?? createHttpClient)(this.settings.http);
    return this.httpValue;
  }

  out(text: string): void {
    this.deps.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
  }

  warn(text: string): void {
    this.deps.stderr.write(`${text}\n`);
  }

  clusterName(given: string | undefined): string {
    const name = given ?? this.settings.scope;
    if (!name) throw new CtlError('no cluster name: pass CLUSTER_NAME or set `scope` in the configuration file (-c)');
    return name;
  }

  dcs(scope: string): Promise<Dcs> {
    let store = this.stores.get(scope);
    if (!store) {
      const settings = this.settings;
      // The ctl never takes the lock nor writes a member key; the identity only names the cluster.
      store = (this.deps.createDcs ?? loadDcsPlugin)(settings.dcs, { scope, namespace: settings.namespace, name: scope, ttl: 30, retryTimeout: 10 });
      this.stores.set(scope, store);
    }
    return store;
  }

  async cluster(scope: string): Promise<Cluster> {
    const dcs = await this.dcs(scope);
    return dcs.loadCluster(this.deps.signal ? { signal: this.deps.signal } : {});
  }

  members(cluster: Cluster, name: string, fmt: OutputFormat = 'pretty', extended = false): string {
    return formatMembers(clusterJson(cluster, name), { name, initialize: cluster.initialize, fmt, extended });
  }

  async confirm(question: string): Promise<boolean> {
    const answer = await this.deps.prompt(`${question} [y/N]: `, { default: 'n' });
    return /^y(es)?$/i.test(answer.trim());
  }

  request(member: Member, method: HttpRequest['method'], endpoint: string, body?: unknown, timeoutMs?: number): Promise<HttpResponse> {
    const apiUrl = member.data.api_url;
    if (typeof apiUrl !== 'string' || apiUrl === '') return Promise.reject(new Error(`member ${member.name} publishes no api_url`));
    return this.http.request({
      method,
      url: endpointUrl(apiUrl, endpoint),
      ...(body === undefined ? {} : { body }),
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(this.deps.signal ? { signal: this.deps.signal } : {}),
    });
  }

  loopWait(cluster: Cluster): number {
    const value = Number(cluster.config?.data['loop_wait']);
    return Number.isFinite(value) && value > 0 ? value : (this.settings.loopWait ?? 10);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    const stores = [...this.stores.values()];
    this.stores.clear();
    await Promise.all(stores.map(async (store) => (await store.catch(() => null))?.close()));
  }
}

function isPaused(cluster: Cluster): boolean {
  const pause = cluster.config?.data['pause'];
  return pause === true || (typeof pause === 'string' && ['true', 'on', 'yes', '1'].includes(pause.toLowerCase()));
}

function isStandbyCluster(cluster: Cluster): boolean {
  const standby = cluster.config?.data['standby_cluster'];
  return typeof standby === 'object' && standby !== null && Object.keys(standby).length > 0;
}

function leaderMember(cluster: Cluster): Member | null {
  return cluster.leader?.member ?? null;
}

/** patronictl's role filter over the cluster's members. */
export function membersWithRole(cluster: Cluster, role: Role): Member[] {
  const leader = leaderMember(cluster);
  if (role === 'leader' || role === 'primary' || role === 'standby-leader') {
    if (!leader) return [];
    const leaderRole = leader.data.role;
    if (role === 'leader') return [leader];
    if (role === 'standby-leader') return leaderRole !== 'primary' && leaderRole !== 'master' ? [leader] : [];
    return leaderRole !== 'standby_leader' ? [leader] : [];
  }
  const leaderName = cluster.leader?.name ?? null;
  return cluster.members.filter((member) => role === 'any' || member.name !== leaderName);
}

function anyMember(cluster: Cluster, role: Role | undefined, name: string | undefined): Member | undefined {
  if (name !== undefined && role !== undefined) throw new CtlError('--role and --member are mutually exclusive options');
  const candidates = membersWithRole(cluster, name !== undefined ? 'any' : (role ?? 'leader'));
  return candidates.find((member) => name === undefined || member.name === name);
}

function membersLeaderFirst(cluster: Cluster): Member[] {
  const leader = leaderMember(cluster);
  const first = leader && typeof leader.data.api_url === 'string' ? [leader] : [];
  return [...first, ...cluster.members.filter((member) => member.data.api_url && member.name !== first[0]?.name)];
}

/** Host and port PostgreSQL listens on, from the member's `conn_url`. */
function connectionOf(member: Member): { host: string; port: number } {
  const kwargs = member.data['conn_kwargs'];
  if (kwargs && typeof kwargs === 'object') {
    const { host, port } = kwargs as { host?: unknown; port?: unknown };
    if (typeof host === 'string') return { host, port: Number(port ?? 5432) };
  }
  try {
    const url = new URL(String(member.data.conn_url ?? ''));
    return { host: url.hostname.replace(/^\[(.*)\]$/, '$1'), port: Number(url.port || 5432) };
  } catch {
    throw new CtlError(`member ${member.name} publishes no usable conn_url`);
  }
}

async function selectMembers(
  session: Session,
  cluster: Cluster,
  clusterName: string,
  names: readonly string[],
  role: Role,
  force: boolean,
  action: string,
  askConfirmation = true,
): Promise<Member[]> {
  const members = membersWithRole(cluster, role);
  const candidates = members.map((member) => member.name);
  if (names.length === 0 && candidates.length === 0) throw new CtlError(`${clusterName} cluster doesn't have any members`);
  session.out(session.members(cluster, clusterName));
  let chosen = [...names];
  if (chosen.length > 0) {
    chosen = chosen.filter((name) => candidates.includes(name));
    if (chosen.length === 0) throw new CtlError(`No ${role} among provided members`);
  } else if (action !== 'reinitialize') {
    chosen = candidates;
  }
  if (chosen.length === 0 && !force) {
    chosen = [await session.deps.prompt(`Which member do you want to ${action} [${candidates.join(', ')}]? `, { default: '' })];
  }
  for (const name of chosen) if (!candidates.includes(name)) throw new CtlError(`${name} is not a member of cluster`);
  const selected = members.filter((member) => chosen.includes(member.name));
  if (askConfirmation) await confirmMembers(session, selected, force, action);
  return selected;
}

async function confirmMembers(session: Session, members: readonly Member[], force: boolean, action: string, scheduledAt?: string | null, pending?: boolean): Promise<void> {
  if (force) return;
  const names = members.map((member) => member.name).join(', ');
  if (scheduledAt) {
    const question = pending
      ? 'The nodes needing a restart will be identified at the scheduled time, and might be different from the ones showing pending restart right now. Is this fine?'
      : `Are you sure you want to schedule ${action} of members ${names} at ${scheduledAt}?`;
    if (!(await session.confirm(question))) throw new CtlError(`Aborted scheduled ${action}`);
  } else if (!(await session.confirm(`Are you sure you want to ${action} members ${names}?`))) {
    throw new CtlError(`Aborted ${action}`);
  }
}

function checkResponse(session: Session, response: HttpResponse, member: string, action: string, silentSuccess = false): boolean {
  if (response.status >= 400) {
    session.out(`Failed: ${action} for member ${member}, status code=${response.status}, (${response.body})`);
    return false;
  }
  if (!silentSuccess) session.out(`Success: ${action} for member ${member}`);
  return true;
}

/** Repeats `body` every `seconds` until aborted (`-W`, `-w`); once when no interval. */
async function watching(session: Session, interval: number | undefined, body: () => Promise<void>): Promise<void> {
  for (;;) {
    await body();
    if (!interval || session.deps.signal?.aborted) return;
    try {
      await session.sleep(interval * 1000, session.deps.signal);
    } catch {
      return;
    }
  }
}

/** How often a long request reports that it is still waiting. */
const PROGRESS_EVERY_MS = 5_000;

/**
 * Awaits `work` (a REST call the member answers only when it is done), printing `line(seconds)` every few seconds
 * meanwhile, so that a switchover or a restart never looks hung. Seconds come from the session's clock.
 */
async function withProgress<T>(session: Session, work: Promise<T>, line: (seconds: number) => string): Promise<T> {
  const stop = new AbortController();
  const signal = session.deps.signal ? AbortSignal.any([stop.signal, session.deps.signal]) : stop.signal;
  const started = session.now().getTime();
  const ticker = (async () => {
    while (!signal.aborted) {
      try {
        await session.sleep(PROGRESS_EVERY_MS, signal);
      } catch {
        return;
      }
      if (signal.aborted) return;
      const seconds = Math.round((session.now().getTime() - started) / 1000);
      if (seconds > 0) session.out(line(seconds));
    }
  })();
  try {
    return await work;
  } finally {
    stop.abort();
    await ticker;
  }
}

const watchInterval = (options: { W?: boolean; watch?: number }): number | undefined => options.watch ?? (options.W ? 2 : undefined);

async function failoverOrSwitchover(
  session: Session,
  action: 'failover' | 'switchover',
  clusterName: string,
  options: { candidate?: string; leader?: string; scheduled?: string; force?: boolean },
): Promise<number> {
  const force = options.force === true;
  const dcs = await session.dcs(clusterName);
  let cluster = await session.cluster(clusterName);
  session.out('Current cluster topology');
  session.out(session.members(cluster, clusterName));
  const clusterLeader = cluster.leader?.name ?? null;
  let leader = options.leader;
  if (action === 'switchover') {
    if (!clusterLeader) throw new CtlError('This cluster has no leader: use `failover --candidate NAME` instead');
    if (leader === undefined) {
      leader = force ? clusterLeader : await session.deps.prompt(`${isStandbyCluster(cluster) ? 'Standby Leader' : 'Primary'} [${clusterLeader}]: `, { default: clusterLeader });
    }
    if (leader !== clusterLeader) throw new CtlError(`Member ${leader} is not the leader of cluster ${clusterName}`);
  }
  const candidates = cluster.members
    .filter((member) => member.name !== clusterLeader && !isNoFailover(memberTags(member)))
    .map((member) => member.name)
    .sort();
  if (candidates.length === 0) throw new CtlError(`No candidates found to ${action} to`);
  let candidate = options.candidate;
  if (candidate === undefined && !force) candidate = await session.deps.prompt(`Candidate ['${candidates.join("', '")}'] []: `, { default: '' });
  if (candidate === '') candidate = undefined;
  if (action === 'failover' && !candidate) throw new CtlError('Failover could be performed only to a specific candidate');
  if (candidate && !candidates.includes(candidate)) {
    if (candidate === clusterLeader) throw new CtlError(`Member ${candidate} is already the leader of cluster ${clusterName}`);
    throw new CtlError(`Member ${candidate} does not exist in cluster ${clusterName} or is tagged as nofailover`);
  }
  const synchronous = cluster.config?.data['synchronous_mode'];
  if (!force && action === 'failover' && (synchronous === true || synchronous === 'on' || synchronous === 'quorum') && cluster.sync && cluster.sync.syncStandby.length > 0 && candidate && !cluster.sync.syncStandby.includes(candidate)) {
    if (!(await session.confirm(`Are you sure you want to failover to the asynchronous node ${candidate}?`))) throw new CtlError(`Aborting ${action}`);
  }
  let scheduledAt: string | null = null;
  if (action === 'switchover') {
    let scheduled = options.scheduled;
    if (scheduled === undefined && !force) {
      const nextHour = isoWithOffset(new Date(session.now().getTime() + 3_600_000)).slice(0, 16);
      scheduled = await session.deps.prompt(`When should the switchover take place (e.g. ${nextHour} )  [now]: `, { default: 'now' });
    }
    const date = parseScheduled(scheduled);
    if (date) {
      if (isPaused(cluster)) throw new CtlError("Can't schedule switchover in the paused state");
      scheduledAt = isoWithOffset(date);
    }
  }
  const body: Record<string, string> = {};
  if (action === 'switchover' && leader) body['leader'] = leader;
  if (candidate) body['candidate'] = candidate;
  if (scheduledAt) body['scheduled_at'] = scheduledAt;
  if (!force) {
    const demote = clusterLeader ? `, demoting current leader ${clusterLeader}` : '';
    const question = scheduledAt
      ? `Are you sure you want to schedule switchover of cluster ${clusterName} at ${scheduledAt}${demote}?`
      : `Are you sure you want to ${action} cluster ${clusterName}${demote}?`;
    if (!(await session.confirm(question))) throw new CtlError(scheduledAt ? `Aborting scheduled ${action}` : `Aborting ${action}`);
  }
  const target = leaderMember(cluster) ?? cluster.members.find((member) => member.name === candidate);
  let response: HttpResponse;
  try {
    if (!target) throw new Error('no member to send the request to');
    // The leader answers once the new leader holds the lock (or after its own deadline): allow for that.
    const awaited = candidate ?? 'a new leader';
    response = await withProgress(session, session.request(target, 'POST', action, body, 120_000), (seconds) =>
      scheduledAt ? `waiting for ${target.name} to accept the scheduled ${action}... (${seconds} s)` : `waiting for ${awaited} to become leader... (${seconds} s)`,
    );
  } catch (error) {
    session.warn(`${(error as Error).message}`);
    session.out(`${timestamp(session.now())} Could not ${action} using Patroni api, falling back to DCS`);
    await dcs.setFailover({ leader: action === 'switchover' ? (leader ?? null) : null, candidate: candidate ?? null, scheduledAt });
    session.out(session.members(await session.cluster(clusterName), clusterName));
    return 0;
  }
  if (response.status !== 200 && response.status !== 202) {
    const result = response.body.toLowerCase().includes('status unknown') ? 'result unknown' : 'failed';
    session.out(`${action[0]!.toUpperCase()}${action.slice(1)} ${result}, details: ${response.status}, ${response.body}`);
    return 1;
  }
  session.out(`${timestamp(session.now())} ${response.body}`);
  cluster = await session.cluster(clusterName);
  session.out(session.members(cluster, clusterName));
  return 0;
}

/** Resuming without a lock holder: the members will wait for the one that led while paused (core's paused-leader rule). */
function warnAboutPausedLeader(session: Session, cluster: Cluster, paused: boolean): void {
  const former = cluster.status.pausedLeader;
  if (paused || cluster.leader || !former) return;
  session.warn(
    `No member holds the leader lock, and ${former.name} held it while the cluster was paused: the others will not promote ` +
      `until ${former.name} is seen demoted or its agent takes the lock again. If its PostgreSQL is down for good, ` +
      `run "pgwardenctl failover --candidate <member>".`,
  );
}

async function togglePause(session: Session, clusterName: string, paused: boolean, wait: boolean): Promise<number> {
  const dcs = await session.dcs(clusterName);
  const cluster = await session.cluster(clusterName);
  if (isPaused(cluster) === paused) throw new CtlError(`Cluster is ${paused ? 'already' : 'not'} paused`);
  for (const member of membersLeaderFirst(cluster)) {
    let response: HttpResponse;
    try {
      response = await session.request(member, 'PATCH', 'config', { pause: paused ? true : null });
    } catch (error) {
      session.warn(`Member ${member.name} is not accessible: ${(error as Error).message}`);
      continue;
    }
    if (response.status !== 200) {
      session.out(`Failed: ${paused ? 'pause' : 'resume'} cluster management status code=${response.status}, (${response.body})`);
      return 1;
    }
    if (!wait) {
      session.out(`Success: cluster management is ${paused ? 'paused' : 'resumed'}`);
      warnAboutPausedLeader(session, cluster, paused);
      return 0;
    }
    session.out(`'${paused ? 'pause' : 'resume'}' request sent, waiting until it is recognized by all nodes`);
    const watched = new Set(cluster.members.filter((m) => m.data.api_url).map((m) => m.name));
    // Every member writes its key once per loop_wait; allow two loops and a margin.
    const timeoutSeconds = session.loopWait(cluster) * 2 + 2;
    const deadline = session.now().getTime() + timeoutSeconds * 1000;
    let remaining: string[] = [];
    for (;;) {
      const current = await dcs.loadCluster();
      remaining = current.members.filter((m) => watched.has(m.name) && (m.data.pause === true) !== paused).map((m) => m.name);
      if (remaining.length === 0 || session.now().getTime() >= deadline) break;
      await session.sleep(1000, session.deps.signal);
    }
    if (remaining.length > 0) {
      session.out(`${remaining.join(', ')} members didn't recognize the ${paused ? 'pause' : 'resume'} after ${timeoutSeconds} seconds: check their agents' logs`);
      return 1;
    }
    session.out(`Success: cluster management is ${paused ? 'paused' : 'resumed'}`);
    warnAboutPausedLeader(session, cluster, paused);
    return 0;
  }
  throw new CtlError('Can not find accessible cluster member: check that the agents run and their REST API is reachable');
}

async function defaultRunEditor(editor: string, file: string): Promise<number> {
  const { spawn } = await import('node:child_process');
  return new Promise((resolve, reject) => {
    const child = spawn(editor, [file], { stdio: 'inherit' });
    child.once('error', reject);
    child.once('exit', (code) => resolve(code ?? 1));
  });
}

async function findEditor(env: Readonly<Record<string, string | undefined>>): Promise<string> {
  if (env['EDITOR']) return env['EDITOR'];
  const { access } = await import('node:fs/promises');
  for (const name of ['editor', 'vi']) {
    for (const dir of (env['PATH'] ?? '').split(':').filter(Boolean)) {
      try {
        await access(join(dir, name));
        return join(dir, name);
      } catch {
        // not here
      }
    }
  }
  throw new CtlError('EDITOR environment variable is not set. editor or vi are not available');
}

async function readSource(session: Session, file: string): Promise<string> {
  if (file === '-') {
    if (!session.deps.readStdin) throw new CtlError('reading the configuration from stdin is not available here');
    return session.deps.readStdin();
  }
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CtlError(`cannot read ${file}: ${(error as Error).message}`, { cause: error });
  }
}

function buildProgram(session: Session, exit: { code: number }): Command {
  const { deps } = session;
  const program = new Command('pgwardenctl')
    .description("pgwarden's operator CLI: patronictl's commands for pgwarden (and Patroni) clusters")
    .enablePositionalOptions()
    .exitOverride()
    .configureOutput({ writeOut: (text) => deps.stdout.write(text), writeErr: (text) => deps.stderr.write(text) })
    .option('-c, --config-file <file>', 'configuration file (env PATRONICTL_CONFIG_FILE)')
    .option('-d, --dcs-url <url>', 'the DCS connect url DCS://HOST:PORT/NAMESPACE (env DCS_URL)')
    .addOption(new Option('--dcs <url>', 'alias of --dcs-url').hideHelp())
    .option('-k, --insecure', 'allow connections to members whose TLS certificate cannot be verified');
  const done = (code: number) => {
    exit.code = code;
  };

  program
    .command('list')
    .description('List the members of one or more clusters')
    .argument('[cluster_names...]')
    .option('-e, --extended', 'show some extra information')
    .option('-t, --timestamp', 'print timestamp')
    .addOption(formatOption())
    .option('-W', 'auto update the screen every 2 seconds')
    .option('-w, --watch <seconds>', 'auto update the screen every X seconds', positiveNumber)
    .action(async (names: string[], options: { extended?: boolean; timestamp?: boolean; format: OutputFormat; W?: boolean; watch?: number }) => {
      const clusters = names.length > 0 ? names : session.settings.scope ? [session.settings.scope] : [];
      if (clusters.length === 0) throw new CtlError('Listing members: no cluster names were provided and the configuration has no scope');
      await watching(session, watchInterval(options), async () => {
        if (options.timestamp) session.out(timestamp(session.now(), false));
        for (const name of clusters) session.out(session.members(await session.cluster(name), name, options.format, options.extended === true));
      });
    });

  program
    .command('topology')
    .description('Print the replication tree of one or more clusters')
    .argument('[cluster_names...]')
    .option('-W', 'auto update the screen every 2 seconds')
    .option('-w, --watch <seconds>', 'auto update the screen every X seconds', positiveNumber)
    .action(async (names: string[], options: { W?: boolean; watch?: number }) => {
      const clusters = names.length > 0 ? names : session.settings.scope ? [session.settings.scope] : [];
      if (clusters.length === 0) throw new CtlError('Listing members: no cluster names were provided and the configuration has no scope');
      await watching(session, watchInterval(options), async () => {
        for (const name of clusters) session.out(session.members(await session.cluster(name), name, 'topology'));
      });
    });

  program
    .command('dsn')
    .description("Print a libpq DSN of a member (the leader's by default)")
    .argument('[cluster_name]')
    .addOption(roleOption('give a dsn of any member with this role'))
    .option('-m, --member <name>', 'generate a dsn for this member')
    .action(async (name: string | undefined, options: { role?: Role; member?: string }) => {
      const clusterName = session.clusterName(name);
      const member = anyMember(await session.cluster(clusterName), options.role, options.member);
      if (!member) throw new CtlError('Can not find a suitable member: check `pgwardenctl list`');
      const { host, port } = connectionOf(member);
      session.out(`host=${host} port=${port}`);
    });

  program
    .command('query')
    .description('Run SQL on a member')
    .argument('[cluster_name]')
    .addOption(new Option('--format <format>', 'output format').choices([...OUTPUT_FORMATS]).default('tsv'))
    .option('-f, --file <file>', 'execute the SQL commands from this file')
    .option('--password', 'force password prompt')
    .option('-U, --username <user>', 'database user name')
    .option('-W', 'auto update the screen every 2 seconds')
    .option('-w, --watch <seconds>', 'auto update the screen every X seconds', positiveNumber)
    .addOption(roleOption('the role of the query'))
    .option('-m, --member <name>', 'query a specific member')
    .option('--delimiter <delimiter>', 'the column delimiter', '\t')
    .option('-c, --command <sql>', 'the SQL commands to execute')
    .option('-d, --dbname <database>', 'database name to connect to')
    .action(async (name: string | undefined, options: { format: OutputFormat; file?: string; password?: boolean; username?: string; W?: boolean; watch?: number; role?: Role; member?: string; delimiter: string; command?: string; dbname?: string }) => {
      let sql: string;
      if (options.file !== undefined) {
        if (options.command !== undefined) throw new CtlError('--file and --command are mutually exclusive options');
        sql = await readSource(session, options.file);
      } else if (options.command !== undefined) {
        sql = options.command;
      } else {
        throw new CtlError('You need to specify either --command or --file');
      }
      const clusterName = session.clusterName(name);
      const password = options.password ? await deps.prompt('Password: ', { hidden: true }) : deps.env['PGPASSWORD'];
      const user = options.username ?? deps.env['PGUSER'];
      const database = options.dbname ?? deps.env['PGDATABASE'];
      const cluster = await session.cluster(clusterName);
      const runQuery = deps.runQuery ?? runPostgresQuery;
      await watching(session, watchInterval(options), async () => {
        const failure = (message: string) => session.out(printTable([], [[timestamp(session.now(), false), message]], options.format, { delimiter: options.delimiter }).replace(/^\n/, ''));
        const member = anyMember(cluster, options.role, options.member);
        if (!member) {
          failure(options.member ? `No connection to member ${options.member} is available` : options.role ? `No connection to role ${options.role} is available` : 'No connection is available');
          return;
        }
        try {
          const result = await runQuery(
            { ...connectionOf(member), ...(user ? { user } : {}), ...(password ? { password } : {}), ...(database ? { database } : {}) },
            sql,
            // `replica`/`primary` are checked against PostgreSQL itself, not only the DCS view.
            options.role === 'replica' || options.role === 'standby' || options.role === 'standby-leader' ? 'recovery' : options.role === 'primary' ? 'primary' : undefined,
          );
          if (result === null) {
            failure(`No connection to role ${options.role ?? 'any'} is available`);
            return;
          }
          session.out(printTable(result.columns ?? [], result.rows, options.format, { delimiter: options.delimiter }));
        } catch (error) {
          const code = (error as { code?: unknown }).code;
          const message = typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : (error as Error).message.replaceAll('\n', ' ');
          failure(`ERROR, SQLSTATE: ${message}`);
          exit.code = 1;
        }
      });
    });

  program
    .command('remove')
    .description('Remove a cluster from the DCS')
    .argument('<cluster_name>')
    .addOption(formatOption())
    .action(async (clusterName: string, options: { format: OutputFormat }) => {
      const dcs = await session.dcs(clusterName);
      const cluster = await session.cluster(clusterName);
      session.out(session.members(cluster, clusterName, options.format));
      if ((await deps.prompt('Please confirm the cluster name to remove: ')) !== clusterName) throw new CtlError('Cluster names specified do not match');
      const phrase = 'Yes I am aware';
      if ((await deps.prompt(`You are about to remove all information in DCS for ${clusterName}, please type: "${phrase}": `)) !== phrase) {
        throw new CtlError(`You did not exactly type "${phrase}"`);
      }
      if (cluster.leader?.name && (await deps.prompt('This cluster currently is healthy. Please specify the leader name to continue: ')) !== cluster.leader.name) {
        throw new CtlError('You did not specify the current leader of the cluster');
      }
      await dcs.deleteCluster();
    });

  program
    .command('reload')
    .description("Reload members' configuration")
    .argument('<cluster_name>')
    .argument('[member_names...]')
    .addOption(roleOption('reload only members with this role', 'any'))
    .option('--force', 'do not ask for confirmation at any point')
    .action(async (clusterName: string, names: string[], options: { role: Role; force?: boolean }) => {
      const cluster = await session.cluster(clusterName);
      const members = await selectMembers(session, cluster, clusterName, names, options.role, options.force === true, 'reload');
      for (const member of members) {
        const response = await session.request(member, 'POST', 'reload');
        if (response.status === 200) session.out(`No changes to apply on member ${member.name}`);
        else if (response.status === 202) session.out(`Reload request received for member ${member.name} and will be processed within ${session.loopWait(cluster)} seconds`);
        else {
          session.out(`Failed: reload for member ${member.name}, status code=${response.status}, (${response.body})`);
          done(1);
        }
      }
    });

  program
    .command('restart')
    .description('Restart PostgreSQL on members')
    .argument('<cluster_name>')
    .argument('[member_names...]')
    .addOption(roleOption('restart only members with this role', 'any'))
    .option('--any', 'restart a single member only')
    .option('--scheduled <timestamp>', 'timestamp of a scheduled restart in unambiguous format (e.g. ISO 8601), or now')
    .option('--pg-version <version>', 'restart if the PostgreSQL version is less than provided (e.g. 15.2)')
    .option('--pending', 'restart if pending')
    .option('--timeout <seconds>', 'return error and fail over if necessary when restarting takes longer than this')
    .option('--force', 'do not ask for confirmation at any point')
    .action(async (clusterName: string, names: string[], options: { role: Role; any?: boolean; scheduled?: string; pgVersion?: string; pending?: boolean; timeout?: string; force?: boolean }) => {
      const force = options.force === true;
      const cluster = await session.cluster(clusterName);
      let members = await selectMembers(session, cluster, clusterName, names, options.role, force, 'restart', false);
      let scheduled = options.scheduled;
      if (scheduled === undefined && !force) {
        const nextHour = isoWithOffset(new Date(session.now().getTime() + 3_600_000)).slice(0, 16);
        scheduled = await deps.prompt(`When should the restart take place (e.g. ${nextHour})  [now]: `, { default: 'now' });
      }
      const scheduledAt = parseScheduled(scheduled);
      const content: Record<string, unknown> = {};
      if (options.pending) {
        content['restart_pending'] = true;
        if (!scheduledAt) members = members.filter((member) => member.data.pending_restart === true);
      }
      if (options.any) members = members.length > 0 ? [members[Math.floor(Math.random() * members.length)]!] : [];
      await confirmMembers(session, members, force, 'restart', scheduledAt ? isoWithOffset(scheduledAt) : null, options.pending);
      let version = options.pgVersion;
      if (version === undefined && !force) version = await deps.prompt('Restart if the PostgreSQL version is less than provided (e.g. 15.2)  []: ', { default: '' });
      if (version) {
        if (!/^\d+(\.\d+){0,2}$/.test(version)) throw new CtlError(`${version} is not a valid PostgreSQL version (e.g. 15.2)`);
        content['postgres_version'] = version;
      }
      if (scheduledAt) {
        if (isPaused(cluster)) throw new CtlError("Can't schedule restart in the paused state");
        content['schedule'] = isoWithOffset(scheduledAt);
      }
      if (options.timeout !== undefined) content['timeout'] = options.timeout;
      for (const member of members) {
        if (content['schedule'] && force && member.data['scheduled_restart']) {
          checkResponse(session, await session.request(member, 'DELETE', 'restart'), member.name, 'flush scheduled restart', true);
        }
        // A restart answers when PostgreSQL is back: give it as long as its own timeout, or a generous default.
        const response = await withProgress(session, session.request(member, 'POST', 'restart', content, 600_000), (seconds) =>
          content['schedule'] ? `waiting for ${member.name} to accept the scheduled restart... (${seconds} s)` : `waiting for ${member.name} to restart PostgreSQL... (${seconds} s)`,
        );
        if (response.status === 200) session.out(`Success: restart on member ${member.name}`);
        else if (response.status === 202) session.out(`Success: restart scheduled on member ${member.name}`);
        else if (response.status === 409) {
          session.out(`Failed: another restart is already scheduled on member ${member.name}`);
          done(1);
        } else {
          session.out(`Failed: restart for member ${member.name}, status code=${response.status}, (${response.body})`);
          done(1);
        }
      }
    });

  program
    .command('reinit')
    .description('Reinitialize replicas (new base backup)')
    .argument('<cluster_name>')
    .argument('[member_names...]')
    .option('--force', 'do not ask for confirmation at any point')
    .option('--from-leader', 'get the base backup from the leader')
    .option('--wait', 'wait until reinitialization completes')
    .action(async (clusterName: string, names: string[], options: { force?: boolean; fromLeader?: boolean; wait?: boolean }) => {
      const force = options.force === true;
      const cluster = await session.cluster(clusterName);
      const members = await selectMembers(session, cluster, clusterName, names, 'replica', force, 'reinitialize');
      const waiting: { member: Member; startedAt: unknown }[] = [];
      for (const member of members) {
        const before = options.wait ? await statusOf(session, member) : null;
        const body = { force, from_leader: options.fromLeader === true };
        for (;;) {
          const response = await session.request(member, 'POST', 'reinitialize', body);
          const started = checkResponse(session, response, member.name, 'reinitialize');
          if (!started && response.body.endsWith(' already in progress') && !body.force && (await session.confirm('Do you want to cancel it and reinitialize anyway?'))) {
            body.force = true;
            continue;
          }
          if (!started) done(1);
          if (started && options.wait) waiting.push({ member, startedAt: before?.['postmaster_start_time'] });
          break;
        }
      }
      if (waiting.length === 0) return;
      session.out(`Waiting for reinitialize to complete on: ${waiting.map(({ member }) => member.name).join(', ')}`);
      const seenCreating = new Set<string>();
      while (waiting.length > 0) {
        await session.sleep(2000, deps.signal);
        for (const entry of [...waiting]) {
          const status = await statusOf(session, entry.member);
          if (!status) continue;
          const state = status['state'];
          if (state === 'creating replica') {
            seenCreating.add(entry.member.name);
            continue;
          }
          // Done when PostgreSQL runs again from a new start; a member that left "creating replica" for
          // anything but running failed.
          const restarted = state === 'running' && status['postmaster_start_time'] !== entry.startedAt;
          if (restarted || (seenCreating.has(entry.member.name) && state !== 'running' && state !== 'starting')) {
            waiting.splice(waiting.indexOf(entry), 1);
            if (restarted) session.out(`Reinitialize is completed on: ${entry.member.name}`);
            else {
              session.out(`Reinitialize failed on: ${entry.member.name} (state: ${String(state)}): check its agent's log`);
              done(1);
            }
          }
        }
      }
    });

  program
    .command('switchover')
    .description('Switch the leader over to a replica')
    .argument('[cluster_name]')
    .option('--leader <name>', 'the name of the current leader')
    .addOption(new Option('--primary <name>', 'alias of --leader').hideHelp())
    .option('--candidate <name>', 'the name of the candidate')
    .option('--scheduled <timestamp>', 'timestamp of a scheduled switchover in unambiguous format (e.g. ISO 8601), or now')
    .option('--force', 'do not ask for confirmation at any point')
    .action(async (name: string | undefined, options: { leader?: string; primary?: string; candidate?: string; scheduled?: string; force?: boolean }) => {
      const leader = options.leader ?? options.primary;
      done(
        await failoverOrSwitchover(session, 'switchover', session.clusterName(name), {
          ...(leader !== undefined ? { leader } : {}),
          ...(options.candidate !== undefined ? { candidate: options.candidate } : {}),
          ...(options.scheduled !== undefined ? { scheduled: options.scheduled } : {}),
          force: options.force === true,
        }),
      );
    });

  program
    .command('failover')
    .description('Fail over to a replica (also when there is no leader)')
    .argument('[cluster_name]')
    .option('--candidate <name>', 'the name of the candidate')
    .option('--force', 'do not ask for confirmation at any point')
    .action(async (name: string | undefined, options: { candidate?: string; force?: boolean }) => {
      done(
        await failoverOrSwitchover(session, 'failover', session.clusterName(name), {
          ...(options.candidate !== undefined ? { candidate: options.candidate } : {}),
          force: options.force === true,
        }),
      );
    });

  program
    .command('flush')
    .description('Discard scheduled events: flush CLUSTER [MEMBER...] {restart|switchover}')
    .argument('<cluster_name>')
    .argument('<member_names_and_target...>', 'members, then restart or switchover')
    .addOption(roleOption('flush only members with this role', 'any'))
    .option('--force', 'do not ask for confirmation at any point')
    .action(async (clusterName: string, rest: string[], options: { role: Role; force?: boolean }) => {
      const target = rest.at(-1);
      if (target !== 'restart' && target !== 'switchover') throw new CtlError(`the last argument must be restart or switchover, not ${JSON.stringify(target)}`);
      const names = rest.slice(0, -1);
      const dcs = await session.dcs(clusterName);
      const cluster = await session.cluster(clusterName);
      if (target === 'restart') {
        for (const member of await selectMembers(session, cluster, clusterName, names, options.role, options.force === true, 'flush')) {
          if (member.data['scheduled_restart']) {
            if (!checkResponse(session, await session.request(member, 'DELETE', 'restart'), member.name, 'flush scheduled restart')) done(1);
          } else session.out(`No scheduled restart for member ${member.name}`);
        }
        return;
      }
      const failover = cluster.failover;
      if (!failover?.scheduledAt) {
        session.out('No pending scheduled switchover');
        return;
      }
      for (const member of membersLeaderFirst(cluster)) {
        try {
          const response = await session.request(member, 'DELETE', 'switchover');
          if (response.status === 200 || response.status === 404) {
            session.out(`${response.status === 200 ? 'Success' : 'Failed'}: ${response.body}`);
            if (response.status === 404) done(1);
            return;
          }
          session.out(`Failed: member=${member.name}, status_code=${response.status}, (${response.body})`);
        } catch (error) {
          session.warn(`Member ${member.name} is not accessible: ${(error as Error).message}`);
        }
      }
      session.out(`${timestamp(session.now())} Could not find any accessible member of cluster ${clusterName}`);
      if (!(await dcs.setFailover(null, failover.version))) throw new CtlError('the failover key changed meanwhile: run `pgwardenctl list` and try again');
    });

  for (const paused of [true, false]) {
    program
      .command(paused ? 'pause' : 'resume')
      .description(paused ? 'Disable automatic failover (maintenance mode)' : 'Resume automatic failover')
      .argument('[cluster_name]')
      .option('--wait', `wait until ${paused ? 'pause is applied' : 'pause is cleared'} on all nodes`)
      .action(async (name: string | undefined, options: { wait?: boolean }) => {
        done(await togglePause(session, session.clusterName(name), paused, options.wait === true));
      });
  }

  program
    .command('edit-config')
    .description("Edit the cluster's dynamic configuration (the DCS config key)")
    .argument('[cluster_name]')
    .option('-q, --quiet', 'do not show changes')
    .option('-s, --set <key.path=value>', 'set a configuration value (repeatable; value is YAML, null removes)', collect, [])
    .option('-p, --pg <param=value>', 'set a PostgreSQL parameter, short for -s postgresql.parameters.param=value (repeatable)', collect, [])
    .option('--apply <file>', 'apply configuration from a YAML file (- for stdin)')
    .option('--replace <file>', 'replace the configuration with a YAML file (- for stdin)')
    .option('--force', 'do not ask for confirmation at any point')
    .action(async (name: string | undefined, options: { quiet?: boolean; set: string[]; pg: string[]; apply?: string; replace?: string; force?: boolean }) => {
      const clusterName = session.clusterName(name);
      const dcs = await session.dcs(clusterName);
      const cluster = await session.cluster(clusterName);
      if (!cluster.config) throw new CtlError(`The config key does not exist in the cluster ${clusterName}: is the cluster bootstrapped?`);
      const before = formatConfigForEditing(cluster.config.data);
      let changed: Record<string, unknown> = cluster.config.data;
      let requested = false;
      if (options.replace !== undefined) {
        changed = parseConfigDocument(await readSource(session, options.replace), options.replace);
        requested = true;
      }
      if (options.apply !== undefined) {
        changed = applyConfigDocument(changed, await readSource(session, options.apply), options.apply);
        requested = true;
      }
      const pairs = [...options.set, ...pgPairs(options.pg)];
      if (pairs.length > 0) {
        changed = applyConfigChanges(changed, pairs);
        requested = true;
      }
      let after = formatConfigForEditing(changed);
      if (!requested) {
        const editor = await findEditor(deps.env);
        const dir = await mkdtemp(join(tmpdir(), `${clusterName.replaceAll('/', '_')}-config-`));
        const file = join(dir, 'config.yaml');
        try {
          await writeFile(file, before);
          const code = await (deps.runEditor ?? defaultRunEditor)(editor, file);
          if (code !== 0) throw new CtlError(`Editor exited with return code ${code}`);
          after = await readFile(file, 'utf8');
        } finally {
          await rm(dir, { recursive: true, force: true });
        }
        changed = parseConfigDocument(after, 'edited configuration');
      }
      if (sameJson(cluster.config.data, changed)) {
        if (!options.quiet) session.out('Not changed');
        return;
      }
      if (!options.quiet) deps.stdout.write(configDiff(before, after));
      if ((options.apply === '-' || options.replace === '-') && !options.force) {
        session.out('Use --force option to apply changes');
        return;
      }
      if (options.force || (await session.confirm('Apply these changes?'))) {
        if (!(await dcs.setConfig(changed, cluster.config.version))) throw new CtlError('Config modification aborted due to concurrent changes: run edit-config again');
        session.out('Configuration changed');
      }
    });

  program
    .command('show-config')
    .description("Show the cluster's dynamic configuration")
    .argument('[cluster_name]')
    .action(async (name: string | undefined) => {
      const cluster = await session.cluster(session.clusterName(name));
      if (cluster.config) deps.stdout.write(toYaml(cluster.config.data));
    });

  program
    .command('version')
    .description('Print the version of pgwardenctl, and of the members of a cluster')
    .argument('[cluster_name]')
    .argument('[member_names...]')
    .action(async (clusterName: string | undefined, names: string[]) => {
      session.out(`pgwardenctl version ${PGWARDEN_VERSION} (patronictl ${PATRONI_COMPAT_VERSION} compatible)`);
      if (!clusterName) return;
      session.out('');
      const cluster = await session.cluster(clusterName);
      for (const member of cluster.members) {
        if (!member.data.api_url || (names.length > 0 && !names.includes(member.name))) continue;
        try {
          const data = JSON.parse((await session.request(member, 'GET', 'patroni')).body) as { patroni?: { version?: string }; server_version?: number };
          const pg = typeof data.server_version === 'number' && data.server_version > 0 ? ` PostgreSQL ${formatPgVersion(data.server_version)}` : '';
          session.out(`${member.name}: Patroni ${data.patroni?.version ?? 'unknown'}${pg}`);
        } catch (error) {
          session.out(`${member.name}: failed to get version: ${(error as Error).message}`);
        }
      }
    });

  program
    .command('history')
    .description('Show the history of failovers and switchovers')
    .argument('[cluster_name]')
    .addOption(formatOption())
    .action(async (name: string | undefined, options: { format: OutputFormat }) => {
      const cluster = await session.cluster(session.clusterName(name));
      deps.stdout.write(formatHistory(cluster.history?.lines ?? [], options.format));
    });

  for (const demote of [true, false]) {
    const command = program
      .command(demote ? 'demote-cluster' : 'promote-cluster')
      .description(demote ? 'Demote the cluster to a standby cluster' : 'Promote a standby cluster to run standalone')
      .argument('[cluster_name]')
      .option('--force', 'do not ask for confirmation at any point');
    if (demote) {
      command
        .option('--host <host>', 'address of the remote node')
        .option('--port <port>', 'port of the remote node', (value) => {
          const port = Number(value);
          if (!Number.isInteger(port) || port <= 0 || port > 65535) throw new InvalidArgumentError('expected a TCP port');
          return port;
        })
        .option('--restore-command <command>', 'command to restore WAL records from the remote primary')
        .option('--primary-slot-name <name>', 'name of the slot on the remote node to use for replication');
    }
    command.action(async (name: string | undefined, options: { force?: boolean; host?: string; port?: number; restoreCommand?: string; primarySlotName?: string }) => {
      let standby: Record<string, unknown> | null = null;
      if (demote) {
        if (!options.host && !options.port && !options.restoreCommand) throw new CtlError('At least --host, --port or --restore-command should be specified');
        standby = {
          ...(options.host ? { host: options.host } : {}),
          ...(options.port ? { port: options.port } : {}),
          ...(options.primarySlotName ? { primary_slot_name: options.primarySlotName } : {}),
          ...(options.restoreCommand ? { restore_command: options.restoreCommand } : {}),
        };
      }
      done(await changeClusterRole(session, session.clusterName(name), options.force === true, standby));
    });
  }
  return program;
}

async function statusOf(session: Session, member: Member): Promise<Record<string, unknown> | null> {
  try {
    const response = await session.request(member, 'GET', 'patroni', undefined, 5_000);
    return JSON.parse(response.body) as Record<string, unknown>;
  } catch {
    return null;
  }
}

export function formatPgVersion(version: number): string {
  return version < 100000 ? `${Math.floor(version / 10000)}.${Math.floor(version / 100) % 100}.${version % 100}` : `${Math.floor(version / 10000)}.${version % 100}`;
}

async function changeClusterRole(session: Session, clusterName: string, force: boolean, standby: Record<string, unknown> | null): Promise<number> {
  const demote = standby !== null;
  const verb = demote ? 'demot' : 'promot';
  const targetRole = demote ? 'standby_leader' : 'primary';
  // Patroni before 3.1 publishes a primary's role as `master`.
  const roleOf = (member: Member | null) => (member?.data.role === 'master' ? 'primary' : member?.data.role);
  let cluster = await session.cluster(clusterName);
  const leader = leaderMember(cluster);
  if (!cluster.leader?.name || !leader) throw new CtlError(`Cluster has no leader, ${verb}ion is not possible`);
  if (roleOf(leader) === targetRole) throw new CtlError('Cluster is already in the required state');
  session.out('Current cluster topology');
  session.out(session.members(cluster, clusterName));
  if (!force && !(await session.confirm(`Are you sure you want to ${verb}e ${clusterName} cluster?`))) throw new CtlError(`Aborted cluster ${verb}ion`);
  let response: HttpResponse;
  try {
    response = await session.request(leader, 'PATCH', 'config', { standby_cluster: standby });
  } catch (error) {
    throw new CtlError(`Failed to ${verb}e ${clusterName} cluster: ${(error as Error).message}`, { cause: error });
  }
  if (response.status !== 200) throw new CtlError(`Failed to ${verb}e ${clusterName} cluster: /config PATCH status code=${response.status}, (${response.body})`);
  const oldLeaderName = leader.name;
  for (;;) {
    cluster = await session.cluster(clusterName);
    const current = leaderMember(cluster);
    const role = roleOf(current);
    const state = current?.data.state;
    const oldLeaderState = cluster.members.find((member) => member.name === oldLeaderName)?.data.state;
    const now = timestamp(session.now(), false);
    if (cluster.leader && role === targetRole && state === 'running' && (!demote || oldLeaderState === 'running')) {
      session.out(`${now} cluster is successfully ${verb}ed`);
      break;
    }
    const parts = [`${now} cluster is unlocked: ${cluster.leader ? 'False' : 'True'}`, `leader role: ${role ?? 'None'}`, `leader state: ${state ?? 'None'}`];
    if (demote && cluster.leader && cluster.leader.name !== oldLeaderName && oldLeaderState) parts.push(`previous leader state: '${oldLeaderState}'`);
    session.out(parts.join(', '));
    try {
      await session.sleep(1000, session.deps.signal);
    } catch {
      return 1;
    }
  }
  session.out(session.members(cluster, clusterName));
  return 0;
}

/** Runs pgwardenctl with `argv` (without the program name); resolves with the exit code. */
export async function runCtl(argv: readonly string[], deps: CtlDeps): Promise<number> {
  const exit = { code: 0 };
  let program: Command | undefined;
  await using session = new Session(deps, () => program?.opts() ?? {});
  program = buildProgram(session, exit);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exit.code;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (deps.signal?.aborted) return 130;
    if (isPgwardenError(error, 'DCS_UNREACHABLE')) {
      deps.stderr.write(`Error: ${describeDcsUnreachable(error, session.settings.dcs, session.settings.dcsOrigin)}\n`);
      return 1;
    }
    deps.stderr.write(`Error: ${(error as Error).message}\n`);
    return 1;
  }
}
