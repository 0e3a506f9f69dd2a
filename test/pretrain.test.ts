// The pretrained start (the stand-in for ResNeXt-WSL): hashtag targets, their loss, the corpus's
// disjointness from the evaluation sets, and the smoke pretraining stage feeding the teacher and
// the fine-tune baselines, cached by its inputs.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { getProfile, withRun } from "../src/config/profiles";
import { hashtagLoss } from "../src/losses/classification";
import { hashtagVocabulary, noisyHashtags, trueHashtags } from "../src/data/hashtags";
import { logoNames, logoPool, productSpec } from "../src/data/universe";
import { readCheckpointMeta } from "../src/models/checkpoint";
import { disposeModel } from "../src/models/model";
import { backboneSpecs } from "../src/models/resnext";
import { embeddingConfig, initInputs, pretrainedCheckpoint, runDir, startingModel } from "../src/pipeline/steps";
import { parseSafetensors } from "../src/models/safetensors";
import { assertClose, inTempTree } from "./helpers";

test("hashtagLoss: softmax cross-entropy against the normalised tag vector, by hand", async () => {
  await tf.setBackend("cpu");
  const logits = [
    [1, 2, 0, -1],
    [0.5, 0, 0, 3],
  ];
  const tags = [[0, 1], [3]];
  const lse = (r: number[]) => Math.log(r.reduce((a, v) => a + Math.exp(v), 0));
  const expected = (-(0.5 * (1 - lse(logits[0])) + 0.5 * (2 - lse(logits[0]))) - (3 - lse(logits[1]))) / 2;
  const l = hashtagLoss(tf.tensor2d(logits), tags);
  assertClose([l.dataSync()[0]], [expected], 1e-6, 0, "loss");
  l.dispose();
  assert.throws(() => hashtagLoss(tf.tensor2d([[1, 2]]), [[]]), /image 0 has no tags/);
});

test("logo pools split the Twemoji set; pretraining products' tags are all in the vocabulary, others' logos are not", () => {
  const pre = new Set(logoPool("pretrain")),
    main = new Set(logoPool("main"));
  assert.equal(pre.size + main.size, logoNames().length);
  for (const l of pre) assert.ok(!main.has(l));
  const vocab = hashtagVocabulary();
  const index = new Map(vocab.map((t, i) => [t, i]));
  assert.equal(index.size, vocab.length, "vocabulary entries are unique");
  for (let id = 0; id < 200; id++) {
    const p = productSpec(7, 5_000_000 * 2 + id, 2, "pretrain");
    for (const t of trueHashtags(p)) assert.ok(index.has(t), `${t} missing`);
    const q = productSpec(7, 2_000_000 + id, 1, "main");
    assert.ok(main.has(q.logo) && !index.has(`logo:${q.logo}`), `evaluation product ${id} has a pretraining logo`);
  }
});

test("noisyHashtags: a pure function of (seed, image); true tags dropped at the given rate, at most one stray tag", () => {
  const vocab = new Map(hashtagVocabulary().map((t, i) => [t, i]));
  let kept = 0,
    total = 0,
    stray = 0;
  for (let i = 0; i < 400; i++) {
    const p = productSpec(7, 10_000_000 + i, 2, "pretrain");
    const truth = new Set(trueHashtags(p).map((t) => vocab.get(t)!));
    const tags = noisyHashtags(p, vocab, 7, i, 0.25, 0.3);
    assert.deepEqual(tags, noisyHashtags(p, vocab, 7, i, 0.25, 0.3));
    assert.ok(tags.length >= 1);
    const extra = tags.filter((t) => !truth.has(t));
    assert.ok(extra.length <= 1);
    stray += extra.length;
    kept += tags.length - extra.length;
    total += truth.size;
  }
  assert.ok(Math.abs(kept / total - 0.75) < 0.05, `kept ${kept / total}`);
  assert.ok(stray / 400 > 0.2 && stray / 400 < 0.4, `stray rate ${stray / 400}`);
});

test("smoke pretraining: trains once, the teacher and fine-tune models start from its backbone, a changed input retrains", async () => {
  await selectBackend({ force: "wasm", log: null });
  await inTempTree("rr-pretrain-", async ({ logs }) => {
    const profile = getProfile("smoke");
    const dir = await pretrainedCheckpoint(profile, { quiet: true });
    const meta = readCheckpointMeta(dir);
    assert.equal(meta.step, profile.train.pretrain.steps);
    assert.equal(meta.model.classes, hashtagVocabulary().length);
    assert.deepEqual((meta.extra.inputs as any).train, profile.train.pretrain);
    const losses = (meta.extra.history as { loss: number }[]).map((h) => h.loss);
    assert.ok(losses.every(Number.isFinite) && losses.length === profile.train.pretrain.steps);

    // The teacher starts from the pretrained backbone, tensor for tensor.
    const weights = parseSafetensors(fs.readFileSync(path.join(dir, meta.weights.file)), dir).tensors;
    const teacher = await startingModel(profile, embeddingConfig(profile), { quiet: true });
    for (const spec of backboneSpecs(teacher.backbone))
      assertClose(teacher.params.get(spec.name)!.dataSync(), weights.get(spec.name)!.data, 0, 0, spec.name);
    // A fine-tune model: pretrained backbone, its own classifier.
    const ft = await startingModel(profile, { ...embeddingConfig(profile), pooling: "gap", classes: 5 }, { quiet: true });
    assertClose(ft.params.get("conv1.weight")!.dataSync(), weights.get("conv1.weight")!.data, 0, 0, "fine-tune conv1");
    assert.deepEqual(ft.params.get("fc.weight")!.shape, [2048, 5]);
    const init = await initInputs(profile);
    assert.equal(init.kind, "pretrained");
    assert.equal(init.weights, meta.weights.sha256);

    // Random init: other weights, its own run folder.
    const random = withRun(profile, { init: "random" });
    const r = await startingModel(random, embeddingConfig(random));
    assert.notDeepEqual([...r.params.get("conv1.weight")!.dataSync().slice(0, 8)], [...weights.get("conv1.weight")!.data.slice(0, 8)]);
    assert.notEqual(runDir(random, "teacher"), runDir(profile, "teacher"));
    assert.equal(runDir(random, "pretrain"), runDir(profile, "pretrain"));
    [teacher, ft, r].forEach(disposeModel);

    // Asked again: nothing retrains.
    await pretrainedCheckpoint(profile, { quiet: true });
    assert.equal(readCheckpointMeta(dir).written, meta.written);
    // A changed profile value: retrained from scratch, saying what changed.
    const changed = { ...profile, train: { ...profile.train, pretrain: { ...profile.train.pretrain, lr: 0.01 } } };
    await pretrainedCheckpoint(changed, { quiet: true });
    assert.ok(
      logs.some((l) => /pretrain: inputs changed \(train\); training from scratch/.test(l)),
      logs.join("\n"),
    );
    assert.notEqual(readCheckpointMeta(dir).weights.sha256, meta.weights.sha256);
  });
});
