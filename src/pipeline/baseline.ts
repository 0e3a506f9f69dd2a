// The regression baseline: the smoke profile's numbers, committed, so that a change that
// breaks learning (or silently changes results) fails `npm test`. Regenerate deliberately with
// `retail-repr baseline --write` and say why in the commit.
import * as fs from "fs";
import * as path from "path";
import { Profile } from "../config/profiles";
import { paths } from "../util/paths";
import { evaluate, Metrics } from "./evaluate";
import { runDir } from "./steps";
import type { HistoryRow } from "../train/loop";
import { readCheckpointMeta } from "../models/checkpoint";

/** One baseline per engine: the native and the XNNPACK engines sum in different orders, and on
 * the smoke profile's few images that sends training to different (equally valid) results. */
export function baselineFile(engine: string): string {
  return path.join(paths.root, "test", "fixtures", `smoke-baseline-${engine.replace(/\//g, "-")}.json`);
}

export interface Baseline {
  /** The engine that trained the runs these numbers come from (the teacher's checkpoint says). */
  engine: string;
  metrics: Pick<Metrics, "probes" | "finetune">;
  teacherLoss: { first: number; last: number };
  studentLoss: { first: number; last: number };
}

/** Mean loss of the first and of the last five steps (single steps are too noisy). */
function lossEnds(profile: Profile, step: string): { first: number; last: number } {
  const h = JSON.parse(fs.readFileSync(path.join(runDir(profile, step), "history.json"), "utf8")) as HistoryRow[];
  const mean = (rows: HistoryRow[]) => rows.reduce((a, r) => a + r.loss, 0) / rows.length;
  return { first: mean(h.slice(0, 5)), last: mean(h.slice(-5)) };
}

export async function currentBaseline(profile: Profile): Promise<Baseline> {
  const m = await evaluate(profile, { quiet: true });
  const teacher = path.join(runDir(profile, "teacher"), "checkpoint");
  const engine = readCheckpointMeta(teacher).extra.engine as string | undefined;
  if (!engine) throw new Error(`${teacher} does not say which engine trained it (made before engines were recorded): delete ${path.dirname(runDir(profile, "teacher"))} and run again`);
  return { engine, metrics: { probes: m.probes, finetune: m.finetune }, teacherLoss: lossEnds(profile, "teacher"), studentLoss: lossEnds(profile, "student") };
}

/** Differences beyond the tolerances, as readable lines (empty when within). */
export function compareBaseline(now: Baseline, ref: Baseline, tol = { accuracy: 0.15, lossRel: 0.1 }): string[] {
  const out: string[] = [];
  for (const [set, reps] of Object.entries(ref.metrics.probes)) {
    for (const [rep, r] of Object.entries(reps)) {
      for (const k of ["logreg", "knn", "ncm"] as const) {
        const a = (now.metrics.probes as any)[set][rep][k], b = (r as any)[k];
        if (Math.abs(a - b) > tol.accuracy) out.push(`${set} ${rep} ${k}: ${a.toFixed(3)} vs baseline ${b.toFixed(3)}`);
      }
    }
  }
  for (const [set, vs] of Object.entries(ref.metrics.finetune)) {
    for (const [v, b] of Object.entries(vs)) {
      const a = (now.metrics.finetune as any)[set][v];
      if (Math.abs(a - (b as number)) > tol.accuracy) out.push(`${set} fine-tune ${v}: ${a.toFixed(3)} vs baseline ${(b as number).toFixed(3)}`);
    }
  }
  for (const step of ["teacherLoss", "studentLoss"] as const) {
    for (const end of ["first", "last"] as const) {
      const a = now[step][end], b = ref[step][end];
      if (Math.abs(a - b) > tol.lossRel * Math.abs(b)) out.push(`${step}.${end}: ${a.toFixed(4)} vs baseline ${b.toFixed(4)}`);
    }
  }
  return out;
}
