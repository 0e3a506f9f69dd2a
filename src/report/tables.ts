// The paper's two tables, beside ours: same rows, paper's number, ours, and the difference.
import type { Metrics } from "../pipeline/evaluate";
import type { OneShotSet } from "../pipeline/steps";
import { Row, saveTableCsv, showTable, toDataFrame } from "./table";
import { reportPath } from "./metrics";

/** Table 1 (CAPG-GP) and Table 2 (Grozi-120) of the paper, in percent. */
export const PAPER: Record<OneShotSet, Record<string, number>> = {
  "capg-like": { gap: 84.1, lca: 90.4, "lca-maxent": 92.2, teacher: 87.0, student: 87.6 },
  "grozi-like": { gap: 60.4, lca: 70.8, "lca-maxent": 72.3, teacher: 75.05, student: 76.19 },
};

const ROWS: { key: string; label: string; kind: "finetune" | "probe" }[] = [
  { key: "gap", label: "ResNeXt fine-tuned", kind: "finetune" },
  { key: "lca", label: "+ LCA layer", kind: "finetune" },
  { key: "lca-maxent", label: "+ LCA + MaxEnt loss", kind: "finetune" },
  { key: "teacher", label: "Teacher representations + LR", kind: "probe" },
  { key: "student", label: "Student representations + LR", kind: "probe" },
  { key: "random-init", label: "Random-init representations + LR (floor)", kind: "probe" },
];

export function tableRows(m: Metrics, set: OneShotSet): Row[] {
  const pct = (v: number) => Math.round(v * 1000) / 10;
  return ROWS.map((r) => {
    const ours = r.kind === "finetune" ? m.finetune[set][r.key as keyof Metrics["finetune"][OneShotSet]] : m.probes[set][r.key as keyof Metrics["probes"][OneShotSet]].logreg;
    const paper = PAPER[set][r.key];
    const p = r.kind === "probe" ? m.probes[set][r.key as keyof Metrics["probes"][OneShotSet]] : undefined;
    return {
      Model: r.label,
      "paper %": paper ?? null,
      "ours %": pct(ours),
      "diff (pts)": paper === undefined ? null : Math.round((pct(ours) - paper) * 10) / 10,
      "ours kNN %": p ? pct(p.knn) : null,
      "ours NCM %": p ? pct(p.ncm) : null,
    };
  });
}

export const TABLE_TITLES: Record<OneShotSet, string> = {
  "capg-like": "Table 1 — CAPG-GP (paper) vs capg-like (ours, synthetic)",
  "grozi-like": "Table 2 — Grozi-120 (paper) vs grozi-like (ours, synthetic)",
};

/** Show both tables (inline in notebooks, as text elsewhere) and save them as CSV. */
export function reportTables(m: Metrics): void {
  for (const set of ["capg-like", "grozi-like"] as OneShotSet[]) {
    const rows = tableRows(m, set);
    showTable(toDataFrame(rows), `${TABLE_TITLES[set]} — profile ${m.profile}, ${m.arch} @ ${m.imageSize}px`);
    saveTableCsv(rows, reportPath(`table-${set}-${m.profile}`, "csv"));
  }
}
