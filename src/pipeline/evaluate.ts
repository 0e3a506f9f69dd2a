// The paper's evaluation: logistic-regression probes on frozen embeddings (plus kNN and
// nearest-class-mean columns) for random-init, pretrained, teacher and student, beside the
// fine-tuned baselines, on both one-shot sets, every accuracy with a 95 % bootstrap interval,
// and the paper's claims as findings; written to reports/metrics-<profile>.json.
import * as path from "path";
import { currentSelection } from "../engine/backend";
import { engineLabel } from "../engine/native-kernels";
import { Profile, trainSeed } from "../config/profiles";
import { datasetDirOf } from "../data/generate";
import { PIXELS_VERSION } from "../data/images";
import { filesOf, oneShotOf, pairsOf } from "../data/sets";
import { datasetFingerprint, readManifest } from "../data/manifest";
import { featureMapSize, resolveArch } from "../models/resnext";
import { paperFindings, TestProducts } from "./paper-findings";
import { ANALYSIS } from "./findings";
import { cached, freshness, Freshness, Inputs } from "../util/fingerprint";
import { disposeModel, Model } from "../models/model";
import { accuracy, knnPredict } from "../probe/neighbours";
import { embedOneShot, probe, PROBE_C_GRID, PROBE_C_RULE, selectC } from "../probe/probe";
import { Metrics, EvaluationMeta, Selection } from "./metrics";
import { falseNegativesPerBatch } from "../train/teacher";
import { reportPath } from "../util/reports";
import { readVersioned, ReportFormatError, writeVersioned } from "../util/report-schema";
import { METRICS_REPORT } from "./metrics";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import {
  chosenFinetune,
  lengthChoice,
  keptFinetune,
  DEV_SET,
  ensureStep,
  EVAL_SETS,
  EvalSet,
  finetuneName,
  FinetuneResult,
  ONE_SHOT_SETS,
  planSteps,
  PlanRow,
  runDir,
  runTag,
  Step,
  StepOptions,
  stepTable,
} from "./steps";
import { representationNames, representationStages, stages } from "./stages/registry";

/** 1-NN accuracy alone (no interval, no probe to fit): a quick check while training runs. Live
 * monitors read dev-like only: the test sets are scored once, by `evaluate`. */
export async function oneNNAccuracy(profile: Profile, model: Model, set: EvalSet = DEV_SET): Promise<number> {
  const e = await embedOneShot(profile, model, set);
  return accuracy(knnPredict(e.train, e.trainLabels, e.test, e.dim), e.testLabels);
}

/** A representation's embedding model (its stage's steps made first when needed). */
export async function representationModel(profile: Profile, which: string, opts: StepOptions = {}): Promise<Model> {
  const stage = stages().find((s) => s.representation?.name === which);
  if (!stage) throw new Error(`no representation '${which}': the registered ones are ${representationNames().join(", ")}`);
  for (const step of stage.steps(profile)) await ensureStep(profile, step.name, opts);
  return stage.representation!.model(profile);
}

/** Each test set's product per test image, in the order of every row's outcomes. */
export function testProducts(profile: Profile): TestProducts {
  return Object.fromEntries(
    ONE_SHOT_SETS.map((set) => [set, oneShotOf(datasetDirOf(profile, set)).test.labels]),
  ) as unknown as TestProducts;
}

/** What the metrics are made from, once every step they read is finished: the one-shot sets,
 * each representation's weights, each fine-tune variant's choices on dev and its results. */
function evaluationInputs(profile: Profile): {
  inputs: Inputs;
  reps: Record<string, Inputs>;
  ft: Metrics["finetune"];
  chosen: Selection["finetune"];
} {
  const variants = Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[];
  const chosen = Object.fromEntries(variants.map((v) => [v, chosenFinetune(profile, v)])) as Selection["finetune"];
  const ft = {} as Metrics["finetune"];
  for (const set of ONE_SHOT_SETS) {
    ft[set] = {} as Record<FinetuneVariant, FinetuneResult>;
    for (const variant of variants) {
      const k = keptFinetune(profile, set, variant, lengthChoice(chosen[variant].length));
      if (!("result" in k)) throw new Error(`${finetuneName(set, variant)}: ${k.why}; fine-tune it before evaluating`);
      ft[set][variant] = k.result;
    }
  }
  const reps = Object.fromEntries(representationStages().map(([which, r]) => [which, r.inputs(profile)]));
  const data = Object.fromEntries(EVAL_SETS.map((s) => [s, datasetFingerprint(datasetDirOf(profile, s))]));
  const inputs: Inputs = {
    data,
    representations: reps,
    imageSize: profile.imageSize,
    pixels: PIXELS_VERSION,
    probeGrid: PROBE_C_GRID,
    probeRule: PROBE_C_RULE,
    finetuneChoices: chosen,
    finetune: ft,
    analysis: ANALYSIS,
  };
  return { inputs, reps, ft, chosen };
}

/** Whether the metrics file was made from today's inputs (every step it reads finished). */
export function evaluationState(profile: Profile): Freshness {
  const kept = keptMetrics(profile);
  if ("problem" in kept) return { fresh: false, why: `${kept.problem} (recomputed from the cached runs)` };
  return kept.metrics?.findings ? freshness(kept.metrics.inputs, evaluationInputs(profile).inputs) : { fresh: false, why: "not made yet" };
}

export function datasetTitle(profile: Profile, set: string): string {
  const m = readManifest(datasetDirOf(profile, set));
  return m.specHash === "imported" ? `${set} (imported from ${path.basename(String(m.spec.source))})` : `${set} (synthetic)`;
}

export function evaluationMeta(profile: Profile, selection: Selection, seeds = 1): EvaluationMeta {
  const t = profile.train;
  const map = featureMapSize(profile.imageSize, resolveArch(profile.arch));
  const pairs = pairsOf(datasetDirOf(profile, "teacher-pairs"));
  const kept = (stage: string) => selection.checkpoints[stage]?.chosenStep ?? 0;
  return {
    init: profile.init,
    featureMap: [map, map],
    teacherImages: t.teacher.steps * 2 * t.teacher.pairsPerBatch,
    studentImages: t.student.steps * (2 * t.student.pairsPerBatch + t.student.pseudoPerBatch),
    imagesSeen: {
      teacher: kept("teacher") * 2 * t.teacher.pairsPerBatch,
      student: kept("student") * (2 * t.student.pairsPerBatch + t.student.pseudoPerBatch),
      studentUnlabeled: kept("student") * t.student.pseudoPerBatch,
    },
    teacherSetImages: 2 * pairs.length,
    unlabeledImages: filesOf(datasetDirOf(profile, "student-pseudo")).files.length,
    teacherFalseNegativesPerBatch: falseNegativesPerBatch(
      pairs,
      Math.min(t.teacher.pairsPerBatch, pairs.length),
      trainSeed(profile),
      t.teacher.steps,
    ),
    seeds,
    backend: { engine: engineLabel(), detail: currentSelection()?.detail ?? "" },
    stageSeconds: {},
    selection,
  };
}

/** A profile's metrics file (reports/metrics-<profile>.json), checked against its schema and
 * version (pipeline/metrics.ts); undefined when not written yet. */
export function readMetrics(profile: Profile): Metrics | undefined {
  return readVersioned(METRICS_REPORT, reportPath(metricsName(profile))) as Metrics | undefined;
}

/** Write a profile's metrics, with the schema's version, after checking them against it. */
export function writeMetrics(profile: Profile, metrics: Metrics): string {
  const file = reportPath(metricsName(profile));
  writeVersioned(METRICS_REPORT, file, { written: new Date().toISOString(), ...metrics });
  return file;
}

/** The metrics file as evaluate's cache and plan's state: its metrics (none when not written
 * yet), or, for a file of another version or a broken one, the problem in one sentence (it is
 * then recomputed from the cached probes and fine-tunes). */
function keptMetrics(profile: Profile): { metrics?: Metrics } | { problem: string } {
  try {
    return { metrics: readMetrics(profile) };
  } catch (e) {
    if (!(e instanceof ReportFormatError)) throw e;
    return { problem: e.message.split(". ")[0] };
  }
}

export function metricsName(profile: Profile): string {
  const tag = runTag(profile).replace(/\//g, "-");
  return `metrics-${profile.name}${tag ? `-${tag}` : ""}`;
}

/** Probes on every representation (C chosen on dev-like) and the fine-tune baselines on both
 * test sets, with intervals and the findings; written to reports/metrics-<profile>.json. Cached
 * by its inputs: a second call with nothing changed reads the file and embeds nothing. */
export async function evaluate(profile: Profile, opts: StepOptions = {}): Promise<Metrics> {
  // Every step the metrics read, made first where needed (the table's order): one look at the
  // table, and each step that is not current made with what it reads.
  for (const row of planSteps(profile)) if (row.status === "to run") await ensureStep(profile, row.step, opts);
  const { inputs, reps, ft } = evaluationInputs(profile);
  const state = keptMetrics(profile);
  if ("problem" in state) console.log(`${state.problem}: recomputing it`);
  const kept = "problem" in state ? undefined : state.metrics;
  if (kept?.findings && kept.meta?.selection && freshness(kept.inputs, inputs).fresh) return kept;

  const probes = Object.fromEntries(EVAL_SETS.map((s) => [s, {}])) as Metrics["probes"];
  const probeC = {} as Selection["probeC"];
  // Each probe is kept as soon as it is computed, so a later failure (a model that will not
  // load, a kill) costs only what was not done yet. dev-like first: it chooses C.
  for (const [which, representation] of representationStages()) {
    const data = inputs.data as Record<string, string>;
    const keyOf = (set: EvalSet, C: number | number[]) => ({
      data: data[set],
      representation: reps[which],
      imageSize: profile.imageSize,
      seed: profile.seed,
      C,
      interval: "products",
    });
    const file = (set: EvalSet) => path.join(runDir(profile, "probes"), `${set}-${which}.json`);
    let model: Model | undefined;
    const embedded = async (set: EvalSet) => embedOneShot(profile, (model ??= await representation.model(profile)), set);
    try {
      const dev = await cached(file(DEV_SET), { ...keyOf(DEV_SET, PROBE_C_GRID), rule: PROBE_C_RULE }, async () =>
        selectC(await embedded(DEV_SET), PROBE_C_GRID, profile.seed),
      );
      probes[DEV_SET][which] = dev.scores;
      probeC[which] = dev.selection;
      for (const set of ONE_SHOT_SETS)
        probes[set][which] = await cached(file(set), keyOf(set, dev.selection.chosen), async () =>
          probe(await embedded(set), dev.selection.chosen, profile.seed),
        );
    } finally {
      if (model) disposeModel(model);
    }
  }
  // What each stage chose on dev-like, and the checkpoint its main run kept.
  const selection = {
    probeC,
    ...Object.assign({}, ...stages().map((s) => s.selection?.(profile))),
    checkpoints: Object.fromEntries(stages().flatMap((s) => (s.keptCheckpoint ? [[s.name, s.keptCheckpoint(profile)]] : []))),
  } as Selection;
  const partial = {
    profile: profile.name,
    arch: profile.arch,
    imageSize: profile.imageSize,
    datasets: Object.fromEntries(EVAL_SETS.map((s) => [s, datasetTitle(profile, s)])) as Metrics["datasets"],
    probes,
    finetune: ft,
  };
  const metrics: Metrics = {
    ...partial,
    findings: paperFindings([{ ...partial, selection }], [testProducts(profile)], profile.seed),
    meta: { ...evaluationMeta(profile, selection), stageSeconds: kept?.meta?.stageSeconds ?? {} },
    inputs,
  };
  writeMetrics(profile, metrics);
  return metrics;
}

/** The evaluation as the step after the table: it reads every step. */
function evaluationStep(profile: Profile): Step {
  return {
    name: "evaluate",
    dependencies: stepTable(profile).map((s) => s.name),
    artifact: reportPath(metricsName(profile)),
    command: "evaluate",
    trains: false,
    inputs: () => ({}),
    state: () => evaluationState(profile),
    run: async (o) => void (await evaluate(profile, o)),
  };
}

/** The pipeline's table (steps.ts) and the evaluation after it: each cached or to run, and why. */
export function pipelinePlan(profile: Profile): PlanRow[] {
  return planSteps(profile, [evaluationStep(profile)]);
}
