// Data-parallel training on c10d (Gloo): the rows each rank takes (and decodes: only its own),
// torchrun's variables read with clear errors, and then real process groups on this machine:
//   - gradients: 2 and 3 ranks compute one process's step on the whole batch, synchronised batch
//     norm included, for the teacher's objective (native, wasm and torch backends), the noisy
//     student's and the LCA + MaxEnt fine-tune's (on class logits), with no leaks;
//   - the CLI: the smoke teacher with --nproc 2 equals --nproc 1 after a step (weights and
//     running statistics), rank 0 alone writes, a killed rank is named by the survivor, Ctrl-C
//     stops both ranks at one step, and each rerun resumes to the weights of a run never
//     interrupted; one noisy-student step and one LCA + MaxEnt fine-tune step with --nproc 2 equal
//     --nproc 1 as well.
// Without the c10d addon (libtorch-dev and libgloo-dev) these skip with the reason, except under
// CI, which installs both and must run them.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { loadDist, worldFromEnv } from "../src/engine/process-group";
import sharp from "sharp";
import { tf } from "../src/engine/tf";
import { getProfile } from "../src/config/profiles";
import type { Pair } from "../src/data/sets";
import { rowsWithin } from "../src/data/loader";
import { rankRows } from "../src/train/data-parallel";
import { studentTask } from "../src/train/student";
import { withoutNproc } from "../src/cli/launch";
import { readCheckpointMeta } from "../src/models/checkpoint";
import { readSafetensors } from "../src/models/safetensors";
import { CHILD, randomArray } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
const CLI = path.join(ROOT, "bin", "retail-repr.cjs");
const dist = loadDist();
const skip = !("why" in dist) || process.env.CI ? false : `no c10d addon: ${dist.why}`;

test("rankRows: every row of the batch to exactly one rank, contiguous, slices differing by at most one", () => {
  for (let n = 1; n <= 40; n++)
    for (let size = 1; size <= 6; size++) {
      const slices = [...Array(size).keys()].map((r) => rankRows(n, r, size));
      assert.equal(slices[0][0], 0);
      for (let r = 1; r < size; r++) assert.equal(slices[r][0], slices[r - 1][1], `n ${n} size ${size}`);
      assert.equal(slices[size - 1][1], n);
      const lengths = slices.map(([b, e]) => e - b);
      assert.ok(Math.max(...lengths) - Math.min(...lengths) <= 1);
    }
});

test("torchrun's variables: none or WORLD_SIZE=1 is one process; a malformed one is named", () => {
  assert.equal(worldFromEnv({}), undefined);
  assert.equal(worldFromEnv({ WORLD_SIZE: "1", RANK: "0" }), undefined);
  const ok = { WORLD_SIZE: "4", RANK: "2", MASTER_ADDR: "10.0.0.1", MASTER_PORT: "29500", LOCAL_RANK: "0", LOCAL_WORLD_SIZE: "2" };
  assert.deepEqual(worldFromEnv(ok), { rank: 2, size: 4, localRank: 0, localSize: 2, addr: "10.0.0.1", port: 29500 });
  assert.throws(() => worldFromEnv({ ...ok, RANK: "4" }), /RANK=4 is not below WORLD_SIZE=4/);
  assert.throws(() => worldFromEnv({ ...ok, RANK: "x" }), /RANK=x is not a non-negative integer/);
  assert.throws(() => worldFromEnv({ ...ok, MASTER_ADDR: "" }), /MASTER_ADDR is not set/);
  assert.throws(() => worldFromEnv({ ...ok, MASTER_PORT: "70000" }), /MASTER_PORT=70000 is not a TCP port/);
  assert.throws(() => worldFromEnv({ WORLD_SIZE: "2", MASTER_ADDR: "a", MASTER_PORT: "1" }), /RANK is not set/);
  assert.deepEqual(withoutNproc(["train-teacher", "--nproc", "2", "--profile", "smoke", "--nproc=3"]), [
    "train-teacher",
    "--profile",
    "smoke",
  ]);
});

test("a rank decodes only its rows: the pixels the whole batch has there, across the student's pairs and unlabeled blocks", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-rows-"));
  const files = await Promise.all(
    [...Array(8).keys()].map(async (i) => {
      const f = path.join(dir, `img${i}.png`);
      const px = Buffer.from(randomArray(24 * 24 * 3, 40 + i).map((v) => Math.round((v + 1) * 127)));
      await sharp(px, { raw: { width: 24, height: 24, channels: 3 } })
        .png()
        .toFile(f);
      return f;
    }),
  );
  try {
    assert.deepEqual(rowsWithin([3, 9], 0, 6), [3, 6]);
    assert.deepEqual(rowsWithin([3, 9], 6, 4), [0, 3]);
    assert.deepEqual(rowsWithin([0, 2], 6, 4), [0, 0]);
    assert.equal(rowsWithin(undefined, 0, 4), undefined);
    const profile = getProfile("smoke");
    const pairs = [0, 1, 2].map((i) => ({ a: files[i], b: files[i + 3], product: i })) as unknown as Pair[];
    const task = studentTask(pairs, [files[6], files[7], files[0]], { dim: 4, data: randomArray(12, 1) }, profile);
    const n = task.imagesPerStep;
    const whole = await task.batch(2);
    const all = task.images(whole);
    for (const rows of [
      [0, n],
      [1, 4],
      [4, n],
      [5, 7],
    ] as const) {
      const part = await task.batch(2, rows);
      const mine = task.images(part);
      assert.deepEqual(mine.shape, [rows[1] - rows[0], ...all.shape.slice(1)]);
      const expected = tf.slice(all, [rows[0], 0, 0, 0], [rows[1] - rows[0], -1, -1, -1]);
      assert.deepEqual(Array.from(mine.dataSync()), Array.from(expected.dataSync()), `rows ${rows}`);
      tf.dispose([mine, expected]);
      task.dispose(part);
    }
    tf.dispose(all);
    task.dispose(whole);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

let nextPort = 29600 + (process.pid % 200) * 10;

/** `size` ranks of test/dp-rank.ts; each one's record. */
async function ranks(size: number, env: Record<string, string>): Promise<Record<string, any>[]> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "rr-dp-"));
  const port = String(nextPort++);
  const procs = [...Array(size).keys()].map((rank) => {
    const p = spawn(process.execPath, [path.join(__dirname, "dp-rank.js")], {
      env: {
        ...process.env,
        ...env,
        RANK: String(rank),
        WORLD_SIZE: String(size),
        MASTER_ADDR: "127.0.0.1",
        MASTER_PORT: port,
        DP_OUT: out,
        OPENBLAS_NUM_THREADS: "1",
      },
    });
    let err = "";
    p.stderr.on("data", (d) => (err += d));
    return new Promise<void>((resolve, reject) =>
      p.on("close", (code) => (code === 0 ? resolve() : reject(new Error(`rank ${rank}: ${code}\n${err}`)))),
    );
  });
  await Promise.all(procs);
  const records = [...Array(size).keys()].map((r) => JSON.parse(fs.readFileSync(path.join(out, `rank-${r}.json`), "utf8")));
  fs.rmSync(out, { recursive: true, force: true });
  return records;
}

/** max |a - b| over every parameter and statistic, relative to the largest |a| of its tensor. */
function worstRelative(a: Record<string, number[]>, b: Record<string, number[]>): { name: string; rel: number } {
  let worst = { name: "", rel: 0 };
  for (const [name, va] of Object.entries(a)) {
    const scale = Math.max(1e-6, ...va.map(Math.abs));
    const rel = Math.max(...va.map((v, i) => Math.abs(v - b[name][i]))) / scale;
    if (rel > worst.rel) worst = { name, rel };
  }
  return worst;
}

for (const [task, backend, size] of [
  ["teacher", "native", 2],
  ["teacher", "native", 3],
  ["teacher", "wasm", 2],
  ["teacher", "torch", 2],
  ["student", "native", 3],
  ["finetune", "native", 3],
] as const)
  test(
    `the ${task}'s objective, ${size} ranks on ${backend}: one data-parallel step is one process's step on the whole batch (weights, momentum's first update, running statistics), and leaks nothing`,
    { skip },
    async () => {
      const records = await ranks(size, { DP_BACKEND: backend, DP_TASK: task });
      for (const [rank, r] of records.entries()) {
        assert.ok(Math.abs(r.oneLoss - r.dpLoss) <= 1e-5 * Math.abs(r.oneLoss), `rank ${rank}: loss ${r.dpLoss} vs ${r.oneLoss}`);
        const worst = worstRelative(r.one, r.dp);
        assert.ok(worst.rel <= 1e-4, `rank ${rank}: ${worst.name} differs by ${worst.rel} (relative)`);
        // The same update on every rank, bit for bit: they apply one summed gradient.
        assert.deepEqual(r.dp, records[0].dp, `rank ${rank}'s weights differ from rank 0's`);
        assert.equal(r.tensorsAfter, r.tensorsBefore, `rank ${rank}: tensors ${r.tensorsBefore} -> ${r.tensorsAfter} over 3 steps`);
      }
      // A check that can fail: the step moved the weights.
      assert.ok(
        worstRelative(records[0].dp, Object.fromEntries(Object.keys(records[0].dp).map((k) => [k, records[0].dp[k].map(() => 0)]))).rel > 0,
      );
    },
  );

const weights = (dir: string) => readSafetensors(path.join(dir, "weights.safetensors")).tensors;

function maxAbsDifference(a: string, b: string): { name: string; diff: number } {
  const [wa, wb] = [weights(a), weights(b)];
  let worst = { name: "", diff: 0 };
  for (const [name, t] of wa) {
    const u = wb.get(name);
    assert.ok(u, `${name} is missing from ${b}`);
    for (let i = 0; i < t.data.length; i++) {
      const d = Math.abs(t.data[i] - u.data[i]);
      if (d > worst.diff) worst = { name, diff: d };
    }
  }
  return worst;
}

function cli(args: string[], env: Record<string, string>) {
  return spawnSync(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, encoding: "utf8", ...CHILD });
}

test(
  "the CLI: the smoke teacher with --nproc 2 equals --nproc 1 after its step; a killed rank is named, Ctrl-C stops every rank at one step, and each rerun resumes to an uninterrupted run's weights",
  { skip },
  async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "rr-dp-cli-"));
    const tree = (name: string) => ({ RETAIL_REPR_RUNS: path.join(root, name, "runs"), RETAIL_REPR_DATASETS: path.join(root, "datasets") });
    const teacher = (name: string) => path.join(root, name, "runs", "smoke", "teacher", "checkpoint");
    // What the teacher reads (data, pretraining, the dev-like sweep), made once in one process.
    const base = tree("base");
    const made = cli(["make", "teacher-sweep-lr0.5x", "teacher-sweep-lr1x", "teacher-sweep-lr2x", "--profile", "smoke"], base);
    assert.equal(made.status, 0, made.stderr);
    const copy = (name: string) => fs.cpSync(path.join(root, "base"), path.join(root, name), { recursive: true });

    // One step: 2 ranks against 1 process, weights and batch-norm running statistics.
    const one = ["--profile", "smoke", "--set", "train.teacher.steps=1"];
    for (const n of ["1", "2"]) {
      copy(`n${n}`);
      const r = cli(["train-teacher", ...one, "--nproc", n], tree(`n${n}`));
      assert.equal(r.status, 0, r.stderr);
      if (n === "2") {
        assert.equal(r.stdout.match(/^teacher: 1 steps/gm)?.length, 1, `rank 0 alone reports:\n${r.stdout}`);
        assert.equal(readCheckpointMeta(teacher("n2")).extra.ranks, 2);
      }
    }
    const d = maxAbsDifference(teacher("n1"), teacher("n2"));
    assert.ok(d.diff <= 1e-4, `--nproc 2 vs 1 after one step: ${d.name} differs by ${d.diff}`);

    // Kill rank 1 of a run started as Kubernetes would start it (torchrun's variables, no --nproc).
    const long = ["train-teacher", "--profile", "smoke", "--set", "train.teacher.steps=12", "--set", "train.checkpointEvery=2"];
    copy("whole");
    copy("killed");
    const whole = cli([...long, "--nproc", "2"], tree("whole"));
    assert.equal(whole.status, 0, whole.stderr);
    const port = String(nextPort++);
    const started = [0, 1].map((rank) => {
      const p = spawn(process.execPath, [CLI, ...long], {
        env: {
          ...process.env,
          ...tree("killed"),
          RANK: String(rank),
          WORLD_SIZE: "2",
          LOCAL_WORLD_SIZE: "2",
          MASTER_ADDR: "127.0.0.1",
          MASTER_PORT: port,
          OPENBLAS_NUM_THREADS: "1",
        },
      });
      let out = "";
      p.stdout.on("data", (b) => (out += b));
      p.stderr.on("data", (b) => (out += b));
      return { p, out: () => out, done: new Promise<number | null>((r) => p.on("close", (code) => r(code))) };
    });
    const t0 = Date.now();
    for (;;) {
      const step = fs.existsSync(path.join(teacher("killed"), "checkpoint.json")) ? readCheckpointMeta(teacher("killed")).step : 0;
      if (step >= 4) break;
      assert.ok(Date.now() - t0 < 300_000, "the run never reached step 4");
      await new Promise((r) => setTimeout(r, 50));
    }
    started[1].p.kill("SIGKILL");
    const killedAt = Date.now();
    const code = await started[0].done;
    assert.notEqual(code, 0, started[0].out());
    assert.match(started[0].out(), /rank 0 of 2: .* failed: rank 1 stopped/, started[0].out());
    assert.ok(Date.now() - killedAt < 30_000, `rank 0 took ${Date.now() - killedAt} ms to stop`);
    assert.doesNotMatch(started[0].out(), /\n\s+at /, "no stack trace");
    const stoppedAt = readCheckpointMeta(teacher("killed")).step;
    assert.ok(stoppedAt >= 4 && stoppedAt < 12, `checkpoint at ${stoppedAt}`);

    // Ctrl-C on the terminal reaches the launcher and both ranks: they stop at one step, rank 0
    // saves, everything exits 130, and the rerun resumes (to the same weights, checked below).
    copy("interrupted");
    const launcher = spawn(process.execPath, [CLI, ...long, "--nproc", "2"], {
      env: { ...process.env, ...tree("interrupted") },
      detached: true,
    });
    let said = "";
    launcher.stdout.on("data", (b) => (said += b));
    launcher.stderr.on("data", (b) => (said += b));
    const ended = new Promise<number | null>((r) => launcher.on("close", (c) => r(c)));
    const t1 = Date.now();
    while (!(fs.existsSync(path.join(teacher("interrupted"), "checkpoint.json")) && readCheckpointMeta(teacher("interrupted")).step >= 2)) {
      assert.ok(Date.now() - t1 < 300_000, "the interrupted run never reached step 2");
      await new Promise((r) => setTimeout(r, 50));
    }
    process.kill(-launcher.pid!, "SIGINT");
    assert.equal(await ended, 130, said);
    const at = /teacher: interrupted at step (\d+) of 12/.exec(said);
    assert.ok(at, said);
    assert.equal(readCheckpointMeta(teacher("interrupted")).step, Number(at[1]));
    const resumed = cli([...long, "--nproc", "2"], tree("interrupted"));
    assert.equal(resumed.status, 0, resumed.stderr);
    assert.match(resumed.stdout, new RegExp(`teacher: resuming from step ${at[1]} `));
    const wi = maxAbsDifference(teacher("whole"), teacher("interrupted"));
    assert.ok(wi.diff <= 1e-4, `interrupted and resumed vs uninterrupted: ${wi.name} differs by ${wi.diff}`);

    const rerun = cli([...long, "--nproc", "2"], tree("killed"));
    assert.equal(rerun.status, 0, rerun.stderr);
    assert.match(rerun.stdout, new RegExp(`teacher: resuming from step ${stoppedAt} `));
    const w = maxAbsDifference(teacher("whole"), teacher("killed"));
    assert.ok(w.diff <= 1e-4, `resumed vs uninterrupted: ${w.name} differs by ${w.diff}`);
    fs.rmSync(root, { recursive: true, force: true });
  },
);

test(
  "the CLI: one noisy-student step and one LCA + MaxEnt fine-tune step with --nproc 2 equal --nproc 1 (weights and running statistics)",
  { skip },
  async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "rr-dp-stages-"));
    const tree = (name: string) => ({ RETAIL_REPR_RUNS: path.join(root, name, "runs"), RETAIL_REPR_DATASETS: path.join(root, "datasets") });
    const ckpt = (name: string, step: string) => path.join(root, name, "runs", "smoke", step, "checkpoint");
    const student = ["train-student", "--profile", "smoke", "--set", "train.student.steps=1"];
    // One fine-tune step per cycle; cycle 0's checkpoint is one step from the init.
    const finetune = [
      "finetune",
      "--profile",
      "smoke",
      "--dataset",
      "grozi-like",
      "--variant",
      "lca-maxent",
      "--set",
      "train.finetune.steps=1",
    ];
    // One process makes everything they read, then the step itself; the copy redoes only the step.
    for (const args of [student, finetune]) {
      const r = cli(args, tree("n1"));
      assert.equal(r.status, 0, r.stderr);
    }
    fs.cpSync(path.join(root, "n1"), path.join(root, "n2"), { recursive: true });
    for (const step of fs.readdirSync(path.join(root, "n2", "runs", "smoke")))
      if (step === "student" || step.startsWith("finetune-grozi-like-lca-maxent"))
        fs.rmSync(path.join(root, "n2", "runs", "smoke", step), { recursive: true });
    for (const args of [student, finetune]) {
      const r = cli([...args, "--nproc", "2"], tree("n2"));
      assert.equal(r.status, 0, r.stderr);
    }
    for (const step of ["student", "finetune-grozi-like-lca-maxent"]) {
      assert.equal(readCheckpointMeta(ckpt("n2", step)).extra.ranks, 2, `${step} trained on 2 ranks`);
      assert.equal(readCheckpointMeta(ckpt("n2", step)).step, 1);
      const d = maxAbsDifference(ckpt("n1", step), ckpt("n2", step));
      assert.ok(d.diff <= 1e-4, `${step}: --nproc 2 vs 1 after one step: ${d.name} differs by ${d.diff}`);
    }
    fs.rmSync(root, { recursive: true, force: true });
  },
);
