/**
 * Seeds of the default fault schedule that still fail, with their cause (docs/concepts/simulator.md, "Known
 * failures"). Everything else must pass: a seed failing outside this list is a regression.
 * Measured over seeds 1-2000 on 2026-11-22: 18 of 2000 (28 before timeline reservation). Since the list was first drawn up, each seed also draws
 * its synchronous_mode, failsafe_mode, a replicatefrom tag (cascading), a standby cluster and a permanent logical
 * slot, each from its own stream, and the simulated PostgreSQL keeps replication slots (physical ones reserve WAL
 * when created). None of that added a failure of its own, but the extra effects change later draws, so failures
 * moved from one seed to another within the same two classes.
 * - pause (18 seeds): the operator resumes a paused cluster while its primary is cut off from the DCS and from
 *   the racing replica (or its agent was stopped while paused); pause means no automatic action, so nothing
 *   demotes it (Patroni behaves the same).
 * The former "timelines" class (10 seeds: 109, 124, 184, 264, 558, 674, 981, 1258, 1587, 1719), two promotions
 * reaching the same timeline number on different branches, is gone since a promotion first plants history
 * files for every timeline number the cluster is known to have used (core's ha/timeline-reservation.ts); with
 * `timelineReservation: false` those seeds fail again.
 */
export const KNOWN_FAILING_SEEDS: ReadonlySet<number> = new Set([
  // pause
  227, 419, 465, 538, 594, 607, 658, 747, 820, 893, 909, 1232, 1304, 1420, 1494, 1522, 1552, 1650,
]);
