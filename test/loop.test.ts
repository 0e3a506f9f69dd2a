// The shared training loop: exact resume after a kill, the NaN guard, no tensor growth.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tf } from "../src/engine/tf";
import { createModel, disposeModel, Model } from "../src/models/model";
import { ResNeXtConfig } from "../src/models/resnext";
import { learningRate, LoopConfig, NonFiniteLossError, TrainTask, trainLoop } from "../src/train/loop";
import { pairLabels, supConLoss } from "../src/losses/supcon";
import { randomArray } from "./helpers";

const SMALL: ResNeXtConfig = { name: "loop_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 32, planes: [4, 8, 8, 8], stem: 4 };
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "rr-loop-"));

interface B {
  x: tf.Tensor4D;
}
function task(nanAt = -1): TrainTask<B> {
  return {
    imagesPerStep: 8,
    batch: async (step) => ({
      x: tf.tensor4d(
        randomArray(8 * 32 * 32 * 3, 100 + step).map((v) => (step === nanAt ? NaN : v)),
        [8, 32, 32, 3],
      ),
    }),
    images: (b) => tf.clone(b.x),
    objective: (z) => ({ loss: supConLoss(z, pairLabels(4)) }),
    describe: () => "random batch",
    dispose: (b) => b.x.dispose(),
  };
}
const cfg = (runDir: string, extra: Partial<LoopConfig> = {}): LoopConfig => ({
  name: "t",
  steps: 6,
  optimizer: { kind: "sgd", lr: 0.05, momentum: 0.9, weightDecay: 1e-4 },
  warmup: 2,
  checkpointEvery: 2,
  runDir,
  quiet: true,
  ...extra,
});
const weights = (m: Model) => Object.fromEntries([...m.params].map(([n, v]) => [n, [...v.dataSync()]]));

test("killed mid-run and resumed: the same final weights as an uninterrupted run", async () => {
  await tf.setBackend("cpu");
  const a = createModel({ arch: SMALL }, 5);
  const ra = await trainLoop(a, task(), cfg(tmp()));
  assert.equal(ra.steps, 6);

  const dir = tmp();
  const b = createModel({ arch: SMALL }, 5);
  const first = await trainLoop(b, task(), cfg(dir, { stopAfter: 3 })); // "killed" after step 3 (last checkpoint: step 2)
  assert.equal(first.steps, 3);
  disposeModel(b);
  const c = createModel({ arch: SMALL }, 99);
  const rc = await trainLoop(c, task(), cfg(dir));
  assert.equal(rc.resumedFrom, 2);
  assert.deepEqual(weights(c), weights(a));
  assert.deepEqual(
    rc.history.map((h) => h.loss),
    ra.history.map((h) => h.loss),
  );
  [a, c].forEach(disposeModel);
});

test("a non-finite loss stops with the step, the batch and the way out", async () => {
  const m = createModel({ arch: SMALL }, 5);
  await assert.rejects(
    trainLoop(m, task(3), cfg(tmp())),
    (e: Error) => e instanceof NonFiniteLossError && /loss is NaN at step 3; batch: random batch\. Lower the learning rate/.test(e.message),
  );
  disposeModel(m);
});

test("numTensors is flat across training steps of the loop", async () => {
  const m = createModel({ arch: SMALL }, 5);
  const dir = tmp();
  await trainLoop(m, task(), cfg(dir, { steps: 2 }));
  const before = tf.memory().numTensors;
  await trainLoop(m, task(), cfg(dir, { steps: 8 }));
  assert.equal(tf.memory().numTensors, before);
  disposeModel(m);
});

test("select: the run keeps the best-scored checkpoint's weights (earliest on a tie), says which, and a resumed run chooses the same", async () => {
  await tf.setBackend("cpu");
  // Scores by step: best at step 4 (tied with 6: the earlier wins).
  const byStep: Record<number, number> = { 2: 0.3, 4: 0.7, 6: 0.7 };
  let stepNow = 0;
  const snapshots = new Map<number, Record<string, number[]>>();
  const select = (every: number): LoopConfig["select"] => ({
    every,
    score: async (m) => (snapshots.set(stepNow, weights(m)), byStep[stepNow]),
  });
  const onStep = (row: { step: number }) => void (stepNow = row.step);

  const a = createModel({ arch: SMALL }, 5);
  const ra = await trainLoop(a, task(), cfg(tmp(), { select: select(2), onStep }));
  assert.deepEqual(ra.selection, {
    scores: [
      { step: 2, score: 0.3 },
      { step: 4, score: 0.7 },
      { step: 6, score: 0.7 },
    ],
    chosenStep: 4,
  });
  assert.deepEqual(weights(a), snapshots.get(4), "the model holds step 4's weights");

  // Killed after step 5 (last checkpoint: step 4), resumed: the same choice, the same weights.
  const dir = tmp();
  const b = createModel({ arch: SMALL }, 5);
  await trainLoop(b, task(), cfg(dir, { select: select(2), onStep, stopAfter: 5 }));
  disposeModel(b);
  const c = createModel({ arch: SMALL }, 99);
  const rc = await trainLoop(c, task(), cfg(dir, { select: select(2), onStep }));
  assert.equal(rc.resumedFrom, 4);
  assert.deepEqual(rc.selection, ra.selection);
  assert.deepEqual(weights(c), weights(a));
  // A finished run read back: its checkpoint holds the chosen weights and the record.
  const d = createModel({ arch: SMALL }, 98);
  const rd = await trainLoop(d, task(), cfg(dir, { select: select(2), onStep }));
  assert.equal(rd.resumedFrom, 6);
  assert.deepEqual(rd.selection, ra.selection);
  assert.deepEqual(weights(d), weights(a));
  [a, c, d].forEach(disposeModel);
});

test("the loader's rate: images over the wall time a batch was in flight, even when one always is; the steps' wait", async () => {
  await tf.setBackend("cpu");
  // A loader of 8 images per 1.2 s, up to two batches at once: 6.7 to 13.3 img/s, slower than the
  // small steps, so a batch is always in flight and the steps wait for it.
  const delay = 1.2;
  const slow: TrainTask<B> = {
    ...task(),
    batch: async (step) => (await new Promise((r) => setTimeout(r, delay * 1000)), task().batch(step)),
  };
  const m = createModel({ arch: SMALL }, 5);
  const r = await trainLoop(m, slow, cfg(tmp(), { steps: 4 }));
  disposeModel(m);
  assert.ok(r.loader.imgPerSec >= (0.9 * 8) / delay && r.loader.imgPerSec <= (1.1 * 16) / delay, `loader ${r.loader.imgPerSec} img/s`);
  assert.ok(r.loader.waitSeconds > 0.5, `the steps waited ${r.loader.waitSeconds} s for a loader slower than they are`);
});

test("learningRate: a run stopped inside a longer schedule steps at that schedule's rates", () => {
  const base = {
    name: "lr",
    optimizer: { kind: "sgd" as const, lr: 0.1, momentum: 0.9, weightDecay: 0 },
    warmup: 10,
    checkpointEvery: 10,
    runDir: "",
  };
  const full: LoopConfig = { ...base, steps: 200 };
  const stopped: LoopConfig = { ...base, steps: 120, schedule: 200 };
  for (const step of [0, 9, 10, 60, 119]) assert.equal(learningRate(stopped, step), learningRate(full, step), `step ${step}`);
  // By hand: halfway through the cosine after warm-up, (105 - 10) / (200 - 10) = 1/2, the rate is half the base.
  assert.ok(Math.abs(learningRate(stopped, 105) - 0.05) < 1e-12);
  // Without `schedule` the cosine spans the run's own steps: at its last step the rate is near 0.
  assert.ok(learningRate({ ...base, steps: 120 }, 119) < 0.001);
});
