// The gradient-cache step against direct differentiation of the same loss.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { createModel, disposeModel, embedForward, Model } from "../src/models/model";
import { ResNeXtConfig } from "../src/models/resnext";
import { paramGrads } from "../src/models/params";
import { withoutRunningStatUpdates } from "../src/models/layers";
import { chunkedGrads, chunkRanges } from "../src/train/chunked";
import { pairLossFromEmbeddings } from "../src/train/teacher";
import { getProfile } from "../src/config/profiles";
import { randomArray } from "./helpers";

const SMALL: ResNeXtConfig = { name: "chunk_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 16, planes: [4, 8, 8, 8], stem: 4 };
const N = 5; // pairs: a batch of 10 images
const hp = getProfile("smoke").train.teacher;
const lossOf = (z: tf.Tensor2D) => ({ loss: pairLossFromEmbeddings(z, N, hp) });

function maxRelDiff(a: Record<string, tf.Tensor>, b: Record<string, tf.Tensor>): { worst: number; name: string } {
  let worst = 0,
    name = "";
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  for (const k of Object.keys(b)) {
    const x = a[k].dataSync(),
      y = b[k].dataSync();
    let scale = 0;
    for (const v of y) scale = Math.max(scale, Math.abs(v));
    for (let i = 0; i < y.length; i++) {
      const d = Math.abs(x[i] - y[i]) / Math.max(scale, 1e-12);
      if (d > worst) [worst, name] = [d, k];
    }
  }
  return { worst, name };
}

const batch = () => tf.tensor4d(randomArray(2 * N * 32 * 32 * 3, 11), [2 * N, 32, 32, 3]);
const running = (m: Model) => [...m.params].filter(([n]) => /running_mean/.test(n)).map(([, v]) => [...v.dataSync()]);

test("chunk ranges cover the batch once, in order", () => {
  assert.deepEqual(chunkRanges(10, 4), [
    [0, 4],
    [4, 8],
    [8, 10],
  ]);
  assert.deepEqual(chunkRanges(3, 8), [[0, 3]]);
  assert.throws(() => chunkRanges(3, 0), /chunk size must be at least 1/);
});

test("gradient cache, batch norm in eval mode: the unchunked step's gradients to 1e-4 relative, for chunks of 1, 3 and 10", async () => {
  await tf.setBackend("cpu");
  const m = createModel({ arch: SMALL }, 3);
  const x = batch();
  const direct = paramGrads(m.params, () => lossOf(embedForward(m, x, false)).loss);
  for (const chunk of [1, 3, 10]) {
    const before = tf.memory().numTensors;
    const c = chunkedGrads(m, x, lossOf, { chunk, training: false });
    assert.ok(Math.abs(c.loss - direct.value.dataSync()[0]) < 1e-5, `loss ${c.loss} vs ${direct.value.dataSync()[0]}`);
    const { worst, name } = maxRelDiff(c.grads, direct.grads);
    assert.ok(worst < 1e-4, `chunk ${chunk}: worst relative difference ${worst} in ${name}`);
    tf.dispose(Object.values(c.grads));
    assert.equal(tf.memory().numTensors, before, "nothing left behind");
  }
  tf.dispose([x, direct.value, ...Object.values(direct.grads)]);
  disposeModel(m);
});

test("gradient cache, batch norm in training mode: the gradient of the per-chunk-statistics loss; running stats move once", async () => {
  await tf.setBackend("cpu");
  const m = createModel({ arch: SMALL }, 4);
  const x = batch();
  const chunk = 4;
  // The reference differentiates the whole loss at once, each chunk normalised by its own statistics.
  const reference = withoutRunningStatUpdates(() =>
    paramGrads(m.params, () => {
      const zs = chunkRanges(2 * N, chunk).map(([b, e]) =>
        embedForward(m, tf.slice(x, [b, 0, 0, 0], [e - b, -1, -1, -1]) as tf.Tensor4D, true),
      );
      return lossOf(tf.concat(zs, 0) as tf.Tensor2D).loss;
    }),
  );
  const stats0 = running(m);
  const c = chunkedGrads(m, x, lossOf, { chunk, training: true });
  const { worst, name } = maxRelDiff(c.grads, reference.grads);
  assert.ok(worst < 1e-4, `worst relative difference ${worst} in ${name}`);
  // Running statistics: exactly one update, from the first chunk.
  const m2 = createModel({ arch: SMALL }, 4);
  tf.tidy(() => embedForward(m2, tf.slice(x, [0, 0, 0, 0], [chunk, -1, -1, -1]) as tf.Tensor4D, true));
  assert.notDeepEqual(running(m), stats0);
  assert.deepEqual(running(m), running(m2));
  // One chunk of the whole batch is the plain step.
  const whole = withoutRunningStatUpdates(() => paramGrads(m.params, () => lossOf(embedForward(m, x, true)).loss));
  const one = chunkedGrads(m, x, lossOf, { chunk: 2 * N, training: true });
  assert.ok(maxRelDiff(one.grads, whole.grads).worst < 1e-5);
  tf.dispose([
    x,
    reference.value,
    whole.value,
    ...Object.values(reference.grads),
    ...Object.values(c.grads),
    ...Object.values(whole.grads),
    ...Object.values(one.grads),
  ]);
  [m, m2].forEach(disposeModel);
});
