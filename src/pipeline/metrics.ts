// What `evaluate` writes to reports/metrics-<profile>.json: probe and fine-tune rows per one-shot
// set, the findings, and what they were made from.
import type { Inputs } from "../util/fingerprint";
import type { CSelection, ProbeScores } from "../probe/probe";
import type { FinetuneVariant } from "../train/finetune";
import type { Finding } from "./findings";
import type { EvalSet, OneShotSet, StudentSelection, TeacherSelection } from "./runs";
import type { FinetuneResult, RecipeSelection } from "./finetune-runs";
import type { CheckpointSelection } from "../train/loop";

/** A representation's name: a registered stage's (stages/registry.ts: "pretrained", "teacher", ...). */
export type Representation = string;

export interface EvaluationMeta {
  init: string;
  featureMap: [number, number];
  /** Images the teacher / student saw in training (steps x images per step). */
  teacherImages: number;
  studentImages: number;
  /** Dataset sizes behind the paper's ratio (unlabeled >= 4x the teacher's images). */
  teacherSetImages: number;
  unlabeledImages: number;
  /** Teacher batches: pairs of one product that are each other's negatives (false
   * negatives), on average per batch over the batches the teacher trains on. */
  teacherFalseNegativesPerBatch: number;
  seeds: number;
  /** What computed the evaluation: the engine (wasm/native, torch/cuda:0, ...) and the
   * backend's own description (library versions, device). Each checkpoint records its own. */
  backend?: { engine: string; detail: string };
  stageSeconds: Record<string, number>;
  /** Every setting chosen on dev-like: what was tried, its dev scores, and what was chosen. */
  selection: Selection;
}

export interface Selection {
  probeC: Record<Representation, CSelection>;
  finetune: RecipeSelection;
  teacher: TeacherSelection;
  student: StudentSelection;
  /** The checkpoint each stage's main run kept (teacher, student): its number of steps. */
  checkpoints: Record<string, CheckpointSelection & { rule: string }>;
}

export interface Metrics {
  /** The file format's version (pipeline/metrics-schema.ts); set when written. */
  schemaVersion?: number;
  profile: string;
  arch: string;
  imageSize: number;
  /** Each one-shot set's title: "grozi-like (synthetic)" or "grozi-like (imported from X)". */
  datasets: Record<EvalSet, string>;
  /** LR / 1-NN / NCM probes on dev-like (at the C chosen there) and on both test sets. */
  probes: Record<EvalSet, Record<Representation, ProbeScores>>;
  finetune: Record<OneShotSet, Record<FinetuneVariant, FinetuneResult>>;
  findings: Finding[];
  meta: EvaluationMeta;
  /** With `reproduce --seeds N`: each accuracy's mean and sd over the N training seeds. */
  seeds?: SeedSummary[];
  /** What these numbers were computed from; a later evaluate with the same inputs reuses them. */
  inputs: Inputs;
}

export interface SeedSummary {
  set: OneShotSet;
  row: string;
  values: number[];
  mean: number;
  sd: number;
}
