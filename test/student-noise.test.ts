// The noisy student's model noise: inverted dropout on the embeddings, drawn from the seed (so a
// resumed or re-chunked step draws the same mask), and the dropped embedding renormalised.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { dropEmbeddings, dropoutMask, studentTask } from "../src/train/student";
import { getProfile } from "../src/config/profiles";
import { datasetDir, generateDataset } from "../src/data/generate";
import { filesOf, pairsOf } from "../src/data/sets";

test("dropoutMask: 0 or 1/(1-rate), about `rate` zeros, the same for the same seed, none at rate 0", async () => {
  await tf.setBackend("cpu");
  const m = dropoutMask(100, 128, 0.3, 11)!;
  const v = m.dataSync();
  const zeros = v.filter((x) => x === 0).length / v.length;
  assert.ok(Math.abs(zeros - 0.3) < 0.02, `zeros ${zeros}`);
  assert.ok(v.every((x) => x === 0 || Math.abs(x - 1 / 0.7) < 1e-6));
  const again = dropoutMask(100, 128, 0.3, 11)!;
  const other = dropoutMask(100, 128, 0.3, 12)!;
  assert.deepEqual([...again.dataSync()], [...v]);
  assert.notDeepEqual([...other.dataSync()], [...v]);
  assert.equal(dropoutMask(4, 4, 0, 1), undefined);
  tf.dispose([m, again, other]);
});

test("dropEmbeddings: zero where the mask is, unit length after, the input untouched without a mask", async () => {
  await tf.setBackend("cpu");
  const z = tf.tensor2d([
    [0.6, 0.8, 0, 0],
    [0.5, 0.5, 0.5, 0.5],
  ]);
  const mask = tf.tensor2d([
    [2, 0, 2, 2],
    [0, 2, 2, 0],
  ]);
  const d = dropEmbeddings(z, mask);
  const v = d.arraySync();
  assert.deepEqual(
    v[0].map((x) => +x.toFixed(6)),
    [1, 0, 0, 0],
  );
  assert.deepEqual(
    v[1].map((x) => +x.toFixed(6)),
    [0, +Math.SQRT1_2.toFixed(6), +Math.SQRT1_2.toFixed(6), 0],
  );
  assert.equal(dropEmbeddings(z), z);
  tf.dispose([z, mask, d]);
});

test("the student task's batches, masks and objective leave no tensors behind", async () => {
  await tf.setBackend("cpu");
  const profile = getProfile("smoke");
  for (const name of ["teacher-pairs", "student-pseudo"] as const) await generateDataset(name, profile, { quiet: true });
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  const { files } = filesOf(datasetDir("student-pseudo", profile.name));
  const dim = 16;
  const targets = { dim, data: Float32Array.from({ length: files.length * dim }, (_, i) => Math.sin(i)) };
  const task = studentTask(pairs, files, targets, profile);
  const step = async (k: number) => {
    const b = await task.batch(k);
    assert.ok(b.dropMask, "the smoke profile's student drops embedding elements");
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
