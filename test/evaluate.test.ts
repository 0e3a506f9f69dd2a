// evaluate on the smoke pipeline, built once for both tests: it keeps what it computed (each probe
// is written as soon as it is done, so a failure later in the run loses nothing already done), and
// a representation registered as one stage (a few lines, no library file edited) is planned,
// trained, probed and tabled.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { selectBackend } from "../src/engine/backend";
import { getProfile, Profile } from "../src/config/profiles";
import { paths } from "../src/util/paths";
import { evaluate } from "../src/pipeline/evaluate";
import { ckptDir, ONE_SHOT_SETS, runDir } from "../src/pipeline/steps";
import { metricsName, pipelinePlan } from "../src/pipeline/evaluate";
import { registerStage, representationNames } from "../src/pipeline/stages/registry";
import { checkpointRepresentation, Stage, trainedStep } from "../src/pipeline/stages/stage";
import { commonInputs, embeddingConfig, initialModel, loopConfig } from "../src/pipeline/runs";
import { datasetDir } from "../src/data/generate";
import { datasetFingerprint } from "../src/data/manifest";
import { pairsOf } from "../src/data/sets";
import { trainLoop } from "../src/train/loop";
import { teacherTask } from "../src/train/teacher";
import { disposeModel } from "../src/models/model";
import { pct, tableRows } from "../src/report/paper-tables";
import { applyOverrides, HOW_IT_RUNS_KEYS, parseSet } from "../src/config/overrides";
import { inTempTree } from "./helpers";

test("evaluate on smoke", async (t) => {
  await selectBackend({ force: "wasm", log: null });
  await inTempTree(
    "rr-evaluate-",
    async () => {
      await t.test("probes computed before a failure are kept and not recomputed; the rerun gives the same metrics", keepsProbes);
      await t.test("a representation stage registered in a few lines is planned, trained, probed and tabled", toyStage);
      await t.test("every leaf key of the profile, set to another value, changes the plan or is refused", everyKeyCounts);
      await t.test("data.testSeed draws new test sets: only they, their fine-tunes and the evaluation are to run", sealedDraw);
    },
    { reports: true },
  );
});

async function keepsProbes(): Promise<void> {
  const profile = getProfile("smoke");
  const first = await evaluate(profile, { quiet: true });
  const probeFile = (set: string, which: string) => path.join(runDir(profile, "probes"), `${set}-${which}.json`);
  const mtimes = () =>
    Object.fromEntries(
      ONE_SHOT_SETS.flatMap((set) =>
        representationNames().map((w) => [`${set}-${w}`, fs.existsSync(probeFile(set, w)) ? fs.statSync(probeFile(set, w)).mtimeMs : 0]),
      ),
    );
  for (const [k, t] of Object.entries(mtimes())) assert.ok(t > 0, `${k} kept`);

  // The student's probes and the metrics gone, and its weights unreadable: evaluate fails...
  for (const set of ONE_SHOT_SETS) fs.rmSync(probeFile(set, "student"));
  fs.rmSync(path.join(paths.reports, `${metricsName(profile)}.json`));
  const weights = path.join(ckptDir(profile, "student"), "weights.safetensors");
  const good = fs.readFileSync(weights);
  const bad = Buffer.from(good);
  bad[bad.length - 5] ^= 0xff;
  fs.writeFileSync(weights, bad);
  const before = mtimes();
  await assert.rejects(evaluate(profile, { quiet: true }), /weights\.safetensors: .*truncated or corrupt/);
  // ... and everything else it had is still there, untouched.
  assert.deepEqual(mtimes(), before);

  fs.writeFileSync(weights, good);
  const again = await evaluate(profile, { quiet: true });
  const after = mtimes();
  for (const set of ONE_SHOT_SETS)
    for (const w of representationNames()) {
      if (w === "student") assert.ok(after[`${set}-${w}`] > 0, "student probe computed");
      else assert.equal(after[`${set}-${w}`], before[`${set}-${w}`], `${set}-${w} was not recomputed`);
    }
  const scores = (m: typeof first) => JSON.parse(JSON.stringify(m.probes, (k, v) => (k === "fitMs" ? undefined : v))); // fit time is a timing
  assert.deepEqual(scores(again), scores(first));
  assert.deepEqual(again.finetune, first.finetune);
}

/** A toy representation: the teacher's task for a few steps from random weights, its own cached
 * step, declared where a new baseline would be. */
const TOY_STEPS = 3;
const TOY: Stage = {
  name: "toy",
  steps: (p) => {
    const pairs = datasetDir("teacher-pairs", p.name);
    const inputs = () => ({ data: datasetFingerprint(pairs), ...commonInputs(p, embeddingConfig(p)), steps: TOY_STEPS });
    return [
      trainedStep(p, "toy", TOY_STEPS, {
        dependencies: ["teacher-pairs"],
        inputs,
        run: async (o) => {
          const model = initialModel(p);
          await trainLoop(model, teacherTask(pairsOf(pairs), p), loopConfig(p, "toy", TOY_STEPS, p.train.teacher.lr, inputs(), o));
          disposeModel(model);
        },
      }),
    ];
  },
  representation: checkpointRepresentation("toy", `Toy: ${TOY_STEPS} teacher steps from random init + LR`, "toy + LR"),
};

async function toyStage(): Promise<void> {
  const profile = getProfile("smoke");
  const unregister = registerStage(TOY);
  try {
    const plan = pipelinePlan(profile);
    assert.deepEqual(
      plan.filter((r) => r.status === "to run").map((r) => [r.step, r.why]),
      [
        ["toy", "not trained yet"],
        ["evaluate", "after toy"],
      ],
    );
    const m = await evaluate(profile, { quiet: true });
    assert.deepEqual(representationNames(), ["pretrained", "random-init", "teacher", "student", "toy"]);
    for (const set of ONE_SHOT_SETS) {
      const toy = m.probes[set].toy;
      assert.ok(toy.logreg >= 0 && toy.logreg <= 1 && toy.logregCI[0] <= toy.logreg, `${set}: toy probed`);
      const rows = tableRows(m, set);
      assert.equal(rows.at(-1)!.Model, `Toy: ${TOY_STEPS} teacher steps from random init + LR`, "ours only: the last row");
      assert.equal(rows.at(-1)!["ours %"], pct(toy.logreg));
    }
    assert.ok(fs.existsSync(path.join(ckptDir(profile, "toy"), "checkpoint.json")), "trained into runs/smoke/toy");
    assert.ok(m.meta.selection.probeC.toy.chosen > 0, "its C chosen on dev-like");
    assert.deepEqual(
      pipelinePlan(profile).filter((r) => r.status === "to run"),
      [],
      "all cached after",
    );
  } finally {
    unregister();
  }
  assert.deepEqual(representationNames(), ["pretrained", "random-init", "teacher", "student"]);
}

/** Every leaf of a profile as [dotted key, value] (a list of objects by index, as `--set` writes it). */
function leaves(o: unknown, prefix = ""): [string, unknown][] {
  const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === "object";
  if (!isObject(o) || (Array.isArray(o) && !o.some(isObject))) return [[prefix, o]];
  return Object.entries(o).flatMap(([k, v]) => leaves(v, prefix ? `${prefix}.${k}` : k));
}

/** Other values for a leaf, tried in turn until the schema takes one. */
function otherValues(key: string, v: unknown): unknown[] {
  if (v === null) return [11];
  if (typeof v === "number") return [v * 2, v / 2, v + 1, v - 1, (v + 1) / 2];
  if (typeof v === "boolean") return [!v];
  if (Array.isArray(v)) return [v.slice(1), [...v, (v.at(-1) as number) * 4]];
  if (typeof v === "string")
    return (
      { arch: ["resnext14_8x8d", "resnext_tiny"], init: ["random"], start: ["pretrained", "teacher"] }[key.split(".").at(-1)!] ?? [
        `${v}-other`,
      ]
    );
  return [];
}

/** The cpu profile's keys are the smoke profile's (both are deltas of one base: config.test.ts),
 * so walking smoke's over its cached tree walks them all: each changed value either changes what
 * \`retail-repr plan\` would run or is refused naming the key. */
async function everyKeyCounts(): Promise<void> {
  const base = getProfile("smoke");
  const keys = (p: Profile) => leaves(p).map(([k]) => k);
  assert.deepEqual(keys(base), keys(getProfile("cpu")));
  await evaluate(base, { quiet: true }); // the metrics without the toy stage again (probes kept)
  const cachedPlan = JSON.stringify(pipelinePlan(base));
  assert.ok(
    pipelinePlan(base).every((r) => r.status === "cached"),
    "the tree is cached to begin with",
  );
  const silent: string[] = [];
  for (const [key, value] of leaves(base)) {
    if (key in HOW_IT_RUNS_KEYS) continue;
    let outcome: "refused" | "changed" | "same" | undefined;
    for (const other of otherValues(key, value).filter((o) => JSON.stringify(o) !== JSON.stringify(value))) {
      let p: Profile;
      try {
        p = applyOverrides(base, parseSet(`${key}=${JSON.stringify(other)}`), "--set");
      } catch (e) {
        const m = (e as Error).message;
        if (m.includes(key) && /change nothing|changes nothing|cannot be set/.test(m)) outcome = "refused";
        else continue; // outside the schema: try the next value
        break;
      }
      outcome = JSON.stringify(pipelinePlan(p)) !== cachedPlan ? "changed" : "same";
      break;
    }
    assert.ok(outcome, `${key}: no other value of ${JSON.stringify(value)} passes the schema; add one to otherValues`);
    if (outcome === "same") silent.push(key);
  }
  assert.deepEqual(silent, [], "keys whose change neither shows in the plan nor is refused");
}

/** A sealed test draw: with `data.testSeed` set, the two test sets are drawn anew (their products
 * and photos), and nothing that makes a representation or chooses a setting is to run again. */
async function sealedDraw(): Promise<void> {
  const base = getProfile("smoke");
  assert.equal(base.data.testSeed, null, "the profile's own seed by default");
  assert.ok(pipelinePlan(base).every((r) => r.status === "cached"));
  const sealed = applyOverrides(base, parseSet("data.testSeed=11"), "--set");
  const toRun = pipelinePlan(sealed)
    .filter((r) => r.status === "to run")
    .map((r) => r.step);
  const testFinetunes = pipelinePlan(base)
    .map((r) => r.step)
    .filter((n) => /^finetune-(grozi|capg)-like-/.test(n));
  assert.ok(testFinetunes.length >= 6);
  assert.deepEqual(toRun.sort(), ["capg-like", "grozi-like", ...testFinetunes, "evaluate"].sort());
  // The same seed as the profile's is the same draw.
  const same = applyOverrides(base, parseSet(`data.testSeed=${base.seed}`), "--set");
  assert.ok(pipelinePlan(same).every((r) => r.status === "cached"));
}
