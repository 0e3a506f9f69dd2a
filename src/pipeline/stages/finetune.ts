// The baselines the representations are compared with: the whole network fine-tuned on each
// one-shot set's packshots, in three variants (GAP, LCA, LCA + MaxEnt), with the recipe the GAP
// baseline's sweep chose on dev-like (once, in repeat 0), each trained by the convergence rule.
import type { FinetuneRecipe, Profile } from "../../config/profiles";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../../train/finetune";
import {
  chosenRecipe,
  convergedFinetune,
  finetuneInputs,
  finetuneName,
  finetuneResultFile,
  finetuneRecipeSweep,
  keptFinetune,
} from "../finetune-runs";
import { DEV_SET, EvalSet, ONE_SHOT_SETS, selectionRun } from "../runs";
import { initSteps, selectionStep, Stage, Step } from "./stage";

/** One fine-tune: a dev-like sweep run names its recipe; a test-set run uses the chosen one. */
function finetuneStep(
  profile: Profile,
  set: EvalSet,
  variant: FinetuneVariant,
  recipe: () => FinetuneRecipe,
  sweepRecipe: FinetuneRecipe | undefined,
  after: string[],
): Step {
  return {
    name: finetuneName(set, variant, sweepRecipe),
    dependencies: [set, ...initSteps(profile), ...after],
    artifact: finetuneResultFile(profile, set, variant, sweepRecipe),
    command: `finetune --dataset ${set}${set === DEV_SET ? "" : ` --variant ${variant}`}`,
    trains: true,
    inputs: () => finetuneInputs(profile, set, variant, recipe()),
    state: () => {
      const k = keptFinetune(profile, set, variant, recipe(), sweepRecipe);
      return "result" in k ? { fresh: true } : { fresh: false, why: k.why };
    },
    run: async (o) => void (await convergedFinetune(profile, set, variant, recipe(), o)),
  };
}

export const finetuneStage: Stage = {
  name: "finetune",
  steps: (profile) => {
    const repeat0 = selectionRun(profile);
    const sweep = finetuneRecipeSweep.candidates(repeat0).map((recipe) =>
      selectionStep(
        profile,
        finetuneStep(repeat0, DEV_SET, "gap", () => recipe, recipe, []),
      ),
    );
    const finetunes = ONE_SHOT_SETS.flatMap((set) =>
      (Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[]).map((variant) =>
        finetuneStep(
          profile,
          set,
          variant,
          () => chosenRecipe(profile).chosen,
          undefined,
          sweep.map((s) => s.name),
        ),
      ),
    );
    return [...sweep, ...finetunes];
  },
  selection: (profile) => ({ finetune: chosenRecipe(profile) }),
};
