// The whole method on the smoke profile (data, teacher, pseudolabels, student, baselines,
// probes) against the committed baseline: learning must happen and results must not drift.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { selectBackend } from "../src/engine/backend";
import { getProfile } from "../src/config/profiles";
import { BASELINE_FILE, compareBaseline, currentBaseline } from "../src/pipeline/baseline";
import { setNativeConvolutions } from "../src/engine/native-kernels";
import { metricsName, readMetrics } from "../src/pipeline/evaluate";
import { reportPath } from "../src/util/reports";
import { METRICS_SCHEMA_VERSION } from "../src/pipeline/metrics";
import { validateWithPython } from "./schemas.test";
import { bestScored } from "../src/train/loop";

test("smoke profile end to end: losses fall, and metrics stay within the committed baseline's tolerances", async () => {
  await selectBackend({ force: "wasm", log: null });
  setNativeConvolutions(false); // the baseline is defined on XNNPACK's portable arithmetic
  const now = await currentBaseline(getProfile("smoke")).finally(() => setNativeConvolutions(true));
  assert.ok(now.teacherLoss.last < now.teacherLoss.first, `teacher loss ${now.teacherLoss.first} -> ${now.teacherLoss.last}`);
  // Each fine-tune trained to the step its variant's dev run kept (the best scored, the earliest
  // on a tie), on that run's schedule.
  const m = readMetrics(getProfile("smoke"))!; // checked against the metrics schema on the way in
  assert.equal(m.schemaVersion, METRICS_SCHEMA_VERSION);
  validateWithPython("metrics.schema.json", reportPath(metricsName(getProfile("smoke"))));
  const f = getProfile("smoke").train.finetune;
  for (const [variant, sel] of Object.entries(m.meta.selection.finetune)) {
    const l = sel.length;
    assert.equal(l.schedule, f.steps);
    assert.equal(l.keptStep, bestScored(l.scores).step, `${variant}: the kept step is the best scored`);
    assert.equal(sel.devRuns, sel.tried.length + (sel.gammaTried ? sel.gammaTried.length - 1 : 0) + 1, variant);
    for (const set of ["capg-like", "grozi-like"] as const) {
      const r = m.finetune[set][variant as keyof (typeof m.finetune)[typeof set]];
      assert.deepEqual([r.steps, r.schedule, r.imagesSeen], [l.keptStep, l.schedule, l.keptStep * f.batch], `${set} ${variant}`);
      assert.deepEqual(r.recipe, sel.chosen.recipe);
      assert.equal(r.gamma, sel.chosen.gamma);
    }
  }
  const drift = compareBaseline(now, JSON.parse(fs.readFileSync(BASELINE_FILE, "utf8")));
  assert.deepEqual(drift, [], `differences from ${BASELINE_FILE}:\n${drift.join("\n")}\n(if intended: retail-repr baseline --write)`);
});
