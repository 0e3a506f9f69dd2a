// The paper's two tables, beside ours: same rows, paper's number, ours, and the difference.
import type { Metrics } from "../pipeline/metrics";
import { PAPER } from "../pipeline/paper-findings";
export { PAPER };
import { representationStages } from "../pipeline/stages/registry";
import type { Interval } from "../probe/bootstrap";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import type { OneShotSet } from "../pipeline/steps";
import { finetuneShortRuns, settingLabel } from "../pipeline/selections";
import { dataFrameHtml, Row, saveTableCsv, showTable, toDataFrame } from "./dataframe";
import { showHtml } from "../util/host";
import { reportPath } from "../util/reports";

/** The tables' rows: the fine-tune baselines, then the representations with a number in the
 * paper, then ours only (each in the registry's order). */
function tableRowSpecs(): { key: string; label: string; kind: "finetune" | "probe" }[] {
  const reps = representationStages().map(([key, r]) => ({ key, label: r.label, kind: "probe" as const }));
  const inPaper = (key: string) => key in PAPER["capg-like"];
  return [
    ...Object.entries(FINETUNE_VARIANTS).map(([key, v]) => ({ key, label: v.label, kind: "finetune" as const })),
    ...reps.filter((r) => inPaper(r.key)),
    ...reps.filter((r) => !inPaper(r.key)),
  ];
}

/** A fraction as a percentage with one decimal. */
export const pct = (v: number) => Math.round(v * 1000) / 10;
const ci = (c: Interval) => `${pct(c[0]).toFixed(1)}–${pct(c[1]).toFixed(1)}`;

export function tableRows(m: Metrics, set: OneShotSet): Row[] {
  return tableRowSpecs().map((r) => {
    const f = r.kind === "finetune" ? m.finetune[set][r.key as FinetuneVariant] : undefined;
    const p = r.kind === "probe" ? m.probes[set][r.key] : undefined;
    const ours = f ? f.accuracy : p!.logreg;
    const paper = PAPER[set][r.key];
    return {
      Model: r.label,
      "paper %": paper ?? null,
      "ours %": pct(ours),
      "95% CI": ci(f ? f.accuracyCI : p!.logregCI),
      "diff (pts)": paper === undefined ? null : Math.round((pct(ours) - paper) * 10) / 10,
      "kNN % (CI)": p ? `${pct(p.knn).toFixed(1)} (${ci(p.knnCI)})` : null,
      "NCM % (CI)": p ? `${pct(p.ncm).toFixed(1)} (${ci(p.ncmCI)})` : null,
      "train acc %": f ? pct(f.trainAccuracy) : null,
      // The step its variant's dev run kept, of that run's schedule (README: "How the comparisons are made").
      "fine-tune steps": f ? `${f.steps} of ${f.schedule}` : null,
    };
  });
}

export const PAPER_SET_NAMES: Record<OneShotSet, string> = { "capg-like": "Table 1 — CAPG-GP", "grozi-like": "Table 2 — Grozi-120" };

export function tableTitle(m: Metrics, set: OneShotSet): string {
  return `${PAPER_SET_NAMES[set]} (paper) vs ${m.datasets?.[set] ?? set} — profile ${m.profile}, ${m.arch} @ ${m.imageSize}px, init ${m.meta?.init ?? "?"}`;
}

const pts = (v: number) => `${v >= 0 ? "+" : ""}${(100 * v).toFixed(1)}`;

export function findingRows(m: Metrics): Row[] {
  return m.findings.map((f) => ({
    finding: f.id,
    claim: f.claim,
    paper: f.paper,
    verdict: f.verdict,
    "difference (pts, 95% CI)": `${pts(f.difference)} (${pts(f.differenceCI[0])} to ${pts(f.differenceCI[1])})`,
    seeds: f.seeds,
    why: f.reason ?? null,
    "paper's gap detectable?": f.power ?? null,
    ours: f.ours,
  }));
}

/** A run's scored checkpoints as one row of the dev choices: each step's score, the one kept. */
function checkpointRow(setting: string, scores: { step: number; score: number }[], kept: number, last: number, rule: string): Row {
  return { setting, tried: scores.map((x) => `${x.step}: ${pct(x.score).toFixed(1)}`).join(", "), chosen: `step ${kept} of ${last}`, rule };
}

/** What was chosen on dev-like: each probe's C, the teacher's and the student's settings and checkpoints, each
 * fine-tune variant's recipe, gamma and length, with the dev scores. */
export function selectionRows(m: Metrics): Row[] {
  const s = m.meta.selection;
  const rows: Row[] = Object.entries(s.probeC).map(([rep, c]) => ({
    setting: `${rep} + LR: C`,
    tried: c.tried.map((t) => `${t.C}: ${pct(t.devAccuracy).toFixed(1)}`).join(", "),
    chosen: String(c.chosen),
    rule: c.rule,
  }));
  const te = s.teacher;
  if (te)
    rows.push({
      setting: `teacher learning rate (${te.steps}-step runs)`,
      tried: te.tried.map((t) => `${t.lr}: ${pct(t.devAccuracy).toFixed(1)}`).join(", "),
      chosen: String(te.chosen.lr),
      rule: te.rule,
    });
  const st = s.student;
  if (st) {
    rows.push({
      setting: `student start and alpha (${st.steps}-step runs)`,
      tried: st.tried
        .map(
          (t) =>
            `${t.candidate.name}: ${pct(t.devAccuracy).toFixed(1)} (grad norms SupCon ${t.gradientNorms.supcon.toPrecision(2)}, Smooth L1 ${t.gradientNorms.smoothl1.toPrecision(2)})`,
        )
        .join("; "),
      chosen: `${st.chosen.start}, alpha ${st.chosen.alpha}`,
      rule: st.rule,
    });
    if (st.lrTried)
      rows.push({
        setting: `student learning rate (${st.steps}-step runs)`,
        tried: st.lrTried.map((t) => `${t.candidate.lr}: ${pct(t.devAccuracy).toFixed(1)}`).join(", "),
        chosen: String(st.chosen.lr),
        rule: "the first stage's best start and alpha at each rate",
      });
  }
  for (const [which, c] of Object.entries(s.checkpoints ?? {}))
    rows.push(checkpointRow(`${which} steps (checkpoint kept)`, c.scores, c.chosenStep, c.scores[c.scores.length - 1].step, c.rule));
  for (const [variant, f] of Object.entries(s.finetune)) {
    rows.push({
      setting: `fine-tune ${variant}: recipe${f.gammaTried ? " and gamma" : ""} (${f.steps}-step runs)`,
      tried: finetuneShortRuns(f)
        .map((t) => `${settingLabel(t.setting)}: ${pct(t.devAccuracy).toFixed(1)}, train ${pct(t.trainAccuracy).toFixed(1)}`)
        .join("; "),
      chosen: settingLabel(f.chosen),
      rule: f.rule,
    });
    const l = f.length;
    rows.push(
      checkpointRow(
        `fine-tune ${variant}: steps (checkpoint kept on dev-like)`,
        l.scores,
        l.keptStep,
        l.schedule,
        `the checkpoint with the highest dev-like accuracy (the earliest on a tie); ${f.devRuns} runs on dev-like in all`,
      ),
    );
  }
  return rows;
}

/** Show both tables and the findings (inline in notebooks, as text elsewhere) and save them as
 * CSV; returns the files written. */
export function reportTables(m: Metrics): string[] {
  const files: string[] = [];
  for (const set of ["capg-like", "grozi-like"] as OneShotSet[]) {
    const rows = tableRows(m, set);
    showTable(toDataFrame(rows), tableTitle(m, set));
    files.push(reportPath(`table-${set}-${m.profile}`, "csv"));
    saveTableCsv(rows, files[files.length - 1]);
  }
  if (m.meta?.selection) {
    const sel = selectionRows(m);
    showTable(toDataFrame(sel), `Chosen on dev-like (the test sets are not looked at) — profile ${m.profile}`);
    files.push(reportPath(`selection-${m.profile}`, "csv"));
    saveTableCsv(sel, files[files.length - 1]);
  }
  const rows = findingRows(m);
  const seeds = m.findings[0]?.seeds ?? 1;
  const caption = `The paper's claims, tested: paired 95 % bootstrap intervals of each difference over the test products${seeds > 1 ? ` and ${seeds} seeds` : ""}, verdicts after Holm's correction within each claim — profile ${m.profile}`;
  if (!showHtml(dataFrameHtml(toDataFrame(rows), caption))) {
    // Too wide for a terminal table: one block per finding.
    console.log(`\n${caption}`);
    for (const f of m.findings)
      console.log(
        `  ${f.verdict.toUpperCase().padEnd(12)} ${f.id}: ${f.claim}\n               paper: ${f.paper}\n               ours:  ${f.ours}${f.reason ? `\n               why:   ${f.reason}` : ""}${f.power ? `\n               power: ${f.power}` : ""}`,
      );
  }
  files.push(reportPath(`findings-${m.profile}`, "csv"));
  saveTableCsv(rows, files[files.length - 1]);
  return files;
}
