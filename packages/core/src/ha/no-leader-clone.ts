/**
 * An empty data directory and no member to clone from: replica methods marked `no_leader` in their section
 * (pgBackRest or WAL-G restoring the latest backup, say) may create it anyway, unless another member is
 * bootstrapping a new cluster right now (`initialize` is ""). The restored member then starts read-only and
 * takes part in the race like any replica: how a cluster whose every member was lost comes back from backup.
 */
import type { NoCloneSource } from './effects.js';

export const NO_CLONE_SOURCE: NoCloneSource = { none: true, name: 'no source (no_leader replica methods)' };

export interface NoLeaderCloneInput {
  /** `initialize` as read: null without the key, "" while a member bootstraps. */
  readonly initialize: string | null;
  /** Local `create_replica_methods` whose section sets `no_leader`, in order. */
  readonly noLeaderMethods: readonly string[];
  /** A standby cluster's own `create_replica_methods`, when this is one (only those are tried there). */
  readonly standbyMethods: readonly string[] | null;
}

/** The methods to create a replica with, without a source; empty when that is not possible now. */
export function noLeaderCloneMethods(input: NoLeaderCloneInput): readonly string[] {
  if (input.initialize === '') return [];
  if (input.standbyMethods === null) return input.noLeaderMethods;
  return input.standbyMethods.filter((method) => input.noLeaderMethods.includes(method));
}
