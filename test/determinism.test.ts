// Reproducibility of the native engine: every kernel that reduces across threads gives the same
// bytes when called again on the same inputs, and whole training runs (fresh, and killed then
// resumed) give byte-identical checkpoints. The kernel cases have more row chunks than threads,
// so a scheduler that hands chunks to whichever thread is free would change the order of the sums.
import { test, before, after } from "node:test";
import * as assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import * as crypto from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { batchNormGradSums, channelMoments, groupedConv2d, setNativeConvolutions } from "../src/engine/native-kernels";
import { readCheckpointMeta } from "../src/models/checkpoint";
import { CHILD, randomArray, skipUnlessNative } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
const CLI = path.join(ROOT, "bin", "retail-repr.cjs");
const skip = skipUnlessNative();
const REPEATS = 12;

function bytes(t: tf.Tensor): Buffer {
  const d = t.dataSync() as Float32Array;
  return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
}

/** `f` run REPEATS times: each result's bytes equal the first's. */
function assertSameBytes(what: string, f: () => tf.Tensor): void {
  const first = tf.tidy(() => bytes(f()));
  for (let i = 1; i < REPEATS; i++) {
    const again = tf.tidy(() => bytes(f()));
    assert.ok(again.equals(first), `${what}: call ${i + 1} differs from call 1`);
  }
}

// Filter gradients: the patch-matrix path (dense 3x3: 8192 rows in chunks of ~1800 at 2 threads),
// a wide-group convolution (32 channels per group: GEMMs per group), and the direct kernels'
// thin groups (4, 8 and 16 channels per group).
type Shape = [number, number, number, number];
const FILTER_CASES: { what: string; x: Shape; f: Shape; groups: number }[] = [
  { what: "dense 3x3", x: [8, 32, 32, 64], f: [3, 3, 64, 32], groups: 1 },
  { what: "grouped 3x3, 32 per group", x: [8, 32, 32, 64], f: [3, 3, 32, 64], groups: 2 },
  { what: "grouped 3x3, 4 per group", x: [8, 32, 32, 32], f: [3, 3, 4, 32], groups: 8 },
  { what: "grouped 3x3, 8 per group", x: [8, 32, 32, 32], f: [3, 3, 8, 32], groups: 4 },
  { what: "grouped 3x3, 16 per group", x: [8, 32, 32, 32], f: [3, 3, 16, 32], groups: 2 },
  { what: "1x1 over many rows", x: [8, 32, 32, 64], f: [1, 1, 64, 64], groups: 1 },
];

before(async () => {
  await selectBackend({ force: "wasm", log: null });
});
after(async () => {
  await tf.setBackend("cpu");
});

for (const c of FILTER_CASES) {
  test(`native filter gradient (${c.what}) gives the same bytes on every call`, { skip }, async () => {
    await tf.setBackend("wasm");
    setNativeConvolutions(true);
    const x = tf.tensor4d(
      randomArray(
        c.x.reduce((a, b) => a * b),
        1,
      ),
      c.x,
    );
    const dy = tf.tidy(() => tf.tensor4d(randomArray(c.x[0] * c.x[1] * c.x[2] * c.f[3], 2), [c.x[0], c.x[1], c.x[2], c.f[3]]));
    const dw = () => {
      const f = tf.zeros(c.f) as tf.Tensor4D;
      const conv = (w: tf.Tensor) => tf.sum(tf.mul(groupedOrDense(x, w as tf.Tensor4D, c.groups), dy)) as tf.Scalar;
      return tf.grad(conv)(f);
    };
    assertSameBytes(`dW of ${c.what}`, dw);
    tf.dispose([x, dy]);
  });
}

/** The models' convolution: groups as one native kernel, "same" padding for a 3x3. */
function groupedOrDense(x: tf.Tensor4D, w: tf.Tensor4D, groups: number): tf.Tensor4D {
  const p = (w.shape[0] - 1) / 2;
  return groupedConv2d(
    x,
    w,
    1,
    [
      [0, 0],
      [p, p],
      [p, p],
      [0, 0],
    ],
    groups,
  );
}

test(
  "native batch-norm sums (moments, gradient sums with and without a ReLU mask) give the same bytes on every call",
  { skip },
  async () => {
    await tf.setBackend("wasm");
    setNativeConvolutions(true);
    const shape: [number, number, number, number] = [16, 32, 32, 48];
    const n = shape.reduce((a, b) => a * b);
    const x = tf.tensor4d(randomArray(n, 3), shape);
    const dy = tf.tensor4d(randomArray(n, 4), shape);
    const mask = tf.tensor4d(randomArray(n, 5), shape);
    const mean = tf.tidy(() => tf.mean(x, [0, 1, 2]) as tf.Tensor1D);
    assertSameBytes("channelMoments", () => channelMoments(x));
    assertSameBytes("bnGradSums", () => batchNormGradSums(dy, x, mean));
    assertSameBytes("bnGradSums with a mask", () => batchNormGradSums(dy, x, mean, mask));
    tf.dispose([x, dy, mask, mean]);
  },
);

// Whole runs, through the CLI as a user runs them: the native engine on 2 threads.
function tempTree() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "rr-det-"));
  const env = {
    ...process.env,
    RETAIL_REPR_RUNS: path.join(root, "runs"),
    RETAIL_REPR_DATASETS: path.join(root, "datasets"),
    OPENBLAS_NUM_THREADS: "2",
  };
  return { root, env };
}

function cli(env: NodeJS.ProcessEnv, ...args: string[]): string {
  const r = spawnSync(process.execPath, [CLI, ...args], { env, encoding: "utf8", ...CHILD });
  assert.equal(r.status, 0, `${args.join(" ")}: ${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

function weightsHash(runs: string, step: string): string {
  return crypto
    .createHash("sha256")
    .update(fs.readFileSync(path.join(runs, "smoke", step, "checkpoint", "weights.safetensors")))
    .digest("hex");
}

test(
  "smoke teacher on the native engine, 2 threads: three fresh runs and a run killed (SIGKILL) at a random step then resumed give one weights hash",
  { skip },
  async () => {
    const { root, env } = tempTree();
    const runs = env.RETAIL_REPR_RUNS!;
    try {
      cli(env, "pretrain", "--profile", "smoke");
      const teacher = path.join(runs, "smoke", "teacher");
      const hashes: string[] = [];
      for (let i = 0; i < 3; i++) {
        fs.rmSync(teacher, { recursive: true, force: true });
        assert.match(cli(env, "train-teacher", "--profile", "smoke"), /teacher: 40 steps/);
        hashes.push(weightsHash(runs, "teacher"));
      }
      assert.deepEqual(hashes, [hashes[0], hashes[0], hashes[0]], "fresh runs differ");

      // Killed without warning once a checkpoint (every 10 steps) past step 0 exists, at a step
      // that falls where it falls; the rerun resumes from the checkpoint.
      fs.rmSync(teacher, { recursive: true, force: true });
      const p = spawn(process.execPath, [CLI, "train-teacher", "--profile", "smoke"], { env, stdio: "ignore" });
      const closed = new Promise<void>((r) => p.on("close", () => r()));
      const meta = path.join(teacher, "checkpoint", "checkpoint.json");
      const t0 = Date.now();
      while (!(fs.existsSync(meta) && readCheckpointMeta(path.dirname(meta)).step > 0) && Date.now() - t0 < 120_000)
        await new Promise((r) => setTimeout(r, 20));
      await new Promise((r) => setTimeout(r, Math.floor(Math.random() * 150)));
      p.kill("SIGKILL");
      await closed;
      const stepAtKill = readCheckpointMeta(path.join(teacher, "checkpoint")).step;
      assert.ok(stepAtKill > 0 && stepAtKill < 40, `killed at a checkpoint inside the run (step ${stepAtKill})`);
      assert.match(cli(env, "train-teacher", "--profile", "smoke"), new RegExp(`teacher: resuming from step ${stepAtKill} `));
      assert.equal(
        weightsHash(runs, "teacher"),
        hashes[0],
        `killed at step ${stepAtKill} and resumed: the weights differ from the uninterrupted run`,
      );
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  },
);
