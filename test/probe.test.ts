import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { argmaxRows, fitLogReg, logRegScores, logRegWeights } from "../src/probe/logreg";
import { accuracy, knnPredict, l2NormalizeRows, nearestClassMeanPredict } from "../src/probe/neighbours";
import { randomArray } from "./helpers";

const FIX = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "test", "fixtures", "sklearn_logreg.json"), "utf8"));

test("logistic regression matches scikit-learn's LogisticRegression: accuracy within 1 point, same W", () => {
  const d = FIX.d as number;
  const Xtr = Float32Array.from((FIX.train_x as number[][]).flat());
  const Xte = Float32Array.from((FIX.test_x as number[][]).flat());
  const ytr = Int32Array.from(FIX.train_y), yte = Int32Array.from(FIX.test_y);
  for (const fit of FIX.fits) {
    const m = fitLogReg(Xtr, ytr, d, { C: fit.C, tol: 1e-6 });
    assert.ok(m.converged, `converged (C=${fit.C}, ${m.iterations} iterations)`);
    const pred = argmaxRows(logRegScores(m, Xte), m.classes);
    const acc = accuracy(pred, yte);
    assert.ok(Math.abs(acc - fit.accuracy) <= 0.01, `C=${fit.C}: ours ${acc} vs sklearn ${fit.accuracy}`);
    const W = logRegWeights(m); // [d, K]; sklearn's coef_ is [K, d]
    let worst = 0;
    for (let k = 0; k < m.classes; k++) for (let c = 0; c < d; c++) worst = Math.max(worst, Math.abs(W[c * m.classes + k] - fit.coef[k][c]));
    assert.ok(worst < 1e-3, `C=${fit.C}: max |W - sklearn coef| = ${worst}`);
  }
});

test("120 classes x 2048-d one-shot: converges and separates its training points (its speed is in the bench)", () => {
  const K = 120, d = 2048;
  const X = l2NormalizeRows(randomArray(K * d, 3), d);
  const y = Int32Array.from({ length: K }, (_, i) => i);
  const m = fitLogReg(X, y, d, { C: 1 });
  assert.ok(m.converged, `${m.iterations} iterations`);
  assert.deepEqual([...argmaxRows(logRegScores(m, X), K)], [...y]);
});

test("1-NN and nearest class mean by hand", () => {
  const train = Float32Array.from([1, 0, 0, 1, 0.8, 0.6]);
  const labels = Int32Array.from([0, 1, 0]);
  const q = Float32Array.from([0.9, 0.436, 0.2, 0.98]);
  assert.deepEqual([...knnPredict(train, labels, q, 2)], [0, 1]);
  // class 0 mean direction (1.8, 0.6)/|.| ; q0 is closer to it than to (0, 1)
  assert.deepEqual([...nearestClassMeanPredict(train, labels, q, 2)], [0, 1]);
  assert.equal(accuracy(Int32Array.from([1, 2, 3]), Int32Array.from([1, 0, 3])), 2 / 3);
});
