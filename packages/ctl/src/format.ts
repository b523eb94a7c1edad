/**
 * Output as patronictl prints it: bordered tables with the cluster in the top border, tab-separated values,
 * JSON in Python's spacing, YAML with sorted keys. Pure functions from data to text.
 */
import { stringify as stringifyYaml } from 'yaml';
import type { ClusterJson, ClusterMemberJson } from '@pgwarden/rest-api';

export const OUTPUT_FORMATS = ['pretty', 'tsv', 'json', 'yaml', 'yml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number] | 'topology';

export type Alignment = 'l' | 'r';

/** Python's `str()` of a scalar, which is what patronictl prints in tables. */
export function pyStr(value: unknown): string {
  if (value === null || value === undefined) return 'None';
  if (value === true) return 'True';
  if (value === false) return 'False';
  if (typeof value === 'string') return value;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'object') return pyJson(value);
  if (typeof value === 'number' || typeof value === 'bigint') return value.toString();
  return pyJson(value);
}

/** `json.dumps` with its default separators (`", "`, `": "`) and ASCII escapes. */
export function pyJson(value: unknown): string {
  if (value === null || value === undefined) return 'null';
  if (Array.isArray(value)) return `[${value.map(pyJson).join(', ')}]`;
  if (value instanceof Date) return pyJson(value.toISOString());
  if (typeof value === 'object') {
    return `{${Object.entries(value as Record<string, unknown>)
      .map(([key, item]) => `${pyJson(key)}: ${pyJson(item)}`)
      .join(', ')}}`;
  }
  if (typeof value === 'string') return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return JSON.stringify(value);
}

/** `yaml.safe_dump(..., default_flow_style=False)` as patronictl calls it: keys sorted, sequences not indented. */
export function toYaml(value: unknown, flow = false): string {
  if (flow) {
    return stringifyYaml(value, { sortMapEntries: true, flow: true, lineWidth: 0, singleQuote: true, flowCollectionPadding: false }).trimEnd();
  }
  return stringifyYaml(value, { sortMapEntries: true, indentSeq: false, lineWidth: 200, singleQuote: true });
}

/** A bordered table; `title` overwrites the start of the top border, as in `+ Cluster: batman (7300...) --+`. */
export function renderTable(columns: readonly string[], rows: readonly (readonly string[])[], options: { title?: string; align?: Readonly<Record<string, Alignment>> } = {}): string {
  const cells = rows.map((row) => columns.map((_, index) => (row[index] ?? '').split('\n')));
  const widths = columns.map((column, index) => Math.max(column.length, ...cells.map((row) => Math.max(...row[index]!.map((line) => line.length)))));
  const rule = `+${widths.map((width) => '-'.repeat(width + 2)).join('+')}+`;
  const justify = (textValue: string, index: number) => {
    const width = widths[index]!;
    return options.align?.[columns[index]!] === 'r' ? textValue.padStart(width) : textValue.padEnd(width);
  };
  const line = (values: readonly string[]) => `| ${values.map(justify).join(' | ')} |`;
  let top = rule;
  if (options.title) {
    const title = options.title.slice(0, rule.length - 2);
    top = rule[0] + title + rule.slice(1 + title.length);
  }
  const multiLine = cells.some((row) => row.some((cell) => cell.length > 1));
  const out = [top, line(columns), rule];
  cells.forEach((row, rowIndex) => {
    const height = Math.max(...row.map((cell) => cell.length));
    for (let lineIndex = 0; lineIndex < height; lineIndex++) out.push(line(row.map((cell) => cell[lineIndex] ?? '')));
    if (multiLine && rowIndex < cells.length - 1) out.push(rule);
  });
  out.push(rule);
  return `${out.join('\n')}\n`;
}

/**
 * patronictl's generic printer. For json/yaml each row becomes an object (empty values dropped when a title is
 * given, as for member lists); tsv prints a header line then rows.
 */
export function printTable(
  columns: readonly string[],
  rows: readonly (readonly unknown[])[],
  fmt: OutputFormat,
  options: { title?: string; align?: Readonly<Record<string, Alignment>>; delimiter?: string } = {},
): string {
  if (fmt === 'json' || fmt === 'yaml' || fmt === 'yml') {
    const elements = rows.map((row) => {
      const element: Record<string, unknown> = {};
      columns.forEach((column, index) => {
        const value = row[index];
        if (!options.title || pyStr(value ?? '') !== '') element[column] = value ?? '';
      });
      return element;
    });
    return fmt === 'json' ? `${pyJson(elements)}\n` : toYaml(elements);
  }
  if (fmt === 'tsv') {
    const delimiter = options.delimiter ?? '\t';
    return [columns, ...rows].map((row) => `${row.map((value) => pyStr(value === undefined ? '' : value)).join(delimiter)}\n`).join('');
  }
  return renderTable(
    columns,
    rows.map((row) => row.map((value) => pyStr(value === undefined ? '' : value))),
    { ...(options.title ? { title: options.title } : {}), ...(options.align ? { align: options.align } : {}) },
  );
}

interface TopologyNode {
  readonly member: ClusterMemberJson;
  readonly level: number;
}

/** Members in replication-tree order: the leader, then its replicas, cascading replicas under `replicatefrom`. */
export function topologyOrder(members: readonly ClusterMemberJson[]): TopologyNode[] {
  const isLeader = (member: ClusterMemberJson) => member.role.endsWith('leader');
  const leader = members.find(isLeader);
  const replicas = new Set(members.filter((member) => !isLeader(member)).map((member) => member.name));
  const children = new Map<string | null, ClusterMemberJson[]>();
  for (const member of members) {
    if (isLeader(member)) continue;
    const tags = member.tags && typeof member.tags === 'object' ? (member.tags as Record<string, unknown>) : {};
    const wanted = tags['replicatefrom'];
    const parent = typeof wanted === 'string' && wanted !== member.name && replicas.has(wanted) ? wanted : (leader?.name ?? null);
    children.set(parent, [...(children.get(parent) ?? []), member]);
  }
  const out: TopologyNode[] = [];
  const visit = (name: string | null, level: number) => {
    for (const child of children.get(name) ?? []) {
      out.push({ member: child, level });
      visit(child.name, level + 1);
    }
  };
  if (leader) out.push({ member: leader, level: 0 });
  visit(leader?.name ?? null, 1);
  return out;
}

export function topologyName(name: string, level: number): string {
  return level > 0 ? `${' '.repeat((level - 1) * 2)}+ ${name}` : name;
}

/** Python's round(): halves go to the even neighbour. */
function roundHalfEven(value: number): number {
  const floor = Math.floor(value);
  const diff = value - floor;
  if (diff > 0.5) return floor + 1;
  if (diff < 0.5) return floor;
  return floor % 2 === 0 ? floor : floor + 1;
}

function lagInMb(value: unknown): unknown {
  if (typeof value === 'number' && Number.isInteger(value)) return roundHalfEven(value / 1024 / 1024);
  return value === 'unknown' || value === undefined ? '' : value;
}

const MEMBER_COLUMNS = ['Cluster', 'Member', 'Host', 'Role', 'State', 'TL', 'Receive LSN', 'Receive Lag', 'Replay LSN', 'Replay Lag'];
const OPTIONAL_COLUMNS = ['Pending restart', 'Pending restart reason', 'Scheduled restart', 'Tags'] as const;

const columnKey = (column: string) => column.toLowerCase().replaceAll(' ', '_');

function titleCase(role: string): string {
  return role
    .replaceAll('_', ' ')
    .split(' ')
    .map((word) => (word ? word[0]!.toUpperCase() + word.slice(1).toLowerCase() : word))
    .join(' ');
}

export interface MembersOptions {
  /** The cluster name shown in the title. */
  readonly name: string;
  /** The `initialize` key: sysid, `''` while initializing, null when absent. */
  readonly initialize: string | null;
  readonly fmt: OutputFormat;
  readonly extended?: boolean;
}

/** `patronictl list` / `topology` for one cluster, from the `GET /cluster` JSON shape. */
export function formatMembers(cluster: ClusterJson, options: MembersOptions): string {
  const { fmt } = options;
  const members = cluster.members.filter((member) => member.host !== undefined);
  const columns = [...MEMBER_COLUMNS];
  for (const column of OPTIONAL_COLUMNS) {
    const key = columnKey(column) as keyof ClusterMemberJson;
    if (options.extended || members.some((member) => isTruthy(member[key]))) columns.push(column);
  }
  const appendPort = members.some((member) => member.port !== undefined && member.port !== 5432) || new Set(members.map((member) => member.host)).size < members.length;

  const ordered = fmt === 'topology' ? topologyOrder(cluster.members) : cluster.members.map((member) => ({ member, level: 0 }));
  const rows = ordered.map(({ member, level }) => {
    const reasons = member.pending_restart_reason && typeof member.pending_restart_reason === 'object' ? (member.pending_restart_reason as Record<string, { old_value?: unknown; new_value?: unknown }>) : {};
    const restartReason = Object.entries(reasons)
      .map(([param, values]) => {
        const full = `${param}: ${pyStr(values.old_value ?? '')}->${pyStr(values.new_value ?? '')}`;
        return (fmt === 'pretty' || fmt === 'topology') && full.length > 50 ? `${param}: [hidden - too long]` : full;
      })
      .join('\n');
    let receiveLsn: unknown = member.receive_lsn ?? '';
    let receiveLag: unknown = member.receive_lag ?? '';
    let replayLsn: unknown = member.replay_lsn ?? '';
    let replayLag: unknown = member.replay_lag ?? '';
    // Older members publish one position only (lsn/lag): shown as received when streaming, else as replayed.
    if (receiveLsn === 'unknown' && replayLsn === 'unknown' && member.lsn && member.lsn !== 'unknown') {
      if (member.state === 'streaming') [receiveLsn, receiveLag] = [member.lsn, member.lag ?? ''];
      else [replayLsn, replayLag] = [member.lsn, member.lag ?? ''];
    }
    let host = member.host ?? '';
    if (appendPort && host && member.port !== undefined) host = `${host}:${member.port}`;
    let scheduled: unknown = '';
    if (member.scheduled_restart && typeof member.scheduled_restart === 'object') {
      const restart = member.scheduled_restart as Record<string, unknown>;
      scheduled = pyStr(restart['schedule'] ?? '');
      if (restart['postgres_version'] !== undefined) scheduled = `${scheduled as string} if version < ${pyStr(restart['postgres_version'])}`;
    }
    let tags: unknown = member.tags ?? '';
    if (isTruthy(tags) && fmt !== 'json' && fmt !== 'yaml' && fmt !== 'yml') tags = toYaml(tags, fmt !== 'pretty').trim();
    const values: Record<string, unknown> = {
      cluster: options.name,
      member: topologyName(member.name, level),
      host,
      role: titleCase(member.role),
      state: member.state,
      tl: member.timeline ?? '',
      receive_lsn: receiveLsn,
      receive_lag: lagInMb(receiveLag),
      replay_lsn: replayLsn,
      replay_lag: lagInMb(replayLag),
      pending_restart: member.pending_restart ? '*' : '',
      pending_restart_reason: restartReason,
      scheduled_restart: scheduled,
      tags,
    };
    return columns.map((column) => values[columnKey(column)] ?? '');
  });

  const initialize = options.initialize === null ? 'uninitialized' : options.initialize === '' ? 'initializing' : options.initialize;
  const title = ` Cluster: ${options.name} (${initialize}) `;
  const pretty = fmt === 'pretty' || fmt === 'topology';
  if (fmt !== 'tsv') {
    // The cluster name is in the title; pretty output drops its column (json/yaml keep it, as patronictl does).
    if (pretty) {
      columns.shift();
      rows.forEach((row) => row.shift());
    }
  }
  if (pretty) {
    columns[columns.indexOf('Receive Lag')] = 'Lag';
    columns[columns.indexOf('Replay Lag')] = 'Lag';
  }
  let out = printTable(columns, rows, fmt, { title, align: { 'Receive LSN': 'r', 'Replay LSN': 'r', Lag: 'r', TL: 'r' } });
  if (pretty) {
    const info = serviceInfo(cluster);
    if (info.length > 0) out += ` ${info.join('\n ')}\n`;
  }
  return out;
}

function isTruthy(value: unknown): boolean {
  if (value === undefined || value === null || value === false || value === '' || value === 0) return false;
  if (Array.isArray(value)) return value.length > 0;
  if (typeof value === 'object') return Object.keys(value).length > 0;
  return true;
}

/** Lines under the table: maintenance mode and a scheduled switchover. */
export function serviceInfo(cluster: ClusterJson): string[] {
  const info: string[] = [];
  if (cluster.pause) info.push('Maintenance mode: on');
  if (cluster.scheduled_switchover) {
    let line = `Switchover scheduled at: ${cluster.scheduled_switchover.at}`;
    for (const key of ['from', 'to'] as const) {
      const value = cluster.scheduled_switchover[key];
      if (value !== undefined) line += `\n${key.padStart(24)}: ${value}`;
    }
    info.push(line);
  }
  return info;
}

/** `patronictl history`: TL, LSN, Reason, Timestamp, New Leader; short rows padded with empty cells. */
export function formatHistory(lines: readonly (readonly unknown[])[], fmt: OutputFormat): string {
  const columns = ['TL', 'LSN', 'Reason', 'Timestamp', 'New Leader'];
  const rows = lines.map((line) => columns.map((_, index) => line[index] ?? ''));
  return printTable(columns, rows, fmt, { align: { TL: 'r', LSN: 'r' } });
}
