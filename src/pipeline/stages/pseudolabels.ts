// Step 2: the teacher's embeddings of the unlabeled set, in parts (shard workers may label them
// side by side). A student refuses parts split across shards and left incomplete.
import { describeIncomplete, PseudoSpec, pseudoStatus } from "../../train/pseudolabel";
import type { Inputs } from "../../util/fingerprint";
import { pseudoSpec, runPseudolabels } from "../pseudolabel-runs";
import { runDir } from "../runs";
import type { Stage } from "./stage";

export const pseudolabelsStage: Stage = {
  name: "pseudolabels",
  steps: (profile) => {
    const dir = runDir(profile, "pseudolabels");
    return [
      {
        name: "pseudolabels",
        dependencies: ["student-pseudo", "teacher"],
        artifact: dir,
        command: "pseudolabel",
        trains: false,
        sharded: true,
        inputs: () => pseudoSpec(profile) as unknown as Inputs,
        state: (spec) => {
          const st = pseudoStatus(dir, spec as unknown as PseudoSpec);
          if (!st.problems.size) return { fresh: true };
          return { fresh: false, why: st.done.length ? `${st.problems.size} of ${st.parts} parts to label` : "not labelled yet" };
        },
        refuseReader: (spec) => {
          const st = pseudoStatus(dir, spec as unknown as PseudoSpec);
          if (st.shards) throw new Error(describeIncomplete(dir, spec as unknown as PseudoSpec, st));
        },
        run: async (o) => void (await runPseudolabels(profile, o)),
      },
    ];
  },
};
