// The paper's claims as findings to test. Each claim says some rows beat others; it holds when
// the weakest winner's 95 % interval lies wholly above the strongest loser's, fails when it lies
// wholly below, and is inconclusive when the two intervals overlap. A claim made for both
// one-shot sets holds when it holds on both and fails when it fails on either.
import type { Interval } from "../probe/bootstrap";

export type Verdict = "holds" | "fails" | "inconclusive";

export interface Finding {
  id: string;
  claim: string;
  /** The paper's numbers behind the claim, in words. */
  paper: string;
  /** Ours, with intervals, in words. */
  ours: string;
  verdict: Verdict;
}

export interface Scored {
  label: string;
  accuracy: number;
  ci: Interval;
}

/** Do `winners` all beat `losers`? Compares the weakest winner with the strongest loser. */
export function compareRows(winners: Scored[], losers: Scored[]): Verdict {
  const w = winners.reduce((a, b) => (b.accuracy < a.accuracy ? b : a));
  const l = losers.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  if (w.ci[0] > l.ci[1]) return "holds";
  if (w.ci[1] < l.ci[0]) return "fails";
  return "inconclusive";
}

/** One verdict from several sets' verdicts on a claim made for all of them. */
export function combineVerdicts(vs: Verdict[]): Verdict {
  if (vs.includes("fails")) return "fails";
  return vs.every((v) => v === "holds") ? "holds" : "inconclusive";
}

const pct = (s: Scored) => `${s.label} ${(100 * s.accuracy).toFixed(1)} (${(100 * s.ci[0]).toFixed(1)}–${(100 * s.ci[1]).toFixed(1)})`;

/** A claim on some sets: for each set, the winners and losers among that set's rows. */
export function finding(id: string, claim: string, paper: string, perSet: { set: string; winners: Scored[]; losers: Scored[] }[]): Finding {
  const verdicts = perSet.map((s) => compareRows(s.winners, s.losers));
  const ours = perSet.map((s, i) => `${s.set}: ${s.winners.map(pct).join(", ")} vs ${s.losers.map(pct).join(", ")} → ${verdicts[i]}`).join("; ");
  return { id, claim, paper, ours, verdict: combineVerdicts(verdicts) };
}
