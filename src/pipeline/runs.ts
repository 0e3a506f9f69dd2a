// Each step of the method as a run: where its artifact lives, what it is made from (its inputs),
// whether the artifact there was made from today's inputs, and the run itself. Runs assume the
// steps they read are finished: steps.ts orders them (its table) and makes sure of that.
import * as fs from "fs";
import * as os from "os";
import { tf } from "../engine/tf";
import { projectKernelsOn } from "../engine/native-kernels";
import * as path from "path";
import { PROFILES, Profile, trainSeed, withRun } from "../config/profiles";
import { datasetDir } from "../data/generate";
import { filesOf, pairsOf } from "../data/sets";
import { loadBackbone, loadCheckpoint, readCheckpointMeta } from "../models/checkpoint";
import { datasetFingerprint, manifestPath, readManifest, resolveItem } from "../data/manifest";
import { Freshness, hashOf, Inputs, keptResult } from "../util/fingerprint";
import { pretrainTask, TaggedImages } from "../train/pretrain";
import { createModel, disposeModel, embeddingDim, Model, ModelConfig } from "../models/model";
import { paths } from "../util/paths";
import { CheckpointSelection, checkpointFreshness, LoopConfig, LoopResult, trainLoop } from "../train/loop";
import type { OptimizerConfig } from "../train/optimizer";
import { PseudoSpec, PseudoStatus, pseudoStatus, readPseudolabels, writePseudolabels } from "../train/pseudolabel";
import { partsOfShard, Shard } from "../util/shard";
import { studentTask, termGradientNorms } from "../train/student";
import { embedOneShot, probe } from "../probe/probe";
import { teacherTask } from "../train/teacher";
import type { InferenceEngine } from "../train/embed";
import type { StudentCandidate, StudentSelection, StudentSweepResult, TeacherSelection, TeacherSweepResult } from "./selections";

export type { StudentCandidate, StudentSelection, StudentSweepResult, TeacherSelection, TeacherSweepResult } from "./selections";

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
export function commonInputs(profile: Profile, config: ModelConfig): Inputs {
  // A chunk size set by hand, or replicas, change batch-norm statistics (per chunk, per replica's
  // half of the batch), so they are inputs.
  const replicas = profile.train.chunk ? 1 : workersFor(profile);
  return {
    model: config,
    imageSize: profile.imageSize,
    seed: trainSeed(profile),
    ...(profile.train.chunk ? { chunk: profile.train.chunk } : {}),
    ...(replicas > 1 ? { replicas } : {}),
  };
}

/** The one-shot test sets the paper's tables report, and the one where settings are chosen. */
export const ONE_SHOT_SETS = ["capg-like", "grozi-like"] as const;
export type OneShotSet = (typeof ONE_SHOT_SETS)[number];
export const DEV_SET = "dev-like" as const;
export type EvalSet = OneShotSet | typeof DEV_SET;
export const EVAL_SETS: EvalSet[] = [DEV_SET, ...ONE_SHOT_SETS];

// ---- step 0: the pretrained start ----------------------------------------------------------

export function pretrainConfig(profile: Profile, vocabulary: number): ModelConfig {
  return { arch: profile.arch, pooling: "gap", projDim: 0, classes: vocabulary };
}

function pretrainData(profile: Profile): TaggedImages {
  const dir = datasetDir("pretrain-corpus", profile.name);
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
    data: datasetFingerprint(datasetDir("pretrain-corpus", profile.name)),
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

// ---- steps 1-3: teacher, pseudolabels, student ---------------------------------------------

/** LR probe accuracy (C = 1) on dev-like: what every setting and checkpoint is chosen by. */
async function devAccuracy(profile: Profile, model: Model): Promise<{ devAccuracy: number; devOneNN: number }> {
  const scores = probe(await embedOneShot(profile, model, DEV_SET), 1, profile.seed);
  return { devAccuracy: scores.logreg, devOneNN: scores.knn };
}

/** The main runs of the teacher and the student keep their checkpoint that is best on dev-like,
 * scored every checkpoint: their number of steps is chosen there. */
const devCheckpoints = (profile: Profile): LoopConfig["select"] => ({
  every: profile.train.checkpointEvery,
  score: async (m) => (await devAccuracy(profile, m)).devAccuracy,
});
export const CHECKPOINT_RULE =
  "the checkpoint with the highest dev-like LR accuracy (C = 1), scored every checkpoint (the earliest on a tie)";

/** The profile with the teacher's learning rate set. */
export function teacherProfile(profile: Profile, lr: number): Profile {
  return { ...profile, train: { ...profile.train, teacher: { ...profile.train.teacher, lr } } };
}

/** What a teacher run of `steps` is made from: its data, start and settings. */
function teacherRunInputs(profile: Profile, steps: number): Inputs {
  const { sweep: _sweep, ...train } = profile.train.teacher;
  return {
    data: datasetFingerprint(datasetDir("teacher-pairs", profile.name)),
    init: initRecord(profile),
    ...commonInputs(profile, embeddingConfig(profile)),
    train: { ...train, steps },
  };
}

/** The teacher's inputs: the learning rate dev-like chose (every sweep run finished), and the
 * checkpoint rule. */
export function teacherInputs(profile: Profile): Inputs {
  const p = teacherProfile(profile, chosenTeacher(profile).chosen.lr);
  return {
    ...teacherRunInputs(p, p.train.teacher.steps),
    keep: { rule: CHECKPOINT_RULE, every: profile.train.checkpointEvery },
    dev: datasetFingerprint(datasetDir(DEV_SET, profile.name)),
  };
}

async function teacherRun(
  profile: Profile,
  name: string,
  steps: number,
  inputs: Inputs,
  opts: StepOptions,
  select?: LoopConfig["select"],
): Promise<{ model: Model; result: LoopResult }> {
  const model = modelAtInit(profile, embeddingConfig(profile));
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const result = await trainLoop(
    model,
    teacherTask(pairs, profile),
    loopConfig(profile, name, steps, profile.train.teacher.lr, inputs, opts, select),
  );
  return { model, result };
}

/** The teacher at the learning rate dev-like chose, its checkpoint chosen there too. */
export async function runTeacher(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  const p = teacherProfile(profile, chosenTeacher(profile).chosen.lr);
  return teacherRun(p, "teacher", p.train.teacher.steps, teacherInputs(profile), opts, devCheckpoints(p));
}

export const teacherSweepName = (scale: number) => `teacher-sweep-lr${scale}x`;
export const teacherSweepFile = (profile: Profile, scale: number) =>
  path.join(runDir(selectionRun(profile), teacherSweepName(scale)), "result.json");

export function teacherSweepInputs(profile: Profile, scale: number): Inputs {
  const p = teacherProfile(selectionRun(profile), profile.train.teacher.lr * scale);
  return { ...teacherRunInputs(p, p.train.teacher.sweep.steps), dev: datasetFingerprint(datasetDir(DEV_SET, profile.name)) };
}

/** One short teacher run at the base rate times `scale` (repeat 0), scored on dev-like. */
export async function runTeacherSweep(profile: Profile, scale: number, opts: StepOptions = {}): Promise<TeacherSweepResult> {
  const p = teacherProfile(selectionRun(profile), profile.train.teacher.lr * scale);
  const { model } = await teacherRun(p, teacherSweepName(scale), p.train.teacher.sweep.steps, teacherSweepInputs(profile, scale), opts);
  const dev = await devAccuracy(p, model);
  disposeModel(model);
  return { lr: p.train.teacher.lr, ...dev };
}

/** The teacher's learning rate: the sweep's best dev-like LR accuracy (the earlier-listed scale on
 * a tie). Every sweep run must be finished. */
export function chosenTeacher(profile: Profile): TeacherSelection {
  const s = profile.train.teacher.sweep;
  const tried = s.lrScales.map((scale) =>
    sweepResult<TeacherSweepResult>(
      teacherSweepFile(profile, scale),
      teacherSweepInputs(profile, scale),
      teacherSweepName(scale),
      "retail-repr train-teacher",
    ),
  );
  return {
    tried,
    chosen: { lr: bestOnDev(tried).lr },
    rule: `highest dev-like LR accuracy (C = 1) after ${s.steps} steps (the earlier-listed rate on a tie)`,
    steps: s.steps,
  };
}

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
export async function runPseudolabels(
  profile: Profile,
  opts: StepOptions & { shard?: Shard; engine?: InferenceEngine } = {},
): Promise<{ dir: string; status: PseudoStatus; spec: PseudoSpec }> {
  const dir = runDir(profile, "pseudolabels");
  const spec = pseudoSpec(profile);
  let status = pseudoStatus(dir, spec);
  if (partsOfShard(status.parts, opts.shard).some((p) => status.problems.has(p))) {
    const teacher = checkpointModel(profile, "teacher");
    const { files } = filesOf(datasetDir("student-pseudo", profile.name));
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

/** A finished sweep run's kept result, or an error naming the run and the command that makes it. */
export function sweepResult<R>(file: string, inputs: Inputs, name: string, command: string): R {
  const k = keptResult<R>(file, inputs);
  if (!("result" in k)) throw new Error(`${name}: ${k.why}; run the dev sweep first (${command})`);
  return k.result;
}

/** The candidate with the highest dev accuracy; the earlier-listed one on a tie. */
export const bestOnDev = <T extends { devAccuracy: number }>(tried: T[]): T =>
  tried.reduce((a, b) => (b.devAccuracy > a.devAccuracy ? b : a));

/** Settings are chosen once, on dev-like, with the profile's own seed (repeat 0), and kept for
 * every repeat: the sweeps' runs live in repeat 0's folders. */
export const selectionRun = (profile: Profile) => withRun(profile, { repeat: 0 });

/** The profile with the student's start, alpha (and learning rate) set to a candidate's. */
export function studentProfile(profile: Profile, c: Pick<StudentCandidate, "start" | "alpha" | "lr">): Profile {
  return {
    ...profile,
    train: {
      ...profile.train,
      student: { ...profile.train.student, start: c.start, alpha: c.alpha, lr: c.lr ?? profile.train.student.lr },
    },
  };
}

/** The noisy student from its start (the teacher's weights or the init's backbone), `steps`
 * long, checkpointed under `name`. */
async function studentRun(
  profile: Profile,
  name: string,
  steps: number,
  inputs: Inputs,
  opts: StepOptions,
  before?: (model: Model, task: ReturnType<typeof studentTask>) => Promise<void>,
  select?: LoopConfig["select"],
): Promise<{ model: Model; result: LoopResult }> {
  const labels = readPseudolabels(runDir(profile, "pseudolabels"), pseudoSpec(profile));
  const model =
    profile.train.student.start === "teacher" ? checkpointModel(profile, "teacher") : modelAtInit(profile, embeddingConfig(profile));
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const { files } = filesOf(datasetDir("student-pseudo", profile.name));
  const task = studentTask(pairs, files, labels, profile);
  await before?.(model, task);
  const result = await trainLoop(model, task, loopConfig(profile, name, steps, profile.train.student.lr, inputs, opts, select));
  return { model, result };
}

/** The student's inputs: the start, alpha and learning rate dev-like chose (every sweep run
 * finished), and the checkpoint rule. */
export function studentMainInputs(profile: Profile): Inputs {
  return {
    ...studentInputs(studentProfile(profile, chosenStudent(profile).chosen)),
    keep: { rule: CHECKPOINT_RULE, every: profile.train.checkpointEvery },
    dev: datasetFingerprint(datasetDir(DEV_SET, profile.name)),
  };
}

/** The student with the start, alpha and learning rate the dev sweep chose, its checkpoint
 * chosen on dev-like too. */
export async function runStudent(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  const p = studentProfile(profile, chosenStudent(profile).chosen);
  return studentRun(p, "student", p.train.student.steps, studentMainInputs(profile), opts, undefined, devCheckpoints(p));
}

export const studentSweepName = (c: Pick<StudentCandidate, "name">) => `student-sweep-${c.name}`;
export const studentSweepFile = (profile: Profile, c: StudentCandidate) =>
  path.join(runDir(selectionRun(profile), studentSweepName(c)), "result.json");

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
  const dev = await devAccuracy(p, model);
  disposeModel(model);
  return { candidate: c, ...dev, gradientNorms };
}

/** The second stage's candidate name at `scale` (its step: student-sweep-lr<scale>x). */
export const studentLrName = (scale: number) => `lr${scale}x`;

/** The second stage's candidate at `scale`: the first stage's best start and alpha. */
export function studentLrCandidate(profile: Profile, scale: number): StudentCandidate {
  const best = bestOnDev(studentFirstStage(profile)).candidate;
  return { name: studentLrName(scale), start: best.start, alpha: best.alpha, lr: profile.train.student.lr * scale };
}

function studentFirstStage(profile: Profile): StudentSweepResult[] {
  return profile.train.student.sweep.candidates.map((c) =>
    sweepResult<StudentSweepResult>(
      studentSweepFile(profile, c),
      studentSweepInputs(profile, c),
      studentSweepName(c),
      "retail-repr train-student",
    ),
  );
}

/** The start, alpha and learning rate the final student uses, in two stages (coordinate search):
 * the best start and alpha on dev-like, then that one's best learning rate (the earlier-listed
 * candidate on a tie, the base rate first). Every sweep run must be finished. */
export function chosenStudent(profile: Profile): StudentSelection {
  const s = profile.train.student.sweep;
  const tried = studentFirstStage(profile);
  const best = bestOnDev(tried);
  const lrTried = [
    { ...best, candidate: { ...best.candidate, lr: profile.train.student.lr } },
    ...s.lrScales.map((scale) => {
      const c = studentLrCandidate(profile, scale);
      return sweepResult<StudentSweepResult>(
        studentSweepFile(profile, c),
        studentSweepInputs(profile, c),
        studentSweepName(c),
        "retail-repr train-student",
      );
    }),
  ];
  return {
    tried,
    lrTried,
    chosen: bestOnDev(lrTried).candidate,
    rule: `highest dev-like LR accuracy (C = 1) after ${s.steps} steps: start and alpha first, then the learning rate (x${s.lrScales.join(", x")}); the earlier-listed candidate on a tie`,
    steps: s.steps,
  };
}
