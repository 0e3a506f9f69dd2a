// What each sweep on dev-like records: the candidates it tried with their dev scores, what it
// chose, and by which rule. The metrics file keeps them (meta.selection); these schemas check it
// and their types are the ones the sweeps return (runs.ts, finetune-runs.ts).
import { z } from "zod";
import { finetuneRecipeSchema, studentCandidateSchema } from "../config/schema";

const devScores = { devAccuracy: z.number(), devOneNN: z.number() };

export const teacherSweepResultSchema = z.looseObject({ lr: z.number(), ...devScores });
export interface TeacherSweepResult extends z.infer<typeof teacherSweepResultSchema> {}

/** `widened`: the rate tried past the grid's edge when the grid's choice lay on it (pipeline/sweep.ts
 * edgeSweep), its run last in `tried`; null when the choice was inside. */
const widened = z.number().nullable().optional();

export const teacherSelectionSchema = z.looseObject({
  tried: z.array(teacherSweepResultSchema),
  chosen: z.looseObject({ lr: z.number() }),
  rule: z.string(),
  steps: z.number(),
  widened,
  /** Runs on dev-like the choice took: the short ones and the main run (its checkpoints scored). */
  devRuns: z.number(),
});
export interface TeacherSelection extends z.infer<typeof teacherSelectionSchema> {}

/** A student setting tried on dev-like: a start and alpha, and a learning rate when the second
 * stage of the sweep sets one (else the profile's). */
export const studentCandidateTriedSchema = z.looseObject({ ...studentCandidateSchema.shape, lr: z.number().optional() });
export interface StudentCandidate extends z.infer<typeof studentCandidateTriedSchema> {}

export const studentSweepResultSchema = z.looseObject({
  candidate: studentCandidateTriedSchema,
  /** LR probe (C = 1) and 1-NN accuracy on dev-like after the short run. */
  ...devScores,
  /** Each term's gradient norm with respect to the embeddings at the start, unweighted. */
  gradientNorms: z.looseObject({ supcon: z.number(), smoothl1: z.number() }),
});
export interface StudentSweepResult extends z.infer<typeof studentSweepResultSchema> {}

export const studentSelectionSchema = z.looseObject({
  /** The first stage: each start and alpha at the profile's learning rate. */
  tried: z.array(studentSweepResultSchema),
  /** The second: the first stage's best at each learning rate (its own run at the base rate first). */
  lrTried: z.array(studentSweepResultSchema),
  chosen: studentCandidateTriedSchema,
  rule: z.string(),
  steps: z.number(),
  widened,
  devRuns: z.number(),
});
export interface StudentSelection extends z.infer<typeof studentSelectionSchema> {}

/** A fine-tune setting: its recipe, and the MaxEnt variant's gamma. */
export const finetuneSettingSchema = z.looseObject({ recipe: finetuneRecipeSchema, gamma: z.number().optional() });
export interface FinetuneSetting extends z.infer<typeof finetuneSettingSchema> {}

/** A short fine-tune on dev-like: its dev-like test accuracy and its training accuracy at the end. */
export const finetuneSweepResultSchema = z.looseObject({
  setting: finetuneSettingSchema,
  devAccuracy: z.number(),
  trainAccuracy: z.number(),
});
export interface FinetuneSweepResult extends z.infer<typeof finetuneSweepResultSchema> {}

/** A variant fine-tuned on dev-like with its chosen setting for the whole schedule, every
 * checkpoint scored there: the step kept is the length its test-set runs train. */
export const finetuneLengthSchema = z.looseObject({
  setting: finetuneSettingSchema,
  /** The cosine schedule's length (the profile's `train.finetune.steps`). */
  schedule: z.number(),
  scores: z.array(z.looseObject({ step: z.number(), score: z.number() })),
  keptStep: z.number(),
  /** At the kept step. */
  devAccuracy: z.number(),
  trainAccuracy: z.number(),
  /** The training loss's slope t over the last fifth of the whole schedule (finetune-runs.ts,
   * lossSlope): is the loss flat by the schedule's end? */
  lossSlopeT: z.number(),
});
export interface FinetuneLength extends z.infer<typeof finetuneLengthSchema> {}

export const finetuneSelectionSchema = z.looseObject({
  /** The first stage: each recipe (the profile's gamma for MaxEnt). */
  tried: z.array(finetuneSweepResultSchema),
  /** MaxEnt's second stage: the best recipe at each gamma, the grid's widening last. */
  gammaTried: z.array(finetuneSweepResultSchema).optional(),
  chosen: finetuneSettingSchema,
  rule: z.string(),
  /** The short runs' length. */
  steps: z.number(),
  /** The gamma tried past the grid's edge, or null. */
  widened,
  length: finetuneLengthSchema,
  /** Runs on dev-like this variant's choice took: the short ones and the length run. */
  devRuns: z.number(),
});
export interface FinetuneSelection extends z.infer<typeof finetuneSelectionSchema> {}

/** Every short run a variant's choice read, each once: the recipes, then MaxEnt's other gammas
 * (the second stage's first entry is a first-stage run). */
export const finetuneShortRuns = (s: FinetuneSelection): FinetuneSweepResult[] => [...s.tried, ...(s.gammaTried?.slice(1) ?? [])];

/** A setting as tables and logs name it: "uniform (lr 0.1, backbone x1, gamma 0.5)". */
export const settingLabel = (t: FinetuneSetting) =>
  `${t.recipe.name} (lr ${t.recipe.lr}, backbone x${t.recipe.backboneScale}${t.gamma === undefined ? "" : `, gamma ${t.gamma}`})`;

/** Whether `setting` is the one the variant chose. */
export const isChosenSetting = (s: FinetuneSelection, setting: FinetuneSetting) =>
  setting.recipe.name === s.chosen.recipe.name && setting.gamma === s.chosen.gamma;
