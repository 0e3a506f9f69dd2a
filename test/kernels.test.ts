// The wasm convolutions and their gradients against the cpu backend's, on random shapes with
// odd sizes, strides, paddings and non-square filters: once with the composite XNNPACK kernels,
// once with the native OpenBLAS ones (where the library builds), plus the grouped kernel.
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { convScaleBiasAdd, groupedConv2d, scaledAdd, setNativeConvolutions } from "../src/engine/native-kernels";
import { assertClose, randomArray, skipUnlessNative } from "./helpers";

type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];
interface Case {
  x: [number, number, number, number];
  f: [number, number, number, number];
  stride: number | [number, number];
  pad: Pad;
}

const CASES: Case[] = [
  { x: [2, 9, 7, 3], f: [3, 3, 3, 5], stride: 1, pad: "same" },
  { x: [2, 9, 7, 3], f: [3, 3, 3, 5], stride: 2, pad: "same" },
  {
    x: [1, 11, 10, 4],
    f: [3, 3, 4, 6],
    stride: 2,
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
  },
  { x: [3, 8, 8, 6], f: [1, 1, 6, 7], stride: 1, pad: "valid" },
  // 1x1 over few rows and many channels: the native filter gradient splits dw's columns, not rows.
  { x: [1, 3, 3, 40], f: [1, 1, 40, 36], stride: 1, pad: "valid" },
  { x: [2, 9, 9, 6], f: [1, 1, 6, 4], stride: 2, pad: "valid" },
  {
    x: [2, 13, 11, 3],
    f: [7, 7, 3, 4],
    stride: 2,
    pad: [
      [0, 0],
      [3, 3],
      [3, 3],
      [0, 0],
    ],
  },
  { x: [2, 10, 9, 2], f: [2, 3, 2, 3], stride: [2, 1], pad: "valid" },
  { x: [1, 6, 5, 5], f: [5, 2, 5, 2], stride: 3, pad: "same" },
  { x: [2, 5, 5, 8], f: [3, 3, 8, 8], stride: 1, pad: "valid" },
];

function grads(c: Case, seed: number) {
  return tf.tidy(() => {
    const x = tf.tensor4d(
      randomArray(
        c.x.reduce((a, b) => a * b),
        seed,
      ),
      c.x,
    );
    const f = tf.tensor4d(
      randomArray(
        c.f.reduce((a, b) => a * b),
        seed + 1,
      ),
      c.f,
    );
    const y0 = tf.conv2d(x, f, c.stride, c.pad);
    const r = tf.tensor(randomArray(y0.size, seed + 2), y0.shape);
    const [gx, gf] = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), r)),
    )([x, f]);
    // The fused form (bias + relu) as inference uses it.
    const bias = tf.tensor1d(randomArray(c.f[3], seed + 3));
    const fused = tf.fused.conv2d({ x, filter: f, strides: c.stride, pad: c.pad, bias, activation: "relu" });
    return { y: y0.arraySync(), fused: fused.arraySync(), gx: gx.arraySync(), gf: gf.arraySync(), gxs: gx.shape, gfs: gf.shape };
  });
}

before(async () => {
  await selectBackend({ force: "wasm", log: null });
});
after(async () => {
  await tf.setBackend("cpu");
});

for (const engine of ["xnnpack", "native"] as const) {
  const skip = skipUnlessNative(engine);
  CASES.forEach((c, i) => {
    test(
      `wasm (${engine}) conv and gradients match cpu: x ${c.x} filter ${c.f} stride ${c.stride} pad ${JSON.stringify(c.pad)}`,
      { skip },
      async () => {
        await tf.setBackend("cpu");
        const ref = grads(c, 10 * i + 1);
        await tf.setBackend("wasm");
        setNativeConvolutions(engine === "native");
        const dataIds = tf.backend().numDataIds();
        const got = grads(c, 10 * i + 1);
        setNativeConvolutions(true);
        assert.equal(tf.backend().numDataIds(), dataIds, "the kernels free every intermediate buffer");
        assert.deepEqual(got.gxs, ref.gxs);
        assert.deepEqual(got.gfs, ref.gfs);
        assertClose((got.y as number[][][][]).flat(3), (ref.y as number[][][][]).flat(3), 1e-4, 1e-4, "conv");
        assertClose((got.fused as number[][][][]).flat(3), (ref.fused as number[][][][]).flat(3), 1e-4, 1e-4, "fused conv + bias + relu");
        assertClose((got.gx as number[][][][]).flat(3), (ref.gx as number[][][][]).flat(3), 1e-4, 1e-4, "input gradient");
        assertClose((got.gf as number[][][][]).flat(3), (ref.gf as number[][][][]).flat(3), 1e-4, 1e-4, "filter gradient");
      },
    );
  });
}

// Padding wider than the filter (windows wholly outside the image): native only, the composite
// input gradient refuses it.
for (const [i, c] of (
  [
    {
      x: [1, 5, 4, 2],
      f: [2, 2, 2, 3],
      stride: 1,
      pad: [
        [0, 0],
        [3, 3],
        [4, 2],
        [0, 0],
      ],
    },
    {
      x: [2, 6, 5, 3],
      f: [3, 1, 3, 2],
      stride: 2,
      pad: [
        [0, 0],
        [4, 4],
        [2, 5],
        [0, 0],
      ],
    },
  ] as Case[]
).entries()) {
  test(
    `wasm (native) conv and gradients with padding wider than the filter match cpu: x ${c.x} filter ${c.f} pad ${JSON.stringify(c.pad)}`,
    { skip: skipUnlessNative() },
    async () => {
      await tf.setBackend("cpu");
      const ref = grads(c, 500 + i);
      await tf.setBackend("wasm");
      const got = grads(c, 500 + i);
      for (const k of ["y", "fused", "gx", "gf"] as const)
        assertClose((got[k] as number[][][][]).flat(3), (ref[k] as number[][][][]).flat(3), 1e-4, 1e-4, k);
    },
  );
}

// Grouped convolution as one native kernel, against groups computed one by one on cpu.
const GROUPED: (Case & { groups: number })[] = [
  {
    x: [2, 9, 7, 8],
    f: [3, 3, 2, 12],
    stride: 1,
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    groups: 4,
  },
  {
    x: [3, 11, 10, 6],
    f: [3, 3, 2, 9],
    stride: 2,
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    groups: 3,
  },
  { x: [1, 8, 9, 16], f: [1, 1, 2, 8], stride: 1, pad: "valid", groups: 8 },
  { x: [2, 7, 7, 4], f: [2, 3, 2, 6], stride: [2, 1], pad: "valid", groups: 2 },
  // 4 and 8 output channels per group run the direct kernels (ResNeXt's first stages), not GEMMs.
  {
    x: [2, 9, 8, 16],
    f: [3, 3, 4, 16],
    stride: 1,
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    groups: 4,
  },
  {
    x: [3, 10, 9, 12],
    f: [3, 3, 4, 24],
    stride: 2,
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    groups: 3,
  },
  {
    x: [2, 7, 6, 6],
    f: [2, 3, 3, 8],
    stride: [1, 2],
    pad: [
      [0, 0],
      [0, 1],
      [2, 1],
      [0, 0],
    ],
    groups: 2,
  },
  // 8 and 16 channels per group in and out: the register-blocked kernels, over a pixel count
  // that is not a multiple of their pixel blocks; stride 1 takes the input gradient as a
  // convolution of dy (through the same kernels), stride 2 the patch-matrix path.
  {
    x: [2, 9, 7, 16],
    f: [3, 3, 8, 16],
    stride: 1,
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    groups: 2,
  },
  {
    x: [1, 6, 5, 48],
    f: [3, 3, 16, 48],
    stride: 1,
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    groups: 3,
  },
  {
    x: [2, 9, 9, 16],
    f: [3, 3, 8, 16],
    stride: 2,
    pad: [
      [0, 0],
      [1, 1],
      [1, 1],
      [0, 0],
    ],
    groups: 2,
  },
  {
    x: [1, 7, 6, 32],
    f: [3, 3, 16, 32],
    stride: 1,
    pad: [
      [0, 0],
      [0, 2],
      [2, 0],
      [0, 0],
    ],
    groups: 2,
  },
];

function groupedRef(x: tf.Tensor4D, f: tf.Tensor4D, c: Case & { groups: number }): tf.Tensor4D {
  const xs = tf.split(x, c.groups, 3),
    fs = tf.split(f, c.groups, 3);
  return tf.concat(
    xs.map((xg, g) => tf.conv2d(xg as tf.Tensor4D, fs[g] as tf.Tensor4D, c.stride, c.pad as "valid")),
    3,
  ) as tf.Tensor4D;
}

GROUPED.forEach((c, i) => {
  test(
    `native grouped conv (groups ${c.groups}, x ${c.x}, filter ${c.f}, stride ${c.stride}): value, fused form and gradients match cpu`,
    { skip: skipUnlessNative() },
    async () => {
      const run = (grouped: boolean) =>
        tf.tidy(() => {
          const x = tf.tensor4d(
            randomArray(
              c.x.reduce((a, b) => a * b),
              100 + i,
            ),
            c.x,
          );
          const f = tf.tensor4d(
            randomArray(
              c.f.reduce((a, b) => a * b),
              200 + i,
            ),
            c.f,
          );
          const bias = tf.tensor1d(randomArray(c.f[3], 300 + i));
          const conv = (a: tf.Tensor, b: tf.Tensor) =>
            grouped
              ? groupedConv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad as "valid", c.groups)
              : groupedRef(a as tf.Tensor4D, b as tf.Tensor4D, c);
          const y = conv(x, f);
          const fused = grouped
            ? convScaleBiasAdd(x, f, c.stride, c.pad as "valid", c.groups, { bias, relu: true })
            : tf.relu(tf.add(y, bias));
          const r = tf.tensor(randomArray(y.size, 400 + i), y.shape);
          const [gx, gf] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv(a, b), r)))([x, f]);
          return [y, fused, gx, gf].map((t) => t.dataSync());
        });
      await tf.setBackend("cpu");
      const ref = run(false);
      await tf.setBackend("wasm");
      const dataIds = tf.backend().numDataIds();
      const got = run(true);
      assert.equal(tf.backend().numDataIds(), dataIds, "no buffer outlives the step");
      ["conv", "fused conv + bias + relu", "input gradient", "filter gradient"].forEach((what, k) =>
        assertClose(got[k], ref[k], 1e-4, 1e-4, what),
      );
    },
  );
});

// Inference's fused form: act(conv(x, w) * scale + bias + residual), each part optional, on
// dense, thin-group (direct) and wide-group (GEMM) convolutions, against separate cpu ops.
for (const [i, c] of (
  [
    { x: [2, 7, 6, 8], f: [1, 1, 8, 12], stride: 1, pad: "valid", groups: 1 },
    {
      x: [2, 9, 7, 16],
      f: [3, 3, 8, 16],
      stride: 1,
      pad: [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
      groups: 2,
    },
    {
      x: [1, 8, 9, 64],
      f: [3, 3, 32, 64],
      stride: 2,
      pad: [
        [0, 0],
        [1, 1],
        [1, 1],
        [0, 0],
      ],
      groups: 2,
    },
  ] as (Case & { groups: number })[]
).entries()) {
  test(
    `native conv with scale, bias, residual and relu in its epilogue matches cpu (groups ${c.groups}, filter ${c.f}, stride ${c.stride})`,
    { skip: skipUnlessNative() },
    async () => {
      const run = (native: boolean) =>
        tf.tidy(() => {
          const x = tf.tensor4d(
            randomArray(
              c.x.reduce((a, b) => a * b),
              600 + i,
            ),
            c.x,
          );
          const f = tf.tensor4d(
            randomArray(
              c.f.reduce((a, b) => a * b),
              610 + i,
            ),
            c.f,
          );
          const scale = tf.tensor1d(randomArray(c.f[3], 620 + i));
          const bias = tf.tensor1d(randomArray(c.f[3], 630 + i));
          const y0 = groupedRef(x, f, c);
          const residual = tf.tensor(randomArray(y0.size, 640 + i), y0.shape) as tf.Tensor4D;
          const out: tf.Tensor[] = [];
          for (const [withScale, withBias, withResidual, relu] of [
            [true, true, true, true],
            [true, true, false, false],
            [false, false, true, true],
            [false, false, false, false],
          ]) {
            const e = {
              scale: withScale ? scale : undefined,
              bias: withBias ? bias : undefined,
              residual: withResidual ? residual : undefined,
              relu,
            };
            if (native) out.push(convScaleBiasAdd(x, f, c.stride, c.pad as "valid", c.groups, e));
            else {
              let y = groupedRef(x, f, c) as tf.Tensor;
              if (e.scale) y = tf.mul(y, e.scale);
              if (e.bias) y = tf.add(y, e.bias);
              if (e.residual) y = tf.add(y, e.residual);
              out.push(relu ? tf.relu(y) : y);
            }
          }
          return out.map((t) => t.dataSync());
        });
      await tf.setBackend("cpu");
      const ref = run(false);
      await tf.setBackend("wasm");
      const got = run(true);
      ref.forEach((r, k) => assertClose(got[k], r, 1e-4, 1e-4, `epilogue variant ${k}`));
    },
  );
}

test(
  "native scaledAdd (the optimiser's update) equals a + s * b, and refuses mismatched shapes",
  { skip: skipUnlessNative() },
  async () => {
    await tf.setBackend("wasm");
    const n = 1000 + 37; // not a multiple of any vector width
    const a = randomArray(n, 700),
      b = randomArray(n, 701);
    const got = tf.tidy(() => scaledAdd(tf.tensor1d(a), tf.tensor1d(b), -0.03).dataSync());
    assertClose(
      got,
      a.map((v, i) => v - 0.03 * b[i]),
      1e-6,
      1e-6,
      "a - 0.03 b",
    );
    assert.throws(() => tf.tidy(() => scaledAdd(tf.zeros([2, 3]), tf.zeros([3, 2]), 1)), /scaledAdd: shapes \[2,3\] and \[3,2\]/);
  },
);

// Max-pool gradient after a relu: many windows hold several equal maxima (zeros). The native
// kernel sends a window's gradient to the same one as the cpu backend and PyTorch (the first in
// row-major order); wasm's built-in kernel picks another, which only matters where nothing
// differentiates through a relu first (a zero's relu gradient is 0 either way, as in ResNeXt's
// stem). So: ties strictly for native, and through the relu (the model's case) for both.
for (const engine of ["xnnpack", "native"] as const) {
  test(
    `wasm (${engine}) max-pool gradient with tied maxima matches cpu (3x3 stride 2 pad 1, 2x2 'valid')`,
    { skip: skipUnlessNative(engine) },
    async () => {
      const run = () =>
        tf.tidy(() => {
          const x = tf.tensor4d(randomArray(2 * 9 * 8 * 5, 71), [2, 9, 8, 5]);
          const out: Float32Array[] = [];
          for (const [k, s, p] of [
            [3, 2, 1],
            [2, 2, "valid"],
          ] as [number, number, number | "valid"][]) {
            const y0 = tf.maxPool(x, k, s, p);
            const r = tf.tensor(randomArray(y0.size, 72), y0.shape);
            const pooledSum = (a: tf.Tensor) => tf.sum(tf.mul(tf.maxPool(a as tf.Tensor4D, k, s, p), r));
            out.push(
              tf
                .grad((a: tf.Tensor) => pooledSum(tf.relu(a)))(x)
                .dataSync() as Float32Array,
            );
            out.push(tf.grad(pooledSum)(tf.relu(x)).dataSync() as Float32Array);
          }
          return out;
        });
      await tf.setBackend("cpu");
      const ref = run();
      await tf.setBackend("wasm");
      setNativeConvolutions(engine === "native");
      const got = run();
      setNativeConvolutions(true);
      assertClose(got[0], ref[0], 1e-6, 0, "through relu, 3x3 s2 pad 1");
      assertClose(got[2], ref[2], 1e-6, 0, "through relu, 2x2 s2 valid");
      if (engine === "native") {
        assertClose(got[1], ref[1], 1e-6, 0, "ties, 3x3 s2 pad 1");
        assertClose(got[3], ref[3], 1e-6, 0, "ties, 2x2 s2 valid");
      }
    },
  );
}

test("wasm Identity (tfjs clones every tensor a custom gradient saves) shares the buffer, and each holder can be freed alone", async () => {
  await tf.setBackend("wasm");
  const before = tf.backend().numDataIds();
  const a = tf.tensor1d([1, 2, 3]);
  const b = tf.engine().runKernel("Identity", { x: a }) as tf.Tensor;
  assert.equal(tf.backend().numDataIds(), before + 1, "no second buffer");
  a.dispose();
  assert.deepEqual(Array.from(b.dataSync()), [1, 2, 3], "the clone outlives its source");
  b.dispose();
  assert.equal(tf.backend().numDataIds(), before, "freed with its last holder");
});
