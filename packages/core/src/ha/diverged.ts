/**
 * A former primary (or a replica that replayed past a timeline switch) may hold WAL the new leader never had.
 * Such a data directory cannot stream from the leader; what may bring it back is the user's choice:
 * `use_pg_rewind` (pg_rewind from the leader) or `remove_data_directory_on_diverged_timelines` (wipe it and
 * clone again). With neither, Patroni leaves it alone (it starts following and cannot stream), and so do we.
 */

export type DivergenceRemedy = 'rewind' | 'reinitialize' | 'none';

export interface DivergenceSettings {
  readonly usePgRewind: boolean;
  readonly removeDataDirectoryOnDivergedTimelines: boolean;
  readonly standbyCluster: boolean;
}

/** How a diverged data directory is brought back: pg_rewind first; a wipe never in a standby cluster (as Patroni). */
export function divergenceRemedy(settings: DivergenceSettings): DivergenceRemedy {
  if (settings.usePgRewind) return 'rewind';
  if (settings.removeDataDirectoryOnDivergedTimelines && !settings.standbyCluster) return 'reinitialize';
  return 'none';
}

/** After pg_rewind failed: either setting lets the data directory go (Patroni's rewind checks both). */
export function reinitializeAfterRewindFailure(settings: {
  readonly removeDataDirectoryOnRewindFailure: boolean;
  readonly removeDataDirectoryOnDivergedTimelines?: boolean;
}): boolean {
  return settings.removeDataDirectoryOnRewindFailure || settings.removeDataDirectoryOnDivergedTimelines === true;
}
