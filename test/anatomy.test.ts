// One batch taken apart (train/anatomy.ts) against the training step's own computation, and the
// live chart's bookkeeping.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { getProfile, trainSeed } from "../src/config/profiles";
import { ckptDir, ensureData, initialModel, sgdConfig, trainStage } from "../src/pipeline/steps";
import { finetuneBatchAnatomy, studentBatchAnatomy, teacherBatchAnatomy } from "../src/train/anatomy";
import { pairBatches, pairLossFromEmbeddings } from "../src/train/teacher";
import { filesOf, pairsOf } from "../src/data/sets";
import { datasetDir } from "../src/data/generate";
import { createModel, disposeModel, embedForward, embeddingDim } from "../src/models/model";
import { smoothL1Loss } from "../src/losses/regression";
import { lcaBruteForce } from "../src/models/lca";
import { oneShotOf } from "../src/data/sets";
import { liveTraining } from "../src/report/live";
import type { HistoryRow } from "../src/train/loop";
import type { Model } from "../src/models/model";
import { inTempTree } from "./helpers";

test("batch anatomy: the teacher's batch, its similarities, roles and per-anchor terms add up to the step's loss, one step changes it as recomputed; the student's two terms make its loss", async () => {
  await selectBackend({ force: "wasm", log: null });
  await inTempTree("rr-anatomy-", async () => {
    const profile = getProfile("smoke");
    await ensureData(profile);
    const t = profile.train.teacher;
    // A first call on a spare model: tfjs keeps one tensor the first time an op runs.
    const spare = initialModel(profile);
    await teacherBatchAnatomy(profile, spare, sgdConfig(t.lr));
    disposeModel(spare);
    const model = initialModel(profile);
    const before = tf.memory().numTensors;
    const a = await teacherBatchAnatomy(profile, model, sgdConfig(t.lr));
    assert.equal(tf.memory().numTensors, before, "no tensors left behind");
    const B = a.labels.length;
    const n = B / 2;
    assert.equal(n, Math.min(t.pairsPerBatch, pairsOf(datasetDir("teacher-pairs", profile.name)).length));
    const loopBatch = await pairBatches(pairsOf(datasetDir("teacher-pairs", profile.name)), n, profile.imageSize, trainSeed(profile))(0);
    assert.deepEqual(a.files, loopBatch.files, "the loop's first batch");

    // The similarity matrix of unit vectors: symmetric, 1 on the diagonal.
    for (let i = 0; i < B; i++) {
      assert.ok(Math.abs(a.similarity[i][i] - 1) < 1e-4);
      for (let j = 0; j < B; j++) assert.ok(Math.abs(a.similarity[i][j] - a.similarity[j][i]) < 1e-5);
    }
    // One positive per anchor (the other view); the miner keeps the ceil(ratio * k) most similar negatives.
    const k = Math.ceil(t.hardRatio * (B - 2));
    for (let i = 0; i < B; i++) {
      assert.deepEqual(
        a.positives[i].flatMap((v, j) => (v ? [j] : [])),
        [(i + n) % B],
      );
      const kept = a.keptNegatives[i].flatMap((v, j) => (v ? [j] : []));
      const dropped = a.similarity[i].flatMap((_, j) => (j !== i && j !== (i + n) % B && !a.keptNegatives[i][j] ? [j] : []));
      assert.equal(kept.length, k);
      assert.ok(!kept.includes(i) && !kept.includes((i + n) % B));
      assert.ok(
        Math.min(...kept.map((j) => a.similarity[i][j])) >= Math.max(...dropped.map((j) => a.similarity[i][j])) - 1e-6,
        `row ${i}: kept negatives are the hardest`,
      );
    }
    // The embeddings it hands out are the ones the loss saw: z z^T is the similarity matrix, and
    // the library's loss on them is the step's loss.
    assert.equal(a.embeddings.length, B * a.dim);
    const fromZ = tf.tidy(() => {
      const z = tf.tensor2d(a.embeddings, [B, a.dim]);
      return { sim: tf.matMul(z, z, false, true).dataSync(), loss: pairLossFromEmbeddings(z, n, t).dataSync()[0] };
    });
    for (let i = 0; i < B; i++) for (let j = 0; j < B; j++) assert.ok(Math.abs(fromZ.sim[i * B + j] - a.similarity[i][j]) < 1e-5);
    assert.ok(Math.abs(fromZ.loss - a.loss) < 1e-5 * Math.max(1, a.loss), `loss from embeddings ${fromZ.loss} vs step ${a.loss}`);
    // The terms' mean is the loss the step minimised.
    const mean = a.perAnchor.reduce((s, v) => s + v, 0) / B;
    assert.ok(Math.abs(mean - a.loss) < 1e-4 * Math.max(1, a.loss), `mean of terms ${mean} vs loss ${a.loss}`);
    // After the step, the model's loss on the same batch is the one reported, and it moved.
    const after = tf.tidy(() => pairLossFromEmbeddings(embedForward(model, loopBatch.x, true), n, t).dataSync()[0]);
    assert.ok(Math.abs(after - a.lossAfterStep) < 1e-5 * Math.max(1, after));
    assert.notEqual(a.lossAfterStep, a.loss);
    loopBatch.x.dispose();

    // The student's mixed batch: its loss is alpha * SupCon + (1 - alpha) * Smooth L1, before and after.
    const dim = embeddingDim(model.config);
    const count = filesOf(datasetDir("student-pseudo", profile.name)).files.length;
    const targets = { dim, data: new Float32Array(count * dim) };
    for (let i = 0; i < count; i++) targets.data[i * dim + (i % dim)] = 1; // unit vectors
    const s = profile.train.student;
    await studentBatchAnatomy(profile, model, targets, sgdConfig(s.lr)); // first use of its ops
    const held = tf.memory().numTensors;
    const st = await studentBatchAnatomy(profile, model, targets, sgdConfig(s.lr));
    assert.equal(tf.memory().numTensors, held, "no tensors left behind (student)");
    assert.equal(st.pairFiles.length, 2 * Math.min(s.pairsPerBatch, pairsOf(datasetDir("teacher-pairs", profile.name)).length));
    assert.equal(st.pseudoFiles.length, Math.min(s.pseudoPerBatch, count));
    assert.equal(st.targetCosine.length, st.pseudoFiles.length);
    assert.ok(st.targetCosine.every((c) => c >= -1 - 1e-5 && c <= 1 + 1e-5));
    for (const p of [st.before, st.after])
      assert.ok(Math.abs(p.loss - (s.alpha * p.supcon + (1 - s.alpha) * p.smoothl1)) < 1e-5 * Math.max(1, p.loss));
    assert.notEqual(st.after.loss, st.before.loss);
    // Its embeddings (under the step's noise) and targets rebuild the step's loss through the library's pieces.
    const rows = st.pairFiles.length + st.pseudoFiles.length;
    const np = st.pairFiles.length / 2;
    assert.equal(st.embeddings.length, rows * st.dim);
    assert.equal(st.cleanEmbeddings.length, rows * st.dim);
    assert.equal(st.targets.length, st.pseudoFiles.length * st.dim);
    assert.deepEqual(st.noise && { dropPath: st.noise.dropPath, dropout: st.noise.dropout }, { dropPath: s.dropPath, dropout: s.dropout });
    // The noise inside the network moves the embeddings off the clean ones.
    const largest = Math.max(...st.embeddings.map((v, i) => Math.abs(v - st.cleanEmbeddings[i])));
    assert.ok(largest > 1e-3, `noisy and clean embeddings differ by at most ${largest}`);
    const rebuilt = tf.tidy(() => {
      const z = tf.tensor2d(st.embeddings, [rows, st.dim]);
      const zp = tf.slice(z, [0, 0], [2 * np, -1]) as tf.Tensor2D;
      const zu = tf.slice(z, [2 * np, 0], [-1, -1]);
      const scale = Math.sqrt(st.dim);
      const reg = smoothL1Loss(tf.mul(zu, scale), tf.mul(tf.tensor2d(st.targets, [st.pseudoFiles.length, st.dim]), scale), s.beta);
      return { supcon: pairLossFromEmbeddings(zp, np, t).dataSync()[0], smoothl1: reg.dataSync()[0] };
    });
    assert.ok(Math.abs(rebuilt.supcon - st.before.supcon) < 1e-5 * Math.max(1, st.before.supcon));
    assert.ok(Math.abs(rebuilt.smoothl1 - st.before.smoothl1) < 1e-5 * Math.max(1, st.before.smoothl1));
    disposeModel(model);
  });
});

test("fine-tune batch anatomy: a 4x4 map pooled by LCA as the window-by-window definition, the MaxEnt objective from the logits, running statistics untouched", async () => {
  await selectBackend({ force: "wasm", log: null });
  await inTempTree("rr-anatomy-ft-", async () => {
    // 128 px on the smoke backbone ends on a 4x4 map, where LCA and GAP differ.
    const profile = { ...getProfile("smoke"), imageSize: 128 };
    await ensureData(profile);
    const classes = oneShotOf(datasetDir("capg-like", profile.name)).classes;
    const model = createModel({ arch: profile.arch, pooling: "lca", projDim: 0, classes }, 3);
    await finetuneBatchAnatomy(profile, model, "capg-like", "lca-maxent"); // first use of its ops
    const running = model.params
      .get([...model.params.keys()].find((k) => k.endsWith("running_mean"))!)!
      .dataSync()
      .slice();
    const held = tf.memory().numTensors;
    const fb = await finetuneBatchAnatomy(profile, model, "capg-like", "lca-maxent");
    assert.equal(tf.memory().numTensors, held, "no tensors left behind");
    const [N, H, W, C] = fb.mapShape;
    assert.deepEqual([N, H, W], [profile.train.finetune.batch, 4, 4]);
    assert.equal(fb.featureMap.length, N * H * W * C);
    const brute = tf.tidy(() => lcaBruteForce(tf.tensor4d(fb.featureMap, fb.mapShape)).dataSync());
    for (let i = 0; i < brute.length; i++)
      assert.ok(Math.abs(brute[i] - fb.pooled[i]) < 1e-5 * Math.max(1, Math.abs(brute[i])), `pooled[${i}]`);
    // CE - gamma * mean entropy, in double precision from the logits.
    const K = fb.classes;
    let ce = 0,
      h = 0;
    for (let i = 0; i < N; i++) {
      const row = Array.from(fb.logits.subarray(i * K, (i + 1) * K));
      const m = Math.max(...row);
      const lse = m + Math.log(row.reduce((s, v) => s + Math.exp(v - m), 0));
      ce -= row[fb.labels[i]] - lse;
      h -= row.reduce((s, v) => s + Math.exp(v - lse) * (v - lse), 0);
    }
    const expected = ce / N - fb.gamma * (h / N);
    assert.equal(fb.maxEnt, true);
    assert.ok(Math.abs(expected - fb.loss) < 1e-5 * Math.max(1, Math.abs(expected)), `MaxEnt ${expected} vs ${fb.loss}`);
    const after = model.params.get([...model.params.keys()].find((k) => k.endsWith("running_mean"))!)!.dataSync();
    assert.deepEqual(Array.from(after), Array.from(running), "batch norm's running statistics are left as they were");
    disposeModel(model);
    const wrong = createModel({ arch: profile.arch, pooling: "lca", projDim: 0, classes: classes + 1 }, 3);
    await assert.rejects(finetuneBatchAnatomy(profile, wrong, "capg-like", "lca"), /classifies \d+ classes, capg-like has \d+/);
    disposeModel(wrong);
  });
});

test("liveTraining outside a notebook: collects every row, runs the check every k steps on the model it is given, draws loss and check", async () => {
  const seen: number[] = [];
  const live = liveTraining("t", {
    name: "acc",
    every: 3,
    run: async (m) => {
      seen.push((m as unknown as { id: number }).id);
      return 10 * seen.length;
    },
  });
  for (let step = 1; step <= 7; step++)
    await live.onStep({ step, loss: 1 / step, lr: 0.1, imgPerSec: 1 } as HistoryRow, { id: step } as unknown as Model);
  assert.equal(live.rows.length, 7);
  assert.deepEqual(seen, [3, 6]);
  assert.deepEqual(live.checks, [
    { step: 3, value: 10 },
    { step: 6, value: 20 },
  ]);
  const fig = live.figure();
  assert.equal(fig.data.length, 2);
  assert.deepEqual((fig.data[1] as { x: number[] }).x, [3, 6]);
});

test("onStep reaches the step asked for only: training the student calls it for the student's steps, not for the pretraining and the teacher it trains first", async () => {
  await selectBackend({ force: "wasm", log: null });
  await inTempTree("rr-onstep-", async () => {
    const profile = getProfile("smoke");
    const steps: number[] = [];
    const { model } = await trainStage(profile, "student", { quiet: true, onStep: (row) => void steps.push(row.step) });
    disposeModel(model);
    assert.ok(
      fs.existsSync(ckptDir(profile, "pretrain")) && fs.existsSync(ckptDir(profile, "teacher")),
      "the pretraining and the teacher ran first",
    );
    assert.deepEqual(
      steps,
      Array.from({ length: profile.train.student.steps }, (_, i) => i + 1),
    );
  });
});
