// The paper's claims as findings to test. A claim says some rows beat others on some sets; every
// (winner, loser) comparison is paired (both rows scored on the same test images, over the same
// seeds) and gets the 95 % interval of its accuracy difference (probe/paired.ts). The claim
// holds when every comparison's interval lies above zero, fails ("reversed") when any lies below
// zero, and is inconclusive otherwise. It is not tested when a row it needs failed its own
// precondition (a fine-tune that did not converge), whatever the intervals say.
import { z } from "zod";
import { intervalSchema } from "../probe/bootstrap";
import { Outcomes, pairedDifference } from "../probe/paired";

export const verdictSchema = z.enum(["holds", "fails", "inconclusive", "not-tested"]);
export type Verdict = z.infer<typeof verdictSchema>;

/** One (winner, loser) comparison on one set, paired over its test images (and seeds). */
export const comparisonSchema = z.looseObject({
  set: z.string(),
  winner: z.string(),
  loser: z.string(),
  difference: z.number(),
  differenceCI: intervalSchema,
  mcnemarP: z.number(),
  verdict: verdictSchema.exclude(["not-tested"]),
});
export interface Comparison extends z.infer<typeof comparisonSchema> {}

export const findingSchema = z.looseObject({
  id: z.string(),
  claim: z.string(),
  /** The paper's numbers behind the claim, in words. */
  paper: z.string(),
  /** Ours, in words: each comparison's difference and interval. */
  ours: z.string(),
  verdict: verdictSchema,
  /** The comparison that decides the verdict: for `fails`, the most reversed; else the one
   * nearest to failing (lowest lower bound). In accuracy points / 100. */
  difference: z.number(),
  differenceCI: intervalSchema,
  seeds: z.number().int().min(1),
  comparisons: z.array(comparisonSchema),
  /** Why the claim was not tested, or that it fails reversed. */
  reason: z.string().optional(),
});
export interface Finding extends z.infer<typeof findingSchema> {}

/** A row as the findings see it: its outcomes on a set's test images, one string per seed. */
export interface Scored {
  label: string;
  /** Mean accuracy over the seeds. */
  accuracy: number;
  outcomes: Outcomes[];
  /** Set when the row failed a precondition: why it cannot stand in a comparison. */
  notTested?: string;
}

export function compareRows(set: string, w: Scored, l: Scored, seed = 0): Comparison {
  const p = pairedDifference(w.outcomes, l.outcomes, { seed });
  const verdict = p.differenceCI[0] > 0 ? "holds" : p.differenceCI[1] < 0 ? "fails" : "inconclusive";
  return { set, winner: w.label, loser: l.label, difference: p.difference, differenceCI: p.differenceCI, mcnemarP: p.mcnemarP, verdict };
}

const pts = (v: number) => `${v >= 0 ? "+" : ""}${(100 * v).toFixed(1)}`;
const describe = (c: Comparison) =>
  `${c.set}: ${c.winner} − ${c.loser} = ${pts(c.difference)} (${pts(c.differenceCI[0])} to ${pts(c.differenceCI[1])}) → ${c.verdict}`;

/** A claim on some sets: for each set, the winners and losers among that set's rows. */
export function finding(
  id: string,
  claim: string,
  paper: string,
  perSet: { set: string; winners: Scored[]; losers: Scored[] }[],
  seed = 0,
): Finding {
  const comparisons = perSet.flatMap((s) => s.winners.flatMap((w) => s.losers.map((l) => compareRows(s.set, w, l, seed))));
  const seeds = perSet[0].winners[0].outcomes.length;
  const failing = comparisons.filter((c) => c.verdict === "fails");
  const decisive = failing.length
    ? failing.reduce((a, b) => (b.differenceCI[1] < a.differenceCI[1] ? b : a))
    : comparisons.reduce((a, b) => (b.differenceCI[0] < a.differenceCI[0] ? b : a));
  const blocked = [
    ...new Map(
      perSet
        .flatMap((s) => [...s.winners, ...s.losers])
        .filter((r) => r.notTested)
        .map((r) => [r.label, `${r.label}: ${r.notTested}`]),
    ).values(),
  ];
  const base = {
    id,
    claim,
    paper,
    ours: comparisons.map(describe).join("; "),
    difference: decisive.difference,
    differenceCI: decisive.differenceCI,
    seeds,
    comparisons,
  };
  if (blocked.length) return { ...base, verdict: "not-tested", reason: blocked.join("; ") };
  if (failing.length)
    return { ...base, verdict: "fails", reason: `reversed: ${decisive.winner} is below ${decisive.loser} on ${decisive.set}` };
  return { ...base, verdict: comparisons.every((c) => c.verdict === "holds") ? "holds" : "inconclusive" };
}
