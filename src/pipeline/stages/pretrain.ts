// Step 0: weakly supervised pretraining on the hashtag corpus, shared by every init and repeat;
// its backbone (LCA pooling, frozen) is the "pretrained" representation's probe row.
import { withRun } from "../../config/profiles";
import { disposeModel } from "../../models/model";
import { embeddingConfig, initRecord, modelAtInit, pretrainInputs, runPretrain } from "../runs";
import { Stage, trainedStep } from "./stage";

export const pretrainStage: Stage = {
  name: "pretrain",
  steps: (profile) => {
    const p = withRun(profile, { repeat: 0 });
    return [
      trainedStep(p, "pretrain", p.train.pretrain.steps, {
        command: "pretrain",
        dependencies: ["pretrain-corpus"],
        inputs: () => pretrainInputs(profile),
        run: async (o) => disposeModel((await runPretrain(profile, o)).model),
      }),
    ];
  },
  train: runPretrain,
  representation: {
    name: "pretrained",
    label: "Pretrained backbone + LR (ours only)",
    short: "pretrained + LR",
    inputs: (profile) => ({ pretrained: initRecord(withRun(profile, { init: "pretrained" })).weights }),
    model: (profile) => modelAtInit(withRun(profile, { init: "pretrained", repeat: 0 }), embeddingConfig(profile)),
  },
};
