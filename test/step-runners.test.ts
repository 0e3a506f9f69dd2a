// The three step runners (train/step-runners.ts) on one student batch: the same loss, loss parts
// and update. Batch norm normalises over each forward pass's images (the whole batch, a chunk,
// a replica's half), so the batch is laid out for the pieces to have the whole batch's
// statistics: each image four times, both halves alike and even rows like odd rows. On other
// batches the chunked and replica steps follow their own statistics (chunked.test.ts,
// parallel.test.ts).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { getProfile } from "../src/config/profiles";
import { createModel, disposeModel, embeddingDim, Model } from "../src/models/model";
import { ResNeXtConfig } from "../src/models/resnext";
import { Optimizer } from "../src/train/optimizer";
import { Replica } from "../src/train/replica";
import { stepRunner } from "../src/train/step-runners";
import { studentTask } from "../src/train/student";
import type { Pair } from "../src/data/sets";
import { randomArray } from "./helpers";

const SMALL: ResNeXtConfig = { name: "runner_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 32, planes: [4, 8, 8, 8], stem: 4 };
const profile = getProfile("smoke");
const S = profile.imageSize;

/** B = 4q images: u_0, u_0, u_1, u_1, ..., u_{q-1}, u_{q-1}, then the same again. */
function fourfold(B: number): tf.Tensor4D {
  const q = B / 4;
  const u = randomArray(q * S * S * 3, 21);
  const out = new Float32Array(B * S * S * 3);
  for (let i = 0; i < B; i++) {
    const j = Math.floor((i % (2 * q)) / 2);
    out.set(u.subarray(j * S * S * 3, (j + 1) * S * S * 3), i * S * S * 3);
  }
  return tf.tensor4d(out, [B, S, S, 3]);
}

async function step(kind: "local" | "chunked" | "replica", x: tf.Tensor4D, objective: Parameters<ReturnType<typeof stepRunner>>[1]) {
  const model = createModel({ arch: SMALL }, 5);
  const before = new Map([...model.params].map(([n, v]) => [n, v.dataSync().slice()]));
  const opt = new Optimizer({ kind: "sgd", lr: 0.1 });
  const replica = kind === "replica" ? new Replica() : undefined;
  try {
    if (replica) await replica.init(model, opt);
    const parts: Record<string, number> = {};
    const run = stepRunner(model, opt, { chunk: kind === "chunked" ? x.shape[0] / 2 : 0, replica });
    const loss = await run(x, objective, 0.1, () => undefined, parts);
    const delta = (m: Model) =>
      Object.fromEntries([...m.params].map(([n, v]) => [n, Float32Array.from(v.dataSync(), (w, i) => w - before.get(n)![i])]));
    return { loss, parts, delta: delta(model) };
  } finally {
    await replica?.terminate();
    opt.dispose();
    disposeModel(model);
  }
}

test("local, chunked and replica steps give one loss, its parts and one update on a student batch whose pieces share the batch's statistics", async () => {
  await selectBackend({ force: "wasm", log: null });
  const s = profile.train.student;
  const n = s.pairsPerBatch;
  const m = s.pseudoPerBatch;
  const pairs: Pair[] = Array.from({ length: n }, (_, i) => ({ pair: i, a: `a${i}`, b: `b${i}`, product: i }) as unknown as Pair);
  const pseudo = Array.from({ length: m }, (_, i) => `u${i}`);
  const probe = createModel({ arch: SMALL }, 5);
  const dim = embeddingDim(probe.config);
  disposeModel(probe);
  const task = studentTask(pairs, pseudo, { dim, data: randomArray(m * dim, 4) }, profile);
  const targets = tf.tidy(() => tf.div(tf.tensor2d(randomArray(m * dim, 4), [m, dim]), 3) as tf.Tensor2D);
  const batch = { pairs: tf.zeros([0, S, S, 3]) as tf.Tensor4D, pseudo: tf.zeros([0, S, S, 3]) as tf.Tensor4D, targets, files: [] };
  const x = fourfold(2 * n + m);
  try {
    const objective = (z: tf.Tensor2D) => task.objective(z, batch);
    const local = await step("local", x, objective);
    for (const kind of ["chunked", "replica"] as const) {
      const other = await step(kind, x, objective);
      assert.ok(Math.abs(other.loss - local.loss) < 1e-5 * Math.max(1, local.loss), `${kind}: loss ${other.loss} vs local ${local.loss}`);
      for (const k of ["supcon", "smoothl1"])
        assert.ok(
          Math.abs(other.parts[k] - local.parts[k]) < 1e-5 * Math.max(1, local.parts[k]),
          `${kind}: ${k} ${other.parts[k]} vs ${local.parts[k]}`,
        );
      // The gradients, through SGD's update; running statistics aside (their variance carries
      // Bessel's n / (n - 1), and n is each forward pass's own count).
      for (const [name, d] of Object.entries(local.delta).filter(([name]) => !/running_/.test(name))) {
        const scale = d.reduce((a, v) => Math.max(a, Math.abs(v)), 0);
        const worst = d.reduce((a, v, i) => Math.max(a, Math.abs(other.delta[name][i] - v)), 0);
        assert.ok(worst <= 1e-4 * scale + 1e-7, `${kind}: the update of ${name} differs by ${worst} (largest ${scale})`);
      }
    }
  } finally {
    tf.dispose([x, targets, batch.pairs, batch.pseudo]);
  }
});
