// The results as danfojs DataFrames, in long form (one row per number), so that a notebook can
// query, group and sort them instead of reading nested JSON:
//   const f = rr.metricsFrame(metrics);
//   f.query(f["metric"].eq("logreg")).groupby(["set"]).col(["accuracy"]).max()
import type { Metrics } from "../pipeline/metrics";
import { danfo, Row } from "./dataframe";

/** Every accuracy of the metrics: each probe (LR, 1-NN, NCM) of each representation and each
 * fine-tune, on dev-like and both test sets, with its 95 % interval (fractions, 0-1). */
export function metricsRows(m: Metrics): Row[] {
  const rows: Row[] = [];
  for (const [set, reps] of Object.entries(m.probes)) {
    for (const [model, p] of Object.entries(reps)) {
      for (const [metric, acc, ci] of [
        ["logreg", p.logreg, p.logregCI],
        ["knn", p.knn, p.knnCI],
        ["ncm", p.ncm, p.ncmCI],
      ] as const) {
        rows.push({
          set,
          model,
          kind: "probe",
          metric,
          accuracy: acc,
          low: ci[0],
          high: ci[1],
          trainAccuracy: null,
          C: metric === "logreg" ? p.C : null,
        });
      }
    }
  }
  for (const [set, variants] of Object.entries(m.finetune)) {
    for (const [variant, f] of Object.entries(variants)) {
      rows.push({
        set,
        model: `finetune ${variant}`,
        kind: "finetune",
        metric: "finetune",
        accuracy: f.accuracy,
        low: f.accuracyCI[0],
        high: f.accuracyCI[1],
        trainAccuracy: f.trainAccuracy,
        C: null,
      });
    }
  }
  return rows;
}

/** Each paired comparison behind the paper's findings: the finding, its verdict, the pair, the
 * difference in accuracy (fraction) with its interval over test products, its p-value before and
 * after Holm's correction, the difference it could have detected (MDD), the paper's own
 * difference, McNemar's p of seed 0, and the comparison's verdict after Holm. */
export function findingsRows(m: Metrics): Row[] {
  return m.findings.flatMap((f): Row[] =>
    f.comparisons.length
      ? f.comparisons.map((c) => ({
          finding: f.id,
          verdict: f.verdict,
          set: c.set,
          winner: c.winner,
          loser: c.loser,
          difference: c.difference,
          low: c.differenceCI[0],
          high: c.differenceCI[1],
          p: c.p ?? null,
          holmP: c.adjustedP ?? null,
          mdd: c.mdd ?? null,
          paper: c.paperDifference ?? null,
          mcnemarPSeed0: c.mcnemarP,
          comparison: c.verdict,
          seeds: f.seeds,
        }))
      : [
          {
            finding: f.id,
            verdict: f.verdict,
            set: null,
            winner: null,
            loser: null,
            difference: null,
            low: null,
            high: null,
            p: null,
            holmP: null,
            mdd: null,
            paper: null,
            mcnemarPSeed0: null,
            comparison: null,
            seeds: f.seeds,
          },
        ],
  );
}

/** metricsRows as a danfojs DataFrame. */
export const metricsFrame = (m: Metrics) => new (danfo().DataFrame)(metricsRows(m));

/** findingsRows as a danfojs DataFrame. */
export const findingsFrame = (m: Metrics) => new (danfo().DataFrame)(findingsRows(m));
