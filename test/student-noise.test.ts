// The noisy student's noise inside the network (models/noise.ts): the survival rule, the masks
// (each image's drawn as its row of the step's batch, whatever piece computes it), where the
// forward pass applies them, and every step runner's update equal to the gradient of its pieces'
// forward passes under those masks (a recomputed pass that drew other masks would differ).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { getProfile, trainSeed } from "../src/config/profiles";
import { datasetDir, generateDataset } from "../src/data/generate";
import { filesOf, pairsOf } from "../src/data/sets";
import { createModel, disposeModel, embedForward, Model } from "../src/models/model";
import { keepMask, ModelNoise, noiseRows, rowRange, survival } from "../src/models/noise";
import { paramGrads } from "../src/models/params";
import type { ResNeXtConfig } from "../src/models/resnext";
import type { LossFromEmbeddings } from "../src/train/embedding-grad";
import { Optimizer } from "../src/train/optimizer";
import { Replica } from "../src/train/replica";
import { stepRunner } from "../src/train/step-runners";
import { studentNoise, studentTask } from "../src/train/student";
import { randomArray } from "./helpers";

const SMALL: ResNeXtConfig = { name: "noise_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 32, planes: [4, 8, 8, 8], stem: 4 };
const S = 32;

test("survival: the linear decay rule, 1 - dropPath * l / L for block l of L", () => {
  assert.deepEqual(
    [0, 1, 2, 3].map((i) => +survival(0.2, i, 4).toFixed(12)),
    [0.95, 0.9, 0.85, 0.8],
  );
  assert.equal(survival(0, 5, 6), 1);
});

test("keepMask: 0 or 1 / keep, about 1 - keep zeros, mean about 1, the same for the same seed", async () => {
  await tf.setBackend("cpu");
  const m = keepMask([200, 1, 1, 64], 0.7, 11);
  const v = Array.from(m.dataSync() as Float32Array);
  const zeros = v.filter((x) => x === 0).length / v.length;
  assert.ok(Math.abs(zeros - 0.3) < 0.02, `zeros ${zeros}`);
  assert.ok(v.every((x) => x === 0 || Math.abs(x - 1 / 0.7) < 1e-6));
  assert.ok(Math.abs(v.reduce((a, b) => a + b, 0) / v.length - 1) < 0.03);
  const [again, other] = [keepMask([200, 1, 1, 64], 0.7, 11), keepMask([200, 1, 1, 64], 0.7, 12)];
  assert.deepEqual([...again.dataSync()], [...v]);
  assert.notDeepEqual([...other.dataSync()], [...v]);
  assert.ok(
    keepMask([3, 5], 1, 4)
      .dataSync()
      .every((x) => x === 1),
  );
  tf.dispose([m, again, other]);
});

test("masks by row: a piece's rows draw what the whole batch's rows draw; noiseRows composes", async () => {
  await tf.setBackend("cpu");
  const whole = keepMask([6, 2, 2, 5], 0.6, 3).arraySync() as number[][][][];
  const piece = keepMask([2, 2, 2, 5], 0.6, 3, [4, 1]).arraySync() as number[][][][];
  assert.deepEqual(piece, [whole[4], whole[1]]);
  const noise: ModelNoise = { dropPath: 0.2, dropout: 0.3, seed: 77 };
  assert.deepEqual(noiseRows(noise, [3, 4])!.rows, [3, 4]);
  assert.deepEqual(noiseRows(noiseRows(noise, rowRange(2, 6)), [1, 3])!.rows, [3, 5]);
  assert.equal(noiseRows(undefined, [1]), undefined);
});

test("the forward pass: no noise at zero rates or in eval mode, one draw per seed, each image its own masks", async () => {
  await selectBackend({ force: "wasm", log: null });
  const model = createModel({ arch: SMALL }, 3);
  // Two images, four copies each (batch norm needs the batch to vary): clean, the copies of an
  // image embed alike; noised, they differ copy by copy.
  const two = randomArray(2 * S * S * 3, 9);
  const x = tf.tensor4d(
    Float32Array.from({ length: 4 * two.length }, (_, i) => two[i % two.length]),
    [8, S, S, 3],
  );
  const noise: ModelNoise = { dropPath: 0.5, dropout: 0.3, seed: 5 };
  // The largest difference between the first image's copies (rows 0, 2, 4, 6).
  const spread = (t: tf.Tensor2D) => {
    const r = t.arraySync().filter((_, i) => i % 2 === 0);
    return Math.max(...r.flatMap((row) => row.map((v, j) => Math.abs(v - r[0][j]))));
  };
  try {
    const [clean, zero, evalNoised, evalClean, a, b, c] = tf.tidy(() => [
      embedForward(model, x, true),
      embedForward(model, x, true, { dropPath: 0, dropout: 0, seed: 5 }),
      embedForward(model, x, false, noise),
      embedForward(model, x, false),
      embedForward(model, x, true, noise),
      embedForward(model, x, true, noise),
      embedForward(model, x, true, { ...noise, seed: 6 }),
    ]);
    assert.deepEqual([...zero.dataSync()], [...clean.dataSync()], "zero rates: the clean pass");
    assert.deepEqual([...evalNoised.dataSync()], [...evalClean.dataSync()], "eval mode: no noise");
    assert.deepEqual([...a.dataSync()], [...b.dataSync()], "one seed, one draw");
    assert.notDeepEqual([...a.dataSync()], [...c.dataSync()], "another seed, another draw");
    assert.ok(spread(clean) < 1e-4, `clean copies embed alike (${spread(clean)})`);
    assert.ok(spread(a) > 1e-2, `noised copies differ (${spread(a)})`);
    tf.dispose([clean, zero, evalNoised, evalClean, a, b, c]);
  } finally {
    x.dispose();
    disposeModel(model);
  }
});

type Kind = "local" | "chunked" | "replica";
/** The pieces each runner computes the batch of n in: whole, two contiguous chunks, even and odd rows. */
const PIECES: Record<Kind, (n: number) => number[][]> = {
  local: (n) => [rowRange(0, n)],
  chunked: (n) => [rowRange(0, n / 2), rowRange(n / 2, n)],
  replica: (n) => [rowRange(0, n).filter((i) => i % 2 === 0), rowRange(0, n).filter((i) => i % 2 === 1)],
};

/** The parameter deltas after one SGD step from the seeded model: the runner's (`byHand` false), or
 * by hand, each piece's forward pass under its rows' masks, put back in batch order (`byHand`). */
async function update(kind: Kind, byHand: boolean, x: tf.Tensor4D, objective: LossFromEmbeddings, noise: ModelNoise) {
  const model = createModel({ arch: SMALL }, 5);
  const before = new Map([...model.params].map(([n, v]) => [n, v.dataSync().slice()]));
  const opt = new Optimizer({ kind: "sgd", lr: 0.1 });
  const replica = kind === "replica" && !byHand ? new Replica() : undefined;
  const n = x.shape[0];
  try {
    let loss: number;
    if (byHand) {
      const pieces = PIECES[kind](n);
      const { value, grads } = paramGrads(model.params, () => {
        const zs = pieces.map((rows) => embedForward(model, tf.gather(x, rows) as tf.Tensor4D, true, noiseRows(noise, rows)));
        // Row r from its piece, by slices (gather's gradient has no wasm kernel).
        const z = tf.concat(
          rowRange(0, n).map((r) => {
            const p = pieces.findIndex((rows) => rows.includes(r));
            return tf.slice(zs[p], [pieces[p].indexOf(r), 0], [1, -1]);
          }),
        );
        return objective(z as tf.Tensor2D).loss;
      });
      loss = value.dataSync()[0];
      opt.apply(model.params, grads, 0.1);
      tf.dispose([value, ...Object.values(grads)]);
    } else {
      if (replica) await replica.init(model, opt);
      const run = stepRunner(model, opt, { chunk: kind === "chunked" ? n / 2 : 0, replica });
      loss = await run(x, objective, 0.1, () => undefined, {}, noise);
    }
    const delta = (m: Model) =>
      Object.fromEntries([...m.params].map(([k, v]) => [k, Float32Array.from(v.dataSync(), (w, i) => w - before.get(k)![i])]));
    return { loss, delta: delta(model) };
  } finally {
    await replica?.terminate();
    opt.dispose();
    disposeModel(model);
  }
}

test("step runners under noise: each one's update is the gradient of its pieces' passes under the batch rows' masks", async () => {
  await selectBackend({ force: "wasm", log: null });
  const n = 8;
  const x = tf.tensor4d(randomArray(n * S * S * 3, 17), [n, S, S, 3]);
  const probe = createModel({ arch: SMALL }, 5);
  const dim = tf.tidy(() => embedForward(probe, tf.zeros([1, S, S, 3]), false).shape[1]);
  disposeModel(probe);
  const target = tf.tensor2d(randomArray(n * dim, 13), [n, dim]);
  const objective: LossFromEmbeddings = (z) => ({ loss: tf.mean(tf.square(tf.sub(z, target))) as tf.Scalar });
  const noise: ModelNoise = { dropPath: 0.4, dropout: 0.3, seed: 21 };
  try {
    for (const kind of ["local", "chunked", "replica"] as const) {
      const [runner, byHand] = [await update(kind, false, x, objective, noise), await update(kind, true, x, objective, noise)];
      assert.ok(Math.abs(runner.loss - byHand.loss) < 1e-5, `${kind}: loss ${runner.loss} vs ${byHand.loss} by hand`);
      for (const [name, d] of Object.entries(byHand.delta).filter(([k]) => !/running_/.test(k))) {
        const scale = d.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        const worst = d.reduce((a, v, i) => Math.max(a, Math.abs(runner.delta[name][i] - v)), 0);
        assert.ok(worst <= 1e-4 * scale + 1e-7, `${kind}: the update of ${name} differs by ${worst} (largest ${scale})`);
      }
    }
  } finally {
    tf.dispose([x, target]);
  }
});

test("the student task: each step's noise from the run's seed and the step, and no tensors left behind", async () => {
  await tf.setBackend("cpu");
  const profile = getProfile("smoke");
  const s = profile.train.student;
  assert.ok(s.dropPath > 0 && s.dropout > 0 && s.randAugment.ops > 0, "the smoke profile's student is noised");
  assert.deepEqual(studentNoise(s, 3, 4), studentNoise(s, 3, 4));
  assert.notEqual(studentNoise(s, 3, 4)!.seed, studentNoise(s, 3, 5)!.seed);
  assert.equal(studentNoise({ ...s, dropPath: 0, dropout: 0 }, 3, 4), undefined);
  for (const name of ["teacher-pairs", "student-pseudo"] as const) await generateDataset(name, profile, { quiet: true });
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const { files } = filesOf(datasetDir("student-pseudo", profile.name));
  const dim = 16;
  const targets = { dim, data: Float32Array.from({ length: files.length * dim }, (_, i) => Math.sin(i)) };
  const task = studentTask(pairs, files, targets, profile);
  const step = async (k: number) => {
    const b = await task.batch(k);
    assert.deepEqual(task.noise?.(b), studentNoise(s, trainSeed(profile) + 1, k), "the run's seed (+1, as its batches) and the step");
    tf.tidy(() => {
      const z = tf.randomNormal([task.imagesPerStep, dim], 0, 1, "float32", k) as tf.Tensor2D;
      const zn = tf.div(z, tf.norm(z, 2, 1, true)) as tf.Tensor2D;
      return task.objective(zn, b).loss;
    }).dispose();
    task.dispose(b);
  };
  await step(0);
  const before = tf.memory().numTensors;
  for (let k = 1; k < 4; k++) await step(k);
  assert.equal(tf.memory().numTensors, before);
});
