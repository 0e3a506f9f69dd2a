// The floor: the same network with random weights (every layer from the run's seed), probed like
// the learned representations. It trains nothing, so it has no step.
import { trainSeed } from "../../config/profiles";
import { initialModel } from "../runs";
import type { Stage } from "./stage";

export const randomInitStage: Stage = {
  name: "random-init",
  steps: () => [],
  representation: {
    name: "random-init",
    label: "Random-init representations + LR (floor, ours only)",
    short: "random init + LR",
    inputs: (profile) => ({ random: trainSeed(profile), arch: profile.arch }),
    model: (profile) => initialModel(profile),
  },
};
