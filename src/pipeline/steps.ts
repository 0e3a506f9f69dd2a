// The method step by step, each step cached in runs/<profile>/: a finished step is loaded,
// an unfinished one resumes from its last checkpoint, and one whose inputs changed (data, init,
// profile values, model) is redone. Every model starts from the profile's init: the pretrained
// backbone (step 0), random weights, or a checkpoint. The CLI, `reproduce` and the notebooks
// all call these.
import * as fs from "fs";
import * as os from "os";
import { tf } from "../engine/tf";
import * as path from "path";
import { PROFILES, Profile, trainSeed, withRun } from "../config/profiles";
import { datasetDir, generateAll } from "../data/generate";
import { filesOf, oneShotOf, pairsOf } from "../data/sets";
import { loadBackbone, loadCheckpoint, readCheckpointMeta, recoverCheckpoint } from "../models/checkpoint";
import { datasetFingerprint, manifestPath, readManifest, resolveItem } from "../data/manifest";
import { changedInputs, hashOf, Inputs } from "../util/fingerprint";
import { pretrainTask, TaggedImages } from "../train/pretrain";
import { accuracyWithInterval, Interval } from "../probe/bootstrap";
import { writeJsonAtomic } from "../util/paths";
import { createModel, disposeModel, embeddingDim, Model, ModelConfig } from "../models/model";
import { paths } from "../util/paths";
import { finetuneTask, FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import { LoopConfig, LoopResult, trainLoop } from "../train/loop";
import type { OptimizerConfig } from "../train/optimizer";
import { describeIncomplete, PseudoSpec, PseudoStatus, pseudoStatus, readPseudolabels, writePseudolabels } from "../train/pseudolabel";
import { partsOfShard, Shard } from "../util/shard";
import { studentTask } from "../train/student";
import { teacherTask } from "../train/teacher";
import { embedFiles } from "../train/embed";
import { accuracy } from "../probe/neighbours";
import { argmaxRows } from "../probe/logreg";

/** Runs of the profile's own init and repeat live in runs/<profile>/; others beside them in
 * runs/<profile>/init-<...>/ and .../repeat-<k>/, so no variant overwrites another. */
export function runTag(profile: Profile): string {
  const parts: string[] = [];
  if (profile.init !== PROFILES[profile.name].init) parts.push(profile.init === "random" || profile.init === "pretrained" ? `init-${profile.init}` : `init-${path.basename(path.resolve(profile.init))}-${hashOf(path.resolve(profile.init)).slice(0, 6)}`);
  if (profile.repeat) parts.push(`repeat-${profile.repeat}`);
  return parts.join("/");
}

export const runDir = (profile: Profile, step: string) => path.join(paths.runs, profile.name, step === "pretrain" ? "" : runTag(profile), step);
export const ckptDir = (profile: Profile, step: string) => path.join(runDir(profile, step), "checkpoint");

export function embeddingConfig(profile: Profile): ModelConfig {
  return { arch: profile.arch, pooling: "lca", projDim: 0, classes: 0 };
}

/** A network with random weights (every layer from the run's seed): the "random init" floor. */
export function initialModel(profile: Profile, config: ModelConfig = embeddingConfig(profile)): Model {
  return createModel(config, trainSeed(profile));
}

/** Replicas for data-parallel training: the profile's, RETAIL_REPR_WORKERS to override, and
 * never more than the cores there are or on a GPU backend (one device already runs in parallel). */
export function workersFor(profile: Profile): number {
  const env = process.env.RETAIL_REPR_WORKERS;
  const wanted = env ? Number(env) : profile.train.workers;
  if (!Number.isInteger(wanted) || wanted < 1) throw new Error(`RETAIL_REPR_WORKERS must be 1 or 2, got '${env}'`);
  const backend = tf.getBackend();
  if (backend !== "wasm" && backend !== "cpu") return 1;
  return Math.min(wanted, 2, os.cpus().length);
}

/** The optimiser every training step uses, at base learning rate `lr`. */
export function sgdConfig(lr: number): OptimizerConfig {
  return { kind: "sgd", lr, momentum: 0.9, weightDecay: 1e-4 };
}

function loopConfig(profile: Profile, name: string, steps: number, lr: number, inputs: Inputs, opts: StepOptions = {}): LoopConfig {
  return {
    name,
    steps,
    optimizer: sgdConfig(lr),
    warmup: Math.max(1, Math.round(steps * 0.05)),
    checkpointEvery: profile.train.checkpointEvery,
    runDir: runDir(profile, name),
    quiet: opts.quiet,
    onStep: opts.onStep,
    workers: workersFor(profile),
    inputs,
    imageSize: profile.imageSize,
    chunk: profile.train.chunk,
  };
}

/** Is this step's checkpoint finished and made from these inputs? */
export function stepDone(profile: Profile, name: string, steps: number, inputs: Inputs): boolean {
  const dir = ckptDir(profile, name);
  if (!recoverCheckpoint(dir)) return false;
  const meta = readCheckpointMeta(dir);
  return meta.step >= steps && changedInputs(meta.extra.inputs as Inputs | undefined, inputs).length === 0;
}

export interface StepOptions {
  quiet?: boolean;
  /** After each training step (see LoopConfig.onStep): live charts and checks in notebooks. */
  onStep?: LoopConfig["onStep"];
  /** Refuse, instead of training, when a needed earlier step is not finished (shard workers). */
  noTraining?: boolean;
}

/** The options a step passes to the earlier steps it may have to train first: `onStep` is for the
 * step that was asked for, not for a pretraining or a teacher trained on the way to it. */
function forDependencies(opts: StepOptions): StepOptions {
  const { onStep: _onStep, ...rest } = opts;
  return rest;
}

function mustTrain(profile: Profile, name: string, command: string, opts: StepOptions): void {
  if (opts.noTraining) throw new Error(`${name} is not trained for profile ${profile.name} (${ckptDir(profile, name)}); run \`retail-repr ${command} --profile ${profile.name}\` first: a shard worker only labels, it trains nothing`);
}

export async function ensureData(profile: Profile): Promise<void> {
  await generateAll(profile);
}

/** The same profile values and model a step of any init or repeat records as its inputs. */
function commonInputs(profile: Profile, config: ModelConfig): Inputs {
  // A chunk size set by hand changes batch-norm statistics (per chunk), so it is an input.
  return { model: config, imageSize: profile.imageSize, seed: trainSeed(profile), ...(profile.train.chunk ? { chunk: profile.train.chunk } : {}) };
}

// ---- step 0: the pretrained start ----------------------------------------------------------

export function pretrainConfig(profile: Profile, vocabulary: number): ModelConfig {
  return { arch: profile.arch, pooling: "gap", projDim: 0, classes: vocabulary };
}

function pretrainData(profile: Profile): TaggedImages {
  const dir = datasetDir("pretrain-corpus", profile.name);
  const m = readManifest(dir);
  const vocabulary = m.spec.vocabulary as string[] | undefined;
  if (!Array.isArray(vocabulary)) throw new Error(`${manifestPath(dir)}: no 'vocabulary' in its spec; regenerate it with \`retail-repr generate --only pretrain-corpus\``);
  const items = m.items.filter((it) => it.tags?.length);
  if (items.length === 0) throw new Error(`${manifestPath(dir)}: no item has 'tags'; the pretraining corpus needs hashtags`);
  return { files: items.map((it) => resolveItem(dir, it)), tags: items.map((it) => it.tags!), vocabulary };
}

function pretrainInputs(profile: Profile, vocabulary: number): Inputs {
  const p = withRun(profile, { repeat: 0 });
  return { data: datasetFingerprint(datasetDir("pretrain-corpus", profile.name)), ...commonInputs(p, pretrainConfig(p, vocabulary)), train: profile.train.pretrain };
}

/** Weakly supervised pretraining on the hashtag corpus (shared by every init and repeat). */
export async function pretrain(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  await generateAll(profile, ["pretrain-corpus"]);
  const p = withRun(profile, { repeat: 0 });
  const data = pretrainData(p);
  const model = initialModel(p, pretrainConfig(p, data.vocabulary.length));
  const result = await trainLoop(model, pretrainTask(data, p), loopConfig(p, "pretrain", p.train.pretrain.steps, p.train.pretrain.lr, pretrainInputs(p, data.vocabulary.length), opts));
  return { model, result };
}

/** The finished pretraining checkpoint's folder (pretraining first when needed). */
export async function pretrainedCheckpoint(profile: Profile, opts: StepOptions = {}): Promise<string> {
  await generateAll(profile, ["pretrain-corpus"]);
  const vocabulary = pretrainData(profile).vocabulary.length;
  if (!stepDone(profile, "pretrain", profile.train.pretrain.steps, pretrainInputs(profile, vocabulary))) {
    mustTrain(profile, "pretrain", "pretrain", opts);
    disposeModel((await pretrain(profile, opts)).model);
  }
  return ckptDir(profile, "pretrain");
}

/** The checkpoint folder a non-random init starts from (pretraining first when needed). */
async function initCheckpoint(profile: Profile, opts: StepOptions): Promise<string> {
  return profile.init === "pretrained" ? pretrainedCheckpoint(profile, opts) : path.resolve(profile.init);
}

/** Where a run starts, as an input: "random", or the starting weights' checksum and origin. */
export async function initInputs(profile: Profile, opts: StepOptions = {}): Promise<Inputs> {
  if (profile.init === "random") return { kind: "random" };
  const dir = await initCheckpoint(profile, opts);
  if (!fs.existsSync(path.join(dir, "checkpoint.json"))) throw new Error(`init: '${profile.init}' is neither 'pretrained', 'random' nor a checkpoint folder (no checkpoint.json in ${dir})`);
  return { kind: profile.init === "pretrained" ? "pretrained" : "checkpoint", dir: profile.init === "pretrained" ? "runs/pretrain" : dir, weights: readCheckpointMeta(dir).weights.sha256 };
}

/** A new model for `config` at the run's init: random weights, then the init's backbone. */
export async function startingModel(profile: Profile, config: ModelConfig, opts: StepOptions = {}): Promise<Model> {
  const model = initialModel(profile, config);
  if (profile.init !== "random") loadBackbone(await initCheckpoint(profile, opts), model);
  return model;
}

/** The pretrained backbone as an embedding model (LCA pooling), for the probe row. */
export async function pretrainedModel(profile: Profile, opts: StepOptions = {}): Promise<Model> {
  return startingModel(withRun(profile, { init: "pretrained", repeat: 0 }), embeddingConfig(profile), opts);
}

// ---- steps 1-3: teacher, pseudolabels, student ---------------------------------------------

async function teacherInputs(profile: Profile, opts: StepOptions): Promise<Inputs> {
  return { data: datasetFingerprint(datasetDir("teacher-pairs", profile.name)), init: await initInputs(profile, opts), ...commonInputs(profile, embeddingConfig(profile)), train: profile.train.teacher };
}

export async function trainTeacher(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  await ensureData(profile);
  const deps = forDependencies(opts);
  const model = await startingModel(profile, embeddingConfig(profile), deps);
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const result = await trainLoop(model, teacherTask(pairs, profile), loopConfig(profile, "teacher", profile.train.teacher.steps, profile.train.teacher.lr, await teacherInputs(profile, deps), opts));
  return { model, result };
}

async function studentInputs(profile: Profile, opts: StepOptions): Promise<Inputs> {
  return {
    data: datasetFingerprint(datasetDir("teacher-pairs", profile.name)),
    unlabeled: datasetFingerprint(datasetDir("student-pseudo", profile.name)),
    teacher: await teacherId(profile, opts),
    init: await initInputs(profile, opts),
    ...commonInputs(profile, embeddingConfig(profile)),
    train: profile.train.student,
  };
}

/** A finished step's model from its checkpoint (training it first when needed). */
export async function trainedModel(profile: Profile, which: "teacher" | "student", opts: StepOptions = {}): Promise<Model> {
  await ensureData(profile);
  await trainedWeights(profile, which, opts);
  return loadCheckpoint(ckptDir(profile, which), initialModel(profile)).model;
}

/** A finished step's weights checksum (training it first when needed), without loading it. */
export async function trainedWeights(profile: Profile, which: "teacher" | "student", opts: StepOptions = {}): Promise<string> {
  const inputs = which === "teacher" ? await teacherInputs(profile, opts) : await studentInputs(profile, opts);
  if (!stepDone(profile, which, profile.train[which].steps, inputs)) {
    mustTrain(profile, which, `train-${which}`, opts);
    disposeModel((which === "teacher" ? await trainTeacher(profile, opts) : await trainStudent(profile, opts)).model);
  }
  return readCheckpointMeta(ckptDir(profile, which)).weights.sha256;
}

export const teacherId = (profile: Profile, opts: StepOptions = {}) => trainedWeights(profile, "teacher", opts);

/** What this profile's pseudolabels must be made from (the teacher trained first when needed). */
export async function pseudoSpec(profile: Profile, opts: StepOptions = {}): Promise<PseudoSpec> {
  const ds = datasetDir("student-pseudo", profile.name);
  return {
    teacher: await teacherId(profile, opts),
    list: datasetFingerprint(ds),
    count: filesOf(ds).files.length,
    dim: embeddingDim(embeddingConfig(profile)),
    partSize: profile.train.pseudoPartSize,
  };
}

/** Step 2, or this process's shard of it: the teacher's embeddings of the unlabeled set, in parts.
 * A shard worker trains nothing: the data and the teacher must be there (shared storage). */
export async function pseudolabel(profile: Profile, opts: StepOptions & { shard?: Shard } = {}): Promise<{ dir: string; status: PseudoStatus; spec: PseudoSpec }> {
  const dir = runDir(profile, "pseudolabels");
  const o = opts.shard ? { ...opts, noTraining: true } : opts;
  if (!opts.shard) await ensureData(profile);
  const spec = await pseudoSpec(profile, o);
  let status = pseudoStatus(dir, spec);
  if (partsOfShard(status.parts, opts.shard).some((p) => status.problems.has(p))) {
    const teacher = await trainedModel(profile, "teacher", o);
    const { files } = filesOf(datasetDir("student-pseudo", profile.name));
    status = await writePseudolabels(teacher, files, dir, { spec, size: profile.imageSize, batch: profile.train.embedBatch, shard: opts.shard, quiet: opts.quiet });
    disposeModel(teacher);
  }
  return { dir, status, spec };
}

/** The student's pseudolabels: made here when none exist yet; parts split across shards are
 * never finished here behind the user's back: an incomplete or mixed set is refused, named. */
export async function studentPseudolabels(profile: Profile, opts: StepOptions = {}): Promise<{ dim: number; data: Float32Array }> {
  const dir = runDir(profile, "pseudolabels");
  const spec = await pseudoSpec(profile, opts);
  const st = pseudoStatus(dir, spec);
  if (st.problems.size && st.shards) throw new Error(describeIncomplete(dir, spec, st));
  if (st.problems.size) await pseudolabel(profile, opts);
  return readPseudolabels(dir, spec);
}

export async function trainStudent(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  await ensureData(profile); // the pseudolabels' spec reads the datasets before anything trains
  const deps = forDependencies(opts);
  const labels = await studentPseudolabels(profile, deps);
  const model = await startingModel(profile, embeddingConfig(profile), deps);
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const { files } = filesOf(datasetDir("student-pseudo", profile.name));
  const task = studentTask(pairs, files, labels, profile);
  const result = await trainLoop(model, task, loopConfig(profile, "student", profile.train.student.steps, profile.train.student.lr, await studentInputs(profile, deps), opts));
  return { model, result };
}

export const ONE_SHOT_SETS = ["capg-like", "grozi-like"] as const;
export type OneShotSet = (typeof ONE_SHOT_SETS)[number];

export interface FinetuneResult {
  accuracy: number;
  accuracyCI: Interval;
  /** Accuracy on the (clean, un-augmented) training images after training: has it plateaued? */
  trainAccuracy: number;
}

/** Fine-tune a classifier baseline from the run's init; its test accuracy with a bootstrap
 * interval and its training accuracy, cached in the run's folder by its inputs. */
export async function finetune(profile: Profile, set: OneShotSet, variant: FinetuneVariant, opts: StepOptions = {}): Promise<FinetuneResult & { result?: LoopResult }> {
  await ensureData(profile);
  const dataDir = datasetDir(set, profile.name);
  const data = oneShotOf(dataDir);
  const config: ModelConfig = { arch: profile.arch, pooling: FINETUNE_VARIANTS[variant].pooling, projDim: 0, classes: data.classes };
  const name = `finetune-${set}-${variant}`;
  const deps = forDependencies(opts);
  const inputs = { data: datasetFingerprint(dataDir), init: await initInputs(profile, deps), ...commonInputs(profile, config), variant, train: profile.train.finetune };
  const resultFile = path.join(runDir(profile, name), "result.json");
  if (fs.existsSync(resultFile)) {
    const cached = JSON.parse(fs.readFileSync(resultFile, "utf8"));
    if (changedInputs(cached.inputs, inputs).length === 0) return cached.result as FinetuneResult;
  }
  const model = await startingModel(profile, config, deps);
  const result = await trainLoop(model, finetuneTask(data, variant, profile), loopConfig(profile, name, profile.train.finetune.steps, profile.train.finetune.lr, inputs, opts));
  const o = { size: profile.imageSize, batch: profile.train.embedBatch, logits: true, quiet: true };
  const test = accuracyWithInterval(argmaxRows(await embedFiles(model, data.test.files, o), data.classes), data.test.labels, { seed: profile.seed });
  const trainAccuracy = accuracy(argmaxRows(await embedFiles(model, data.train.files, o), data.classes), data.train.labels);
  disposeModel(model);
  const out: FinetuneResult = { accuracy: test.accuracy, accuracyCI: test.interval, trainAccuracy };
  writeJsonAtomic(resultFile, { inputs, result: out });
  return { ...out, result };
}
