import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tf } from "../src/engine/tf";
import { loadCheckpoint, readCheckpointMeta, recoverCheckpoint, saveCheckpoint } from "../src/models/checkpoint";
import { createModel, disposeModel, embedForward, Model } from "../src/models/model";
import { paramGrads } from "../src/models/params";
import { ResNeXtConfig } from "../src/models/resnext";
import { Optimizer } from "../src/train/optimizer";
import { randomArray, CHILD } from "./helpers";

const SMALL: ResNeXtConfig = { name: "ckpt_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 32, planes: [4, 8, 8, 8], stem: 4 };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "rr-ckpt-"));
const ROOT = path.join(__dirname, "..", "..");

function sgdStep(m: Model, opt: Optimizer, seed: number): void {
  const x = tf.tensor4d(randomArray(2 * 32 * 32 * 3, seed), [2, 32, 32, 3]);
  const { value, grads } = paramGrads(m.params, () => tf.mean(tf.square(tf.sub(embedForward(m, x, true), 0.1))) as tf.Scalar);
  opt.apply(m.params, grads);
  tf.dispose([x, value, ...Object.values(grads)]);
}

function snapshot(m: Model): Record<string, number[]> {
  return Object.fromEntries([...m.params].map(([n, v]) => [n, [...v.dataSync()]]));
}

test("resume is exact: 2 steps + checkpoint + 2 steps equals 4 uninterrupted steps (weights, BN stats, momentum)", async () => {
  await tf.setBackend("cpu");
  const cfg = { arch: SMALL, pooling: "lca" as const };
  const a = createModel(cfg, 9);
  const optA = new Optimizer({ kind: "sgd", lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  for (let s = 0; s < 4; s++) sgdStep(a, optA, s);

  const b = createModel(cfg, 9);
  const optB = new Optimizer({ kind: "sgd", lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  for (let s = 0; s < 2; s++) sgdStep(b, optB, s);
  const dir = path.join(tmp(), "ckpt");
  saveCheckpoint(dir, b, { step: 2, optimizer: optB, extra: { cursor: 17 } });
  disposeModel(b);
  optB.dispose();

  const c = createModel(cfg, 12345); // other init: everything must come from the checkpoint
  const optC = new Optimizer({ kind: "sgd", lr: 0.05, momentum: 0.9, weightDecay: 1e-4 });
  const { meta } = loadCheckpoint(dir, c, optC);
  assert.equal(meta.step, 2);
  assert.equal(meta.extra.cursor, 17);
  assert.equal(optC.step, 2);
  for (let s = 2; s < 4; s++) sgdStep(c, optC, s);
  assert.deepEqual(snapshot(c), snapshot(a));
  [a, c].forEach(disposeModel);
  [optA, optC].forEach((o) => o.dispose());
});

test("a save killed between its two renames: the previous checkpoint comes back from .old; killed saves' temporary folders are removed", async () => {
  await tf.setBackend("cpu");
  const dir = path.join(tmp(), "checkpoint");
  const m = createModel({ arch: SMALL }, 3);
  saveCheckpoint(dir, m, { step: 4 });
  // The state a kill leaves: checkpoint renamed to checkpoint.old, the new one still a temporary folder.
  fs.renameSync(dir, `${dir}.old`);
  const orphan = path.join(path.dirname(dir), ".checkpoint.tmp-killed");
  fs.mkdirSync(orphan);
  fs.writeFileSync(path.join(orphan, "weights.safetensors"), "half");
  const log = console.log;
  const lines: string[] = [];
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  try {
    assert.equal(recoverCheckpoint(dir), true);
  } finally {
    console.log = log;
  }
  assert.match(lines.join("\n"), /a save was interrupted; the previous checkpoint is back from checkpoint\.old/);
  assert.equal(readCheckpointMeta(dir).step, 4);
  assert.equal(fs.existsSync(`${dir}.old`), false);
  assert.equal(fs.existsSync(orphan), false);
  loadCheckpoint(dir, m); // loads: the checksum still holds
  assert.equal(recoverCheckpoint(path.join(tmp(), "none")), false, "nothing to recover: no checkpoint");
  disposeModel(m);
});

test("a checkpoint of another architecture is refused with both descriptions", () => {
  const m = createModel({ arch: SMALL, pooling: "lca" }, 1);
  const dir = path.join(tmp(), "ckpt");
  saveCheckpoint(dir, m, { step: 0 });
  const other = createModel({ arch: SMALL, pooling: "gap", classes: 3 }, 1);
  assert.throws(
    () => loadCheckpoint(dir, other),
    /checkpoint is ckpt_small \(pooling lca, projection none, classes none\), the model is ckpt_small \(pooling gap, projection none, classes 3\)/,
  );
  [m, other].forEach(disposeModel);
});

test("a truncated or altered checkpoint is detected and nothing is loaded", () => {
  const m = createModel({ arch: SMALL, pooling: "lca" }, 1);
  const dir = path.join(tmp(), "ckpt");
  saveCheckpoint(dir, m, { step: 3 });
  const target = createModel({ arch: SMALL, pooling: "lca" }, 2);
  const before = snapshot(target);
  const wfile = path.join(dir, "weights.safetensors");
  const bytes = fs.readFileSync(wfile);
  fs.writeFileSync(wfile, bytes.subarray(0, bytes.length - 100));
  assert.throws(
    () => loadCheckpoint(dir, target),
    /weights\.safetensors: \d+ bytes with a different checksum than recorded .* truncated or corrupt; nothing was loaded/,
  );
  const flipped = Buffer.from(bytes);
  flipped[flipped.length - 5] ^= 0xff;
  fs.writeFileSync(wfile, flipped);
  assert.throws(() => loadCheckpoint(dir, target), /truncated or corrupt/);
  assert.deepEqual(snapshot(target), before);
  fs.rmSync(path.join(dir, "checkpoint.json"));
  assert.throws(() => loadCheckpoint(dir, target), /not a checkpoint \(no checkpoint\.json\)/);
  [m, target].forEach(disposeModel);
});

test("CLI: info --arch reports torchvision's counts; import-torch writes a loadable checkpoint", () => {
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [path.join(ROOT, "bin", "retail-repr.cjs"), ...args], { encoding: "utf8", ...CHILD });
  const r101 = JSON.parse(cli(["info", "--arch", "resnext101_32x8d", "--json"]).stdout);
  assert.equal(r101.params.backbone, 86_742_336);
  assert.equal(r101.embeddingDim, 2048);
  const r50 = JSON.parse(cli(["info", "--arch", "resnext50_32x4d", "--json"]).stdout);
  assert.equal(r50.params.backbone, 22_979_904);
  assert.ok(Math.abs(r50.gflopsPerImage - 8.457) < 0.01, `resnext50 GFLOP ${r50.gflopsPerImage}`);

  const out = path.join(tmp(), "imported");
  const bad = cli([
    "import-torch",
    "--arch",
    "resnext_tiny",
    "--weights",
    path.join(ROOT, "test", "fixtures", "torch_resnext_small.safetensors"),
    "--out",
    out,
  ]);
  assert.equal(bad.status, 1);
  assert.match(bad.stderr, /cannot load into resnext_tiny \(\d+ problems, nothing loaded\)/);
  assert.ok(!fs.existsSync(out), "no checkpoint is written for a refused import");
  const missing = cli(["import-torch", "--arch", "resnext_tiny", "--out", out]);
  assert.equal(missing.status, 2, "a usage error");
  assert.match(missing.stderr, /import-torch: --weights FILE\.pth\|FILE\.safetensors is required/);
});

test("imported PyTorch weights survive the checkpoint: loaded model still matches PyTorch to 1e-4", async () => {
  await tf.setBackend("cpu");
  const { importTorchToCheckpoint } = await import("../src/models/import-torch");
  const { readSafetensors } = await import("../src/models/safetensors");
  const { backboneForward } = await import("../src/models/resnext");
  const fix = path.join(ROOT, "test", "fixtures");
  const a = JSON.parse(readSafetensors(path.join(fix, "torch_resnext_small.safetensors")).metadata.arch);
  const arch: ResNeXtConfig = {
    name: "torch_fixture",
    layers: a.layers,
    groups: a.groups,
    widthPerGroup: a.widthPerGroup,
    planes: a.planes,
    stem: a.stem,
  };
  const out = path.join(tmp(), "imported");
  importTorchToCheckpoint({
    config: { arch, pooling: "lca", projDim: 0, classes: 0 },
    weights: path.join(fix, "torch_resnext_small.safetensors"),
    out,
  });
  const { model } = loadCheckpoint(out);
  const io = readSafetensors(path.join(fix, "torch_resnext_small_io.safetensors"));
  const inp = io.tensors.get("input_nhwc")!;
  const fmap = tf.tidy(() =>
    backboneForward(model.params, model.backbone, tf.tensor4d(inp.data, inp.shape as [number, number, number, number]), false),
  );
  const want = io.tensors.get("fmap_nhwc")!.data;
  const got = fmap.dataSync();
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]) / (1 + Math.abs(want[i])));
  assert.ok(worst < 1e-4, `worst relative difference ${worst}`);
  fmap.dispose();
  disposeModel(model);
});
