// The fine-tune baselines as runs: the whole network from the init, trained as a classifier on a
// one-shot set's packshots with a setting (recipe, MaxEnt's gamma) and a length each variant chose
// on dev-like (finetune-sweep.ts), scored on the set's test images.
import * as path from "path";
import { z } from "zod";
import type { Profile } from "../config/profiles";
import { finetuneRecipeSchema } from "../config/schema";
import { datasetDirOf } from "../data/generate";
import { OneShot, oneShotOf } from "../data/sets";
import { datasetFingerprint } from "../data/manifest";
import { disposeModel, Model, ModelConfig } from "../models/model";
import { accuracyWithInterval, intervalSchema } from "../probe/bootstrap";
import { accuracy } from "../probe/neighbours";
import { argmaxRows } from "../probe/logreg";
import { outcomesOf, outcomesSchema } from "../probe/paired";
import { embedFiles } from "../train/embed";
import { finetuneTask, FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import { LoopConfig, LoopResult, trainLoop } from "../train/loop";
import { cached, Inputs, keptResult } from "../util/fingerprint";
import type { FinetuneSetting } from "./selections";
import { EvalSet, OneShotSet } from "./runs";
import { commonInputs, initRecord, loopConfig, modelAtInit, runDir, StepOptions, warmupSteps } from "./runs"; // what a run is made of

export type { FinetuneSetting } from "./selections";

export const finetuneResultSchema = z.looseObject({
  accuracy: z.number().min(0).max(1),
  accuracyCI: intervalSchema,
  /** Per test image, 1 if right (probe/paired.ts): what paired comparisons are made of. */
  outcomes: outcomesSchema,
  /** Accuracy on the (clean, un-augmented) training images after training. */
  trainAccuracy: z.number().min(0).max(1),
  imagesSeen: z.number(),
  recipe: finetuneRecipeSchema,
  /** MaxEnt's weight (the MaxEnt variant only). */
  gamma: z.number().optional(),
  /** Steps trained: the step the variant's dev run kept, of a cosine schedule `schedule` long. */
  steps: z.number(),
  schedule: z.number(),
  /** The t statistic of this run's training loss slope over its last fifth (lossSlope). */
  lossSlopeT: z.number(),
});
export interface FinetuneResult extends z.infer<typeof finetuneResultSchema> {}

/** What a variant's test-set runs train with: its setting, and the step of the schedule to stop at. */
export interface FinetuneChoice {
  setting: FinetuneSetting;
  steps: number;
  schedule: number;
}

/** A fine-tune has converged when its training accuracy is at least this... */
export const MIN_TRAIN_ACCURACY = 0.95;
/** ...and its loss is flat: the least-squares slope of the per-step training loss over the last
 * fifth of the run is not below this many standard errors. */
export const FLAT_SLOPE_T = -2;

/** The slope of the per-step loss over the last fifth of `history` and its t statistic
 * (ordinary least squares; standard error from the residuals). */
export function lossSlope(history: { step: number; loss: number }[]): { slope: number; t: number } {
  const tail = history.slice(history.length - Math.max(3, Math.round(history.length / 5)));
  const n = tail.length;
  const mx = tail.reduce((a, r) => a + r.step, 0) / n;
  const my = tail.reduce((a, r) => a + r.loss, 0) / n;
  let sxx = 0,
    sxy = 0;
  for (const r of tail) {
    sxx += (r.step - mx) ** 2;
    sxy += (r.step - mx) * (r.loss - my);
  }
  const slope = sxy / sxx;
  const sse = tail.reduce((a, r) => a + (r.loss - my - slope * (r.step - mx)) ** 2, 0);
  const se = Math.sqrt(sse / Math.max(1, n - 2) / sxx);
  return { slope, t: se > 0 ? slope / se : slope < 0 ? -Infinity : 0 };
}

/** A variant's run on a set; on dev-like its sweep's runs add their own name (`tag`). */
export const finetuneName = (set: EvalSet, variant: FinetuneVariant, tag?: string) => `finetune-${set}-${variant}${tag ? `-${tag}` : ""}`;
export const finetuneResultFile = (profile: Profile, set: OneShotSet, variant: FinetuneVariant) =>
  path.join(runDir(profile, finetuneName(set, variant)), "result.json");

export function finetuneConfig(profile: Profile, set: EvalSet, variant: FinetuneVariant): ModelConfig {
  return {
    arch: profile.arch,
    pooling: FINETUNE_VARIANTS[variant].pooling,
    projDim: 0,
    classes: oneShotOf(datasetDirOf(profile, set)).classes,
  };
}

/** What any fine-tune is made from: the set, the init, the model, the batch, its setting and
 * its steps (of a schedule `schedule` long). */
export function finetuneInputs(
  profile: Profile,
  set: EvalSet,
  variant: FinetuneVariant,
  setting: FinetuneSetting,
  steps: number,
  schedule = steps,
): Inputs {
  return {
    data: datasetFingerprint(datasetDirOf(profile, set)),
    init: initRecord(profile),
    ...commonInputs(profile, finetuneConfig(profile, set, variant)),
    variant,
    batch: profile.train.finetune.batch,
    ...setting,
    steps,
    schedule,
  };
}

/** A classifier's predicted class for each of `files`. */
export async function predictClasses(profile: Profile, model: Model, data: OneShot, files: string[]): Promise<Int32Array> {
  const o = { size: profile.imageSize, batch: profile.train.embedBatch, logits: true, quiet: true };
  return argmaxRows(await embedFiles(model, files, o), data.classes);
}

/** Accuracy on the set's clean training packshots: has the classifier fit them? */
export async function trainAccuracyOf(profile: Profile, model: Model, data: OneShot): Promise<number> {
  return accuracy(await predictClasses(profile, model, data, data.train.files), data.train.labels);
}

/** Fine-tune `variant` on `set`'s packshots from the run's init with `setting`: `steps` steps of
 * a warm-up and cosine schedule `schedule` long, the run named `name`; `select` keeps its
 * checkpoint best on dev (loop.ts). The caller disposes the model. */
export async function trainFinetune(
  profile: Profile,
  set: EvalSet,
  variant: FinetuneVariant,
  r: { name: string; setting: FinetuneSetting; steps: number; schedule?: number; inputs: Inputs; select?: LoopConfig["select"] },
  opts: StepOptions = {},
): Promise<{ model: Model; data: OneShot; result: LoopResult }> {
  const data = oneShotOf(datasetDirOf(profile, set));
  const model = modelAtInit(profile, finetuneConfig(profile, set, variant));
  const schedule = r.schedule ?? r.steps;
  const cfg = loopConfig(profile, r.name, r.steps, r.setting.recipe.lr, r.inputs, opts, r.select);
  const task = finetuneTask(data, variant, profile, r.setting.gamma);
  const result = await trainLoop(model, task, {
    ...cfg,
    schedule,
    warmup: warmupSteps(schedule),
    optimizer: { ...cfg.optimizer, backboneScale: r.setting.recipe.backboneScale, headPrefixes: FINETUNE_HEADS },
  });
  return { model, data, result };
}

/** The layers a fine-tune adds to the pretrained backbone (at the recipe's full rate). */
const FINETUNE_HEADS = ["fc.", "lca."];

/** A test-set fine-tune's inputs, with the choice its variant made on dev-like. */
export const testFinetuneInputs = (profile: Profile, set: OneShotSet, variant: FinetuneVariant, choice: FinetuneChoice) =>
  finetuneInputs(profile, set, variant, choice.setting, choice.steps, choice.schedule);

/** A finished test-set fine-tune's result, or why there is none. */
export const keptFinetune = (profile: Profile, set: OneShotSet, variant: FinetuneVariant, choice: FinetuneChoice) =>
  keptResult<FinetuneResult>(finetuneResultFile(profile, set, variant), testFinetuneInputs(profile, set, variant, choice));

/** A fine-tune baseline on a test set, trained to the step its dev run kept: its test accuracy
 * with a bootstrap interval over the set's products, per-image outcomes, its training accuracy.
 * Kept in its folder by its inputs (trained again when they change). */
export async function runFinetune(
  profile: Profile,
  set: OneShotSet,
  variant: FinetuneVariant,
  choice: FinetuneChoice,
  opts: StepOptions = {},
): Promise<FinetuneResult & { result?: LoopResult }> {
  let loop: LoopResult | undefined;
  const inputs = testFinetuneInputs(profile, set, variant, choice);
  const r = await cached(finetuneResultFile(profile, set, variant), inputs, async () => {
    const run = { name: finetuneName(set, variant), ...choice, inputs };
    const { model, data, result } = await trainFinetune(profile, set, variant, run, opts);
    loop = result;
    const pred = await predictClasses(profile, model, data, data.test.files);
    // In a one-shot set a class is one product: its photos are resampled together.
    const test = accuracyWithInterval(pred, data.test.labels, { seed: profile.seed, clusters: data.test.labels });
    const trainAccuracy = await trainAccuracyOf(profile, model, data);
    disposeModel(model);
    return {
      accuracy: test.accuracy,
      accuracyCI: test.interval,
      outcomes: outcomesOf(pred, data.test.labels),
      trainAccuracy,
      imagesSeen: choice.steps * profile.train.finetune.batch,
      recipe: choice.setting.recipe,
      ...(choice.setting.gamma === undefined ? {} : { gamma: choice.setting.gamma }),
      steps: choice.steps,
      schedule: choice.schedule,
      lossSlopeT: lossSlope(result.history).t,
    } satisfies FinetuneResult;
  });
  return loop ? { ...r, result: loop } : r;
}
