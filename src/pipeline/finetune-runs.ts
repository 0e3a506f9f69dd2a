// The fine-tune baselines as runs: the whole network from the init on a one-shot set's packshots,
// with the recipe dev-like chose, trained by the convergence rule (cycles until training accuracy
// and a flat loss say it has converged), scored on the set's test images.
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import type { FinetuneRecipe, Profile } from "../config/profiles";
import { finetuneRecipeSchema } from "../config/schema";
import { datasetDirOf } from "../data/generate";
import { oneShotOf } from "../data/sets";
import { datasetFingerprint } from "../data/manifest";
import { loadCheckpoint } from "../models/checkpoint";
import { disposeModel, ModelConfig } from "../models/model";
import { accuracyWithInterval, bootstrapInterval, Interval, intervalSchema } from "../probe/bootstrap";
import { accuracy } from "../probe/neighbours";
import { argmaxRows } from "../probe/logreg";
import { outcomesOf, outcomesSchema, parseOutcomes } from "../probe/paired";
import { embedFiles } from "../train/embed";
import { finetuneTask, FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import { LoopResult, trainLoop } from "../train/loop";
import { cached, Inputs, keptResult } from "../util/fingerprint";
import type { RecipeSelection } from "./selections";
import { bestOf, Sweep, sweepTried } from "./sweep";
import { DEV_SET, EvalSet, selectionRun } from "./runs"; // chosen on dev-like
import { ckptDir, commonInputs, initialModel, initRecord, loopConfig, modelAtInit, runDir, StepOptions } from "./runs"; // what a run is made of

export type { RecipeSelection } from "./selections";

/** Each run of the convergence rule: its length, and what it says of convergence. */
export const finetuneAttemptSchema = z.looseObject({
  steps: z.number(),
  trainAccuracy: z.number(),
  lossSlopeT: z.number(),
  converged: z.boolean(),
});
export interface FinetuneAttempt extends z.infer<typeof finetuneAttemptSchema> {}

export const finetuneResultSchema = z.looseObject({
  accuracy: z.number().min(0).max(1),
  accuracyCI: intervalSchema,
  /** Per test image, 1 if right (probe/paired.ts): what paired comparisons are made of. */
  outcomes: outcomesSchema,
  /** Accuracy on the (clean, un-augmented) training images after training: has it converged? */
  trainAccuracy: z.number().min(0).max(1),
  imagesSeen: z.number(),
  recipe: finetuneRecipeSchema,
  /** The t statistic of the training loss's slope over the run's last fifth (lossSlope). */
  lossSlopeT: z.number().optional(),
  /** Each run of the convergence rule, shortest first; the result is the last one's. */
  attempts: z.array(finetuneAttemptSchema).optional(),
  converged: z.boolean().optional(),
});
export interface FinetuneResult extends z.infer<typeof finetuneResultSchema> {}

/** A fine-tune has converged when its training accuracy is at least this... */
export const MIN_TRAIN_ACCURACY = 0.95;
/** ...and its loss is flat: the least-squares slope of the per-step training loss over the last
 * fifth of the run is not below this many standard errors. */
export const FLAT_SLOPE_T = -2;
/** A fine-tune that has not converged trains on from where it ended for another cycle of the same
 * length (a warm restart of the same warm-up and cosine schedule, SGDR-style), at most this many
 * times: the 2-core budget's cap (a row still falling says so). */
export const FINETUNE_EXTRA_CYCLES = 1;

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

/** Cycle k of a fine-tune's convergence rule: k = 0 from the init, k = 1 on from cycle 0's end. */
export const finetuneAttemptName = (set: EvalSet, variant: FinetuneVariant, recipe: FinetuneRecipe | undefined, k: number) =>
  `${finetuneName(set, variant, recipe)}${k ? `-x${k + 1}` : ""}`;
export const finetuneAttemptFile = (
  profile: Profile,
  set: EvalSet,
  variant: FinetuneVariant,
  recipe: FinetuneRecipe | undefined,
  k: number,
) => path.join(runDir(profile, finetuneAttemptName(set, variant, recipe, k)), "result.json");
export function finetuneAttemptInputs(profile: Profile, set: EvalSet, variant: FinetuneVariant, recipe: FinetuneRecipe, k: number): Inputs {
  const inputs = finetuneInputs(profile, set, variant, recipe);
  return k ? { ...inputs, cycle: k + 1 } : inputs;
}

/** The convergence rule on one cycle: training accuracy high enough and the loss flat. */
export const finetuneConverged = (trainAccuracy: number, lossSlopeT: number) =>
  trainAccuracy >= MIN_TRAIN_ACCURACY && lossSlopeT >= FLAT_SLOPE_T;

/** What cycle k says of convergence (its loss slope from its history when the result predates it). */
function attemptOf(r: FinetuneResult, file: string, batch: number): FinetuneAttempt {
  const history = path.join(path.dirname(file), "history.json");
  const t = r.lossSlopeT ?? (fs.existsSync(history) ? lossSlope(JSON.parse(fs.readFileSync(history, "utf8"))).t : -Infinity);
  return { steps: r.imagesSeen / batch, trainAccuracy: r.trainAccuracy, lossSlopeT: t, converged: finetuneConverged(r.trainAccuracy, t) };
}

/** A fine-tune's outcome by the convergence rule from what is on disk: its result (the last run's,
 * with every run's record), or the run that is missing and why. `sweepRecipe`: a dev sweep
 * run's recipe, which names its folders (none on a test set). */
export function keptFinetune(
  profile: Profile,
  set: EvalSet,
  variant: FinetuneVariant,
  recipe: FinetuneRecipe,
  sweepRecipe: FinetuneRecipe | undefined,
): { result: FinetuneResult } | { missing: number; why: string } {
  const attempts: FinetuneAttempt[] = [];
  for (let k = 0; ; k++) {
    const file = finetuneAttemptFile(profile, set, variant, sweepRecipe, k);
    const kept = keptResult<FinetuneResult>(file, finetuneAttemptInputs(profile, set, variant, recipe, k));
    if (!("result" in kept)) {
      const last = attempts[attempts.length - 1];
      return {
        missing: k,
        why: k
          ? `not converged after ${last.steps} steps (training accuracy ${(100 * last.trainAccuracy).toFixed(1)} %, loss slope t = ${last.lossSlopeT.toFixed(2)}); cycle ${k + 1}: ${kept.why}`
          : kept.why,
      };
    }
    attempts.push(attemptOf(kept.result, file, profile.train.finetune.batch));
    if (attempts[k].converged || k === FINETUNE_EXTRA_CYCLES)
      return {
        result: {
          ...kept.result,
          accuracyCI: overProducts(profile, set, kept.result.outcomes),
          attempts,
          converged: attempts[k].converged,
        },
      };
  }
}

/** A fine-tune's test accuracy interval over the set's products, from its outcomes: as runFinetune
 * makes it, and the same for a result kept from before intervals counted products. */
function overProducts(profile: Profile, set: EvalSet, outcomes: string): Interval {
  const products = oneShotOf(datasetDirOf(profile, set)).test.labels;
  return bootstrapInterval(parseOutcomes(outcomes), { clusters: products, seed: profile.seed });
}

/** A dev-set sweep run is named by its recipe; a test-set run uses the recipe dev chose. */
export const finetuneName = (set: EvalSet, variant: FinetuneVariant, recipe?: FinetuneRecipe) =>
  `finetune-${set}-${variant}${recipe ? `-${recipe.name}` : ""}`;
export const finetuneResultFile = (profile: Profile, set: EvalSet, variant: FinetuneVariant, recipe?: FinetuneRecipe) =>
  path.join(runDir(profile, finetuneName(set, variant, recipe)), "result.json");

function finetuneConfig(profile: Profile, set: EvalSet, variant: FinetuneVariant): ModelConfig {
  return {
    arch: profile.arch,
    pooling: FINETUNE_VARIANTS[variant].pooling,
    projDim: 0,
    classes: oneShotOf(datasetDirOf(profile, set)).classes,
  };
}

export function finetuneInputs(profile: Profile, set: EvalSet, variant: FinetuneVariant, recipe: FinetuneRecipe): Inputs {
  const config = finetuneConfig(profile, set, variant);
  const { recipes: _all, ...train } = profile.train.finetune;
  return {
    data: datasetFingerprint(datasetDirOf(profile, set)),
    init: initRecord(profile),
    ...commonInputs(profile, config),
    variant,
    train,
    recipe,
  };
}

/** A recipe as the dev sweep scores it. */
type RecipeTried = RecipeSelection["tried"][number];

/** The dev-set sweep: the GAP baseline fine-tuned on dev-like with each candidate recipe (in
 * repeat 0), each by the convergence rule, scored by its dev-like accuracy. */
export const finetuneRecipeSweep: Sweep<FinetuneRecipe, RecipeTried> = {
  command: "finetune --dataset dev-like",
  candidates: (profile) => profile.train.finetune.recipes,
  stepName: (recipe) => finetuneName(DEV_SET, "gap", recipe),
  inputs: (profile, recipe) => finetuneInputs(profile, DEV_SET, "gap", recipe),
  run: async (profile, recipe, opts) => asTried(recipe, await convergedFinetune(profile, DEV_SET, "gap", recipe, opts)),
  devScore: (r) => r.devAccuracy,
  kept: (profile, recipe) => {
    const k = keptFinetune(selectionRun(profile), DEV_SET, "gap", recipe, recipe);
    return "result" in k ? { result: asTried(recipe, k.result) } : { why: k.why };
  },
};

const asTried = (recipe: FinetuneRecipe, r: FinetuneResult): RecipeTried => ({
  recipe,
  devAccuracy: r.accuracy,
  trainAccuracy: r.trainAccuracy,
});

/** The recipe the test-set fine-tunes use: the sweep's best dev accuracy (the earlier-listed
 * recipe on a tie). Every sweep run must be finished. */
export function chosenRecipe(profile: Profile): RecipeSelection {
  const tried = sweepTried(profile, finetuneRecipeSweep);
  return {
    tried,
    chosen: bestOf(tried, finetuneRecipeSweep.devScore).recipe,
    rule: "highest dev-like accuracy of the GAP baseline (the earlier-listed recipe on a tie)",
  };
}

/** Fine-tune a classifier baseline from the run's init with `recipe`: its test accuracy with a
 * bootstrap interval, per-image outcomes, and its training accuracy. */
export async function runFinetune(
  profile: Profile,
  set: EvalSet,
  variant: FinetuneVariant,
  recipe: FinetuneRecipe,
  opts: StepOptions = {},
  k = 0,
): Promise<FinetuneResult & { result: LoopResult }> {
  const data = oneShotOf(datasetDirOf(profile, set));
  const sweepRecipe = set === DEV_SET ? recipe : undefined;
  const name = finetuneAttemptName(set, variant, sweepRecipe, k);
  const config = finetuneConfig(profile, set, variant);
  // Cycle 0 starts from the init; a later cycle from where the one before it ended.
  const model = k
    ? loadCheckpoint(ckptDir(profile, finetuneAttemptName(set, variant, sweepRecipe, k - 1)), initialModel(profile, config)).model
    : modelAtInit(profile, config);
  const f = profile.train.finetune;
  const steps = f.steps;
  const cfg = loopConfig(profile, name, steps, recipe.lr, finetuneAttemptInputs(profile, set, variant, recipe, k), opts);
  const result = await trainLoop(model, finetuneTask(data, variant, profile), {
    ...cfg,
    optimizer: { ...cfg.optimizer, backboneScale: recipe.backboneScale, headPrefixes: FINETUNE_HEADS },
  });
  const o = { size: profile.imageSize, batch: profile.train.embedBatch, logits: true, quiet: true };
  const pred = argmaxRows(await embedFiles(model, data.test.files, o), data.classes);
  // In a one-shot set a class is one product: its photos are resampled together.
  const test = accuracyWithInterval(pred, data.test.labels, { seed: profile.seed, clusters: data.test.labels });
  const trainAccuracy = accuracy(argmaxRows(await embedFiles(model, data.train.files, o), data.classes), data.train.labels);
  disposeModel(model);
  return {
    accuracy: test.accuracy,
    accuracyCI: test.interval,
    outcomes: outcomesOf(pred, data.test.labels),
    trainAccuracy,
    imagesSeen: (k + 1) * steps * f.batch,
    recipe,
    lossSlopeT: lossSlope(result.history).t,
    result,
  };
}

/** The layers a fine-tune adds to the pretrained backbone (at the recipe's full rate). */
const FINETUNE_HEADS = ["fc.", "lca."];

/** A fine-tune by the convergence rule: its runs kept in their folders by their inputs (trained
 * when they changed), the next, twice as long, only while the last has not converged. */
export async function convergedFinetune(
  profile: Profile,
  set: EvalSet,
  variant: FinetuneVariant,
  recipe: FinetuneRecipe,
  opts: StepOptions,
): Promise<FinetuneResult & { result?: LoopResult }> {
  let loop: LoopResult | undefined;
  const sweepRecipe = set === DEV_SET ? recipe : undefined;
  for (let last = -1; ;) {
    const k = keptFinetune(profile, set, variant, recipe, sweepRecipe);
    if ("result" in k) return loop ? { ...k.result, result: loop } : k.result;
    if (k.missing === last)
      throw new Error(`${finetuneAttemptName(set, variant, sweepRecipe, k.missing)}: made but not read back (${k.why})`);
    last = k.missing;
    if (k.missing > 0 && !opts.quiet) console.log(`${finetuneAttemptName(set, variant, sweepRecipe, k.missing)}: ${k.why}`);
    await cached(
      finetuneAttemptFile(profile, set, variant, sweepRecipe, k.missing),
      finetuneAttemptInputs(profile, set, variant, recipe, k.missing),
      async () => {
        const { result, ...r } = await runFinetune(profile, set, variant, recipe, opts, k.missing);
        loop = result;
        return r;
      },
    );
  }
}
