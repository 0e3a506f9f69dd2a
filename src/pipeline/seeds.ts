// `--seeds N`: the training steps repeated N times, each repeat with its own training seed, its
// own draw of dev-like (every choice made again on it) and of the test sets (the training sets
// and the pretrained start stay, as the paper's ResNeXt-WSL was one given network), summarised as
// mean ± sd per table cell: how much of a difference between rows is the seed's and the draws'.
import type { Metrics, SeedSummary } from "./metrics";
import { ONE_SHOT_SETS, OneShotSet } from "./steps";

/** Sample mean and standard deviation (n - 1) of each accuracy over the repeats. */
export function summariseSeeds(runs: Pick<Metrics, "probes" | "finetune">[]): SeedSummary[] {
  const out: SeedSummary[] = [];
  const add = (set: OneShotSet, row: string, values: number[]) => {
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    const sd = values.length > 1 ? Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (values.length - 1)) : 0;
    out.push({ set, row, values, mean, sd });
  };
  for (const set of ONE_SHOT_SETS) {
    for (const v of Object.keys(runs[0].finetune[set]))
      add(
        set,
        `finetune ${v}`,
        runs.map((m) => (m.finetune[set] as any)[v].accuracy),
      );
    for (const r of Object.keys(runs[0].probes[set]))
      add(
        set,
        `${r} + LR`,
        runs.map((m) => (m.probes[set] as any)[r].logreg),
      );
  }
  return out;
}
