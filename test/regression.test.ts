// The whole method on the smoke profile (data, teacher, pseudolabels, student, baselines,
// probes) against the committed baseline: learning must happen and results must not drift.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { selectBackend } from "../src/engine/backend";
import { getProfile } from "../src/config/profiles";
import { baselineFile, compareBaseline, currentBaseline } from "../src/pipeline/baseline";

test("smoke profile end to end: losses fall, and metrics stay within the committed baseline's tolerances", async () => {
  await selectBackend({ force: "wasm", log: null });
  const now = await currentBaseline(getProfile("smoke"));
  assert.ok(now.teacherLoss.last < now.teacherLoss.first, `teacher loss ${now.teacherLoss.first} -> ${now.teacherLoss.last}`);
  const file = baselineFile(now.engine);
  assert.ok(fs.existsSync(file), `no committed baseline for the engine that trained runs/smoke (${now.engine}): ${file}`);
  const drift = compareBaseline(now, JSON.parse(fs.readFileSync(file, "utf8")));
  assert.deepEqual(drift, [], `differences from ${file}:\n${drift.join("\n")}\n(if intended: retail-repr baseline --write)`);
});
