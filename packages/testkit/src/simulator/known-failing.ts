/**
 * Seeds of the default fault schedule that still fail, with their cause (docs/concepts/simulator.md, "Known
 * failures"). Everything else must pass: a seed failing outside this list is a regression.
 * Measured over seeds 1-2000 on 2026-11-22: none; over seeds 2001-4000 too, since slow replicas keep up with the
 * workload and a replica on a skipped timeline counts as diverged (docs, "Replicas-streaming over seeds 2001-4000"). The last class, pause (18 seeds: the operator resumed a paused
 * cluster while its primary was cut off from the DCS, or its agent was stopped while paused, and a replica
 * promoted next to it), is gone since members wait for such a former leader to be seen demoted (core's
 * ha/paused-leader.ts). The "timelines" class went before it (core's ha/timeline-reservation.ts; with
 * `timelineReservation: false` seeds 109, 124, 184, 264, 558, 674, 981, 1258, 1587 and 1719 fail again).
 */
export const KNOWN_FAILING_SEEDS: ReadonlySet<number> = new Set<number>([]);
