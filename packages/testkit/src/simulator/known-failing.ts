/**
 * Seeds of the default fault schedule that still fail, with their cause (docs/concepts/simulator.md, "Known
 * failures"). Everything else must pass: a seed failing outside this list is a regression.
 * - pause: the operator resumes a paused cluster while its primary is cut off from the DCS and from the racing
 *   replica; pause means no automatic action, so nothing demotes it (Patroni behaves the same).
 * - liveness: in a few schedules the last fault leaves no single leader within the bound (seed 1001).
 * - timelines: two promotions reached the same timeline number on different branches; a replica of the other
 *   branch can never stream again and pg_rewind, comparing timeline numbers only, sees nothing to rewind.
 * Measured over seeds 1-2000 on 2026-11-21.
 */
export const KNOWN_FAILING_SEEDS: ReadonlySet<number> = new Set([
  6, 15, 40, 109, 167, 227, 264, 295, 308, 310, 359, 384, 396, 406, 407, 419, 451, 465, 541, 594, 658, 717, 747,
  810, 822, 830, 850, 859, 905, 1001, 1005, 1024, 1054, 1094, 1203, 1216, 1234, 1274, 1288, 1304, 1351, 1403,
  1420, 1479, 1522, 1552, 1577, 1652, 1679, 1715, 1719, 1774, 1827, 1851, 1862, 1885, 1930
]);
