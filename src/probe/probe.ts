// The linear probe the paper's tables report (logistic regression on frozen embeddings), with
// 1-NN and nearest-class-mean beside it, each accuracy with its bootstrap interval.
import { accuracyWithInterval, Interval } from "./bootstrap";
import { argmaxRows, fitLogReg, logRegScores } from "./logreg";
import { knnPredict, nearestClassMeanPredict } from "./neighbours";

export interface ProbeScores {
  logreg: number;
  logregCI: Interval;
  knn: number;
  knnCI: Interval;
  ncm: number;
  ncmCI: Interval;
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

/** LR, 1-NN and NCM probes on frozen embeddings, each accuracy with its bootstrap interval
 * (`seed` fixes the resamples). */
export function probe(e: Embedded, C = 1, seed = 0): ProbeScores {
  const t = process.hrtime.bigint();
  const lr = fitLogReg(e.train, e.trainLabels, e.dim, { C });
  const fitMs = Number(process.hrtime.bigint() - t) / 1e6;
  const score = (pred: Int32Array) => accuracyWithInterval(pred, e.testLabels, { seed });
  const logreg = score(argmaxRows(logRegScores(lr, e.test), lr.classes));
  const knn = score(knnPredict(e.train, e.trainLabels, e.test, e.dim));
  const ncm = score(nearestClassMeanPredict(e.train, e.trainLabels, e.test, e.dim));
  return { logreg: logreg.accuracy, logregCI: logreg.interval, knn: knn.accuracy, knnCI: knn.interval, ncm: ncm.accuracy, ncmCI: ncm.interval, fitMs, iterations: lr.iterations };
}

