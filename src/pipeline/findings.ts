// The paper's claims as findings to test. A claim says some rows beat others on some sets; every
// (winner, loser) comparison is paired (both rows scored on the same test images in each repeat) and gets the 95 % interval of its accuracy difference from a bootstrap over the test
// products (probe/paired.ts), a p-value, and the smallest difference it could have detected
// (probe/power.ts). With several comparisons behind one claim, each is judged after Holm's
// correction across them (probe/holm.ts): the claim holds when every comparison is significantly
// above zero, fails ("reversed") when any is significantly below, and is inconclusive otherwise.
// It is not tested when a row it needs failed its own precondition (a fine-tune that did not
// converge), whatever the numbers say.
import { z } from "zod";
import { intervalSchema } from "../probe/bootstrap";
import { holmAdjust } from "../probe/holm";
import { Outcomes, pairedDifference } from "../probe/paired";
import { minimumDetectableDifference } from "../probe/power";

/** How the findings are computed, recorded with the metrics' inputs: a metrics file made by
 * another analysis is recomputed (the probes and fine-tunes it reads stay cached). */
export const ANALYSIS = "product bootstrap, Holm, MDD at 80 % power";

/** Each finding's family-wise level, and the power at which the detectable difference is given. */
export const ALPHA = 0.05;
export const POWER = 0.8;

export const verdictSchema = z.enum(["holds", "fails", "inconclusive", "not-tested"]);
export type Verdict = z.infer<typeof verdictSchema>;

/** One (winner, loser) comparison on one set, paired over its test products (and seeds). */
export const comparisonSchema = z.looseObject({
  set: z.string(),
  winner: z.string(),
  loser: z.string(),
  difference: z.number(),
  /** This comparison's own 95 % interval (not adjusted for the finding's other comparisons). */
  differenceCI: intervalSchema,
  /** Test products the bootstrap resampled (each with all its photos). */
  products: z.number().int().optional(),
  /** The bootstrap's two-sided p, and Holm's adjustment of it across the finding's comparisons. */
  p: z.number().optional(),
  adjustedP: z.number().optional(),
  /** The difference detected with 80 % power at the finding's strictest Holm level (alpha / m),
   * from the bootstrap's standard error: what this set-up could have seen. */
  mdd: z.number().optional(),
  /** The paper's own difference for these two rows on this set, when it has both. */
  paperDifference: z.number().optional(),
  /** McNemar's exact two-sided p on the first seed's images alone (the interval and p above pool
   * every seed): the classical one-seed test, kept for comparison with single-run papers. */
  mcnemarP: z.number(),
  /** After Holm: holds (adjusted p <= alpha, above zero), fails (below), else inconclusive. */
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
  /** How the comparisons' p-values were corrected for their number. */
  adjustment: z.literal("holm").optional(),
  /** The comparison that decides the verdict: for `fails`, the most reversed; else the one
   * nearest to failing (lowest lower bound). In accuracy points / 100. */
  difference: z.number(),
  differenceCI: intervalSchema,
  seeds: z.number().int().min(1),
  comparisons: z.array(comparisonSchema),
  /** Why the claim was not tested, or that it fails reversed. */
  reason: z.string().optional(),
  /** For an inconclusive finding: whether the paper's own gaps were detectable here. */
  power: z.string().optional(),
});
export interface Finding extends z.infer<typeof findingSchema> {}

/** A row as the findings see it: its outcomes on a set's test images, one string per seed. */
export interface Scored {
  label: string;
  /** Mean accuracy over the seeds. */
  accuracy: number;
  outcomes: Outcomes[];
  /** The paper's accuracy for this row on this set (a fraction), when it has one. */
  paper?: number;
  /** Set when the row failed a precondition: why it cannot stand in a comparison. */
  notTested?: string;
}

/** The rows of one set a claim compares, and, for each seed's run, the product each of its test
 * images shows (each repeat may score its own draw of the test set). */
export interface SetRows {
  set: string;
  winners: Scored[];
  losers: Scored[];
  products: ArrayLike<number>[];
}

/** One comparison as if it were alone (m = 1): its interval, p-value, detectable difference. */
export function compareRows(set: string, w: Scored, l: Scored, products: ArrayLike<number>[], seed = 0, m = 1): Comparison {
  const p = pairedDifference(w.outcomes, l.outcomes, { seed, seedClusters: products });
  const verdict = p.p <= ALPHA ? (p.difference > 0 ? "holds" : "fails") : "inconclusive";
  return {
    set,
    winner: w.label,
    loser: l.label,
    difference: p.difference,
    differenceCI: p.differenceCI,
    products: p.products,
    p: p.p,
    adjustedP: p.p,
    mdd: minimumDetectableDifference(p.se, ALPHA / m, POWER),
    ...(w.paper !== undefined && l.paper !== undefined ? { paperDifference: w.paper - l.paper } : {}),
    mcnemarP: p.mcnemarP,
    verdict,
  };
}

const pts = (v: number) => `${v >= 0 ? "+" : ""}${(100 * v).toFixed(1)}`;
const describe = (c: Comparison) =>
  `${c.set}: ${c.winner} − ${c.loser} = ${pts(c.difference)} (${pts(c.differenceCI[0])} to ${pts(c.differenceCI[1])}), ` +
  `Holm p ${c.adjustedP! < 0.001 ? "< 0.001" : c.adjustedP!.toFixed(3)} → ${c.verdict}`;

/** Whether the paper's gaps could have been seen: each comparison's MDD against the paper's gap. */
function powerNote(comparisons: Comparison[]): string | undefined {
  const withPaper = comparisons.filter((c) => c.paperDifference !== undefined && c.paperDifference > 0);
  if (!withPaper.length) return undefined;
  const seen = withPaper.filter((c) => c.mdd! <= c.paperDifference!);
  const each = withPaper.map(
    (c) => `${c.set} ${c.winner} − ${c.loser}: paper ${pts(c.paperDifference!)}, MDD ${(100 * c.mdd!).toFixed(1)}`,
  );
  const head =
    seen.length === withPaper.length
      ? "every paper gap was detectable here"
      : seen.length === 0
        ? "no paper gap was detectable here"
        : `${seen.length} of ${withPaper.length} paper gaps were detectable here`;
  return `${head} (${each.join("; ")})`;
}

/** A claim on some sets: for each set, the winners and losers among that set's rows. */
export function finding(id: string, claim: string, paper: string, perSet: SetRows[], seed = 0): Finding {
  const pairs = perSet.flatMap((s) => s.winners.flatMap((w) => s.losers.map((l) => ({ s, w, l }))));
  const m = pairs.length;
  const raw = pairs.map(({ s, w, l }) => compareRows(s.set, w, l, s.products, seed, m));
  const adjusted = holmAdjust(raw.map((c) => c.p!));
  const comparisons: Comparison[] = raw.map((c, i) => ({
    ...c,
    adjustedP: adjusted[i],
    verdict: adjusted[i] <= ALPHA ? (c.difference > 0 ? "holds" : "fails") : "inconclusive",
  }));
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
    adjustment: "holm" as const,
    difference: decisive.difference,
    differenceCI: decisive.differenceCI,
    seeds,
    comparisons,
  };
  if (blocked.length) return { ...base, verdict: "not-tested", reason: blocked.join("; ") };
  if (failing.length)
    return { ...base, verdict: "fails", reason: `reversed: ${decisive.winner} is below ${decisive.loser} on ${decisive.set}` };
  const verdict = comparisons.every((c) => c.verdict === "holds") ? "holds" : "inconclusive";
  const power = verdict === "inconclusive" ? powerNote(comparisons) : undefined;
  return { ...base, verdict, ...(power ? { power } : {}) };
}
