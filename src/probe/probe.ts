// The linear probe the paper's tables report (logistic regression on frozen embeddings), with
// 1-NN and nearest-class-mean beside it, each accuracy with its bootstrap interval.
import { z } from "zod";
import { accuracyWithInterval, intervalSchema } from "./bootstrap";
import { argmaxRows, fitLogReg, logRegScores } from "./logreg";
import { knnPredict, nearestClassMeanPredict } from "./neighbours";
import { outcomesOf, outcomesSchema } from "./paired";
import type { Profile } from "../config/profiles";
import { datasetDirOf } from "../data/generate";
import { oneShotOf } from "../data/sets";
import { embeddingDim, Model } from "../models/model";
import { embedFiles } from "../train/embed";
import { pastTheEdge } from "../util/grid";

const fraction = z.number().min(0).max(1);

/** A probe's scores on one set (loose: a later field needs no new metrics version). */
export const probeScoresSchema = z.looseObject({
  logreg: fraction,
  logregCI: intervalSchema,
  /** The LR probe's per-test-image outcomes (probe/paired.ts): paired comparisons read them. */
  logregOutcomes: outcomesSchema,
  /** The inverse regularisation strength the LR probe was fitted with. */
  C: z.number().positive(),
  knn: fraction,
  knnCI: intervalSchema,
  ncm: fraction,
  ncmCI: intervalSchema,
  fitMs: z.number(),
  iterations: z.number(),
});
export interface ProbeScores extends z.infer<typeof probeScoresSchema> {}

export interface Embedded {
  train: Float32Array;
  test: Float32Array;
  trainLabels: Int32Array;
  testLabels: Int32Array;
  trainFiles: string[];
  testFiles: string[];
  dim: number;
}

/** A one-shot set's training and test images embedded by `model` (frozen, no augmentation). */
export async function embedOneShot(profile: Profile, model: Model, set: string): Promise<Embedded> {
  const data = oneShotOf(datasetDirOf(profile, set));
  const o = { size: profile.imageSize, batch: profile.train.embedBatch, quiet: true };
  return {
    train: await embedFiles(model, data.train.files, o),
    test: await embedFiles(model, data.test.files, o),
    trainLabels: data.train.labels,
    testLabels: data.test.labels,
    trainFiles: data.train.files,
    testFiles: data.test.files,
    dim: embeddingDim(model.config),
  };
}

/** LR, 1-NN and NCM probes on frozen embeddings, each accuracy with its bootstrap interval over
 * the test products (`seed` fixes the resamples). */
export function probe(e: Embedded, C = 1, seed = 0): ProbeScores {
  const t = process.hrtime.bigint();
  const lr = fitLogReg(e.train, e.trainLabels, e.dim, { C });
  const fitMs = Number(process.hrtime.bigint() - t) / 1e6;
  // In a one-shot set a class is one product: its photos are resampled together.
  const score = (pred: Int32Array) => accuracyWithInterval(pred, e.testLabels, { seed, clusters: e.testLabels });
  const lrPred = argmaxRows(logRegScores(lr, e.test), lr.classes);
  const logreg = score(lrPred);
  const knn = score(knnPredict(e.train, e.trainLabels, e.test, e.dim));
  const ncm = score(nearestClassMeanPredict(e.train, e.trainLabels, e.test, e.dim));
  return {
    logreg: logreg.accuracy,
    logregCI: logreg.interval,
    logregOutcomes: outcomesOf(lrPred, e.testLabels),
    C,
    knn: knn.accuracy,
    knnCI: knn.interval,
    ncm: ncm.accuracy,
    ncmCI: ncm.interval,
    fitMs,
    iterations: lr.iterations,
  };
}

/** scikit-learn's default C = 1 and a decade either side, and one beyond. */
export const PROBE_C_GRID = [0.1, 1, 10, 100];
/** How C is chosen from the grid on dev-like (recorded with each choice and in the cache keys). */
export const PROBE_C_RULE =
  "highest dev-like LR accuracy (the C nearest 1 on a tie); a choice on the grid's edge widens it once, a decade past that edge";

/** The LR probe's C as chosen on dev-like: each C tried with its dev accuracy, and the rule. */
export const cSelectionSchema = z.looseObject({
  tried: z.array(z.looseObject({ C: z.number(), devAccuracy: z.number() })),
  chosen: z.number(),
  rule: z.string(),
  /** The C tried past the grid's edge because the grid's own choice fell on it. */
  widened: z.array(z.number()).optional(),
});
export interface CSelection extends z.infer<typeof cSelectionSchema> {}

/** The LR probe's C chosen on a dev set's embeddings: the highest dev accuracy, the C nearest
 * to the default 1 on a tie; a choice on the grid's edge widens the grid once (util/grid.ts).
 * Returns the choice and the dev scores at the chosen C. */
export function selectC(dev: Embedded, grid = PROBE_C_GRID, seed = 0): { selection: CSelection; scores: ProbeScores } {
  const runs = grid.map((C) => ({ C, scores: probe(dev, C, seed) }));
  const closer = (a: number, b: number) => Math.abs(Math.log(a)) <= Math.abs(Math.log(b));
  const bestOf = () =>
    runs.reduce((a, b) => (b.scores.logreg > a.scores.logreg || (b.scores.logreg === a.scores.logreg && !closer(a.C, b.C)) ? b : a));
  const beyond = pastTheEdge(grid, bestOf().C);
  if (beyond !== undefined) runs.push({ C: beyond, scores: probe(dev, beyond, seed) });
  const best = bestOf();
  return {
    selection: {
      tried: runs.map((r) => ({ C: r.C, devAccuracy: r.scores.logreg })),
      chosen: best.C,
      rule: PROBE_C_RULE,
      ...(beyond !== undefined ? { widened: [beyond] } : {}),
    },
    scores: best.scores,
  };
}
