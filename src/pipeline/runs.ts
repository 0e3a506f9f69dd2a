// Each step of the method as a run: where its artifact lives, what it is made from (its inputs),
// whether the artifact there was made from today's inputs, and the run itself. Runs assume the
// steps they read are finished: steps.ts orders them (its table) and makes sure of that.
import * as fs from "fs";
import * as os from "os";
import { tf } from "../engine/tf";
import * as path from "path";
import { PROFILES, Profile, trainSeed, withRun } from "../config/profiles";
import { datasetDir } from "../data/generate";
import { filesOf, oneShotOf, pairsOf } from "../data/sets";
import { loadBackbone, loadCheckpoint, readCheckpointMeta } from "../models/checkpoint";
import { datasetFingerprint, manifestPath, readManifest, resolveItem } from "../data/manifest";
import { Freshness, hashOf, Inputs, keptResult } from "../util/fingerprint";
import { pretrainTask, TaggedImages } from "../train/pretrain";
import { accuracyWithInterval, Interval } from "../probe/bootstrap";
import { createModel, disposeModel, embeddingDim, Model, ModelConfig } from "../models/model";
import { paths } from "../util/paths";
import { finetuneTask, FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import type { FinetuneRecipe } from "../config/profiles";
import { Outcomes, outcomesOf } from "../probe/paired";
import { checkpointFreshness, LoopConfig, LoopResult, trainLoop } from "../train/loop";
import type { OptimizerConfig } from "../train/optimizer";
import { PseudoSpec, PseudoStatus, pseudoStatus, readPseudolabels, writePseudolabels } from "../train/pseudolabel";
import { partsOfShard, Shard } from "../util/shard";
import { studentTask, termGradientNorms } from "../train/student";
import { embedOneShot, probe } from "../probe/probe";
import { teacherTask } from "../train/teacher";
import { embedFiles, InferenceEngine } from "../train/embed";
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

export function pretrainInputs(profile: Profile): Inputs {
  const p = withRun(profile, { repeat: 0 });
  const vocabulary = pretrainData(p).vocabulary.length;
  return { data: datasetFingerprint(datasetDir("pretrain-corpus", profile.name)), ...commonInputs(p, pretrainConfig(p, vocabulary)), train: profile.train.pretrain };
}

/** Weakly supervised pretraining on the hashtag corpus (shared by every init and repeat). */
export async function runPretrain(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  const p = withRun(profile, { repeat: 0 });
  const data = pretrainData(p);
  const model = initialModel(p, pretrainConfig(p, data.vocabulary.length));
  const result = await trainLoop(model, pretrainTask(data, p), loopConfig(p, "pretrain", p.train.pretrain.steps, p.train.pretrain.lr, pretrainInputs(p), opts));
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
  if (!fs.existsSync(path.join(dir, "checkpoint.json"))) throw new Error(`init: '${profile.init}' is neither 'pretrained', 'random' nor a checkpoint folder (no checkpoint.json in ${dir})`);
  return { kind: profile.init === "pretrained" ? "pretrained" : "checkpoint", dir: profile.init === "pretrained" ? "runs/pretrain" : dir, weights: readCheckpointMeta(dir).weights.sha256 };
}

/** A new model for `config` at the run's init: random weights, then the init's backbone. */
export function modelAtInit(profile: Profile, config: ModelConfig): Model {
  const model = initialModel(profile, config);
  if (profile.init !== "random") loadBackbone(initCheckpoint(profile), model);
  return model;
}

// ---- steps 1-3: teacher, pseudolabels, student ---------------------------------------------

export function teacherInputs(profile: Profile): Inputs {
  return { data: datasetFingerprint(datasetDir("teacher-pairs", profile.name)), init: initRecord(profile), ...commonInputs(profile, embeddingConfig(profile)), train: profile.train.teacher };
}

export async function runTeacher(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  const model = modelAtInit(profile, embeddingConfig(profile));
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const result = await trainLoop(model, teacherTask(pairs, profile), loopConfig(profile, "teacher", profile.train.teacher.steps, profile.train.teacher.lr, teacherInputs(profile), opts));
  return { model, result };
}

/** A finished training step's weights checksum. */
export const weightsOf = (profile: Profile, which: "teacher" | "student") => readCheckpointMeta(ckptDir(profile, which)).weights.sha256;

/** What a student run is made from: its data, teacher, start and settings, `steps` long. */
export function studentInputs(profile: Profile, steps = profile.train.student.steps): Inputs {
  const { sweep: _sweep, ...train } = profile.train.student;
  return {
    data: datasetFingerprint(datasetDir("teacher-pairs", profile.name)),
    unlabeled: datasetFingerprint(datasetDir("student-pseudo", profile.name)),
    teacher: weightsOf(profile, "teacher"),
    init: initRecord(profile),
    ...commonInputs(profile, embeddingConfig(profile)),
    train: { ...train, steps },
  };
}

/** What this profile's pseudolabels are made from: the finished teacher and the unlabeled set. */
export function pseudoSpec(profile: Profile): PseudoSpec {
  const ds = datasetDir("student-pseudo", profile.name);
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
export async function runPseudolabels(profile: Profile, opts: StepOptions & { shard?: Shard; engine?: InferenceEngine } = {}): Promise<{ dir: string; status: PseudoStatus; spec: PseudoSpec }> {
  const dir = runDir(profile, "pseudolabels");
  const spec = pseudoSpec(profile);
  let status = pseudoStatus(dir, spec);
  if (partsOfShard(status.parts, opts.shard).some((p) => status.problems.has(p))) {
    const teacher = loadCheckpoint(ckptDir(profile, "teacher"), initialModel(profile)).model;
    const { files } = filesOf(datasetDir("student-pseudo", profile.name));
    status = await writePseudolabels(teacher, files, dir, { spec, size: profile.imageSize, batch: profile.train.embedBatch, shard: opts.shard, quiet: opts.quiet, engine: opts.engine });
    disposeModel(teacher);
  }
  return { dir, status, spec };
}

/** A finished sweep run's kept result, or an error naming the run and the command that makes it. */
function sweepResult<R>(file: string, inputs: Inputs, name: string, command: string): R {
  const k = keptResult<R>(file, inputs);
  if (!("result" in k)) throw new Error(`${name}: ${k.why}; run the dev sweep first (${command})`);
  return k.result;
}

/** The candidate with the highest dev accuracy; the earlier-listed one on a tie. */
const bestOnDev = <T extends { devAccuracy: number }>(tried: T[]): T => tried.reduce((a, b) => (b.devAccuracy > a.devAccuracy ? b : a));

/** Settings are chosen once, on dev-like, with the profile's own seed (repeat 0), and kept for
 * every repeat: the sweeps' runs live in repeat 0's folders. */
export const selectionRun = (profile: Profile) => withRun(profile, { repeat: 0 });

export type StudentCandidate = Profile["train"]["student"]["sweep"]["candidates"][number];

/** The profile with the student's start and alpha set to a candidate's. */
export function studentProfile(profile: Profile, c: Pick<StudentCandidate, "start" | "alpha">): Profile {
  return { ...profile, train: { ...profile.train, student: { ...profile.train.student, start: c.start, alpha: c.alpha } } };
}

/** The noisy student from its start (the teacher's weights or the init's backbone), `steps`
 * long, checkpointed under `name`. */
async function studentRun(profile: Profile, name: string, steps: number, inputs: Inputs, opts: StepOptions, before?: (model: Model, task: ReturnType<typeof studentTask>) => Promise<void>): Promise<{ model: Model; result: LoopResult }> {
  const labels = readPseudolabels(runDir(profile, "pseudolabels"), pseudoSpec(profile));
  const model = profile.train.student.start === "teacher" ? loadCheckpoint(ckptDir(profile, "teacher"), initialModel(profile)).model : modelAtInit(profile, embeddingConfig(profile));
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const { files } = filesOf(datasetDir("student-pseudo", profile.name));
  const task = studentTask(pairs, files, labels, profile);
  await before?.(model, task);
  const result = await trainLoop(model, task, loopConfig(profile, name, steps, profile.train.student.lr, inputs, opts));
  return { model, result };
}

/** The student with the start and alpha the dev sweep chose. */
export async function runStudent(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  const p = studentProfile(profile, chosenStudent(profile).chosen);
  return studentRun(p, "student", p.train.student.steps, studentInputs(p), opts);
}

export interface StudentSweepResult {
  candidate: StudentCandidate;
  /** LR probe (C = 1) and 1-NN accuracy on dev-like after the short run. */
  devAccuracy: number;
  devOneNN: number;
  /** Each term's gradient norm with respect to the embeddings at the start, unweighted. */
  gradientNorms: { supcon: number; smoothl1: number };
}

export const studentSweepName = (c: StudentCandidate) => `student-sweep-${c.name}`;
export const studentSweepFile = (profile: Profile, c: StudentCandidate) => path.join(runDir(selectionRun(profile), studentSweepName(c)), "result.json");

export function studentSweepInputs(profile: Profile, c: StudentCandidate): Inputs {
  const p = studentProfile(selectionRun(profile), c);
  return { ...studentInputs(p, p.train.student.sweep.steps), dev: datasetFingerprint(datasetDir(DEV_SET, profile.name)) };
}

/** One short sweep run on repeat 0's teacher and pseudolabels, scored on dev-like. */
export async function runStudentSweep(profile: Profile, c: StudentCandidate, opts: StepOptions = {}): Promise<StudentSweepResult> {
  const p = studentProfile(selectionRun(profile), c);
  let gradientNorms = { supcon: 0, smoothl1: 0 };
  const before = async (model: Model, task: ReturnType<typeof studentTask>) => {
    const b = await task.batch(0);
    gradientNorms = termGradientNorms(model, task, b);
    task.dispose(b);
  };
  const { model } = await studentRun(p, studentSweepName(c), p.train.student.sweep.steps, studentSweepInputs(profile, c), opts, before);
  const e = await embedOneShot(p, model, DEV_SET);
  disposeModel(model);
  const scores = probe(e, 1, p.seed);
  return { candidate: c, devAccuracy: scores.logreg, devOneNN: scores.knn, gradientNorms };
}

export interface StudentSelection {
  tried: StudentSweepResult[];
  chosen: StudentCandidate;
  rule: string;
  steps: number;
}

/** The start and alpha the final student uses: the sweep's best dev-like LR accuracy (the
 * earlier-listed candidate on a tie). Every sweep run must be finished. */
export function chosenStudent(profile: Profile): StudentSelection {
  const tried = profile.train.student.sweep.candidates.map((c) => sweepResult<StudentSweepResult>(studentSweepFile(profile, c), studentSweepInputs(profile, c), studentSweepName(c), "retail-repr train-student"));
  return { tried, chosen: bestOnDev(tried).candidate, rule: `highest dev-like LR accuracy (C = 1) after ${profile.train.student.sweep.steps} steps (the earlier-listed candidate on a tie)`, steps: profile.train.student.sweep.steps };
}

// ---- the fine-tune baselines ---------------------------------------------------------------

/** The one-shot test sets the paper's tables report, and the one where settings are chosen. */
export const ONE_SHOT_SETS = ["capg-like", "grozi-like"] as const;
export type OneShotSet = (typeof ONE_SHOT_SETS)[number];
export const DEV_SET = "dev-like" as const;
export type EvalSet = OneShotSet | typeof DEV_SET;
export const EVAL_SETS: EvalSet[] = [DEV_SET, ...ONE_SHOT_SETS];

export interface FinetuneResult {
  accuracy: number;
  accuracyCI: Interval;
  /** Per test image, 1 if right (probe/paired.ts): what paired comparisons are made of. */
  outcomes: Outcomes;
  /** Accuracy on the (clean, un-augmented) training images after training: has it converged? */
  trainAccuracy: number;
  imagesSeen: number;
  recipe: FinetuneRecipe;
}

/** A dev-set sweep run is named by its recipe; a test-set run uses the recipe dev chose. */
export const finetuneName = (set: EvalSet, variant: FinetuneVariant, recipe?: FinetuneRecipe) => `finetune-${set}-${variant}${recipe ? `-${recipe.name}` : ""}`;
export const finetuneResultFile = (profile: Profile, set: EvalSet, variant: FinetuneVariant, recipe?: FinetuneRecipe) => path.join(runDir(profile, finetuneName(set, variant, recipe)), "result.json");

function finetuneConfig(profile: Profile, set: EvalSet, variant: FinetuneVariant): ModelConfig {
  return { arch: profile.arch, pooling: FINETUNE_VARIANTS[variant].pooling, projDim: 0, classes: oneShotOf(datasetDir(set, profile.name)).classes };
}

export function finetuneInputs(profile: Profile, set: EvalSet, variant: FinetuneVariant, recipe: FinetuneRecipe): Inputs {
  const config = finetuneConfig(profile, set, variant);
  const { recipes: _all, ...train } = profile.train.finetune;
  return { data: datasetFingerprint(datasetDir(set, profile.name)), init: initRecord(profile), ...commonInputs(profile, config), variant, train, recipe };
}

/** The dev-set sweep: the GAP baseline fine-tuned on dev-like with each candidate recipe. */
export const finetuneSweep = (profile: Profile) => profile.train.finetune.recipes.map((recipe) => ({ set: DEV_SET, variant: "gap" as const, recipe }));

export interface RecipeSelection {
  tried: { recipe: FinetuneRecipe; devAccuracy: number; trainAccuracy: number }[];
  chosen: FinetuneRecipe;
  rule: string;
}

/** The recipe the test-set fine-tunes use: the sweep's best dev accuracy (the earlier-listed
 * recipe on a tie). Every sweep run must be finished. */
export function chosenRecipe(profile: Profile): RecipeSelection {
  const p0 = selectionRun(profile);
  const tried = finetuneSweep(profile).map(({ set, variant, recipe }) => {
    const r = sweepResult<FinetuneResult>(finetuneResultFile(p0, set, variant, recipe), finetuneInputs(p0, set, variant, recipe), finetuneName(set, variant, recipe), "retail-repr finetune --dataset dev-like");
    return { recipe, devAccuracy: r.accuracy, trainAccuracy: r.trainAccuracy };
  });
  return { tried, chosen: bestOnDev(tried).recipe, rule: "highest dev-like accuracy of the GAP baseline (the earlier-listed recipe on a tie)" };
}

/** Fine-tune a classifier baseline from the run's init with `recipe`: its test accuracy with a
 * bootstrap interval, per-image outcomes, and its training accuracy. */
export async function runFinetune(profile: Profile, set: EvalSet, variant: FinetuneVariant, recipe: FinetuneRecipe, opts: StepOptions = {}): Promise<FinetuneResult & { result: LoopResult }> {
  const data = oneShotOf(datasetDir(set, profile.name));
  const name = finetuneName(set, variant, set === DEV_SET ? recipe : undefined);
  const model = modelAtInit(profile, finetuneConfig(profile, set, variant));
  const f = profile.train.finetune;
  const cfg = loopConfig(profile, name, f.steps, recipe.lr, finetuneInputs(profile, set, variant, recipe), opts);
  const result = await trainLoop(model, finetuneTask(data, variant, profile), { ...cfg, optimizer: { ...cfg.optimizer, backboneScale: recipe.backboneScale, headPrefixes: FINETUNE_HEADS } });
  const o = { size: profile.imageSize, batch: profile.train.embedBatch, logits: true, quiet: true };
  const pred = argmaxRows(await embedFiles(model, data.test.files, o), data.classes);
  const test = accuracyWithInterval(pred, data.test.labels, { seed: profile.seed });
  const trainAccuracy = accuracy(argmaxRows(await embedFiles(model, data.train.files, o), data.classes), data.train.labels);
  disposeModel(model);
  return { accuracy: test.accuracy, accuracyCI: test.interval, outcomes: outcomesOf(pred, data.test.labels), trainAccuracy, imagesSeen: f.steps * f.batch, recipe, result };
}

/** The layers a fine-tune adds to the pretrained backbone (at the recipe's full rate). */
const FINETUNE_HEADS = ["fc.", "lca."];
