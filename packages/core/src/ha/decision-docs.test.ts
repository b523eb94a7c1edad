/** docs/concepts/ha-loop.md must explain every reason a cycle can log: the lists in decision.ts are the truth. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DECISION_REASONS, INELIGIBLE_REASONS } from './decision.js';

const page = readFileSync(new URL('../../../../docs/concepts/ha-loop.md', import.meta.url), 'utf8');
/** Reasons named in the first column of a table row: "| `reason` | meaning |". */
const tabled = new Set([...page.matchAll(/^\| `([a-z_]+)` \|/gm)].map((match) => match[1]));

describe('docs/concepts/ha-loop.md', () => {
  it('has a table row for every decision reason', () => {
    expect(DECISION_REASONS.filter((reason) => !tabled.has(reason))).toEqual([]);
  });

  it('has a table row for every ineligible reason', () => {
    expect(INELIGIBLE_REASONS.filter((reason) => !tabled.has(reason))).toEqual([]);
  });

  it('lists each reason once', () => {
    expect(new Set(DECISION_REASONS).size).toBe(DECISION_REASONS.length);
    expect(new Set(INELIGIBLE_REASONS).size).toBe(INELIGIBLE_REASONS.length);
  });
});
