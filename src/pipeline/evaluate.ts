// The paper's evaluation: logistic-regression probes on frozen embeddings (plus kNN and
// nearest-class-mean columns) for random-init, pretrained, teacher and student, beside the
// fine-tuned baselines, on both one-shot sets, every accuracy with a 95 % bootstrap interval,
// and the paper's claims as findings; written to reports/metrics-<profile>.json.
import * as path from "path";
import { Profile, trainSeed, withRun } from "../config/profiles";
import { datasetDir } from "../data/generate";
import { filesOf, oneShotOf } from "../data/sets";
import { datasetFingerprint, readManifest } from "../data/manifest";
import { featureMapSize, resolveArch } from "../models/resnext";
import { paperFindings } from "./paper-findings";
import { cached, freshness, Freshness, Inputs, keptResult } from "../util/fingerprint";
import { disposeModel, embeddingDim, Model } from "../models/model";
import { accuracy, knnPredict } from "../probe/neighbours";
import { Embedded, probe, ProbeScores } from "../probe/probe";
import { Metrics, EvaluationMeta, Representation, REPRESENTATIONS } from "./metrics";
import { readReport, reportPath, writeReport } from "../util/reports";
import { embedFiles } from "../train/embed";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import { ensureData, finetune, finetuneInputs, finetuneName, finetuneResultFile, FinetuneResult, initialModel, initInputs, initRecord, ONE_SHOT_SETS, OneShotSet, planSteps, PlanRow, pretrainedModel, runDir, runTag, StepOptions, trainedModel, trainedWeights, weightsOf } from "./steps";

export async function embedOneShot(profile: Profile, model: Model, set: OneShotSet): Promise<Embedded> {
  const data = oneShotOf(datasetDir(set, profile.name));
  const o = { size: profile.imageSize, batch: profile.train.embedBatch, quiet: true };
  return {
    train: await embedFiles(model, data.train.files, o),
    test: await embedFiles(model, data.test.files, o),
    trainLabels: data.train.labels,
    testLabels: data.test.labels,
    trainFiles: data.train.files,
    testFiles: data.test.files,
    dim: embeddingDim(model.config),
  };
}

/** 1-NN accuracy alone (no interval, no probe to fit): a quick check while training runs. */
export async function oneNNAccuracy(profile: Profile, model: Model, set: OneShotSet): Promise<number> {
  const e = await embedOneShot(profile, model, set);
  return accuracy(knnPredict(e.train, e.trainLabels, e.test, e.dim), e.testLabels);
}

export async function representationModel(profile: Profile, which: Representation, opts: StepOptions = {}): Promise<Model> {
  if (which === "random-init") return initialModel(profile);
  if (which === "pretrained") return pretrainedModel(profile, opts);
  return trainedModel(profile, which, opts);
}

/** What a representation's probe rows are made from: its weights' checksum (its step finished). */
function representationInputs(profile: Profile, which: Representation): Inputs {
  if (which === "random-init") return { random: trainSeed(profile), arch: profile.arch };
  if (which === "pretrained") return { pretrained: initRecord(withRun(profile, { init: "pretrained" })).weights };
  return { [which]: weightsOf(profile, which) };
}

/** What the metrics are made from, once every step they read is finished: the one-shot sets,
 * each representation's weights, and the fine-tune results. */
function evaluationInputs(profile: Profile): { inputs: Inputs; reps: Record<Representation, Inputs>; ft: Metrics["finetune"] } {
  const ft = {} as Metrics["finetune"];
  for (const set of ONE_SHOT_SETS) {
    ft[set] = {} as Record<FinetuneVariant, FinetuneResult>;
    for (const variant of Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[]) {
      const k = keptResult<FinetuneResult>(finetuneResultFile(profile, set, variant), finetuneInputs(profile, set, variant));
      if (!("result" in k)) throw new Error(`${finetuneName(set, variant)}: ${k.why}; fine-tune it before evaluating`);
      const { accuracy, accuracyCI, trainAccuracy } = k.result;
      ft[set][variant] = { accuracy, accuracyCI, trainAccuracy };
    }
  }
  const reps = Object.fromEntries(REPRESENTATIONS.map((which) => [which, representationInputs(profile, which)])) as Record<Representation, Inputs>;
  const inputs: Inputs = { data: Object.fromEntries(ONE_SHOT_SETS.map((s) => [s, datasetFingerprint(datasetDir(s, profile.name))])), representations: reps, imageSize: profile.imageSize, finetune: ft };
  return { inputs, reps, ft };
}

/** Whether the metrics file was made from today's inputs (every step it reads finished). */
export function evaluationState(profile: Profile): Freshness {
  const kept = readReport<Metrics>(metricsName(profile));
  return kept?.findings ? freshness(kept.inputs, evaluationInputs(profile).inputs) : { fresh: false, why: "not made yet" };
}

export function datasetTitle(profile: Profile, set: string): string {
  const m = readManifest(datasetDir(set, profile.name));
  return m.specHash === "imported" ? `${set} (imported from ${path.basename(String(m.spec.source))})` : `${set} (synthetic)`;
}

export function evaluationMeta(profile: Profile, seeds = 1): EvaluationMeta {
  const t = profile.train;
  const map = featureMapSize(profile.imageSize, resolveArch(profile.arch));
  return {
    init: profile.init,
    featureMap: [map, map],
    teacherImages: t.teacher.steps * 2 * t.teacher.pairsPerBatch,
    studentImages: t.student.steps * (2 * t.student.pairsPerBatch + t.student.pseudoPerBatch),
    teacherSetImages: filesOf(datasetDir("teacher-pairs", profile.name)).files.length,
    unlabeledImages: filesOf(datasetDir("student-pseudo", profile.name)).files.length,
    seeds,
    stageSeconds: {},
  };
}

export function metricsName(profile: Profile): string {
  const tag = runTag(profile).replace(/\//g, "-");
  return `metrics-${profile.name}${tag ? `-${tag}` : ""}`;
}

/** Probes on every representation and the fine-tune baselines on both sets, with intervals and
 * the findings; written to reports/metrics-<profile>.json. Cached by its inputs: a second call
 * with nothing changed reads the file and embeds nothing. */
export async function evaluate(profile: Profile, opts: StepOptions = {}): Promise<Metrics> {
  await ensureData(profile);
  // Every step the metrics read, made first where needed (the table's order).
  for (const set of ONE_SHOT_SETS) for (const variant of Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[]) await finetune(profile, set, variant, opts);
  await initInputs(withRun(profile, { init: "pretrained" }), opts);
  for (const which of ["teacher", "student"] as const) await trainedWeights(profile, which, opts);
  const { inputs, reps, ft } = evaluationInputs(profile);
  const kept = readReport<Metrics>(metricsName(profile));
  if (kept?.findings && freshness(kept.inputs, inputs).fresh) return kept;

  const probes = {} as Metrics["probes"];
  for (const set of ONE_SHOT_SETS) probes[set] = {} as Record<Representation, ProbeScores>;
  // Each (set, representation) probe is kept as soon as it is computed, so a later failure (a
  // model that will not load, a kill) costs only what was not done yet.
  for (const which of REPRESENTATIONS) {
    const keyOf = (set: OneShotSet) => ({ data: (inputs.data as Record<string, string>)[set], representation: reps[which], imageSize: profile.imageSize, seed: profile.seed });
    const file = (set: OneShotSet) => path.join(runDir(profile, "probes"), `${set}-${which}.json`);
    for (const set of ONE_SHOT_SETS) {
      const k = keptResult<ProbeScores>(file(set), keyOf(set));
      if ("result" in k) probes[set][which] = k.result;
    }
    const todo = ONE_SHOT_SETS.filter((set) => !probes[set][which]);
    if (!todo.length) continue;
    const model = await representationModel(profile, which, opts);
    try {
      for (const set of todo) probes[set][which] = await cached(file(set), keyOf(set), async () => probe(await embedOneShot(profile, model, set), 1, profile.seed));
    } finally {
      disposeModel(model);
    }
  }
  const partial = { profile: profile.name, arch: profile.arch, imageSize: profile.imageSize, datasets: Object.fromEntries(ONE_SHOT_SETS.map((s) => [s, datasetTitle(profile, s)])) as Record<OneShotSet, string>, probes, finetune: ft };
  const metrics: Metrics = { ...partial, findings: paperFindings(partial), meta: { ...evaluationMeta(profile), stageSeconds: kept?.meta?.stageSeconds ?? {} }, inputs };
  writeReport(metricsName(profile), metrics);
  return metrics;
}

/** The pipeline's table (steps.ts) and the evaluation after it: each cached or to run, and why. */
export function pipelinePlan(profile: Profile): PlanRow[] {
  const rows = planSteps(profile);
  const waiting = rows.filter((r) => r.status === "to run").map((r) => r.step);
  const artifact = reportPath(metricsName(profile));
  if (waiting.length) return [...rows, { step: "evaluate", status: "to run", why: `after ${waiting.length > 3 ? `${waiting.slice(0, 3).join(", ")} and ${waiting.length - 3} more` : waiting.join(", ")}`, artifact }];
  const st = evaluationState(profile);
  return [...rows, st.fresh ? { step: "evaluate", status: "cached", artifact } : { step: "evaluate", status: "to run", why: st.why, artifact }];
}
