// The wasm heap guard: the estimate near the real limit, the error it gives, the chunked
// fallback the training loop takes, and `info --arch --size`.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { checkStepFits, HeapLimitError, largestBatch, WASM_HEAP_BYTES } from "../src/models/memory";
import { createModel, disposeModel } from "../src/models/model";
import { ResNeXtConfig } from "../src/models/resnext";
import { chunkFor, TrainTask, trainLoop } from "../src/train/loop";
import { pairLabels, supConLoss } from "../src/losses/supcon";
import { randomArray, CHILD } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
const R50 = { arch: "resnext50_32x4d", pooling: "lca" as const, projDim: 0, classes: 0 };

/** One SupCon training step of resnext50_32x4d @224 at batch b in a fresh process: its exit code, output and wasm heap size. */
function stepInProcess(b: number, guard: boolean): { status: number | null; out: string; heap?: number } {
  const script = `
    const { tf } = require(${JSON.stringify(path.join(ROOT, "dist/src/engine/tf"))});
    const { selectBackend } = require(${JSON.stringify(path.join(ROOT, "dist/src/engine/backend"))});
    const { createModel, embedForward } = require(${JSON.stringify(path.join(ROOT, "dist/src/models/model"))});
    const { paramGrads } = require(${JSON.stringify(path.join(ROOT, "dist/src/models/params"))});
    const { supConLoss } = require(${JSON.stringify(path.join(ROOT, "dist/src/losses/supcon"))});
    const { Optimizer } = require(${JSON.stringify(path.join(ROOT, "dist/src/train/optimizer"))});
    const { checkStepFits } = require(${JSON.stringify(path.join(ROOT, "dist/src/models/memory"))});
    (async () => {
      await selectBackend({ force: "wasm", log: null });
      const config = ${JSON.stringify(R50)};
      checkStepFits(config, 224, ${b}, "train");
      const m = createModel(config, 1);
      const x = tf.randomNormal([${b}, 224, 224, 3]);
      const opt = new Optimizer({ kind: "sgd", lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
      const { value, grads } = paramGrads(m.params, () => supConLoss(embedForward(m, x, true), Int32Array.from({ length: ${b} }, (_, i) => i >> 1)));
      opt.apply(m.params, grads, 0.01);
      console.log("HEAP " + tf.backend().wasm.HEAPU8.buffer.byteLength);
    })().catch((e) => { console.error(e.message); process.exit(3); });`;
  const r = spawnSync(process.execPath, ["-e", script], {
    encoding: "utf8",
    env: { ...process.env, RETAIL_REPR_HEAP_GUARD: guard ? "1" : "0" },
    ...CHILD,
  });
  const out = r.stdout + r.stderr;
  const heap = /HEAP (\d+)/.exec(out)?.[1];
  return { status: r.status, out, heap: heap ? Number(heap) : undefined };
}

test("heap guard near the limit: resnext50_32x4d @224 trains at the estimated largest batch, runs out of heap two images later (a clear error, not undefined behaviour), and the guard refuses that step beforehand", async () => {
  await selectBackend({ force: "wasm", log: null }); // the engine the child processes use, and so its factors
  const largest = largestBatch(R50, 224, "train");
  assert.ok(largest >= 4 && largest <= 16, `largest ${largest}`);
  const fits = stepInProcess(largest, true);
  assert.equal(fits.status, 0, fits.out);
  assert.ok(
    fits.heap! <= WASM_HEAP_BYTES && fits.heap! > 0.7 * WASM_HEAP_BYTES,
    `heap ${fits.heap} after a step at the largest batch: near the 4 GiB limit, not far below it`,
  );
  // Without the guard, two images more is past what the heap holds: an allocation fails, and
  // the check on every wasm allocation stops the step there with a message (before it, tfjs
  // placed the tensor at address 0 and what followed was undefined).
  const dies = stepInProcess(largest + 2, false);
  assert.equal(dies.status, 3, dies.out);
  assert.match(
    dies.out,
    /the wasm engine's heap is full: \d+ MiB more did not fit in its 4 GiB\. Lower the batch, or compute it in chunks \(`--chunk N`\)/,
  );
  assert.ok(!/HEAP/.test(dies.out));
  // With it, the same step is refused before anything is allocated, by name and with the way out.
  const refused = stepInProcess(largest + 2, true);
  assert.equal(refused.status, 3);
  assert.match(
    refused.out,
    new RegExp(
      `resnext50_32x4d @224px, batch ${largest + 2}: a training step needs about \\d+\\.\\d GiB of the wasm engine's 4 GiB heap; the largest batch that fits is ${largest}\\. \`retail-repr info --arch resnext50_32x4d --size 224\` shows the limits`,
    ),
  );
});

test("checkStepFits: inference allows larger batches than training; the off switch", () => {
  assert.ok(largestBatch(R50, 224, "infer") > 2 * largestBatch(R50, 224, "train"));
  assert.throws(() => checkStepFits(R50, 224, 1000, "infer"), HeapLimitError);
  assert.equal(largestBatch({ ...R50, arch: "resnext101_32x8d" }, 2048, "train"), 0, "a size where not even one image fits");
  process.env.RETAIL_REPR_HEAP_GUARD = "0";
  try {
    checkStepFits(R50, 224, 1000, "infer");
  } finally {
    delete process.env.RETAIL_REPR_HEAP_GUARD;
  }
});

test("the loop's chunk: the configured one, else the largest that fits on wasm when the batch does not, else an error naming the step", async () => {
  await selectBackend({ force: "wasm", log: null });
  const m = createModel(R50, 1);
  const task = (n: number) => ({ imagesPerStep: n }) as unknown as TrainTask<unknown>;
  const largest = largestBatch(R50, 224, "train");
  assert.equal(chunkFor(m, task(largest), { name: "t", imageSize: 224 }), 0, "a batch that fits runs whole");
  assert.equal(chunkFor(m, task(256), { name: "t", imageSize: 224 }), largest);
  assert.equal(chunkFor(m, task(256), { name: "t", imageSize: 224, chunk: 2 }), 2);
  assert.throws(
    () => chunkFor(m, task(256), { name: "t", imageSize: 224, chunk: largest + 5 }),
    /the largest batch that fits is \d+ \(lower the chunk size\)/,
  );
  disposeModel(m);
});

test("a loop with --chunk trains, resumes and leaves no tensors behind", async () => {
  await tf.setBackend("cpu");
  const SMALL: ResNeXtConfig = { name: "mem_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 16, planes: [4, 8, 8, 8], stem: 4 };
  const m = createModel({ arch: SMALL }, 2);
  const x = () => tf.tensor4d(randomArray(8 * 32 * 32 * 3, 5), [8, 32, 32, 3]);
  const t: TrainTask<{ x: tf.Tensor4D }> = {
    imagesPerStep: 8,
    batch: async () => ({ x: x() }),
    images: (b) => tf.clone(b.x),
    objective: (z) => ({ loss: supConLoss(z, pairLabels(4)) }),
    describe: () => "random",
    dispose: (b) => b.x.dispose(),
  };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-chunk-"));
  const cfg = {
    name: "c",
    steps: 2,
    optimizer: { kind: "sgd" as const, lr: 0.05, momentum: 0.9, weightDecay: 1e-4 },
    warmup: 1,
    checkpointEvery: 1,
    runDir: dir,
    quiet: true,
    imageSize: 32,
    chunk: 3,
  };
  await trainLoop(m, t, cfg);
  const before = tf.memory().numTensors;
  const r = await trainLoop(m, t, { ...cfg, steps: 5 });
  assert.equal(r.resumedFrom, 2);
  assert.ok(r.history.every((h) => Number.isFinite(h.loss)));
  assert.equal(tf.memory().numTensors, before);
  disposeModel(m);
});

test("info --arch --size prints the largest training and embedding batches", async () => {
  await selectBackend({ force: "wasm", log: null });
  const r = spawnSync(
    process.execPath,
    [path.join(ROOT, "bin", "retail-repr.cjs"), "info", "--arch", "resnext50_32x4d", "--size", "224", "--backend", "wasm"],
    { encoding: "utf8", ...CHILD },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `largest batch ${largestBatch(R50, 224, "train")} to train \\(~\\d+ MiB per image\\), ${largestBatch(R50, 224, "infer")} to embed`,
    ),
  );
});
