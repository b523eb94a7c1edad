/** `cluster-status --etcd host:port --scope NAME [--namespace /service]`: argv in, text out, exit code back. */
import { parseArgs } from 'node:util';
import { isPgwardenError } from '@pgwarden/core';
import { createEtcdDcs } from '@pgwarden/dcs-etcd';
import { formatClusterStatus } from './status.js';

export const USAGE = 'usage: cluster-status --etcd HOST:PORT[,HOST:PORT...] --scope NAME [--namespace /service]';

export interface StatusOptions {
  readonly hosts: readonly string[];
  readonly scope: string;
  readonly namespace: string;
}

export type ParsedArgs =
  | { readonly ok: true; readonly options: StatusOptions }
  | { readonly ok: true; readonly help: true }
  | { readonly ok: false; readonly error: string };

export function parseStatusArgs(argv: readonly string[]): ParsedArgs {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: {
        etcd: { type: 'string', multiple: true },
        scope: { type: 'string' },
        namespace: { type: 'string', default: '/service' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (error) {
    return { ok: false, error: (error as Error).message };
  }
  if (values.help) return { ok: true, help: true };
  const hosts = (values.etcd ?? []).flatMap((value) => value.split(',')).map((host) => host.trim()).filter(Boolean);
  if (hosts.length === 0) return { ok: false, error: '--etcd is required' };
  if (!values.scope) return { ok: false, error: '--scope is required' };
  return { ok: true, options: { hosts, scope: values.scope, namespace: values.namespace } };
}

export interface Output {
  out(text: string): void;
  err(text: string): void;
}

/** Reads the cluster once and prints it; 0 on success, 1 when etcd cannot be read, 2 on bad arguments. */
export async function runClusterStatus(argv: readonly string[], output: Output): Promise<number> {
  const parsed = parseStatusArgs(argv);
  if (!parsed.ok) {
    output.err(`cluster-status: ${parsed.error}\n${USAGE}\n`);
    return 2;
  }
  if ('help' in parsed) {
    output.out(`${USAGE}\n`);
    return 0;
  }
  const { hosts, scope, namespace } = parsed.options;
  // A reader only: it never touches a key, so no lease is granted and the name is never written.
  await using dcs = createEtcdDcs({ hosts, scope, namespace, name: 'cluster-status', ttl: 30, retryTimeout: 5 });
  try {
    output.out(formatClusterStatus(scope, await dcs.loadCluster()));
    return 0;
  } catch (error) {
    output.err(`cluster-status: ${isPgwardenError(error) ? error.message : String(error)}\n`);
    return 1;
  }
}
