// Each fine-tune variant's choices on dev-like, made the way the teacher and the student make
// theirs, so that both sides of a comparison are selected alike: its recipe by short runs, then
// (MaxEnt) its gamma by a second stage on the best recipe, the grid widened once past an edge
// choice, then its length: one run of the whole schedule with the chosen setting, every
// checkpoint scored on dev-like; the step it keeps is what the variant's test-set runs train.
// In every repeat, on its own draw of dev-like, as every sweep.
import type { FinetuneRecipe, Profile } from "../config/profiles";
import { datasetDirOf } from "../data/generate";
import { oneShotOf } from "../data/sets";
import { disposeModel } from "../models/model";
import { accuracy } from "../probe/neighbours";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import { FinetuneChoice, finetuneInputs, finetuneName, lossSlope, predictClasses, trainAccuracyOf, trainFinetune } from "./finetune-runs";
import { DEV_SET, StepOptions } from "./runs";
import type { FinetuneLength, FinetuneSelection, FinetuneSetting, FinetuneSweepResult } from "./selections";
import { bestOf, edgeSweep, Sweep, sweepTried, withEdge } from "./sweep";

const COMMAND = "finetune --dataset dev-like";
const devScore = (r: FinetuneSweepResult) => r.devAccuracy;

/** A recipe as the first stage runs it: MaxEnt at the profile's gamma. */
const firstStageSetting = (profile: Profile, variant: FinetuneVariant, recipe: FinetuneRecipe): FinetuneSetting =>
  FINETUNE_VARIANTS[variant].maxEnt ? { recipe, gamma: profile.train.finetune.gamma } : { recipe };

const shortInputs = (profile: Profile, variant: FinetuneVariant, setting: FinetuneSetting) =>
  finetuneInputs(profile, DEV_SET, variant, setting, profile.train.finetune.sweep.steps);

/** One short run on dev-like's packshots (its own whole schedule), scored on dev-like's photos. */
async function shortRun(profile: Profile, variant: FinetuneVariant, setting: FinetuneSetting, name: string, opts: StepOptions) {
  const run = { name, setting, steps: profile.train.finetune.sweep.steps, inputs: shortInputs(profile, variant, setting) };
  const { model, data } = await trainFinetune(profile, DEV_SET, variant, run, opts);
  const devAccuracy = accuracy(await predictClasses(profile, model, data, data.test.files), data.test.labels);
  const trainAccuracy = await trainAccuracyOf(profile, model, data);
  disposeModel(model);
  return { setting, devAccuracy, trainAccuracy } satisfies FinetuneSweepResult;
}

/** The first stage: the variant fine-tuned on dev-like with each recipe. */
export const finetuneRecipeSweep = (variant: FinetuneVariant): Sweep<FinetuneRecipe, FinetuneSweepResult> => ({
  command: COMMAND,
  candidates: (profile) => profile.train.finetune.recipes,
  stepName: (recipe) => finetuneName(DEV_SET, variant, recipe.name),
  inputs: (profile, recipe) => shortInputs(profile, variant, firstStageSetting(profile, variant, recipe)),
  run: (profile, recipe, opts) =>
    shortRun(profile, variant, firstStageSetting(profile, variant, recipe), finetuneName(DEV_SET, variant, recipe.name), opts),
  devScore,
});

/** The second stage's setting at `scale`: the first stage's best recipe, gamma = profile's x scale. */
function gammaSetting(profile: Profile, variant: FinetuneVariant, scale: number): FinetuneSetting {
  const best = bestOf(sweepTried(profile, finetuneRecipeSweep(variant)), devScore).setting;
  return { recipe: best.recipe, gamma: profile.train.finetune.gamma * scale };
}
const gammaStepName = (variant: FinetuneVariant, scale: number) => finetuneName(DEV_SET, variant, `gamma${scale}x`);
const gammaRun = (profile: Profile, variant: FinetuneVariant, scale: number, opts: StepOptions) =>
  shortRun(profile, variant, gammaSetting(profile, variant, scale), gammaStepName(variant, scale), opts);

/** The second stage (MaxEnt): the best recipe at the profile's gamma times each scale. */
export const finetuneGammaSweep = (variant: FinetuneVariant): Sweep<number, FinetuneSweepResult> => ({
  command: COMMAND,
  candidates: (profile) => profile.train.finetune.sweep.gammaScales,
  stepName: (scale) => gammaStepName(variant, scale),
  inputs: (profile, scale) => shortInputs(profile, variant, gammaSetting(profile, variant, scale)),
  run: (profile, scale, opts) => gammaRun(profile, variant, scale, opts),
  devScore,
});

/** The second stage's results in its grid's order: the first stage's best (the profile's gamma,
 * scale 1), then each scale. */
function gammaStageTried(profile: Profile, variant: FinetuneVariant): FinetuneSweepResult[] {
  return [bestOf(sweepTried(profile, finetuneRecipeSweep(variant)), devScore), ...sweepTried(profile, finetuneGammaSweep(variant))];
}

/** The gamma grid widened once past an edge choice (sweep.ts, edgeSweep). */
export const finetuneGammaEdgeSweep = (variant: FinetuneVariant) =>
  edgeSweep(finetuneName(DEV_SET, variant, "gamma-edge"), {
    command: COMMAND,
    grid: (profile) => [1, ...profile.train.finetune.sweep.gammaScales],
    tried: (profile) => gammaStageTried(profile, variant),
    inputs: (profile, scale) => shortInputs(profile, variant, gammaSetting(profile, variant, scale)),
    run: (profile, scale, opts) => gammaRun(profile, variant, scale, opts),
    devScore,
  });

/** The short runs' stages and what they chose (every run finished). */
function settingChoice(profile: Profile, variant: FinetuneVariant) {
  const tried = sweepTried(profile, finetuneRecipeSweep(variant));
  if (!FINETUNE_VARIANTS[variant].maxEnt) return { tried, chosen: bestOf(tried, devScore).setting, widened: null, shortRuns: tried.length };
  const edge = sweepTried(profile, finetuneGammaEdgeSweep(variant))[0];
  const gammaTried = withEdge(gammaStageTried(profile, variant), edge.result);
  return {
    tried,
    gammaTried,
    chosen: bestOf(gammaTried, devScore).setting,
    widened: edge.past === null ? null : profile.train.finetune.gamma * edge.past,
    // The second stage's first entry is a first-stage run.
    shortRuns: tried.length + gammaTried.length - 1,
  };
}

/** The length run's inputs, for the setting the short runs chose. */
const lengthInputs = (profile: Profile, variant: FinetuneVariant, setting: FinetuneSetting) => ({
  ...finetuneInputs(profile, DEV_SET, variant, setting, profile.train.finetune.steps),
  scoredEvery: profile.train.checkpointEvery,
});

/** The length run: the chosen setting for the whole schedule on dev-like, its checkpoints scored
 * on dev-like's photos every `checkpointEvery` steps (the teacher's and the student's rule). */
export const finetuneLengthSweep = (variant: FinetuneVariant): Sweep<"length", FinetuneLength> => ({
  command: COMMAND,
  candidates: () => ["length"],
  stepName: () => finetuneName(DEV_SET, variant),
  inputs: (profile) => lengthInputs(profile, variant, settingChoice(profile, variant).chosen),
  run: async (profile, _length, opts) => {
    const setting = settingChoice(profile, variant).chosen;
    const dev = oneShotOf(datasetDirOf(profile, DEV_SET));
    const score = async (m: Parameters<typeof predictClasses>[1]) =>
      accuracy(await predictClasses(profile, m, dev, dev.test.files), dev.test.labels);
    const schedule = profile.train.finetune.steps;
    const run = { name: finetuneName(DEV_SET, variant), setting, steps: schedule, inputs: lengthInputs(profile, variant, setting) };
    const { model, data, result } = await trainFinetune(
      profile,
      DEV_SET,
      variant,
      { ...run, select: { every: profile.train.checkpointEvery, score } },
      opts,
    );
    const sel = result.selection;
    if (!sel) throw new Error(`${run.name}: the run finished without a record of its scored checkpoints; delete its folder and run again`);
    // The model now holds the kept checkpoint's weights (loop.ts).
    const trainAccuracy = await trainAccuracyOf(profile, model, data);
    disposeModel(model);
    return {
      setting,
      schedule,
      scores: sel.scores,
      keptStep: sel.chosenStep,
      devAccuracy: sel.scores.find((s) => s.step === sel.chosenStep)!.score,
      trainAccuracy,
      lossSlopeT: lossSlope(result.history).t,
    };
  },
  devScore: (r) => r.devAccuracy,
});

/** Every sweep of a variant, in the order they run. */
export function finetuneSweeps(variant: FinetuneVariant): Sweep<unknown, unknown>[] {
  const gamma = FINETUNE_VARIANTS[variant].maxEnt ? [finetuneGammaSweep(variant), finetuneGammaEdgeSweep(variant)] : [];
  return [finetuneRecipeSweep(variant), ...gamma, finetuneLengthSweep(variant)] as Sweep<unknown, unknown>[];
}

/** What a variant chose on dev-like, and from what. Every sweep run must be finished. */
export function chosenFinetune(profile: Profile, variant: FinetuneVariant): FinetuneSelection {
  const { shortRuns, ...s } = settingChoice(profile, variant);
  const f = profile.train.finetune;
  return {
    ...s,
    rule:
      `highest dev-like accuracy after ${f.sweep.steps} steps: the recipe` +
      (FINETUNE_VARIANTS[variant].maxEnt ? `, then gamma (x${f.sweep.gammaScales.join(", x")}, widened once past an edge chosen)` : "") +
      `; then the checkpoint of a ${f.steps}-step run best on dev-like; the earlier-listed candidate and the earliest step on a tie`,
    steps: f.sweep.steps,
    length: sweepTried(profile, finetuneLengthSweep(variant))[0],
    devRuns: shortRuns + 1,
  };
}

/** What a variant's test-set runs train: its setting to the step its length run kept. */
export const lengthChoice = (l: FinetuneLength): FinetuneChoice => ({ setting: l.setting, steps: l.keptStep, schedule: l.schedule });

/** The variant's choice, read from its finished length run. */
export const finetuneChoice = (profile: Profile, variant: FinetuneVariant): FinetuneChoice =>
  lengthChoice(sweepTried(profile, finetuneLengthSweep(variant))[0]);
