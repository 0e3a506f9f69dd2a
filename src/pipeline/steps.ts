// The method step by step, each step cached in runs/<profile>/: a finished step is loaded,
// an unfinished one resumes from its last checkpoint. The CLI, `reproduce` and the notebooks
// all call these.
import * as fs from "fs";
import * as os from "os";
import { tf } from "../engine/tf";
import * as path from "path";
import { Profile } from "../config/profiles";
import { datasetDir, generateAll } from "../data/generate";
import { filesOf, oneShotOf, pairsOf } from "../data/sets";
import { loadCheckpoint, readCheckpointMeta } from "../models/checkpoint";
import { createModel, disposeModel, Model, ModelConfig } from "../models/model";
import { paths } from "../util/paths";
import { finetuneTask, FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import { LoopConfig, LoopResult, trainLoop } from "../train/loop";
import { pseudoComplete, readPseudoIndex, readPseudolabels, writePseudolabels } from "../train/pseudolabel";
import { studentTask } from "../train/student";
import { teacherTask } from "../train/teacher";
import { embedFiles } from "../train/embed";
import { accuracy } from "../probe/neighbours";
import { argmaxRows } from "../probe/logreg";

export const runDir = (profile: Profile, step: string) => path.join(paths.runs, profile.name, step);
const ckptDir = (profile: Profile, step: string) => path.join(runDir(profile, step), "checkpoint");

export function embeddingConfig(profile: Profile): ModelConfig {
  return { arch: profile.arch, pooling: "lca", projDim: 0, classes: 0 };
}

/** The untrained network every method starts from (same seed for teacher and student). */
export function initialModel(profile: Profile, config: ModelConfig = embeddingConfig(profile)): Model {
  return createModel(config, profile.seed);
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

function loopConfig(profile: Profile, name: string, steps: number, lr: number, quiet?: boolean): LoopConfig {
  return {
    name,
    steps,
    optimizer: { kind: "sgd", lr, momentum: 0.9, weightDecay: 1e-4 },
    warmup: Math.max(1, Math.round(steps * 0.05)),
    checkpointEvery: profile.train.checkpointEvery,
    runDir: runDir(profile, name),
    quiet,
    workers: workersFor(profile),
  };
}

export function stepDone(profile: Profile, name: string, steps: number): boolean {
  const dir = ckptDir(profile, name);
  return fs.existsSync(path.join(dir, "checkpoint.json")) && readCheckpointMeta(dir).step >= steps;
}

export interface StepOptions {
  quiet?: boolean;
}

export async function ensureData(profile: Profile): Promise<void> {
  await generateAll(profile);
}

export async function trainTeacher(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  await ensureData(profile);
  const model = initialModel(profile);
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const result = await trainLoop(model, teacherTask(pairs, profile), loopConfig(profile, "teacher", profile.train.teacher.steps, profile.train.teacher.lr, opts.quiet));
  return { model, result };
}

/** A finished step's model from its checkpoint (training it first when needed). */
export async function trainedModel(profile: Profile, which: "teacher" | "student", opts: StepOptions = {}): Promise<Model> {
  const steps = profile.train[which].steps;
  if (!stepDone(profile, which, steps)) {
    const { model } = which === "teacher" ? await trainTeacher(profile, opts) : await trainStudent(profile, opts);
    return model;
  }
  return loadCheckpoint(ckptDir(profile, which), initialModel(profile)).model;
}

export function teacherId(profile: Profile): string {
  return readCheckpointMeta(ckptDir(profile, "teacher")).weights.sha256;
}

export async function pseudolabel(profile: Profile, opts: StepOptions = {}): Promise<string> {
  const teacher = await trainedModel(profile, "teacher", opts);
  const dir = runDir(profile, "pseudolabels");
  const { files } = filesOf(datasetDir("student-pseudo", profile.name));
  const id = teacherId(profile);
  if (!pseudoComplete(readPseudoIndex(dir), files.length, id)) {
    await writePseudolabels(teacher, files, dir, { teacher: id, size: profile.imageSize, batch: profile.train.embedBatch, quiet: opts.quiet });
  }
  disposeModel(teacher);
  return dir;
}

export async function trainStudent(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  const dir = await pseudolabel(profile, opts);
  const model = initialModel(profile);
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const { files } = filesOf(datasetDir("student-pseudo", profile.name));
  const task = studentTask(pairs, files, readPseudolabels(dir), profile);
  const result = await trainLoop(model, task, loopConfig(profile, "student", profile.train.student.steps, profile.train.student.lr, opts.quiet));
  return { model, result };
}

export const ONE_SHOT_SETS = ["capg-like", "grozi-like"] as const;
export type OneShotSet = (typeof ONE_SHOT_SETS)[number];

/** Fine-tune a classifier baseline; returns its test accuracy on the one-shot set. */
export async function finetune(profile: Profile, set: OneShotSet, variant: FinetuneVariant, opts: StepOptions = {}): Promise<{ accuracy: number; result: LoopResult }> {
  await ensureData(profile);
  const data = oneShotOf(datasetDir(set, profile.name));
  const model = initialModel(profile, { arch: profile.arch, pooling: FINETUNE_VARIANTS[variant].pooling, projDim: 0, classes: data.classes });
  const name = `finetune-${set}-${variant}`;
  const result = await trainLoop(model, finetuneTask(data, variant, profile), loopConfig(profile, name, profile.train.finetune.steps, profile.train.finetune.lr, opts.quiet));
  const logits = await embedFiles(model, data.test.files, { size: profile.imageSize, batch: profile.train.embedBatch, logits: true, quiet: true });
  disposeModel(model);
  return { accuracy: accuracy(argmaxRows(logits, data.classes), data.test.labels), result };
}
