// The datasets every later step reads: generated from the synthetic retail universe (or imported)
// into datasets/<profile>/<name>/, each kept while its spec is today's.
import { DATASET_NAMES, datasetState, generateAll } from "../../data/generate";
import type { Stage } from "./stage";

export const datasetsStage: Stage = {
  name: "datasets",
  steps: (profile) =>
    DATASET_NAMES.map((name) => ({
      name,
      dependencies: [],
      artifact: `datasets/${profile.name}/${name}`,
      command: `generate --only ${name}`,
      trains: false,
      inputs: () => ({ spec: name }),
      state: () => datasetState(name, profile),
      run: async (opts) => void (await generateAll(profile, [name], { quiet: opts.quiet })),
    })),
};
