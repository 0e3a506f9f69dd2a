// The torch backend (libtorch through the N-API addon) against the native wasm engine: each
// kernel family forward and backward on random inputs, odd shapes included (batch 1, 1x1 maps,
// groups = channels, tfjs's asymmetric 'same' padding), a whole ResNeXt + LCA training step and
// inference pass, the optimiser's update, no leaks, every kernel the project runs registered,
// and the fallback when no libtorch is usable. Without libtorch these tests are skipped with
// the reason, except under CI, which installs libtorch-dev and must run them.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { engineLabel } from "../src/engine/native-kernels";
import { TORCH_KERNELS } from "../src/engine/torch-kernels";
import { debianLibTorch, findLibTorch, loadTorch } from "../src/engine/torch-lib";
import { conv2d, maxPool3x3s2 } from "../src/models/layers";
import { createModel, disposeModel, features } from "../src/models/model";
import { paramGrads } from "../src/models/params";
import { ResNeXtConfig } from "../src/models/resnext";
import { supConLoss, pairLabels } from "../src/losses/supcon";
import { hardNegativeMask } from "../src/losses/mining";
import { Optimizer } from "../src/train/optimizer";
import { randomArray, relError } from "./helpers";

const torch = loadTorch();
const skip = torch.ok || process.env.CI ? false : `no usable libtorch: ${torch.why}`;
const SMALL: ResNeXtConfig = { name: "test_small", layers: [1, 1, 1, 1], groups: 4, widthPerGroup: 16, planes: [8, 16, 32, 64], stem: 8 };

type Shapes = number[][];
/** f's value and the gradients of sum(f(x) * r) for each input, as plain arrays. */
function evaluate(f: (...xs: tf.Tensor[]) => tf.Tensor, shapes: Shapes, seed: number, grads: boolean): Float32Array[] {
  return tf.tidy(() => {
    const xs = shapes.map((s, i) =>
      tf.tensor(
        randomArray(
          s.reduce((p, q) => p * q, 1),
          seed + i,
        ),
        s,
      ),
    );
    const y = f(...xs);
    const r = tf.tensor(randomArray(y.size, seed + 99), y.shape);
    const out = [Float32Array.from(y.dataSync())];
    if (grads) for (const g of tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), r)))(xs)) out.push(Float32Array.from(g.dataSync()));
    return out;
  });
}

async function onBoth<T>(run: () => T | Promise<T>): Promise<{ wasm: T; torch: T }> {
  await selectBackend({ force: "wasm", log: null });
  const wasm = await run();
  await selectBackend({ force: "torch", log: null });
  const t = await run();
  await selectBackend({ force: "wasm", log: null });
  return { wasm, torch: t };
}

// The last field: false where tfjs has no gradient to compare (comparisons, strided slices) or
// wasm lacks the gradient's kernel (gather's UnsortedSegmentSum): forward only.
const CASES: [string, (...xs: tf.Tensor[]) => tf.Tensor, Shapes, boolean?][] = [
  [
    "3x3 convolution, padding 1",
    (x, w) => conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1),
    [
      [2, 6, 6, 4],
      [3, 3, 4, 8],
    ],
  ],
  [
    "7x7 stride-2 stem convolution, batch 1",
    (x, w) => conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2),
    [
      [1, 9, 9, 3],
      [7, 7, 3, 8],
    ],
  ],
  [
    "1x1 convolution on a 1x1 map, batch 1",
    (x, w) => conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1),
    [
      [1, 1, 1, 8],
      [1, 1, 8, 4],
    ],
  ],
  [
    "grouped convolution, 4 groups, stride 2",
    (x, w) => conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, 4),
    [
      [2, 7, 7, 8],
      [3, 3, 2, 8],
    ],
  ],
  [
    "grouped convolution, groups = channels",
    (x, w) => conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 1, 6),
    [
      [2, 5, 5, 6],
      [3, 3, 1, 6],
    ],
  ],
  [
    "tf.conv2d 'same' at stride 2 (asymmetric padding)",
    (x, w) => tf.conv2d(x as tf.Tensor4D, w as tf.Tensor4D, 2, "same"),
    [
      [2, 6, 6, 3],
      [3, 3, 3, 4],
    ],
  ],
  [
    "fused convolution with bias and ReLU",
    (x, w, b) => tf.fused.conv2d({ x: x as tf.Tensor4D, filter: w as tf.Tensor4D, strides: 1, pad: "same", bias: b, activation: "relu" }),
    [[2, 5, 5, 4], [3, 3, 4, 6], [6]],
  ],
  ["max pool 3x3 stride 2 padding 1", (x) => maxPool3x3s2(x as tf.Tensor4D), [[2, 9, 9, 4]]],
  ["average pool 2x2 (LCA's windows)", (x) => tf.avgPool(x as tf.Tensor4D, 2, 1, "valid"), [[2, 5, 5, 4]]],
  [
    "matmul with transposes",
    (a, b) => tf.matMul(a, b, true, false),
    [
      [7, 5],
      [7, 3],
    ],
  ],
  [
    "batched matmul",
    (a, b) => tf.matMul(a, b, false, true),
    [
      [3, 4, 5],
      [3, 6, 5],
    ],
  ],
  ["softmax and log-sum-exp", (x) => tf.add(tf.softmax(x), tf.logSumExp(x, 1, true)), [[4, 9]]],
  ["element-wise chain", (x, y) => tf.addN([tf.sqrt(tf.add(tf.abs(x), 1)), tf.exp(tf.neg(tf.square(y))), tf.log(tf.add(tf.square(x), 1)), tf.sigmoid(x), tf.tanh(y), tf.rsqrt(tf.add(tf.abs(y), 0.5)), tf.pow(tf.add(tf.abs(x), 1), 1.5), tf.maximum(x, y), tf.minimum(x, y), tf.div(x, tf.add(tf.abs(y), 1)), tf.relu(x)]), [[3, 5], [3, 5]]], // prettier-ignore
  ["reductions over axes", (x) => tf.addN([tf.sum(x, [0, 2]), tf.mean(x, [0, 2]), tf.max(x, [0, 2]), tf.min(x, [0, 2])]), [[3, 4, 5]]],
  ["broadcasts, masks and selections", (x, y) => tf.add(tf.where(tf.greater(x, 0), x, tf.mul(y, 0.1)), tf.mul(tf.cast(tf.lessEqual(x, y), "float32"), y)), [[4, 6], [4, 6]], false], // prettier-ignore
  ["gather, one-hot, slices and concat", (x) => tf.concat([tf.gather(x, tf.tensor1d([3, 0, 2], "int32")), tf.slice(x, [1, 0], [3, -1]), tf.mul(tf.oneHot(tf.tensor1d([1, 0, 4], "int32"), 6), 2)], 0), [[5, 6]], false], // prettier-ignore
  ["stack, unstack, split, tile and pad", (x) => tf.concat([tf.stack(tf.unstack(x, 1), 1), ...tf.split(x, [2, 4], 1), tf.tile(tf.slice(x, [0, 0], [-1, 3]), [1, 2]), tf.pad(tf.slice(x, [0, 1], [-1, 4]), [[0, 0], [1, 1]])], 1), [[3, 6]]], // prettier-ignore
  ["strided slice with a negative stride", (x) => tf.stridedSlice(x, [0, 5], [4, 0], [2, -2]), [[4, 6]], false],
];

for (const [name, f, shapes, grads = true] of CASES)
  test(`torch backend: ${name} matches wasm ${grads ? "forward and backward" : "forward"} (relative error <= 1e-4)`, { skip }, async () => {
    const { wasm, torch: t } = await onBoth(() => evaluate(f, shapes, 1, grads));
    wasm.forEach((w, i) => {
      const e = relError(t[i], w);
      assert.ok(e <= 1e-4, `${i === 0 ? "forward" : `gradient of input ${i - 1}`}: relative error ${e.toExponential(2)}`);
    });
  });

test("torch backend: top-k, argmax and comparisons give the wasm backend's integers and booleans", { skip }, async () => {
  const run = () =>
    tf.tidy(() => {
      const x = tf.tensor2d(randomArray(4 * 9, 5), [4, 9]);
      const { values, indices } = tf.topk(x, 3);
      return [values.dataSync(), indices.dataSync(), tf.argMax(x, 1).dataSync(), tf.equal(tf.round(tf.mul(x, 2)), 1).dataSync()].map((a) =>
        Array.from(a),
      );
    });
  const { wasm, torch: t } = await onBoth(run);
  assert.ok(relError(t[0], wasm[0]) <= 1e-6, "top-k values");
  assert.deepEqual(t.slice(1), wasm.slice(1));
});

test("torch backend: SupCon with hard negatives, loss and embedding gradient as on wasm", { skip }, async () => {
  const run = () =>
    tf.tidy(() => {
      const labels = pairLabels(6);
      const z0 = tf.tensor2d(randomArray(12 * 8, 21), [12, 8]);
      const loss = (z: tf.Tensor) => {
        const zn = tf.div(z, tf.norm(z, 2, 1, true)) as tf.Tensor2D;
        return supConLoss(zn, labels, { negativeMask: hardNegativeMask(zn, labels, 0.5) });
      };
      return [Array.from(loss(z0).dataSync()), Array.from(tf.grad(loss)(z0).dataSync())];
    });
  const { wasm, torch: t } = await onBoth(run);
  assert.ok(relError(t[0], wasm[0]) <= 1e-5, `loss ${t[0]} vs ${wasm[0]}`);
  assert.ok(relError(t[1], wasm[1]) <= 1e-4, `gradient: relative error ${relError(t[1], wasm[1])}`);
});

/** A ResNeXt + LCA model's gradients in a training step, its eval-mode embeddings, and its weights after one SGD step. */
function modelStep(): { grads: Map<string, Float32Array>; embed: Float32Array; after: Float32Array[] } {
  const m = createModel({ arch: SMALL, pooling: "lca" }, 3);
  const x = tf.tensor4d(randomArray(3 * 40 * 40 * 3, 11), [3, 40, 40, 3]);
  const { value, grads } = paramGrads(m.params, () => tf.mean(tf.square(features(m, x, true))) as tf.Scalar);
  const out = new Map(Object.entries(grads).map(([name, g]) => [name, Float32Array.from(g.dataSync())]));
  const embed = tf.tidy(() => Float32Array.from(features(m, x, false).dataSync()));
  new Optimizer({ kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 1e-4 }).apply(m.params, grads);
  const after = [...m.params.values()].map((p) => Float32Array.from(p.dataSync()));
  tf.dispose([value, x, ...Object.values(grads)]);
  disposeModel(m);
  return { grads: out, embed, after };
}

test(
  "torch backend: a whole ResNeXt + LCA training step, inference pass and SGD update match wasm (relative error <= 1e-4)",
  { skip },
  async () => {
    const { wasm, torch: t } = await onBoth(modelStep);
    assert.equal(t.grads.size, wasm.grads.size);
    for (const [name, w] of wasm.grads) {
      const e = relError(t.grads.get(name)!, w);
      assert.ok(e <= 1e-4, `${name}: relative gradient difference ${e.toExponential(2)}`);
    }
    assert.ok(relError(t.embed, wasm.embed) <= 1e-4, `eval-mode embeddings: ${relError(t.embed, wasm.embed)}`);
    wasm.after.forEach((w, i) => assert.ok(relError(t.after[i], w) <= 1e-4, `parameter ${i} after SGD: ${relError(t.after[i], w)}`));
  },
);

// The kernels a path runs, not only its numbers: a reordering of batchNorm's branches once sent
// the torch backend down the native engine's per-channel kernels (right, and 15 % slower).
test("torch backend: a training step's batch norm runs on ATen's own kernels, one call forward and one backward", { skip }, async () => {
  await selectBackend({ force: "torch", log: null });
  const m = createModel({ arch: SMALL, pooling: "gap" }, 4);
  const x = tf.tensor4d(randomArray(2 * 32 * 32 * 3, 13), [2, 32, 32, 3]);
  const check = tf.env().getBool("CHECK_COMPUTATION_FOR_ERRORS");
  tf.env().set("CHECK_COMPUTATION_FOR_ERRORS", false);
  const info = await tf.profile(() => {
    const { value, grads } = paramGrads(m.params, () => tf.mean(tf.square(features(m, x, true))) as tf.Scalar);
    tf.dispose([value, ...Object.values(grads)]);
  });
  tf.env().set("CHECK_COMPUTATION_FOR_ERRORS", check);
  const calls = (name: string) => info.kernels.filter((k) => k.name === name).length;
  const norms = [...m.params.keys()].filter((k) => k.endsWith(".running_mean")).length;
  assert.equal(calls("RetailBatchNormTrain"), norms);
  assert.equal(calls("RetailBatchNormTrainGrad"), norms);
  for (const k of ["RetailChannelMoments", "RetailChannelAffine", "RetailBatchNormGradSums"]) assert.equal(calls(k), 0, k);
  x.dispose();
  disposeModel(m);
  await selectBackend({ force: "wasm", log: null });
});

test(
  "torch backend: training steps leak no tensors (tfjs's count, the backend's data ids, libtorch's store and its filter copies stay flat)",
  { skip },
  async () => {
    await selectBackend({ force: "torch", log: null });
    assert.match(engineLabel(), /^torch\/(cpu|cuda:\d+)$/);
    const m = createModel({ arch: SMALL, pooling: "lca" }, 4);
    const x = tf.tensor4d(randomArray(2 * 32 * 32 * 3, 12), [2, 32, 32, 3]);
    const opt = new Optimizer({ kind: "sgd", lr: 0.01, momentum: 0.9 });
    const step = () => {
      const { value, grads } = paramGrads(m.params, () => tf.mean(tf.square(features(m, x, true))) as tf.Scalar);
      opt.apply(m.params, grads);
      tf.dispose([value, ...Object.values(grads)]);
    };
    step();
    const tensors = tf.memory().numTensors;
    const ids = tf.backend().numDataIds();
    const live = torch.ok ? torch.lib.live() : 0;
    const copies = torch.ok ? torch.lib.filterCopies() : 0;
    for (let i = 0; i < 20; i++) step();
    assert.equal(tf.memory().numTensors, tensors);
    assert.equal(tf.backend().numDataIds(), ids);
    if (torch.ok) assert.equal(torch.lib.live(), live);
    // The filters' PyTorch-layout copies go with the filters they were made from.
    if (torch.ok) assert.equal(torch.lib.filterCopies(), copies);
    tf.tidy(() => features(m, x, false));
    x.dispose();
    disposeModel(m);
    if (torch.ok) assert.equal(torch.lib.filterCopies(), 0);
    await selectBackend({ force: "wasm", log: null });
  },
);

// The kernels the smoke pipeline runs on the native engine (teacher, student, fine-tunes,
// probes), collected by tracing tf.engine().runKernel, plus the pooling kernels of larger maps.
const PIPELINE_KERNELS = `Abs Add AvgPool AvgPoolGrad BatchMatMul Cast Concat Conv2D Conv2DBackpropFilter Conv2DBackpropInput Equal Exp Fill
  Greater GreaterEqual Identity LessEqual Log Max MaxPool MaxPoolGrad Maximum Mean Minimum Multiply Neg OneHot OnesLike Pow
  RealDiv Reshape RetailBatchNormGradSums RetailChannelAffine RetailChannelMoments RetailConv2DScaleBiasAdd RetailGroupedConv2D
  RetailGroupedConv2DBackpropFilter RetailGroupedConv2DBackpropInput RetailScaledAdd Rsqrt Select SplitV Sqrt Square Step Sub
  Sum Unpack ZerosLike`.split(/\s+/);

test("torch backend: every kernel the pipeline runs is registered (a gap fails here, not mid-run)", { skip }, async () => {
  await selectBackend({ force: "torch", log: null });
  const missing = PIPELINE_KERNELS.filter((k) => !tf.getKernel(k, "torch"));
  assert.deepEqual(missing, []);
  for (const k of PIPELINE_KERNELS) assert.ok(TORCH_KERNELS.includes(k), k);
  await selectBackend({ force: "wasm", log: null });
});

test("without a libtorch the reasons are reported and selection falls back to the next backend", async () => {
  const empty = fs.mkdtempSync(path.join(os.tmpdir(), "no-libtorch-"));
  const debian = debianLibTorch(empty);
  assert.ok("why" in debian && /libtorch-dev is not installed/.test(debian.why));
  const none = findLibTorch([() => ({ why: "python3 has no usable torch" }), () => debianLibTorch(empty)]);
  assert.ok("why" in none && none.why.includes("python3 has no usable torch") && none.why.includes("libtorch-dev"));
  const sel = await selectBackend({
    log: null,
    checks: { torch: async () => ({ ok: false, why: "no libtorch: test" }), "tensorflow-gpu": async () => ({ ok: false, why: "x" }) },
  });
  assert.notEqual(sel.chosen, "torch");
  assert.deepEqual(sel.skipped[0], { name: "torch", why: "no libtorch: test" });
  await assert.rejects(
    selectBackend({ force: "torch", log: null, checks: { torch: async () => ({ ok: false, why: "no libtorch: test" }) } }),
    /backend 'torch' was forced .* cannot start: no libtorch: test/,
  );
  fs.rmSync(empty, { recursive: true });
});
