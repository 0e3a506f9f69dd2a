// Data-parallel training on two cores: the step equals the single-thread computation of the
// same loss with batch norm over each half, and both replicas stay identical.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { createModel, disposeModel, embedForward } from "../src/models/model";
import { paramGrads } from "../src/models/params";
import { ResNeXtConfig } from "../src/models/resnext";
import { pairLabels, supConLoss } from "../src/losses/supcon";
import { Optimizer } from "../src/train/optimizer";
import { parallelStep, Replica } from "../src/train/replica";
import { randomArray } from "./helpers";

const SMALL: ResNeXtConfig = { name: "dp_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 32, planes: [4, 8, 8, 8], stem: 4 };
const batch = (seed: number) => tf.tensor4d(randomArray(8 * 32 * 32 * 3, seed), [8, 32, 32, 3]);
const loss = (z: tf.Tensor2D) => ({ loss: supConLoss(z, pairLabels(4)) });

test("a data-parallel step equals one thread computing the same loss with batch norm per half", async (t) => {
  await selectBackend({ force: "wasm", log: null });
  const cfg = { kind: "sgd" as const, lr: 0.1 };
  const a = createModel({ arch: SMALL }, 3);
  const optA = new Optimizer(cfg);
  const replica = new Replica();
  t.after(() => replica.terminate()); // a failed assertion must not leave the worker running
  await replica.init(a, optA);
  const x = batch(1);
  const r = await parallelStep(a, optA, replica, x, loss, 0.1);

  // Reference: even rows and odd rows embedded separately (their own BN statistics), one thread.
  const b = createModel({ arch: SMALL }, 3);
  const optB = new Optimizer(cfg);
  const even = [0, 2, 4, 6],
    odd = [1, 3, 5, 7];
  const { value, grads } = paramGrads(b.params, () => {
    // Interleave the halves back into batch order (stack + reshape: differentiable on wasm).
    const ze = embedForward(b, tf.gather(x, even), true),
      zo = embedForward(b, tf.gather(x, odd), true);
    const z = tf.reshape(tf.stack([ze, zo], 1), [8, ze.shape[1]]) as tf.Tensor2D;
    return loss(z).loss;
  });
  assert.ok(Math.abs(value.dataSync()[0] - r.loss) < 1e-5, `loss ${r.loss} vs ${value.dataSync()[0]}`);
  optB.apply(b.params, grads, 0.1);
  for (const [n, v] of a.params) {
    if (!v.trainable) continue;
    const got = v.dataSync(),
      want = b.params.get(n)!.dataSync();
    let worst = 0;
    for (let i = 0; i < got.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1e-3 + Math.abs(want[i])));
    assert.ok(worst < 1e-3, `${n}: relative difference ${worst}`);
  }
  [a, b].forEach(disposeModel);
});

test("replicas stay identical over steps (momentum, weight decay) and no tensors leak", async (t) => {
  await selectBackend({ force: "wasm", log: null });
  const m = createModel({ arch: SMALL }, 4);
  const opt = new Optimizer({ kind: "sgd", lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const replica = new Replica();
  t.after(() => replica.terminate());
  await replica.init(m, opt);
  const x0 = batch(2);
  await parallelStep(m, opt, replica, x0, loss, 0.05);
  const tensors = tf.memory().numTensors;
  const losses: number[] = [];
  for (let s = 0; s < 4; s++) losses.push((await parallelStep(m, opt, replica, x0, loss, 0.05)).loss);
  assert.equal(tf.memory().numTensors, tensors);
  assert.ok(losses[3] < losses[0], `loss ${losses.join(" -> ")}`);
  const theirs = await replica.call<Record<string, Float32Array>>("weights", {});
  for (const [n, v] of m.params) if (v.trainable) assert.deepEqual(theirs[n], v.dataSync(), `${n} differs between replicas`);
  x0.dispose();
  disposeModel(m);
});
