// The wasm convolution gradients against the cpu backend's, on random shapes with odd sizes,
// strides, paddings and non-square filters.
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { assertClose, randomArray } from "./helpers";

type Pad = "same" | "valid" | [[number, number], [number, number], [number, number], [number, number]];
interface Case { x: [number, number, number, number]; f: [number, number, number, number]; stride: number | [number, number]; pad: Pad }

const CASES: Case[] = [
  { x: [2, 9, 7, 3], f: [3, 3, 3, 5], stride: 1, pad: "same" },
  { x: [2, 9, 7, 3], f: [3, 3, 3, 5], stride: 2, pad: "same" },
  { x: [1, 11, 10, 4], f: [3, 3, 4, 6], stride: 2, pad: [[0, 0], [1, 1], [1, 1], [0, 0]] },
  { x: [3, 8, 8, 6], f: [1, 1, 6, 7], stride: 1, pad: "valid" },
  { x: [2, 9, 9, 6], f: [1, 1, 6, 4], stride: 2, pad: "valid" },
  { x: [2, 13, 11, 3], f: [7, 7, 3, 4], stride: 2, pad: [[0, 0], [3, 3], [3, 3], [0, 0]] },
  { x: [2, 10, 9, 2], f: [2, 3, 2, 3], stride: [2, 1], pad: "valid" },
  { x: [1, 6, 5, 5], f: [5, 2, 5, 2], stride: 3, pad: "same" },
  { x: [2, 5, 5, 8], f: [3, 3, 8, 8], stride: 1, pad: "valid" },
];

function grads(c: Case, seed: number) {
  return tf.tidy(() => {
    const x = tf.tensor4d(randomArray(c.x.reduce((a, b) => a * b), seed), c.x);
    const f = tf.tensor4d(randomArray(c.f.reduce((a, b) => a * b), seed + 1), c.f);
    const y0 = tf.conv2d(x, f, c.stride, c.pad);
    const r = tf.tensor(randomArray(y0.size, seed + 2), y0.shape);
    const [gx, gf] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, c.stride, c.pad), r)))([x, f]);
    return { gx: gx.arraySync(), gf: gf.arraySync(), gxs: gx.shape, gfs: gf.shape };
  });
}

before(async () => {
  await selectBackend({ force: "wasm", log: null });
});
after(async () => {
  await tf.setBackend("cpu");
});

CASES.forEach((c, i) => {
  test(`wasm conv gradients match cpu: x ${c.x} filter ${c.f} stride ${c.stride} pad ${JSON.stringify(c.pad)}`, async () => {
    await tf.setBackend("cpu");
    const ref = grads(c, 10 * i + 1);
    await tf.setBackend("wasm");
    const dataIds = tf.backend().numDataIds();
    const got = grads(c, 10 * i + 1);
    assert.equal(tf.backend().numDataIds(), dataIds, "the kernels free every intermediate buffer");
    assert.deepEqual(got.gxs, ref.gxs);
    assert.deepEqual(got.gfs, ref.gfs);
    assertClose((got.gx as number[][][][]).flat(3), (ref.gx as number[][][][]).flat(3), 1e-4, 1e-4, "input gradient");
    assertClose((got.gf as number[][][][]).flat(3), (ref.gf as number[][][][]).flat(3), 1e-4, 1e-4, "filter gradient");
  });
});
