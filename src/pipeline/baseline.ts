// The regression baseline: the smoke profile's numbers, committed, so that a change that
// breaks learning (or silently changes results) fails `npm test`. Regenerate deliberately with
// `retail-repr baseline --write` and say why in the commit.
import * as fs from "fs";
import * as path from "path";
import { Profile } from "../config/profiles";
import { paths } from "../util/paths";
import { evaluate } from "./evaluate";
import type { Metrics } from "./metrics";
import { runDir } from "./steps";
import type { HistoryRow } from "../train/loop";
import { readCheckpointMeta } from "../models/checkpoint";
import { engineLabel } from "../engine/native-kernels";
import type { FinetuneVariant } from "../train/finetune";

export const BASELINE_FILE = path.join(paths.root, "test", "fixtures", "smoke-baseline.json");

/** The baseline is defined on XNNPACK's arithmetic: wasm SIMD arithmetic does not depend on the host
 * CPU, while OpenBLAS picks kernels per CPU and the native library is built with -march=native,
 * and on the smoke profile's 24 test images per set a change of summation order alone moves a
 * teacher probe by 15-30 points (measured: 17% XNNPACK, 33-50% native builds). */
export const BASELINE_ENGINE = "wasm/xnnpack";

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

function trainedBy(profile: Profile): string | undefined {
  const teacher = path.join(runDir(profile, "teacher"), "checkpoint");
  return fs.existsSync(path.join(teacher, "checkpoint.json"))
    ? ((readCheckpointMeta(teacher).extra.engine as string | undefined) ?? "unrecorded")
    : undefined;
}

/** The profile's numbers with every step trained on BASELINE_ENGINE (call with it selected).
 * Cached runs that another engine trained are a cache for another purpose: they are removed and
 * the chain retrained (on smoke, under a minute). */
export async function currentBaseline(profile: Profile, log: (s: string) => void = console.log): Promise<Baseline> {
  if (engineLabel() !== BASELINE_ENGINE)
    throw new Error(`the regression baseline is defined on ${BASELINE_ENGINE}, but ${engineLabel()} is selected`);
  const prior = trainedBy(profile);
  if (prior && prior !== BASELINE_ENGINE) {
    const dir = path.dirname(runDir(profile, "teacher"));
    log(`${dir} was trained by ${prior}; the baseline needs ${BASELINE_ENGINE}: retraining`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
  const m = await evaluate(profile, { quiet: true });
  return {
    engine: trainedBy(profile)!,
    metrics: { probes: m.probes, finetune: m.finetune },
    teacherLoss: lossEnds(profile, "teacher"),
    studentLoss: lossEnds(profile, "student"),
  };
}

/** Differences beyond the tolerances, as readable lines (empty when within). */
export function compareBaseline(now: Baseline, ref: Baseline, tol = { accuracy: 0.15, lossRel: 0.1 }): string[] {
  const out: string[] = [];
  for (const [set, reps] of Object.entries(ref.metrics.probes)) {
    for (const [rep, r] of Object.entries(reps)) {
      for (const k of ["logreg", "knn", "ncm"] as const) {
        const a = (now.metrics.probes as any)[set][rep][k],
          b = (r as any)[k];
        if (Math.abs(a - b) > tol.accuracy) out.push(`${set} ${rep} ${k}: ${a.toFixed(3)} vs baseline ${b.toFixed(3)}`);
      }
    }
  }
  for (const [set, vs] of Object.entries(ref.metrics.finetune)) {
    for (const [v, b] of Object.entries(vs)) {
      const a = now.metrics.finetune[set as keyof Baseline["metrics"]["finetune"]][v as FinetuneVariant].accuracy;
      if (Math.abs(a - b.accuracy) > tol.accuracy) out.push(`${set} fine-tune ${v}: ${a.toFixed(3)} vs baseline ${b.accuracy.toFixed(3)}`);
    }
  }
  for (const step of ["teacherLoss", "studentLoss"] as const) {
    for (const end of ["first", "last"] as const) {
      const a = now[step][end],
        b = ref[step][end];
      if (Math.abs(a - b) > tol.lossRel * Math.abs(b)) out.push(`${step}.${end}: ${a.toFixed(4)} vs baseline ${b.toFixed(4)}`);
    }
  }
  return out;
}
