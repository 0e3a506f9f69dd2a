// The paper's evaluation: logistic-regression probes on frozen embeddings (plus kNN and
// nearest-class-mean columns) for random-init, teacher and student, beside the fine-tuned
// baselines, on both one-shot sets; written to reports/metrics.json and CSV tables.
import { Profile } from "../config/profiles";
import { datasetDir } from "../data/generate";
import { oneShotOf } from "../data/sets";
import { disposeModel, embeddingDim, Model } from "../models/model";
import { argmaxRows, fitLogReg, logRegScores } from "../probe/logreg";
import { accuracy, knnPredict, nearestClassMeanPredict } from "../probe/neighbours";
import { writeReport } from "../report/metrics";
import { embedFiles } from "../train/embed";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import { finetune, initialModel, ONE_SHOT_SETS, OneShotSet, StepOptions, trainedModel } from "./steps";

export interface ProbeScores {
  logreg: number;
  knn: number;
  ncm: number;
  fitMs: number;
  iterations: number;
}

export interface Embedded {
  train: Float32Array;
  test: Float32Array;
  trainLabels: Int32Array;
  testLabels: Int32Array;
  trainFiles: string[];
  testFiles: string[];
  dim: number;
}

export async function embedOneShot(profile: Profile, model: Model, set: OneShotSet): Promise<Embedded> {
  const data = oneShotOf(datasetDir(set, profile.name));
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

export function probe(e: Embedded, C = 1): ProbeScores {
  const t = process.hrtime.bigint();
  const lr = fitLogReg(e.train, e.trainLabels, e.dim, { C });
  const fitMs = Number(process.hrtime.bigint() - t) / 1e6;
  return {
    logreg: accuracy(argmaxRows(logRegScores(lr, e.test), lr.classes), e.testLabels),
    knn: accuracy(knnPredict(e.train, e.trainLabels, e.test, e.dim), e.testLabels),
    ncm: accuracy(nearestClassMeanPredict(e.train, e.trainLabels, e.test, e.dim), e.testLabels),
    fitMs,
    iterations: lr.iterations,
  };
}

export const REPRESENTATIONS = ["random-init", "teacher", "student"] as const;
export type Representation = (typeof REPRESENTATIONS)[number];

export async function representationModel(profile: Profile, which: Representation, opts: StepOptions = {}): Promise<Model> {
  return which === "random-init" ? initialModel(profile) : trainedModel(profile, which, opts);
}

export interface Metrics {
  profile: string;
  arch: string;
  imageSize: number;
  probes: Record<OneShotSet, Record<Representation, ProbeScores>>;
  finetune: Record<OneShotSet, Record<FinetuneVariant, number>>;
}

export async function evaluate(profile: Profile, opts: StepOptions = {}): Promise<Metrics> {
  const probes = {} as Metrics["probes"];
  const ft = {} as Metrics["finetune"];
  for (const set of ONE_SHOT_SETS) {
    probes[set] = {} as Record<Representation, ProbeScores>;
    ft[set] = {} as Record<FinetuneVariant, number>;
  }
  for (const which of REPRESENTATIONS) {
    const model = await representationModel(profile, which, opts);
    for (const set of ONE_SHOT_SETS) probes[set][which] = probe(await embedOneShot(profile, model, set));
    disposeModel(model);
  }
  for (const set of ONE_SHOT_SETS) {
    for (const variant of Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[]) {
      ft[set][variant] = (await finetune(profile, set, variant, opts)).accuracy;
    }
  }
  const metrics: Metrics = { profile: profile.name, arch: profile.arch, imageSize: profile.imageSize, probes, finetune: ft };
  writeReport(`metrics-${profile.name}`, metrics);
  return metrics;
}
