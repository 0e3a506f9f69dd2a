// Report formats (util/report-schema.ts, pipeline/metrics.ts, bench/bench-schema.ts) and
// their JSON Schema files: versions written and checked, old and foreign files refused by
// version, the committed schemas/ equal to a fresh generation and usable from Python.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { jsonSchemaFiles, SCHEMA_DIR } from "../src/schemas";
import { readVersioned, ReportFormatError, writeVersioned } from "../src/util/report-schema";
import { METRICS_REPORT, METRICS_SCHEMA_VERSION } from "../src/pipeline/metrics";
import { EVAL_SETS, ONE_SHOT_SETS } from "../src/pipeline/runs";
import { FINETUNE_VARIANTS } from "../src/train/finetune";
import { BENCH_REPORT } from "../src/bench/bench-schema";
import { mergeBenchSection, readBench } from "../src/bench/bench";
import { inTempTree } from "./helpers";

/** Validate a JSON file with Python's `jsonschema` against one of schemas/ (Jupyter's nbformat
 * brings the package; a machine without it skips with the reason). */
export function validateWithPython(schema: string, file: string): void {
  const code =
    "import json, sys, jsonschema; jsonschema.validate(json.load(open(sys.argv[2])), json.load(open(sys.argv[1]))); print('valid')";
  const r = spawnSync("python3", ["-c", code, path.join(SCHEMA_DIR, schema), file], { encoding: "utf8" });
  if (/No module named 'jsonschema'/.test(r.stderr)) return void console.error("(python3 has no jsonschema: the Python check is skipped)");
  assert.equal(r.stdout.trim(), "valid", `${file} against schemas/${schema} in Python:\n${r.stderr}`);
}

test("schemas/ holds exactly what the zod schemas generate (npm run schemas rewrites it)", () => {
  const fresh = jsonSchemaFiles();
  assert.deepEqual(fs.readdirSync(SCHEMA_DIR).sort(), Object.keys(fresh).sort());
  for (const [file, text] of Object.entries(fresh))
    assert.equal(fs.readFileSync(path.join(SCHEMA_DIR, file), "utf8"), text, `schemas/${file} is stale: run npm run schemas`);
});

const finding = {
  id: "x",
  claim: "c",
  paper: "p",
  ours: "o",
  verdict: "holds",
  difference: 0.1,
  differenceCI: [0.01, 0.2],
  seeds: 1,
  comparisons: [],
};
const probeScores = {
  logreg: 0.5,
  logregCI: [0.4, 0.6],
  logregOutcomes: "0110",
  C: 1,
  knn: 0.5,
  knnCI: [0.4, 0.6],
  ncm: 0.5,
  ncmCI: [0.4, 0.6],
  fitMs: 3,
  iterations: 20,
};
const recipe = { name: "uniform", lr: 0.1, backboneScale: 1 };
const finetuneResult = {
  accuracy: 0.5,
  accuracyCI: [0.4, 0.6],
  outcomes: "0110",
  trainAccuracy: 1,
  imagesSeen: 320,
  recipe,
  steps: 10,
  schedule: 10,
  lossSlopeT: 0,
};
const setting = { recipe };
const finetuneChosen = {
  tried: [{ setting, devAccuracy: 0.5, trainAccuracy: 1 }],
  chosen: setting,
  rule: "r",
  steps: 4,
  widened: null,
  length: { setting, schedule: 10, scores: [{ step: 10, score: 0.5 }], keptStep: 10, devAccuracy: 0.5, trainAccuracy: 1, lossSlopeT: 0 },
  devRuns: 2,
};
const devScores = { devAccuracy: 0.5, devOneNN: 0.4 };
const candidate = { name: "teacher-a0.5", start: "teacher", alpha: 0.5 };
const studentTried = { candidate, ...devScores, gradientNorms: { supcon: 1, smoothl1: 0.1 } };
/** A small metrics file with every field the schema asks for: each set, variant and selection. */
const metrics = {
  profile: "smoke",
  arch: "resnext_tiny",
  imageSize: 32,
  datasets: Object.fromEntries(EVAL_SETS.map((s) => [s, `${s} (synthetic)`])),
  probes: Object.fromEntries(EVAL_SETS.map((s) => [s, { teacher: probeScores }])),
  finetune: Object.fromEntries(
    ONE_SHOT_SETS.map((s) => [s, Object.fromEntries(Object.keys(FINETUNE_VARIANTS).map((v) => [v, finetuneResult]))]),
  ),
  findings: [finding],
  meta: {
    init: "pretrained",
    featureMap: [1, 1],
    teacherImages: 640,
    studentImages: 640,
    teacherSetImages: 96,
    unlabeledImages: 48,
    teacherFalseNegativesPerBatch: 0,
    seeds: 1,
    stageSeconds: {},
    selection: {
      probeC: { teacher: { tried: [{ C: 1, devAccuracy: 0.5 }], chosen: 1, rule: "r" } },
      finetune: Object.fromEntries(Object.keys(FINETUNE_VARIANTS).map((v) => [v, finetuneChosen])),
      teacher: { tried: [{ lr: 0.1, ...devScores }], chosen: { lr: 0.1 }, rule: "r", steps: 8, devRuns: 2 },
      student: { tried: [studentTried], lrTried: [studentTried], chosen: candidate, rule: "r", steps: 8, devRuns: 2 },
      checkpoints: { teacher: { scores: [{ step: 10, score: 0.5 }], chosenStep: 10, rule: "r" } },
    },
  },
  inputs: {},
};

test("a metrics file carries its schemaVersion; one of no, another or a broken version is refused naming it", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-schema-"));
  const file = path.join(dir, "metrics-smoke.json");
  writeVersioned(METRICS_REPORT, file, metrics);
  assert.equal(JSON.parse(fs.readFileSync(file, "utf8")).schemaVersion, METRICS_SCHEMA_VERSION);
  assert.equal(readVersioned(METRICS_REPORT, file)!.profile, "smoke");
  validateWithPython("metrics.schema.json", file);
  const refused = (value: unknown, message: RegExp) => {
    fs.writeFileSync(file, JSON.stringify(value));
    assert.throws(
      () => readVersioned(METRICS_REPORT, file),
      (e: Error) => e instanceof ReportFormatError && message.test(e.message),
    );
  };
  const v = METRICS_SCHEMA_VERSION;
  refused(
    metrics,
    new RegExp(
      `metrics-smoke\\.json: metrics file of schemaVersion none \\(written before versions\\); this code reads schemaVersion ${v}`,
    ),
  );
  refused({ ...metrics, schemaVersion: 99 }, new RegExp(`schemaVersion 99; this code reads schemaVersion ${v}`));
  refused(
    { ...metrics, schemaVersion: v, findings: [{ ...finding, verdict: "maybe" }] },
    new RegExp(`not a valid metrics file \\(schemaVersion ${v}\\): findings\\.0\\.verdict: Invalid option`),
  );
  refused(
    {
      ...metrics,
      schemaVersion: v,
      probes: { ...metrics.probes, "grozi-like": { teacher: { ...probeScores, logregOutcomes: "01x" } } },
    },
    /probes\.grozi-like\.teacher\.logregOutcomes/,
  );
  fs.writeFileSync(file, "{");
  assert.throws(() => readVersioned(METRICS_REPORT, file), /metrics-smoke\.json: not JSON/);
  assert.throws(() => writeVersioned(METRICS_REPORT, file, { ...metrics, imageSize: -1 }), /imageSize/, "checked on write too");
  assert.equal(readVersioned(METRICS_REPORT, path.join(dir, "none.json")), undefined);
});

test("bench.json: sections merge under one schemaVersion; a file of another version is moved aside, not lost", async () => {
  await inTempTree(
    "rr-bench-schema-",
    async ({ root, logs }) => {
      const file = path.join(root, "reports", "bench.json");
      fs.mkdirSync(path.dirname(file), { recursive: true });
      fs.writeFileSync(file, JSON.stringify({ engine: { written: "then", results: [] } }));
      mergeBenchSection("onnx", { results: [1] });
      assert.match(logs.join("\n"), /bench file of schemaVersion none .* moved to .*bench\.json\.old/);
      assert.deepEqual(JSON.parse(fs.readFileSync(`${file}.old`, "utf8")).engine.written, "then");
      mergeBenchSection("probe", { fitMs: 2 });
      const b = readBench()!;
      assert.equal(b.schemaVersion, BENCH_REPORT.version);
      assert.deepEqual(Object.keys(b).sort(), ["onnx", "probe", "schemaVersion"]);
      validateWithPython("bench.schema.json", file);
    },
    { reports: true },
  );
});
