// A fine-tune recipe's two rates: the new head's parameters step at the rate, the pretrained
// backbone's at backboneScale x the rate (worked by hand on plain SGD).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { Optimizer } from "../src/train/optimizer";
import type { Params } from "../src/models/params";

test("SGD with backboneScale: head parameters at lr, the rest at lr x scale", async () => {
  await tf.setBackend("cpu");
  const params: Params = new Map([
    ["fc.weight", tf.variable(tf.tensor1d([1, 2]))],
    ["lca.dense.bias", tf.variable(tf.tensor1d([0]))],
    ["layer1.0.conv1.weight", tf.variable(tf.tensor1d([1, 2]))],
  ]);
  const grads = { "fc.weight": tf.tensor1d([1, 1]), "lca.dense.bias": tf.tensor1d([2]), "layer1.0.conv1.weight": tf.tensor1d([1, 1]) };
  const opt = new Optimizer({ kind: "sgd", lr: 0.5, backboneScale: 0.1, headPrefixes: ["fc.", "lca."] });
  opt.apply(params, grads);
  const v = (k: string) => [...params.get(k)!.dataSync()];
  assert.deepEqual(v("fc.weight"), [0.5, 1.5]);
  assert.deepEqual(v("lca.dense.bias"), [-1]);
  const bb = v("layer1.0.conv1.weight");
  assert.ok(Math.abs(bb[0] - 0.95) < 1e-6 && Math.abs(bb[1] - 1.95) < 1e-6, `${bb}`);
  // Without a scale every parameter steps at the rate.
  const plain = new Optimizer({ kind: "sgd", lr: 0.5 });
  plain.apply(params, grads);
  assert.ok(Math.abs(v("layer1.0.conv1.weight")[0] - 0.45) < 1e-6);
  for (const t of Object.values(grads)) t.dispose();
  for (const p of params.values()) p.dispose();
  opt.dispose();
  plain.dispose();
});
