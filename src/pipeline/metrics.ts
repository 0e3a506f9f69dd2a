// What `evaluate` writes to reports/metrics-<profile>.json, as one zod schema: probe and
// fine-tune rows per set, the findings, what was chosen on dev-like, and what they were made
// from. Notebooks and `evaluate --json` read it; Python users get it as
// schemas/metrics.schema.json. The Metrics type is inferred from the schema (one definition).
// Objects accept keys beyond these (loose), so that a field added without changing the meaning
// of the others needs no new version; a change to a listed field's meaning does: bump
// METRICS_SCHEMA_VERSION.
import { z } from "zod";
import type { ReportKind } from "../util/report-schema";
import { cSelectionSchema, probeScoresSchema } from "../probe/probe";
import { checkpointSelectionSchema } from "../train/loop";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import { findingSchema } from "./findings";
import { finetuneResultSchema } from "./finetune-runs";
import { EVAL_SETS, EvalSet, ONE_SHOT_SETS } from "./runs";
import { finetuneSelectionSchema, studentSelectionSchema, teacherSelectionSchema } from "./selections";

export const METRICS_SCHEMA_VERSION = 2;

/** A representation's name: a registered stage's (stages/registry.ts: "pretrained", "teacher", ...). */
export type Representation = string;

const bySet = <T extends z.ZodType>(v: T) => z.record(z.enum(EVAL_SETS as [EvalSet, ...EvalSet[]]), v);
const byOneShotSet = <T extends z.ZodType>(v: T) => z.record(z.enum(ONE_SHOT_SETS), v);
const byVariant = <T extends z.ZodType>(v: T) =>
  z.record(z.enum(Object.keys(FINETUNE_VARIANTS) as [FinetuneVariant, ...FinetuneVariant[]]), v);

/** Every setting chosen on dev-like: what was tried, its dev scores, and what was chosen. */
const selectionSchema = z.looseObject({
  probeC: z.record(z.string(), cSelectionSchema),
  /** Each fine-tune variant's recipe, gamma (MaxEnt) and length. */
  finetune: byVariant(finetuneSelectionSchema),
  teacher: teacherSelectionSchema,
  student: studentSelectionSchema,
  /** The checkpoint each stage's main run kept (teacher, student): its number of steps. */
  checkpoints: z.record(z.string(), z.looseObject({ ...checkpointSelectionSchema.shape, rule: z.string() })),
});
export interface Selection extends z.infer<typeof selectionSchema> {}

const evaluationMetaSchema = z.looseObject({
  init: z.string(),
  featureMap: z.tuple([z.number(), z.number()]) as z.ZodType<[number, number]>,
  /** Images the teacher / student runs were set to see (steps x images per step). */
  teacherImages: z.number(),
  studentImages: z.number(),
  /** Images the kept checkpoints saw (the step dev-like chose x images per step); the student's
   * unlabeled ones apart, against `unlabeledImages`: the share of the pool it went through. */
  imagesSeen: z.looseObject({ teacher: z.number(), student: z.number(), studentUnlabeled: z.number() }).optional(),
  /** Dataset sizes behind the paper's ratio (unlabeled >= 4x the teacher's images). */
  teacherSetImages: z.number(),
  unlabeledImages: z.number(),
  /** Teacher batches: pairs of one product that are each other's negatives (false negatives),
   * on average per batch over the batches the teacher trains on. */
  teacherFalseNegativesPerBatch: z.number(),
  seeds: z.number().int().min(1),
  /** What computed the evaluation: the engine (wasm/native, torch/cuda:0, ...) and the backend's
   * own description (library versions, device). Each checkpoint records its own. */
  backend: z.object({ engine: z.string(), detail: z.string() }).optional(),
  stageSeconds: z.record(z.string(), z.number()),
  selection: selectionSchema,
});
export interface EvaluationMeta extends z.infer<typeof evaluationMetaSchema> {}

/** With `reproduce --seeds N`: one accuracy's mean and sd over the N repeats (training seed, dev and test draws). */
const seedSummarySchema = z.looseObject({
  set: z.enum(ONE_SHOT_SETS),
  row: z.string(),
  values: z.array(z.number()),
  mean: z.number(),
  sd: z.number(),
});
export interface SeedSummary extends z.infer<typeof seedSummarySchema> {}

/** The metrics as evaluate makes them; the file's version is added when written. */
const metricsContentSchema = z.looseObject({
  written: z.string().optional(),
  profile: z.string(),
  arch: z.string(),
  imageSize: z.number().int().positive(),
  /** Each set's title: "grozi-like (synthetic)" or "grozi-like (imported from X)". */
  datasets: bySet(z.string()),
  /** LR / 1-NN / NCM probes on dev-like (at the C chosen there) and on both test sets. */
  probes: bySet(z.record(z.string(), probeScoresSchema)).describe(
    "set -> representation (pretrained, random-init, teacher, student, ...) -> scores",
  ),
  finetune: byOneShotSet(byVariant(finetuneResultSchema)).describe("set -> variant (gap, lca, lca-maxent) -> result"),
  findings: z.array(findingSchema),
  meta: evaluationMetaSchema,
  seeds: z.array(seedSummarySchema).optional(),
  /** What these numbers were computed from; a later evaluate with the same inputs reuses them. */
  inputs: z.record(z.string(), z.unknown()).describe("what the numbers were computed from (fingerprints, profile values)"),
});

export const metricsSchema = metricsContentSchema.extend({ schemaVersion: z.literal(METRICS_SCHEMA_VERSION) });
export interface Metrics extends z.infer<typeof metricsContentSchema> {
  schemaVersion?: typeof METRICS_SCHEMA_VERSION;
}

export const METRICS_REPORT: ReportKind<z.infer<typeof metricsSchema>> = {
  kind: "metrics",
  version: METRICS_SCHEMA_VERSION,
  schema: metricsSchema,
};
