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
});
export interface StudentSelection extends z.infer<typeof studentSelectionSchema> {}

export const recipeSelectionSchema = z.looseObject({
  tried: z.array(z.looseObject({ recipe: finetuneRecipeSchema, devAccuracy: z.number(), trainAccuracy: z.number() })),
  chosen: finetuneRecipeSchema,
  rule: z.string(),
});
export interface RecipeSelection extends z.infer<typeof recipeSelectionSchema> {}
