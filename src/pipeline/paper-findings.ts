// The six claims this reproduction tests, read off the paper's Tables 1 and 2 (and one of ours:
// learned representations above the random-init floor).
import type { Metrics } from "./metrics";
import type { OneShotSet } from "./steps";
import { finding, Finding, Scored } from "./findings";

type Rows = Pick<Metrics, "probes" | "finetune">;

const LABELS: Record<string, string> = {
  gap: "fine-tuned GAP",
  lca: "+ LCA",
  "lca-maxent": "+ LCA + MaxEnt",
  teacher: "teacher + LR",
  student: "student + LR",
  "random-init": "random init + LR",
};

function row(m: Rows, set: OneShotSet, key: string): Scored {
  if (key in m.finetune[set]) {
    const f = m.finetune[set][key as keyof Rows["finetune"][OneShotSet]];
    return { label: LABELS[key], accuracy: f.accuracy, ci: f.accuracyCI };
  }
  const p = m.probes[set][key as keyof Rows["probes"][OneShotSet]];
  return { label: LABELS[key], accuracy: p.logreg, ci: p.logregCI };
}

const BOTH: OneShotSet[] = ["capg-like", "grozi-like"];

export function paperFindings(m: Rows): Finding[] {
  const on = (sets: OneShotSet[], winners: string[], losers: string[]) => sets.map((set) => ({ set, winners: winners.map((k) => row(m, set, k)), losers: losers.map((k) => row(m, set, k)) }));
  return [
    finding("lca-beats-gap", "fine-tuning with the LCA layer beats fine-tuning with global average pooling", "CAPG-GP 90.4 vs 84.1; Grozi-120 70.8 vs 60.4", on(BOTH, ["lca"], ["gap"])),
    finding("maxent-beats-lca", "adding the MaxEnt loss to LCA fine-tuning helps further", "CAPG-GP 92.2 vs 90.4; Grozi-120 72.3 vs 70.8", on(BOTH, ["lca-maxent"], ["lca"])),
    finding("representations-beat-finetune-grozi", "on Grozi-120, frozen teacher and student representations + LR beat every fine-tuned model", "75.05 / 76.19 vs 60.4 / 70.8 / 72.3", on(["grozi-like"], ["teacher", "student"], ["gap", "lca", "lca-maxent"])),
    finding("finetune-beats-representations-capg", "on CAPG-GP, LCA + MaxEnt fine-tuning beats both representations + LR", "92.2 vs 87.0 / 87.6", on(["capg-like"], ["lca-maxent"], ["teacher", "student"])),
    finding("student-beats-teacher", "the student's representations beat its teacher's", "CAPG-GP 87.6 vs 87.0; Grozi-120 76.19 vs 75.05", on(BOTH, ["student"], ["teacher"])),
    finding("representations-beat-random", "teacher and student representations beat random-init representations (ours; the paper has no such row)", "—", on(BOTH, ["teacher", "student"], ["random-init"])),
  ];
}
