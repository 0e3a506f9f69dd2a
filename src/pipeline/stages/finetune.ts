// The baselines the representations are compared with: the whole network fine-tuned on each
// one-shot set's packshots, in three variants (GAP, LCA, LCA + MaxEnt), with the recipe the GAP
// baseline's sweep chose on dev-like (once, in repeat 0), each trained by the convergence rule.
import type { Profile } from "../../config/profiles";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../../train/finetune";
import {
  chosenRecipe,
  convergedFinetune,
  finetuneInputs,
  finetuneName,
  finetuneRecipeSweep,
  finetuneResultFile,
  keptFinetune,
} from "../finetune-runs";
import { DEV_SET, ONE_SHOT_SETS, OneShotSet, selectionRun } from "../runs";
import { freshnessOf, initSteps, Stage, Step, sweepSteps } from "./stage";

/** One fine-tune baseline on a test set, with the recipe the sweep chose, after the sweep. */
function finetuneStep(profile: Profile, set: OneShotSet, variant: FinetuneVariant, after: string[]): Step {
  const recipe = () => chosenRecipe(profile).chosen;
  return {
    name: finetuneName(set, variant),
    dependencies: [set, ...initSteps(profile), ...after],
    artifact: finetuneResultFile(profile, set, variant),
    command: `finetune --dataset ${set} --variant ${variant}`,
    trains: true,
    inputs: () => finetuneInputs(profile, set, variant, recipe()),
    state: () => freshnessOf(keptFinetune(profile, set, variant, recipe(), undefined)),
    run: async (o) => void (await convergedFinetune(profile, set, variant, recipe(), o)),
  };
}

export const finetuneStage: Stage = {
  name: "finetune",
  steps: (profile) => {
    const sweep = sweepSteps(profile, finetuneRecipeSweep, [DEV_SET, ...initSteps(selectionRun(profile))]);
    const finetunes = ONE_SHOT_SETS.flatMap((set) =>
      (Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[]).map((variant) =>
        finetuneStep(
          profile,
          set,
          variant,
          sweep.map((s) => s.name),
        ),
      ),
    );
    return [...sweep, ...finetunes];
  },
  selection: (profile) => ({ finetune: chosenRecipe(profile) }),
};
