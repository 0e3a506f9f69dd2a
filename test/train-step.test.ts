// Whole-network checks: batch norm's hand-written gradient against autodiff, a full ResNeXt
// training step on wasm against the cpu backend, and no tensor leak across steps.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { nativeConvolutionsOn, setNativeConvolutions } from "../src/engine/native-kernels";
import { batchNorm, BN_EPS } from "../src/models/layers";
import { createModel, disposeModel, features } from "../src/models/model";
import { createParams, paramGrads, trainableVariables } from "../src/models/params";
import { ResNeXtConfig } from "../src/models/resnext";
import { assertClose, randomArray, relError, skipUnlessNative } from "./helpers";

const SMALL: ResNeXtConfig = { name: "test_small", layers: [1, 1, 1, 1], groups: 4, widthPerGroup: 16, planes: [8, 16, 32, 64], stem: 8 };

// Batch norm's hand-written gradient on every engine: tfjs ops (cpu, wasm with XNNPACK) and the
// native per-channel kernels (wasm native), each against autodiff through tf.moments.
const bnEngines: [string, string, boolean][] = [
  ["cpu", "cpu", false],
  ["wasm", "wasm (xnnpack)", false],
  ["wasm", "wasm (native)", true],
];
for (const [backend, label, useNative] of bnEngines)
  for (const [relu, residual] of [
    [false, false],
    [true, false],
    [true, true],
  ]) {
    test(
      `batch norm${residual ? " + residual" : ""}${relu ? " + ReLU (fused on the native engine)" : ""} (train) on ${label}: hand-written gradient equals autodiff through moments; running stats as PyTorch`,
      { skip: skipUnlessNative(useNative ? "native" : "xnnpack") },
      async () => {
        if (backend === "wasm") await selectBackend({ force: "wasm", log: null });
        await tf.setBackend(backend);
        if (backend === "wasm") setNativeConvolutions(useNative);
        const C = 6;
        const params = createParams(
          [
            { name: "bn.weight", shape: [C], trainable: true, init: "ones" },
            { name: "bn.bias", shape: [C], trainable: true, init: "zeros" },
            { name: "bn.running_mean", shape: [C], trainable: false, init: "zeros" },
            { name: "bn.running_var", shape: [C], trainable: false, init: "ones" },
          ],
          0,
        );
        tf.tidy(() => {
          params.get("bn.weight")!.assign(tf.tensor1d(randomArray(C, 5)));
          params.get("bn.bias")!.assign(tf.tensor1d(randomArray(C, 6)));
        });
        const x = tf.tensor4d(
          randomArray(3 * 5 * 4 * C, 7).map((v, i) => v * 3 + (i % C)),
          [3, 5, 4, C],
        );
        const r = tf.tensor4d(randomArray(3 * 5 * 4 * C, 8), [3, 5, 4, C]);
        // The residual block's shortcut, added before the ReLU.
        const s = tf.tensor4d(randomArray(3 * 5 * 4 * C, 9), [3, 5, 4, C]);
        const g = params.get("bn.weight")!,
          b = params.get("bn.bias")!;
        const reference = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor, ss: tf.Tensor = s) => {
          const { mean, variance } = tf.moments(xx, [0, 1, 2]);
          const bn = tf.add(tf.mul(tf.div(tf.sub(xx, mean), tf.sqrt(tf.add(variance, BN_EPS))), gg), bb);
          const y = residual ? tf.add(bn, ss) : bn;
          return tf.sum(tf.mul(relu ? tf.relu(y) : y, r));
        };
        const ours = (xx: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor, ss: tf.Tensor = s) => {
          (void gg, bb);
          return tf.sum(tf.mul(batchNorm(params, "bn", xx as tf.Tensor4D, true, relu, residual ? (ss as tf.Tensor4D) : undefined), r));
        };
        const [rx, rg, rb] = tf.grads(reference)([x, g, b]);
        const { value, grads } = tf.variableGrads(() => ours(x, g, b) as tf.Scalar, [g, b]);
        assertClose(value, reference(x, g, b), 1e-4, 1e-5, "loss");
        const gx = tf.grad((xx) => ours(xx, g, b))(x);
        assertClose(gx, rx, 1e-4, 1e-4, "dx");
        assertClose(grads[g.name], rg, 1e-4, 1e-4, "dgamma");
        assertClose(grads[b.name], rb, 1e-4, 1e-4, "dbeta");
        if (residual)
          assertClose(tf.grad((ss) => ours(x, g, b, ss))(s), tf.grad((ss) => reference(x, g, b, ss))(s), 1e-4, 1e-4, "d residual");
        // Running stats after 3 forward passes in training mode (momentum 0.1, unbiased variance).
        const xv = x.dataSync();
        const M = 3 * 5 * 4;
        const mean = new Array(C).fill(0),
          v = new Array(C).fill(0);
        for (let i = 0; i < xv.length; i++) mean[i % C] += xv[i] / M;
        for (let i = 0; i < xv.length; i++) v[i % C] += (xv[i] - mean[i % C]) ** 2 / (M - 1);
        // variableGrads + grad (+ the residual's grad) ran the forward k times: rm = m * (1 - 0.9^k),
        // rv = 0.9^k + v * (1 - 0.9^k).
        const kept = 0.9 ** (residual ? 3 : 2);
        assertClose(
          params.get("bn.running_mean")!,
          mean.map((m) => m * (1 - kept)),
          1e-5,
          1e-5,
          "running_mean",
        );
        assertClose(
          params.get("bn.running_var")!,
          v.map((vv) => kept + vv * (1 - kept)),
          1e-5,
          1e-5,
          "running_var",
        );
        setNativeConvolutions(true);
      },
    );
  }

async function stepGrads(backend: string): Promise<Map<string, Float32Array>> {
  await tf.setBackend(backend);
  const m = createModel({ arch: SMALL, pooling: "lca" }, 3);
  const x = tf.tensor4d(randomArray(4 * 40 * 40 * 3, 11), [4, 40, 40, 3]);
  const { value, grads } = paramGrads(m.params, () => tf.mean(tf.square(features(m, x, true))) as tf.Scalar);
  const out = new Map(Object.entries(grads).map(([name, g]) => [name, g.dataSync() as Float32Array]));
  tf.dispose([value, x, ...Object.values(grads)]);
  disposeModel(m);
  return out;
}

// Both wasm engines: XNNPACK with the composite gradient kernels, and the native OpenBLAS
// convolutions (including the grouped-convolution kernel) where the library builds.
for (const engine of ["xnnpack", "native"] as const) {
  test(
    `a full ResNeXt + LCA training step on wasm (${engine} convolutions) has the cpu backend's gradients to 1e-4 relative`,
    { skip: skipUnlessNative(engine) },
    async () => {
      await selectBackend({ force: "wasm", log: null });
      setNativeConvolutions(engine === "native");
      assert.equal(nativeConvolutionsOn(), engine === "native");
      const wasm = await stepGrads("wasm");
      const cpu = await stepGrads("cpu");
      setNativeConvolutions(true);
      assert.equal(wasm.size, cpu.size);
      for (const [name, c] of cpu) {
        const rel = relError(wasm.get(name)!, c);
        assert.ok(rel <= 1e-4, `${name}: relative gradient difference ${rel.toExponential(2)}`);
      }
    },
  );
}

for (const engine of ["xnnpack", "native"] as const) {
  test(
    `training steps do not leak tensors (numTensors and wasm buffers flat over 100 steps, ${engine} convolutions)`,
    { skip: skipUnlessNative(engine) },
    async () => {
      await selectBackend({ force: "wasm", log: null });
      setNativeConvolutions(engine === "native");
      const m = createModel({ arch: SMALL, pooling: "lca" }, 4);
      const x = tf.tensor4d(randomArray(2 * 32 * 32 * 3, 12), [2, 32, 32, 3]);
      const vars = trainableVariables(m.params);
      const step = () => {
        const { value, grads } = tf.variableGrads(() => tf.mean(tf.square(features(m, x, true))) as tf.Scalar, vars);
        tf.tidy(() => vars.forEach((v) => v.assign(tf.sub(v, tf.mul(grads[v.name], 0.01)))));
        tf.dispose([value, ...Object.values(grads)]);
      };
      step();
      const tensors = tf.memory().numTensors;
      const buffers = tf.backend().numDataIds();
      for (let i = 0; i < 100; i++) step();
      assert.equal(tf.memory().numTensors, tensors);
      assert.equal(tf.backend().numDataIds(), buffers);
      x.dispose();
      disposeModel(m);
      setNativeConvolutions(true);
      await tf.setBackend("cpu");
    },
  );
}
