import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { argmaxRows, fitLogReg, logRegScores, logRegWeights } from "../src/probe/logreg";
import { accuracy, knnPredict, l2NormalizeRows, nearestClassMeanPredict } from "../src/probe/neighbours";
import { randomArray } from "./helpers";
import { selectC } from "../src/probe/probe";
import { pastTheEdge } from "../src/util/grid";

const FIX = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "test", "fixtures", "sklearn_logreg.json"), "utf8"));

test("logistic regression matches scikit-learn's LogisticRegression: accuracy within 1 point, same W", () => {
  const d = FIX.d as number;
  const Xtr = Float32Array.from((FIX.train_x as number[][]).flat());
  const Xte = Float32Array.from((FIX.test_x as number[][]).flat());
  const ytr = Int32Array.from(FIX.train_y),
    yte = Int32Array.from(FIX.test_y);
  for (const fit of FIX.fits) {
    const m = fitLogReg(Xtr, ytr, d, { C: fit.C, tol: 1e-6 });
    assert.ok(m.converged, `converged (C=${fit.C}, ${m.iterations} iterations)`);
    const pred = argmaxRows(logRegScores(m, Xte), m.classes);
    const acc = accuracy(pred, yte);
    assert.ok(Math.abs(acc - fit.accuracy) <= 0.01, `C=${fit.C}: ours ${acc} vs sklearn ${fit.accuracy}`);
    const W = logRegWeights(m); // [d, K]; sklearn's coef_ is [K, d]
    let worst = 0;
    for (let k = 0; k < m.classes; k++)
      for (let c = 0; c < d; c++) worst = Math.max(worst, Math.abs(W[c * m.classes + k] - fit.coef[k][c]));
    assert.ok(worst < 1e-3, `C=${fit.C}: max |W - sklearn coef| = ${worst}`);
  }
});

test("120 classes x 2048-d one-shot: converges and separates its training points (its speed is in the bench)", () => {
  const K = 120,
    d = 2048;
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

test("symmetric eigen-decomposition reconstructs its matrix; PCA scores carry the top eigenvalues", async () => {
  const { symmetricEigen } = await import("../src/probe/logreg");
  const { pcaProject } = await import("../src/report/umap");
  const n = 6,
    d = 5;
  const X = Float64Array.from(randomArray(n * d, 21));
  const G = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) for (let c = 0; c < d; c++) G[i * n + j] += X[i * d + c] * X[j * d + c];
  const { values, vectors } = symmetricEigen(G, n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let r = 0;
      for (let k = 0; k < n; k++) r += vectors[i * n + k] * values[k] * vectors[j * n + k];
      assert.ok(Math.abs(r - G[i * n + j]) < 1e-9, `G[${i}][${j}]`);
    }
  // PCA: the squared scores of component k sum to the k-th eigenvalue of the centred Gram matrix.
  const x32 = Float32Array.from(X);
  const mean = Array.from({ length: d }, (_, c) => [...Array(n).keys()].reduce((s, i) => s + X[i * d + c], 0) / n);
  const Gc = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) for (let c = 0; c < d; c++) Gc[i * n + j] += (X[i * d + c] - mean[c]) * (X[j * d + c] - mean[c]);
  const top = [...symmetricEigen(Gc, n).values].sort((a, b) => b - a).slice(0, 2);
  const scores = pcaProject(x32, n, d, 2);
  const got = [0, 1].map((k) => scores.reduce((s, r) => s + r[k] ** 2, 0)).sort((a, b) => b - a);
  got.forEach((g, k) => assert.ok(Math.abs(g - top[k]) < 1e-3 * Math.max(1, top[k]), `component ${k}: ${g} vs ${top[k]}`));
});

test("pastTheEdge: one step past the edge a choice is on, by the grid's own ratio; nothing inside", () => {
  assert.equal(pastTheEdge([0.1, 1, 10, 100], 100), 1000);
  assert.equal(pastTheEdge([100, 0.1, 10, 1], 0.1), 0.01);
  assert.equal(pastTheEdge([0.5, 1, 2], 2), 4);
  assert.equal(pastTheEdge([0.1, 1, 10, 100], 10), undefined);
  assert.equal(pastTheEdge([1], 1), undefined);
});

test("selectC: a C chosen on the grid's edge widens the grid once and says so; the choice is among every C tried", () => {
  // Four classes, one training point each, test points near them: any C separates them, so the
  // tie goes to the C nearest 1, the grid's top edge here, and one more C past it is tried.
  const K = 4,
    d = 8;
  const train = l2NormalizeRows(randomArray(K * d, 5), d);
  const noise = randomArray(3 * K * d, 6);
  const test = l2NormalizeRows(
    Float32Array.from({ length: 3 * K * d }, (_, i) => train[(Math.floor(i / d) % K) * d + (i % d)] + 0.05 * noise[i]),
    d,
  );
  const e = {
    train,
    test,
    trainLabels: Int32Array.from({ length: K }, (_, i) => i),
    testLabels: Int32Array.from({ length: 3 * K }, (_, i) => i % K),
    trainFiles: [],
    testFiles: [],
    dim: d,
  };
  const { selection } = selectC(e, [1e-6, 1e-5]);
  assert.deepEqual(selection.widened, [1e-4]);
  assert.deepEqual(
    selection.tried.map((t) => t.C),
    [1e-6, 1e-5, 1e-4],
  );
  const best = Math.max(...selection.tried.map((t) => t.devAccuracy));
  assert.equal(selection.tried.find((t) => t.C === selection.chosen)!.devAccuracy, best);
  assert.match(selection.rule, /widens it once/);
  const inside = selectC(e, [1e-6, 1, 1e6]);
  if (inside.selection.chosen === 1) assert.equal(inside.selection.widened, undefined);
});
