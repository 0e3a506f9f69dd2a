// Interrupting training: Ctrl-C on the CLI stops within a step, saves a checkpoint, ends with one
// line, and the next run resumes.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn, spawnSync } from "node:child_process";
import { readCheckpointMeta } from "../src/models/checkpoint";
import { CHILD } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");

function tempTree() {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "rr-int-"));
  return { root, env: { RETAIL_REPR_RUNS: path.join(root, "runs"), RETAIL_REPR_DATASETS: path.join(root, "datasets") } };
}

test("Ctrl-C on the CLI: the teacher stops after its step, saves, says so in one line, exits 130; the rerun resumes", async () => {
  const { root, env } = tempTree();
  const cli = path.join(ROOT, "bin", "retail-repr.cjs");
  assert.equal(
    spawnSync(process.execPath, [cli, "pretrain", "--profile", "smoke"], { env: { ...process.env, ...env }, ...CHILD }).status,
    0,
  );
  const p = spawn(process.execPath, [cli, "train-teacher", "--profile", "smoke"], { env: { ...process.env, ...env } });
  let out = "";
  p.stdout.on("data", (d) => (out += d));
  p.stderr.on("data", (d) => (out += d));
  const done = new Promise<number | null>((r) => p.on("close", (code) => r(code)));
  // The signal goes as soon as the main run's progress bar shows its first step (the smoke
  // teacher's 40 steps take about 3 s: a fixed delay could miss them).
  const t0 = Date.now();
  while (!/(^|[\r\n])teacher \[/.test(out)) {
    if (Date.now() - t0 > 120_000) throw new Error(`the teacher never started:\n${out}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  p.kill("SIGINT");
  assert.equal(await done, 130, out);
  const m = /teacher: interrupted at step (\d+) of (\d+); checkpoint saved \(.*\): run again to resume/.exec(out);
  assert.ok(m, out);
  assert.ok(Number(m[1]) < Number(m[2]));
  assert.doesNotMatch(out, /\n\s+at /, "no stack trace");
  assert.equal(readCheckpointMeta(path.join(root, "runs", "smoke", "teacher", "checkpoint")).step, Number(m[1]));
  const again = spawnSync(process.execPath, [cli, "train-teacher", "--profile", "smoke"], {
    env: { ...process.env, ...env },
    encoding: "utf8",
    ...CHILD,
  });
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`teacher: resuming from step ${m[1]} `));
  fs.rmSync(root, { recursive: true, force: true });
});
