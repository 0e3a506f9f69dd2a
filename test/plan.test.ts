// The pipeline as a declared table: `plan` on a fresh tree, after some steps ran, and after an
// input changed; the traversal makes a step's dependencies first and only what is not current.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { selectBackend } from "../src/engine/backend";
import { getProfile, Profile, withRun } from "../src/config/profiles";
import { ensureStep, planSteps, stepTable } from "../src/pipeline/steps";
import { pipelinePlan } from "../src/pipeline/evaluate";
import { CHILD, inTempTree } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
// The grid's runs, then the step that widens it once when the choice is on its edge.
const teacherSweepNames = (p: Profile) => [...p.train.teacher.sweep.lrScales.map((x) => `teacher-sweep-lr${x}x`), "teacher-sweep-edge"];
const statusOf = (p: Profile) => Object.fromEntries(planSteps(p).map((r) => [r.step, r.status === "cached" ? "cached" : r.why]));

test("the table lists every dependency before the steps that read it, and each step once", () => {
  const table = stepTable(getProfile("smoke"));
  const seen = new Set<string>();
  for (const s of table) {
    assert.ok(!seen.has(s.name), `${s.name} twice`);
    for (const d of s.dependencies) assert.ok(seen.has(d), `${s.name} reads ${d}, which comes later or not at all`);
    seen.add(s.name);
  }
  const sweep = [
    "student-sweep-teacher-a0.5",
    "student-sweep-pretrained-a0.5",
    "student-sweep-teacher-a0.1",
    "student-sweep-pretrained-a0.1",
  ];
  const lrSweep = ["student-sweep-lr0.5x", "student-sweep-lr2x", "student-sweep-edge"];
  const teacherSweep = ["teacher-sweep-lr0.5x", "teacher-sweep-lr1x", "teacher-sweep-lr2x", "teacher-sweep-edge"];
  assert.deepEqual(
    table.find((s) => s.name === "teacher")!.dependencies,
    ["teacher-pairs", "dev-like", "pretrain", ...teacherSweep],
    "the teacher waits for its learning-rate sweep",
  );
  assert.deepEqual(table.find((s) => s.name === teacherSweep[0])!.dependencies, ["teacher-pairs", "dev-like", "pretrain"]);
  assert.deepEqual(
    table.find((s) => s.name === "student")!.dependencies,
    ["teacher-pairs", "pseudolabels", "dev-like", "pretrain", ...sweep, ...lrSweep],
    "the student waits for both stages of its dev sweep",
  );
  assert.deepEqual(table.find((s) => s.name === sweep[0])!.dependencies, ["teacher-pairs", "pseudolabels", "dev-like", "pretrain"]);
  assert.deepEqual(table.find((s) => s.name === lrSweep[0])!.dependencies, sweep, "the second stage waits for the first");
  assert.deepEqual(
    table.find((s) => s.name === "teacher-sweep-edge")!.dependencies,
    teacherSweep.slice(0, 3),
    "the widening waits for the grid",
  );
  assert.deepEqual(table.find((s) => s.name === "student-sweep-edge")!.dependencies, [...sweep, ...lrSweep.slice(0, 2)]);
  // Each fine-tune variant chooses on dev-like alone: recipes, then (MaxEnt) gamma and its
  // widening, then its length; its test-set runs wait for all of them.
  const recipes = (v: string) => ["uniform", "backbone-tenth", "low-backbone-tenth"].map((r) => `finetune-dev-like-${v}-${r}`);
  assert.deepEqual(table.find((s) => s.name === "finetune-capg-like-gap")!.dependencies, [
    "capg-like",
    "pretrain",
    ...recipes("gap"),
    "finetune-dev-like-gap",
  ]);
  assert.deepEqual(table.find((s) => s.name === "finetune-dev-like-gap")!.dependencies, recipes("gap"));
  const gammas = ["finetune-dev-like-lca-maxent-gamma0.5x", "finetune-dev-like-lca-maxent-gamma2x"];
  assert.deepEqual(table.find((s) => s.name === gammas[0])!.dependencies, recipes("lca-maxent"));
  assert.deepEqual(table.find((s) => s.name === "finetune-dev-like-lca-maxent-gamma-edge")!.dependencies, [
    ...recipes("lca-maxent"),
    ...gammas,
  ]);
  assert.deepEqual(table.find((s) => s.name === "finetune-grozi-like-lca-maxent")!.dependencies, [
    "grozi-like",
    "pretrain",
    ...recipes("lca-maxent"),
    ...gammas,
    "finetune-dev-like-lca-maxent-gamma-edge",
    "finetune-dev-like-lca-maxent",
  ]);
  assert.equal(
    table.find((s) => s.name === "finetune-dev-like-lca-gamma0.5x"),
    undefined,
    "gamma is MaxEnt's alone",
  );
  // A repeat makes its own choices: its sweeps read its own teacher, pseudolabels and dev-like
  // draw, and their runs live in its folder.
  const repeat1 = withRun(getProfile("smoke"), { repeat: 1 });
  const repeat = stepTable(repeat1);
  assert.deepEqual(repeat.find((s) => s.name === sweep[0])!.dependencies, ["teacher-pairs", "pseudolabels", "dev-like", "pretrain"]);
  for (const name of [teacherSweep[0], sweep[0], "finetune-dev-like-gap-uniform", "finetune-dev-like-gap"])
    assert.match(repeat.find((s) => s.name === name)!.artifact, /repeat-1/, `${name} is made in repeat 1's folder`);
  assert.deepEqual(
    stepTable(getProfile("smoke", "random")).find((s) => s.name === "teacher")!.dependencies,
    ["teacher-pairs", "dev-like", ...teacherSweep],
    "a random init reads no pretraining",
  );
});

test("plan: a fresh tree, after the teacher's steps ran (only those), and after a changed input", async () => {
  await selectBackend({ force: "wasm", log: null });
  await inTempTree(
    "rr-plan-",
    async ({ root }) => {
      const p = getProfile("smoke");
      const fresh = statusOf(p);
      assert.equal(fresh["teacher-pairs"], "not generated yet");
      assert.equal(
        fresh.teacher,
        "after teacher-pairs, dev-like, pretrain, teacher-sweep-lr0.5x, teacher-sweep-lr1x, teacher-sweep-lr2x, teacher-sweep-edge",
      );
      assert.equal(
        fresh.student,
        "after teacher-pairs, pseudolabels, dev-like and 8 more", // eleven: the table names three
      );
      assert.match(pipelinePlan(p).at(-1)!.why!, /^after pretrain-corpus, teacher-pairs, student-pseudo and 39 more$/);

      await ensureStep(p, "teacher", { quiet: true });
      const after = statusOf(p);
      for (const s of ["pretrain-corpus", "teacher-pairs", "dev-like", "pretrain", "teacher-sweep-lr1x", "teacher"])
        assert.equal(after[s], "cached", s);
      assert.equal(after["grozi-like"], "not generated yet", "only the teacher's dependencies were made");
      assert.equal(after["student-pseudo"], "not generated yet");
      assert.equal(after.pseudolabels, "after student-pseudo");

      // A changed hyper-parameter: the teacher is redone from scratch, and what reads it after it.
      const changed: Profile = { ...p, train: { ...p.train, teacher: { ...p.train.teacher, lr: p.train.teacher.lr / 2 } } };
      const c = statusOf(changed);
      assert.equal(c.pretrain, "cached");
      assert.equal(c["teacher-sweep-lr1x"], "inputs changed (train)");
      assert.equal(c.teacher, "after teacher-sweep-lr0.5x, teacher-sweep-lr1x, teacher-sweep-lr2x, teacher-sweep-edge");
      assert.equal(c.pseudolabels, "after student-pseudo, teacher");

      // The CLI prints the same table.
      const env = { ...process.env, RETAIL_REPR_RUNS: path.join(root, "runs"), RETAIL_REPR_DATASETS: path.join(root, "datasets") };
      const r = spawnSync(process.execPath, [path.join(ROOT, "bin", "retail-repr.cjs"), "plan", "--profile", "smoke"], {
        env,
        encoding: "utf8",
        ...CHILD,
      });
      assert.equal(r.status, 0, r.stderr);
      assert.match(r.stdout, /^ {2}teacher +cached$/m);
      assert.match(r.stdout, /^ {2}grozi-like +to run: not generated yet$/m);
      assert.match(r.stdout, /^ {2}evaluate +to run: after student-pseudo, grozi-like, capg-like and \d+ more$/m);
      // The same change from the command line: --set reaches the step's fingerprint.
      const set = spawnSync(
        process.execPath,
        [path.join(ROOT, "bin", "retail-repr.cjs"), "plan", "--profile", "smoke", "--set", `train.teacher.lr=${p.train.teacher.lr / 2}`],
        { env, encoding: "utf8", ...CHILD },
      );
      assert.equal(set.status, 0, set.stderr);
      assert.match(set.stdout, /^ {2}pretrain +cached$/m);
      assert.match(set.stdout, /^ {2}teacher-sweep-lr1x +to run: inputs changed \(train\)$/m);
      // `make` takes a stage of the registry (its steps, made already here) or a step, and
      // names what there is when it knows neither.
      const cli = (...a: string[]) =>
        spawnSync(process.execPath, [path.join(ROOT, "bin", "retail-repr.cjs"), ...a, "--profile", "smoke"], {
          env,
          encoding: "utf8",
          ...CHILD,
        });
      const make = cli("make", "teacher");
      assert.equal(make.status, 0, make.stderr);
      assert.deepEqual(
        make.stdout
          .split("\n")
          .filter((l) => l.includes(" -> "))
          .map((l) => l.split(":")[0]),
        [...teacherSweepNames(p), "teacher"],
      );
      assert.match(make.stdout, /^teacher: made -> .*teacher[/\\]checkpoint$/m);
      const unknown = cli("make", "teachr");
      assert.equal(unknown.status, 2);
      assert.match(unknown.stderr, /no stage or step 'teachr' in profile smoke; name a stage \(datasets, pretrain, random-init, teacher, /);
    },
    { reports: true },
  );
});
