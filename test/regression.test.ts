// The whole method on the smoke profile (data, teacher, pseudolabels, student, baselines,
// probes) against the committed baseline: learning must happen and results must not drift.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { selectBackend } from "../src/engine/backend";
import { getProfile } from "../src/config/profiles";
import { BASELINE_FILE, compareBaseline, currentBaseline } from "../src/pipeline/baseline";
import { setNativeConvolutions } from "../src/engine/native-kernels";

test("smoke profile end to end: losses fall, and metrics stay within the committed baseline's tolerances", async () => {
  await selectBackend({ force: "wasm", log: null });
  setNativeConvolutions(false); // the baseline is defined on XNNPACK's portable arithmetic
  const now = await currentBaseline(getProfile("smoke")).finally(() => setNativeConvolutions(true));
  assert.ok(now.teacherLoss.last < now.teacherLoss.first, `teacher loss ${now.teacherLoss.first} -> ${now.teacherLoss.last}`);
  const drift = compareBaseline(now, JSON.parse(fs.readFileSync(BASELINE_FILE, "utf8")));
  assert.deepEqual(drift, [], `differences from ${BASELINE_FILE}:\n${drift.join("\n")}\n(if intended: retail-repr baseline --write)`);
});
