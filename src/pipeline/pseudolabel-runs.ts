// Step 2 as runs: the teacher's embeddings of the unlabeled set, written in parts (the unit of
// resume and of sharding), what they are made from, and the run that labels the missing parts.
import type { Profile } from "../config/profiles";
import { datasetDirOf } from "../data/generate";
import { datasetFingerprint } from "../data/manifest";
import { filesOf } from "../data/sets";
import { disposeModel, embeddingDim } from "../models/model";
import type { InferenceEngine } from "../train/embed";
import { PseudoSpec, PseudoStatus, pseudoStatus, writePseudolabels } from "../train/pseudolabel";
import { partsOfShard, Shard } from "../util/shard";
import { checkpointModel, embeddingConfig, runDir, StepOptions, weightsOf } from "./runs";

/** What this profile's pseudolabels are made from: the finished teacher and the unlabeled set. */
export function pseudoSpec(profile: Profile): PseudoSpec {
  const ds = datasetDirOf(profile, "student-pseudo");
  return {
    teacher: weightsOf(profile, "teacher"),
    list: datasetFingerprint(ds),
    count: filesOf(ds).files.length,
    dim: embeddingDim(embeddingConfig(profile)),
    partSize: profile.train.pseudoPartSize,
  };
}

/** The teacher's embeddings of the unlabeled set, in parts, or this process's shard of them:
 * labels the parts that are missing or unsound. */
export async function runPseudolabels(
  profile: Profile,
  opts: StepOptions & { shard?: Shard; engine?: InferenceEngine } = {},
): Promise<{ dir: string; status: PseudoStatus; spec: PseudoSpec }> {
  const dir = runDir(profile, "pseudolabels");
  const spec = pseudoSpec(profile);
  let status = pseudoStatus(dir, spec);
  if (partsOfShard(status.parts, opts.shard).some((p) => status.problems.has(p))) {
    const teacher = checkpointModel(profile, "teacher");
    const { files } = filesOf(datasetDirOf(profile, "student-pseudo"));
    status = await writePseudolabels(teacher, files, dir, {
      spec,
      size: profile.imageSize,
      batch: profile.train.embedBatch,
      shard: opts.shard,
      quiet: opts.quiet,
      engine: opts.engine,
    });
    disposeModel(teacher);
  }
  return { dir, status, spec };
}
