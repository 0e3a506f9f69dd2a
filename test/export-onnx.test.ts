// export-onnx against ONNX Runtime: a checkpoint exported here runs in onnxruntime-node and gives
// our embeddings to 1e-4 at any batch; the file says how to preprocess; ONNX Runtime as an
// inference engine gives `embed` and the pseudolabels the same values in the same order and
// format, and a set of pseudolabel parts begun on one engine is finished on the other.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import * as ort from "onnxruntime-node";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { createModel, disposeModel, embedForward, embeddingDim, ModelConfig } from "../src/models/model";
import { saveCheckpoint } from "../src/models/checkpoint";
import { exportOnnx, onnxMetadata, ONNX_EXPORT_FORMAT } from "../src/models/export-onnx";
import { ResNeXtConfig } from "../src/models/resnext";
import { toNCHW } from "../src/train/onnx-engine";
import { embedFiles } from "../src/train/embed";
import { PseudoSpec, readPartMeta, readPseudolabels, writePseudolabels } from "../src/train/pseudolabel";
import { getProfile } from "../src/config/profiles";
import { datasetDir, generateDataset } from "../src/data/generate";
import { filesOf } from "../src/data/sets";
import { CHILD, maxAbsDiff, perturbBatchNorms, randomArray } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "rr-onnx-"));
const SMALL: ResNeXtConfig = { name: "onnx_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 32, planes: [4, 8, 8, 8], stem: 4 };

async function compare(config: ModelConfig, size: number, seed: number): Promise<void> {
  const dir = tmp();
  const model = createModel(config, seed);
  perturbBatchNorms(model, seed);
  const ckpt = path.join(dir, "ckpt");
  saveCheckpoint(ckpt, model, { step: 0, extra: { inputs: { imageSize: size } } });
  const file = path.join(dir, "model.onnx");
  const r = exportOnnx(ckpt, file);
  assert.equal(r.size, size);
  const meta = onnxMetadata(fs.readFileSync(file));
  assert.equal(meta.format, ONNX_EXPORT_FORMAT);
  assert.deepEqual(JSON.parse(meta.input), { size, resize: "fill", mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225] });
  assert.match(meta.preprocessing, new RegExp(`RGB, NCHW, ${size} px`));
  const session = await ort.InferenceSession.create(file);
  for (const n of [3, 1]) {
    const x = tf.tensor4d(randomArray(n * size * size * 3, seed + n), [n, size, size, 3]);
    const ours = tf.tidy(() => embedForward(model, x, false));
    const out = await session.run({
      images: new ort.Tensor("float32", toNCHW(x.dataSync() as Float32Array, n, size, size, 3), [n, 3, size, size]),
    });
    assert.deepEqual(out.embedding.dims, [n, embeddingDim(config)]);
    const { diff, at } = maxAbsDiff(ours.dataSync(), out.embedding.data as Float32Array);
    assert.ok(diff <= 1e-4, `${JSON.stringify(config.arch)} ${config.pooling} batch ${n}: max |ours - onnxruntime| ${diff} at ${at}`);
    tf.dispose([x, ours]);
  }
  await session.release();
  disposeModel(model);
}

test("toNCHW moves channels first, as a transpose does", () => {
  const [n, h, w, c] = [2, 3, 4, 3];
  const x = randomArray(n * h * w * c, 1);
  const want = tf.tidy(() => tf.transpose(tf.tensor4d(x, [n, h, w, c]), [0, 3, 1, 2]).dataSync());
  assert.deepEqual(Array.from(toNCHW(x, n, h, w, c)), Array.from(want));
});

test("export-onnx: the cpu profile's embedding model (last stride 1, LCA on a 4x4 map) equals ours in onnxruntime-node to 1e-4", async () => {
  await compare({ arch: "resnext14_8x8d_ls1", pooling: "lca", projDim: 0, classes: 0 }, 64, 3);
});

test("export-onnx: a torchvision architecture (stem max-pool, LCA on a 2x2 map) and GAP with a projection", async () => {
  await compare({ arch: "resnext50_32x4d", pooling: "lca", projDim: 0, classes: 0 }, 64, 4);
  await compare({ arch: SMALL, pooling: "gap", projDim: 16, classes: 0 }, 32, 5);
});

test("export-onnx refuses what it cannot write, naming the problem", () => {
  const dir = tmp();
  assert.throws(() => exportOnnx(dir, path.join(dir, "m.onnx")), /no checkpoint\.json; give a checkpoint folder/);
  const m = createModel({ arch: SMALL, pooling: "gap" }, 1);
  saveCheckpoint(path.join(dir, "c"), m, { step: 0 });
  assert.throws(() => exportOnnx(path.join(dir, "c"), path.join(dir, "m.bin")), /--out .*m\.bin: write an \.onnx file/);
  assert.throws(() => exportOnnx(path.join(dir, "c"), path.join(dir, "m.onnx")), /records no input size; give it with --size/);
  assert.equal(exportOnnx(path.join(dir, "c"), path.join(dir, "m.onnx"), 32).size, 32);
  disposeModel(m);
});

test("--engine onnx: embed and pseudolabels give the native engine's values (1e-4) in the same order and format, and finish each other's parts", async () => {
  await selectBackend({ force: "wasm", log: null });
  const profile = getProfile("smoke");
  await generateDataset("student-pseudo", profile, { quiet: true });
  const files = filesOf(datasetDir("student-pseudo", profile.name)).files.slice(0, 10);
  const m = createModel({ arch: SMALL, pooling: "lca" }, 7);
  perturbBatchNorms(m, 7);
  const opts = { size: 32, batch: 4, quiet: true };
  const native = await embedFiles(m, files, { ...opts, engine: "native" });
  const onnx = await embedFiles(m, files, { ...opts, engine: "onnx" });
  assert.equal(onnx.length, native.length);
  assert.ok(maxAbsDiff(native, onnx).diff <= 1e-4, `embed: ${maxAbsDiff(native, onnx).diff}`);
  await assert.rejects(embedFiles(m, files, { ...opts, engine: "onnx", logits: true }), /computes embeddings only/);

  const spec: PseudoSpec = { teacher: "t1", list: "l1", count: files.length, dim: embeddingDim(m.config), partSize: 4 };
  const mixed = tmp();
  const first = await writePseudolabels(m, files, mixed, { ...opts, spec, engine: "native", stopAfterParts: 1 });
  assert.deepEqual(first.done, [0]);
  const rest = await writePseudolabels(m, files, mixed, { ...opts, spec, engine: "onnx" });
  assert.deepEqual(rest.done, [0, 1, 2]);
  assert.deepEqual(
    [0, 1, 2].map((p) => readPartMeta(mixed, p)!.engine),
    ["native", "onnx", "onnx"],
  );
  const labels = readPseudolabels(mixed, spec);
  assert.ok(maxAbsDiff(labels.data, native).diff <= 1e-4);
  assert.deepEqual(
    Array.from(labels.data.subarray(0, 4 * spec.dim)),
    Array.from(native.subarray(0, 4 * spec.dim)),
    "the native part is the native engine's bytes",
  );
  disposeModel(m);
});

test("CLI: export-onnx writes a file onnxruntime loads; a wrong --engine is refused by name", async () => {
  const dir = tmp();
  const m = createModel({ arch: SMALL, pooling: "lca" }, 2);
  saveCheckpoint(path.join(dir, "c"), m, { step: 0, extra: { inputs: { imageSize: 32 } } });
  disposeModel(m);
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, "bin", "retail-repr.cjs"), ...args], { encoding: "utf8", ...CHILD });
  const r = cli(["export-onnx", "--model", path.join(dir, "c"), "--out", path.join(dir, "m.onnx")]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /input "images" \[batch, 3, 32, 32\] \(32 px, both sides resized to it/);
  const s = await ort.InferenceSession.create(path.join(dir, "m.onnx"));
  assert.deepEqual([s.inputNames, s.outputNames], [["images"], ["embedding"]]);
  await s.release();
  const bad = cli(["embed", "--model", path.join(dir, "c"), "--input", dir, "--out", path.join(dir, "z.npy"), "--engine", "onx"]);
  assert.equal(bad.status, 2, "a usage error");
  assert.match(bad.stderr, /embed: --engine 'onx' is not one of native, onnx/);
});
