// The baselines the representations are compared with: the whole network fine-tuned on each
// one-shot set's packshots, in three variants (GAP, LCA, LCA + MaxEnt). Each variant chooses its
// recipe, gamma (MaxEnt) and length on dev-like first (finetune-sweep.ts, in each repeat);
// then its runs on the test sets train that setting to that length.
import type { Profile } from "../../config/profiles";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../../train/finetune";
import { finetuneName, finetuneResultFile, keptFinetune, runFinetune, testFinetuneInputs } from "../finetune-runs";
import { chosenFinetune, finetuneChoice, finetuneSweeps } from "../finetune-sweep";
import { DEV_SET, ONE_SHOT_SETS, OneShotSet } from "../runs";
import { freshnessOf, initSteps, Stage, Step, sweepSteps } from "./stage";

const VARIANTS = Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[];

/** One fine-tune baseline on a test set, after its variant's choices on dev-like. */
function finetuneStep(profile: Profile, set: OneShotSet, variant: FinetuneVariant, after: string[]): Step {
  const choice = () => finetuneChoice(profile, variant);
  return {
    name: finetuneName(set, variant),
    dependencies: [set, ...initSteps(profile), ...after],
    artifact: finetuneResultFile(profile, set, variant),
    command: `finetune --dataset ${set} --variant ${variant}`,
    trains: true,
    inputs: () => testFinetuneInputs(profile, set, variant, choice()),
    state: () => freshnessOf(keptFinetune(profile, set, variant, choice())),
    run: async (o) => void (await runFinetune(profile, set, variant, choice(), o)),
  };
}

/** A variant's sweeps on dev-like as steps, each reading the ones before it. */
function variantSweepSteps(profile: Profile, variant: FinetuneVariant): Step[] {
  const steps: Step[] = [];
  for (const sweep of finetuneSweeps(variant))
    steps.push(...sweepSteps(profile, sweep, steps.length ? steps.map((s) => s.name) : [DEV_SET, ...initSteps(profile)]));
  return steps;
}

export const finetuneStage: Stage = {
  name: "finetune",
  steps: (profile) => {
    const dev = Object.fromEntries(VARIANTS.map((v) => [v, variantSweepSteps(profile, v)]));
    const tests = ONE_SHOT_SETS.flatMap((set) =>
      VARIANTS.map((v) =>
        finetuneStep(
          profile,
          set,
          v,
          dev[v].map((s) => s.name),
        ),
      ),
    );
    return [...VARIANTS.flatMap((v) => dev[v]), ...tests];
  },
  selection: (profile) => ({ finetune: Object.fromEntries(VARIANTS.map((v) => [v, chosenFinetune(profile, v)])) }),
};
