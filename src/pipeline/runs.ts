// What every run of the method shares: where its artifact lives, what any run is made from
// (its model, size, seed and start), the training loop's settings, the pretrained start (step 0),
// and what settings and checkpoints are chosen by on dev-like. Each later step's runs have their
// own file (teacher-runs, pseudolabel-runs, student-runs, finetune-runs); runs assume the steps
// they read are finished: steps.ts orders them (its table) and makes sure of that.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { tf } from "../engine/tf";
import { projectKernelsOn } from "../engine/native-kernels";
import { PROFILES, Profile, trainSeed, withRun } from "../config/profiles";
import { datasetDirOf, TEST_SETS } from "../data/generate";
import { PIXELS_VERSION } from "../data/images";
import { loadBackbone, loadCheckpoint, readCheckpointMeta } from "../models/checkpoint";
import { datasetFingerprint, manifestPath, readManifest, resolveItem } from "../data/manifest";
import { Freshness, hashOf, Inputs } from "../util/fingerprint";
import { pretrainTask, TaggedImages } from "../train/pretrain";
import { createModel, Model, ModelConfig } from "../models/model";
import { paths } from "../util/paths";
import type { ProcessGroup } from "../engine/process-group";
import { CheckpointSelection, checkpointFreshness, LoopConfig, LoopResult, trainLoop } from "../train/loop";
import type { OptimizerConfig } from "../train/optimizer";
import { embedOneShot, probe } from "../probe/probe";

export type {
  FinetuneLength,
  FinetuneSelection,
  FinetuneSweepResult,
  StudentCandidate,
  StudentSelection,
  StudentSweepResult,
  TeacherSelection,
  TeacherSweepResult,
} from "./selections";

/** Runs of the profile's own init and repeat live in runs/<profile>/; others beside them in
 * runs/<profile>/init-<...>/ and .../repeat-<k>/, so no variant overwrites another. */
export function runTag(profile: Profile): string {
  const parts: string[] = [];
  if (profile.init !== PROFILES[profile.name].init)
    parts.push(
      profile.init === "random" || profile.init === "pretrained"
        ? `init-${profile.init}`
        : `init-${path.basename(path.resolve(profile.init))}-${hashOf(path.resolve(profile.init)).slice(0, 6)}`,
    );
  if (profile.repeat) parts.push(`repeat-${profile.repeat}`);
  return parts.join("/");
}

export const runDir = (profile: Profile, step: string) =>
  path.join(paths.runs, profile.name, step === "pretrain" ? "" : runTag(profile), step);
export const ckptDir = (profile: Profile, step: string) => path.join(runDir(profile, step), "checkpoint");

export function embeddingConfig(profile: Profile): ModelConfig {
  return { arch: profile.arch, pooling: "lca", projDim: 0, classes: 0 };
}

/** A network with random weights (every layer from the run's seed): the "random init" floor. */
export function initialModel(profile: Profile, config: ModelConfig = embeddingConfig(profile)): Model {
  return createModel(config, trainSeed(profile));
}

/** Replicas for data-parallel training: the profile's, RETAIL_REPR_WORKERS to override, and
 * never more than the cores there are, on a GPU backend (one device already runs in parallel) or
 * where the project's kernels compute (they use every core in one process: train/loop.ts). */
export function workersFor(profile: Profile): number {
  const env = process.env.RETAIL_REPR_WORKERS;
  const wanted = env ? Number(env) : profile.train.workers;
  if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`RETAIL_REPR_WORKERS must be 1 or 2, got '${env}'`);
  const backend = tf.getBackend();
  if ((backend !== "wasm" && backend !== "cpu") || projectKernelsOn()) return 1;
  return Math.min(wanted, 2, os.cpus().length);
}

/** The optimiser every training step uses, at base learning rate `lr`. */
export function sgdConfig(lr: number): OptimizerConfig {
  return { kind: "sgd", lr, momentum: 0.9, weightDecay: 1e-4 };
}

/** Linear warm-up over the first 5 % of a schedule `steps` long. */
export const warmupSteps = (steps: number) => Math.max(1, Math.round(steps * 0.05));

export function loopConfig(
  profile: Profile,
  name: string,
  steps: number,
  lr: number,
  inputs: Inputs,
  opts: StepOptions = {},
  select?: LoopConfig["select"],
): LoopConfig {
  return {
    select,
    name,
    steps,
    optimizer: sgdConfig(lr),
    warmup: warmupSteps(steps),
    checkpointEvery: profile.train.checkpointEvery,
    runDir: runDir(profile, name),
    quiet: opts.quiet,
    onStep: opts.onStep,
    workers: workersFor(profile),
    group: opts.group,
    inputs,
    imageSize: profile.imageSize,
    chunk: profile.train.chunk,
  };
}

/** Whether a training step's checkpoint is finished and made from `inputs`, and if not, why. */
export function checkpointState(profile: Profile, name: string, steps: number, inputs: Inputs): Freshness {
  const dir = ckptDir(profile, name);
  const f = checkpointFreshness(dir, inputs);
  if (!f) return { fresh: false, why: "not trained yet" };
  if (!f.fresh) return { fresh: false, why: `${f.why}; training from scratch` };
  const step = readCheckpointMeta(dir).step;
  return step >= steps ? f : { fresh: false, why: `stopped at step ${step} of ${steps}; resuming` };
}

export interface StepOptions {
  quiet?: boolean;
  /** After each training step (see LoopConfig.onStep): live charts and checks in notebooks. */
  onStep?: LoopConfig["onStep"];
  /** Refuse, instead of training, when a needed earlier step is not finished (shard workers). */
  noTraining?: boolean;
  /** Train data-parallel over this process group (its ranks run the same command); what the run
   * reads is made first by rank 0 alone. */
  group?: ProcessGroup;
}

/** The same profile values and model a step of any init or repeat records as its inputs. */
export function commonInputs(profile: Profile, config: ModelConfig): Inputs {
  // A chunk size set by hand changes batch-norm statistics (per chunk), so it is an input.
  return {
    model: config,
    imageSize: profile.imageSize,
    pixels: PIXELS_VERSION,
    seed: trainSeed(profile),
    ...(profile.train.chunk ? { chunk: profile.train.chunk } : {}),
  };
}

/** The one-shot test sets the paper's tables report, and the one where settings are chosen. */
export const ONE_SHOT_SETS = TEST_SETS;
export type OneShotSet = (typeof ONE_SHOT_SETS)[number];
export const DEV_SET = "dev-like" as const;
export type EvalSet = OneShotSet | typeof DEV_SET;
export const EVAL_SETS: EvalSet[] = [DEV_SET, ...ONE_SHOT_SETS];

// ---- step 0: the pretrained start ----------------------------------------------------------

export function pretrainConfig(profile: Profile, vocabulary: number): ModelConfig {
  return { arch: profile.arch, pooling: "gap", projDim: 0, classes: vocabulary };
}

function pretrainData(profile: Profile): TaggedImages {
  const dir = datasetDirOf(profile, "pretrain-corpus");
  const m = readManifest(dir);
  const vocabulary = m.spec.vocabulary as string[] | undefined;
  if (!Array.isArray(vocabulary))
    throw new Error(
      `${manifestPath(dir)}: no 'vocabulary' in its spec; regenerate it with \`retail-repr generate --only pretrain-corpus\``,
    );
  const items = m.items.filter((it) => it.tags?.length);
  if (items.length === 0) throw new Error(`${manifestPath(dir)}: no item has 'tags'; the pretraining corpus needs hashtags`);
  return { files: items.map((it) => resolveItem(dir, it)), tags: items.map((it) => it.tags!), vocabulary };
}

export function pretrainInputs(profile: Profile): Inputs {
  const p = withRun(profile, { repeat: 0 });
  const vocabulary = pretrainData(p).vocabulary.length;
  return {
    data: datasetFingerprint(datasetDirOf(profile, "pretrain-corpus")),
    ...commonInputs(p, pretrainConfig(p, vocabulary)),
    train: profile.train.pretrain,
  };
}

/** Weakly supervised pretraining on the hashtag corpus (shared by every init and repeat). */
export async function runPretrain(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  const p = withRun(profile, { repeat: 0 });
  const data = pretrainData(p);
  const model = initialModel(p, pretrainConfig(p, data.vocabulary.length));
  const result = await trainLoop(
    model,
    pretrainTask(data, p),
    loopConfig(p, "pretrain", p.train.pretrain.steps, p.train.pretrain.lr, pretrainInputs(p), opts),
  );
  return { model, result };
}

/** The checkpoint folder a non-random init starts from (the pretraining's, once finished). */
export function initCheckpoint(profile: Profile): string {
  return profile.init === "pretrained" ? ckptDir(profile, "pretrain") : path.resolve(profile.init);
}

/** Where a run starts, as an input: "random", or the starting weights' checksum and origin. */
export function initRecord(profile: Profile): Inputs {
  if (profile.init === "random") return { kind: "random" };
  const dir = initCheckpoint(profile);
  if (!fs.existsSync(path.join(dir, "checkpoint.json")))
    throw new Error(`init: '${profile.init}' is neither 'pretrained', 'random' nor a checkpoint folder (no checkpoint.json in ${dir})`);
  return {
    kind: profile.init === "pretrained" ? "pretrained" : "checkpoint",
    dir: profile.init === "pretrained" ? "runs/pretrain" : dir,
    weights: readCheckpointMeta(dir).weights.sha256,
  };
}

/** A new model for `config` at the run's init: random weights, then the init's backbone. */
export function modelAtInit(profile: Profile, config: ModelConfig): Model {
  const model = initialModel(profile, config);
  if (profile.init !== "random") loadBackbone(initCheckpoint(profile), model);
  return model;
}

// ---- what the teacher and the student are chosen by ---------------------------------------

/** LR probe accuracy (C = 1) on dev-like: what every setting and checkpoint is chosen by. */
export async function devAccuracy(profile: Profile, model: Model): Promise<{ devAccuracy: number; devOneNN: number }> {
  const scores = probe(await embedOneShot(profile, model, DEV_SET), 1, profile.seed);
  return { devAccuracy: scores.logreg, devOneNN: scores.knn };
}

/** The main runs of the teacher and the student keep their checkpoint that is best on dev-like,
 * scored every checkpoint: their number of steps is chosen there. */
export const devCheckpoints = (profile: Profile): LoopConfig["select"] => ({
  every: profile.train.checkpointEvery,
  score: async (m) => (await devAccuracy(profile, m)).devAccuracy,
});
export const CHECKPOINT_RULE =
  "the checkpoint with the highest dev-like LR accuracy (C = 1), scored every checkpoint (the earliest on a tie)";

/** Which checkpoint a finished teacher or student kept, and the dev scores it was chosen by. */
export function keptCheckpoint(profile: Profile, which: string): CheckpointSelection & { rule: string } {
  const sel = readCheckpointMeta(ckptDir(profile, which)).extra.selection as CheckpointSelection | undefined;
  if (!sel)
    throw new Error(
      `${ckptDir(profile, which)}: no record of the checkpoint chosen on dev-like; train ${which} again (retail-repr train-${which})`,
    );
  return { ...sel, rule: CHECKPOINT_RULE };
}

/** A finished training step's weights checksum. */
export const weightsOf = (profile: Profile, step: string) => readCheckpointMeta(ckptDir(profile, step)).weights.sha256;

/** A finished training step's embedding model, read from its checkpoint. */
export const checkpointModel = (profile: Profile, step: string) => loadCheckpoint(ckptDir(profile, step), initialModel(profile)).model;
