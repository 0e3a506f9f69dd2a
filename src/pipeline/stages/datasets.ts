// The datasets every later step reads: generated from the synthetic retail universe (or imported)
// into datasets/<profile>/<name>/ (a repeat's test draw into .../test-draw-<seed>/<name>/), each
// kept while its spec is today's.
import * as path from "path";
import { DATASET_NAMES, datasetDirOf, datasetState, generateAll } from "../../data/generate";
import { paths } from "../../util/paths";
import type { Stage } from "./stage";

export const datasetsStage: Stage = {
  name: "datasets",
  steps: (profile) =>
    DATASET_NAMES.map((name) => ({
      name,
      dependencies: [],
      artifact: path.join("datasets", path.relative(paths.datasets, datasetDirOf(profile, name))),
      command: `generate --only ${name}`,
      trains: false,
      inputs: () => ({ spec: name }),
      state: () => datasetState(name, profile),
      run: async (opts) => void (await generateAll(profile, [name], { quiet: opts.quiet })),
    })),
};
