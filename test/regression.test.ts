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
import { FINETUNE_EXTRA_CYCLES, finetuneConverged } from "../src/pipeline/finetune-runs";

test("smoke profile end to end: losses fall, and metrics stay within the committed baseline's tolerances", async () => {
  await selectBackend({ force: "wasm", log: null });
  setNativeConvolutions(false); // the baseline is defined on XNNPACK's portable arithmetic
  const now = await currentBaseline(getProfile("smoke")).finally(() => setNativeConvolutions(true));
  assert.ok(now.teacherLoss.last < now.teacherLoss.first, `teacher loss ${now.teacherLoss.first} -> ${now.teacherLoss.last}`);
  // The fine-tunes followed the convergence rule: another cycle only after one that had not
  // converged, at most FINETUNE_EXTRA_CYCLES more, and the row is the last cycle's.
  const m = readMetrics(getProfile("smoke"))!; // checked against the metrics schema on the way in
  assert.equal(m.schemaVersion, METRICS_SCHEMA_VERSION);
  validateWithPython("metrics.schema.json", reportPath(metricsName(getProfile("smoke"))));
  const f = getProfile("smoke").train.finetune;
  for (const set of ["capg-like", "grozi-like"] as const)
    for (const [variant, r] of Object.entries(m.finetune[set])) {
      const a = r.attempts!;
      assert.ok(a.length >= 1 && a.length <= 1 + FINETUNE_EXTRA_CYCLES, `${set} ${variant}: ${a.length} cycles`);
      a.forEach((c, k) => assert.equal(c.converged, finetuneConverged(c.trainAccuracy, c.lossSlopeT), `${set} ${variant} cycle ${k}`));
      a.slice(0, -1).forEach((c) => assert.equal(c.converged, false, `${set} ${variant}: a cycle after a converged one`));
      assert.equal(r.converged, a[a.length - 1].converged);
      assert.equal(r.imagesSeen, a.length * f.steps * f.batch);
      assert.equal(r.trainAccuracy, a[a.length - 1].trainAccuracy);
    }
  const drift = compareBaseline(now, JSON.parse(fs.readFileSync(BASELINE_FILE, "utf8")));
  assert.deepEqual(drift, [], `differences from ${BASELINE_FILE}:\n${drift.join("\n")}\n(if intended: retail-repr baseline --write)`);
});
