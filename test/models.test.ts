import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as path from "node:path";
import { tf } from "../src/engine/tf";
import { lcaBruteForce, lcaKernel, lcaPool } from "../src/models/lca";
import { createModel, disposeModel, paramCounts } from "../src/models/model";
import { backboneForward, backboneParamCount, featureMapSize, PRESETS, ResNeXtConfig } from "../src/models/resnext";
import { parseSafetensors, readSafetensors, serializeSafetensors } from "../src/models/safetensors";
import { importTorchWeights } from "../src/models/import-torch";
import { conv2d, setGroupedConvMode } from "../src/models/layers";
import { assertClose, randomArray } from "./helpers";

const FIX = path.join(__dirname, "..", "..", "test", "fixtures");

test("backbone parameter counts equal torchvision 0.14's exactly", () => {
  assert.equal(backboneParamCount(PRESETS.resnext101_32x8d), 86_742_336);
  assert.equal(backboneParamCount(PRESETS.resnext50_32x4d), 22_979_904);
  // torchvision ResNet(Bottleneck, [1,1,1,1], groups=8, width_per_group=8) without fc, counted in PyTorch.
  assert.equal(backboneParamCount(PRESETS.resnext14_8x8d), 5_274_176);
});

test("head parameters add up: classifier on the 2048-d pooled vector", () => {
  const c = paramCounts({ arch: "resnext50_32x4d", pooling: "lca", projDim: 0, classes: 1000 });
  assert.equal(c.total, 25_028_904); // torchvision resnext50_32x4d with its fc
  assert.equal(c.head, 2048 * 1000 + 1000);
});

test("feature map side follows the stride-32 topology", () => {
  assert.equal(featureMapSize(224), 7);
  assert.equal(featureMapSize(64), 2);
  assert.equal(featureMapSize(32), 1);
  assert.equal(featureMapSize(72), 3);
});

for (const [what, opt, preset] of [
  ["without the stem max-pool", { stemPool: false }, "resnext14_8x8d_os16"],
  ["with last stride 1", { lastStride: 1 }, "resnext14_8x8d_ls1"],
] as const) {
  test(`${what} (output stride 16) a 64 px input ends on a 4x4 map, with the same parameters`, () => {
    assert.equal(featureMapSize(64, opt), 4);
    assert.equal(featureMapSize(224, opt), 14);
    assert.equal(backboneParamCount(PRESETS[preset]), backboneParamCount(PRESETS.resnext14_8x8d));
    const cfg: ResNeXtConfig = {
      name: "os16_small",
      layers: [1, 1, 1, 1],
      groups: 2,
      widthPerGroup: 32,
      planes: [4, 8, 8, 8],
      stem: 4,
      ...opt,
    };
    const m = createModel({ arch: cfg, pooling: "lca" }, 1);
    tf.tidy(() => {
      const F = backboneForward(m.params, cfg, tf.zeros([1, 64, 64, 3]) as tf.Tensor4D, false);
      assert.deepEqual(F.shape, [1, 4, 4, 32]);
    });
    disposeModel(m);
  });
}

for (const [H, W] of [
  [1, 1],
  [1, 5],
  [4, 1],
  [2, 2],
  [3, 4],
  [5, 5],
  [7, 7],
  [6, 3],
]) {
  test(`LCA closed form equals the window-by-window definition on ${H}x${W}, values and gradient`, () => {
    tf.tidy(() => {
      const F = tf.tensor4d(randomArray(2 * H * W * 5, H * 31 + W), [2, H, W, 5]);
      assertClose(lcaPool(F), lcaBruteForce(F), 1e-6, 1e-5, "LCA");
      const R = tf.tensor2d(randomArray(10, 99), [2, 5]);
      const g1 = tf.grad((f) => tf.sum(tf.mul(lcaPool(f as tf.Tensor4D), R)))(F);
      const g2 = tf.grad((f) => tf.sum(tf.mul(lcaBruteForce(f as tf.Tensor4D), R)))(F);
      assertClose(g1, g2, 1e-6, 1e-5, "LCA gradient");
    });
    const K = lcaKernel(H, W);
    assert.ok(Math.abs(K.reduce((a, b) => a + b, 0) - 1) < 1e-6, "K sums to 1");
  });
}

test("LCA weights the centre of a map more than its corners", () => {
  const K = lcaKernel(5, 5);
  assert.ok(K[12] > K[0], `centre ${K[12]} vs corner ${K[0]}`);
});

function fixtureArch(meta: Record<string, string>): ResNeXtConfig {
  const a = JSON.parse(meta.arch);
  return { name: "torch_fixture", layers: a.layers, groups: a.groups, widthPerGroup: a.widthPerGroup, planes: a.planes, stem: a.stem };
}

test("PyTorch parity: torchvision-named safetensors weights give PyTorch's feature map to 1e-4", () => {
  const weights = readSafetensors(path.join(FIX, "torch_resnext_small.safetensors"));
  const io = readSafetensors(path.join(FIX, "torch_resnext_small_io.safetensors"));
  const model = createModel({ arch: fixtureArch(weights.metadata), pooling: "lca" }, 0);
  const report = importTorchWeights(model, weights, "torch_resnext_small.safetensors");
  assert.equal(report.loaded, model.specs.length);
  assert.ok(report.ignored.every((n) => n.endsWith("num_batches_tracked")));
  const get = (n: string) => io.tensors.get(n)!;
  for (const mode of ["split", "blockdiag"] as const) {
    setGroupedConvMode(mode);
    tf.tidy(() => {
      const x = tf.tensor4d(get("input_nhwc").data, get("input_nhwc").shape as [number, number, number, number]);
      const fmap = backboneForward(model.params, model.backbone, x, false);
      assert.deepEqual(fmap.shape, get("fmap_nhwc").shape);
      assertClose(fmap, get("fmap_nhwc").data, 1e-4, 1e-4, `feature map (${mode})`);
      assertClose(lcaPool(fmap), get("lca").data, 1e-4, 1e-4, "LCA vs torch avg_pool2d windows");
      assertClose(tf.mean(fmap, [1, 2]), get("gap").data, 1e-4, 1e-4, "GAP");
    });
  }
  setGroupedConvMode("split");
  disposeModel(model);
});

test("safetensors: F16 decoding, round trip, and truncated files named", () => {
  const io = readSafetensors(path.join(FIX, "torch_resnext_small_io.safetensors"));
  const half = io.tensors.get("half_probe")!;
  assert.equal(half.dtype, "F16");
  assertClose(half.data, [0, 1, -2.5, 65504, 6.1035156e-5, 5.9604645e-8], 1e-12, 1e-6, "F16");

  const t = new Map([
    ["a.weight", { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }],
    ["b", { shape: [1], data: Float32Array.from([-7.5]) }],
  ]);
  const buf = serializeSafetensors(t, { note: "x" });
  const back = parseSafetensors(buf);
  assert.deepEqual([...back.tensors.get("a.weight")!.data], [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(back.tensors.get("b")!.shape, [1]);
  assert.equal(back.metadata.note, "x");
  assert.throws(
    () => parseSafetensors(buf.subarray(0, buf.length - 4), "w.safetensors"),
    /w\.safetensors: not a valid safetensors file: tensor 'b' ends at byte 28 of a 24-byte body \(truncated\?\)/,
  );
  assert.throws(() => parseSafetensors(buf.subarray(0, 5), "w.safetensors"), /only 5 bytes/);
  assert.throws(() => readSafetensors("/nonexistent/w.safetensors"), /\/nonexistent\/w\.safetensors: cannot read \(ENOENT\)/);
});

test("import: a file of another architecture is refused with names and shapes, and nothing is half-loaded", () => {
  const weights = readSafetensors(path.join(FIX, "torch_resnext_small.safetensors"));
  const arch = fixtureArch(weights.metadata);
  const wider = createModel({ arch: { ...arch, groups: 2, widthPerGroup: 32 } }, 0); // same widths, other groups
  const before = wider.params.get("conv1.weight")!.dataSync().slice();
  assert.throws(
    () => importTorchWeights(wider, weights, "small.safetensors"),
    /small\.safetensors: cannot load into torch_fixture .*'layer1\.0\.conv2\.weight' has shape 8x2x3x3 in the file, the model needs 3x3x4x8/s,
  );
  assert.deepEqual(wider.params.get("conv1.weight")!.dataSync(), before, "conv1 must be untouched after a refused import");
  disposeModel(wider);
  const deeper = createModel({ arch: { ...arch, layers: [1, 2, 2, 1] } }, 0);
  assert.throws(() => importTorchWeights(deeper, weights, "small.safetensors"), /missing 'layer3\.1\.conv1\.weight'/);
  disposeModel(deeper);
  const shallower = createModel({ arch: { ...arch, layers: [1, 1, 1, 1] } }, 0);
  assert.throws(() => importTorchWeights(shallower, weights, "small.safetensors"), /extra 'layer2\.1\.bn1\.bias' has no place/);
  disposeModel(shallower);
});

test("grouped conv: split and block-diagonal formulations agree, values and gradients", () => {
  tf.tidy(() => {
    const x = tf.tensor4d(randomArray(2 * 7 * 9 * 8, 1), [2, 7, 9, 8]);
    const w = tf.tensor4d(randomArray(3 * 3 * 2 * 12, 2), [3, 3, 2, 12]);
    const results = (["split", "blockdiag"] as const).map((mode) => {
      setGroupedConvMode(mode);
      const f = (a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.square(conv2d(a as tf.Tensor4D, b as tf.Tensor4D, 2, 4)));
      const [gx, gw] = tf.grads(f)([x, w]);
      return { y: conv2d(x, w, 2, 4), gx, gw };
    });
    setGroupedConvMode("split");
    assertClose(results[0].y, results[1].y, 1e-4, 1e-5, "grouped conv output");
    assertClose(results[0].gx, results[1].gx, 1e-4, 1e-4, "grouped conv input gradient");
    assertClose(results[0].gw, results[1].gw, 1e-4, 1e-4, "grouped conv filter gradient");
    // Against an independent loop for one output value: group g = 1, out channel 3, pixel (1,2).
    const xv = x.arraySync() as number[][][][];
    const wv = w.arraySync() as number[][][][];
    let ref = 0;
    for (let kh = 0; kh < 3; kh++)
      for (let kw = 0; kw < 3; kw++)
        for (let c = 0; c < 2; c++) {
          const iy = 1 * 2 + kh - 1,
            ix = 2 * 2 + kw - 1;
          if (iy >= 0 && iy < 7 && ix >= 0 && ix < 9) ref += xv[0][iy][ix][1 * 2 + c] * wv[kh][kw][c][3];
        }
    const y = results[0].y.arraySync() as number[][][][];
    assert.ok(Math.abs(y[0][1][2][3] - ref) < 1e-4, `loop ${ref} vs conv ${y[0][1][2][3]}`);
  });
});

test("a grouped layer with no channel per group is refused when the model is built, naming the layer and the numbers", () => {
  // planes 4 x width per group 8 / 64 = 0.5 channel per group: the native kernels divided by zero (SIGFPE).
  const arch = { name: "odd", layers: [1, 1, 1, 1] as [number, number, number, number], groups: 2, widthPerGroup: 8 };
  assert.throws(
    () => createModel({ arch: { ...arch, planes: [4, 8, 16, 32] } }, 0),
    /odd: layer1 has 4 planes x width per group 8 \/ 64 = 0\.5 channels per group, below 1 .*raise widthPerGroup to at least 16 or planes to at least 8/,
  );
  // One channel per group is a model.
  const m = createModel({ arch: { ...arch, planes: [8, 16, 32, 64] } }, 0);
  assert.ok(m.params.size > 0);
  disposeModel(m);
});
