// Configuration without editing code (config/schema.ts, config/overrides.ts, `retail-repr
// config`): the built-in profiles pass their own schema; overrides from a file, `--set`, the
// environment or a notebook are checked with errors naming the key, the value and what is allowed.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { parse as parseYaml } from "yaml";
import { getProfile, overridesOf, profile, PROFILE_NAMES, PROFILES, withRun } from "../src/config/profiles";
import { profileProblems } from "../src/config/schema";
import {
  applyOverrides,
  changedKeys,
  Overrides,
  CONFIG_ENV,
  mergeOverrides,
  parseSet,
  readConfigFile,
  SET_ENV,
} from "../src/config/overrides";
import { CHILD } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, [path.join(ROOT, "bin", "retail-repr.cjs"), ...args], {
    encoding: "utf8",
    env: { ...process.env, ...env },
    ...CHILD,
  });

test("every built-in profile passes the schema", () => {
  for (const name of PROFILE_NAMES) assert.deepEqual(profileProblems(PROFILES[name]), [], name);
});

test("profile(name, overrides): the value changes, nothing else does, and the built-in is untouched", () => {
  const p = profile("cpu", { train: { teacher: { lr: 0.2 } } });
  assert.equal(p.train.teacher.lr, 0.2);
  assert.deepEqual(changedKeys(PROFILES.cpu, p), ["train.teacher.lr=0.2"]);
  assert.equal(PROFILES.cpu.train.teacher.lr, 0.05);
  const r = profile("smoke", mergeOverrides(parseSet("train.finetune.recipes.1.lr=0.01"), parseSet("data.devBrands=6")));
  assert.deepEqual(
    changedKeys(PROFILES.smoke, r),
    ["data.devBrands=6", "train.finetune.recipes.1.lr=0.01"],
    "a list item changed by its index",
  );
  assert.equal(r.train.finetune.recipes.length, 3);
});

test("a refused override names the key, the value and what is allowed", () => {
  const refused = (o: Overrides, message: RegExp) => assert.throws(() => profile("cpu", o), message);
  refused({ train: { teacher: { lrr: 1 } } }, /'train\.teacher\.lrr': no such key \(the keys here: steps, pairsPerBatch, lr, /);
  refused({ train: { teacher: { lr: "fast" } } }, /train\.teacher\.lr: "fast" is not allowed \(expected number, received string\)/);
  refused({ train: { teacher: { lr: -1 } } }, /train\.teacher\.lr: -1 is not allowed \(Too small: expected number to be >0\)/);
  refused(
    { train: { student: { sweep: { candidates: { 0: { start: "tacher" } } } } } },
    /train\.student\.sweep\.candidates\.0\.start: "tacher" is not allowed \(.*"teacher"\|"pretrained"\)/,
  );
  refused(
    { train: { student: { alpha: 0.3 } } },
    /train\.student\.alpha is chosen on dev-like by the student's sweep, so setting it would change nothing/,
  );
  refused({ train: { student: { start: "pretrained" } } }, /train\.student\.start is chosen on dev-like .*sweep\.candidates\.0\.start=/);
  refused({ data: { groziClasses: 2.5 } }, /data\.groziClasses: 2\.5 is not allowed \(.*int/);
  refused({ name: "paper" }, /'name' cannot be set \(choose the profile with --profile paper\)/);
  assert.throws(
    () => applyOverrides(PROFILES.cpu, { train: { student: { dropout: 2 } } }, "--set train.student.dropout=2"),
    /^Error: --set train\.student\.dropout=2: train\.student\.dropout: 2 is not allowed \(Too big/,
  );
});

test("parseSet reads JSON values and bare strings, and refuses what is not key=value", () => {
  assert.deepEqual(parseSet("train.teacher.lr=0.01"), { train: { teacher: { lr: 0.01 } } });
  assert.deepEqual(parseSet("init=random"), { init: "random" });
  assert.deepEqual(parseSet("train.teacher.sweep.lrScales=[1,3]"), { train: { teacher: { sweep: { lrScales: [1, 3] } } } });
  assert.deepEqual(parseSet("init=runs/a=b"), { init: "runs/a=b" }, "only the first = splits");
  assert.throws(() => parseSet("lr"), /--set 'lr': write key=value/);
  assert.throws(() => parseSet("train..lr=1"), /empty part/);
});

test("config files in YAML and JSON, and the environment's aliases (RETAIL_REPR_CONFIG, RETAIL_REPR_SET)", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-config-"));
  fs.writeFileSync(path.join(dir, "a.yaml"), "train:\n  teacher:\n    lr: 0.3   # a comment\n");
  fs.writeFileSync(path.join(dir, "b.json"), JSON.stringify({ seed: 11 }));
  fs.writeFileSync(path.join(dir, "bad.yaml"), "train: [1, 2");
  fs.writeFileSync(path.join(dir, "list.yaml"), "- 1\n- 2\n");
  assert.deepEqual(readConfigFile(path.join(dir, "a.yaml")), { train: { teacher: { lr: 0.3 } } });
  assert.deepEqual(readConfigFile(path.join(dir, "b.json")), { seed: 11 });
  assert.throws(() => readConfigFile(path.join(dir, "bad.yaml")), /bad\.yaml: not valid YAML/);
  assert.throws(() => readConfigFile(path.join(dir, "list.yaml")), /must hold an object of profile keys/);
  assert.throws(() => readConfigFile(path.join(dir, "none.yaml")), /none\.yaml: no such file/);
  const before = { config: process.env[CONFIG_ENV], set: process.env[SET_ENV] };
  try {
    process.env[CONFIG_ENV] = path.join(dir, "a.yaml");
    process.env[SET_ENV] = "seed=12 train.student.dropout=0.25";
    const p = getProfile("smoke");
    assert.deepEqual(changedKeys(PROFILES.smoke, p), ["seed=12", "train.teacher.lr=0.3", "train.student.dropout=0.25"]);
    process.env[SET_ENV] = "train.student.dropout=3";
    assert.throws(() => getProfile("smoke"), /RETAIL_REPR_CONFIG \/ RETAIL_REPR_SET: train\.student\.dropout: 3 is not allowed/);
  } finally {
    for (const [k, v] of [
      [CONFIG_ENV, before.config],
      [SET_ENV, before.set],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test("`retail-repr config` prints the effective profile as YAML that reads back as --config; a bad --set exits 2 naming the key", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-config-cli-"));
  const r = cli([
    "config",
    "--profile",
    "smoke",
    "--set",
    "train.teacher.lr=0.02",
    "--set",
    "train.student.sweep.candidates.0.start=pretrained",
  ]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^# profile smoke, changed: train\.teacher\.lr=0\.02, train\.student\.sweep\.candidates\.0\.start="pretrained"$/m);
  const printed = parseYaml(r.stdout);
  assert.equal(printed.train.teacher.lr, 0.02);
  fs.writeFileSync(path.join(dir, "mine.yaml"), r.stdout);
  const again = cli(["config", "--profile", "smoke", "--config", path.join(dir, "mine.yaml"), "--json"]);
  assert.equal(again.status, 0, again.stderr);
  assert.deepEqual(JSON.parse(again.stdout).profile, printed, "the printed YAML is a config file for the same profile");
  const bad = cli(["config", "--profile", "smoke", "--set", "train.teacher.lr=fast"]);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--set train\.teacher\.lr=fast: train\.teacher\.lr: "fast" is not allowed \(expected number, received string\)/);
  assert.equal(bad.stdout, "");
});

test("RETAIL_REPR_RUNS, RETAIL_REPR_DATASETS and RETAIL_REPR_REPORTS move runs/, datasets/ and reports/", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-paths-"));
  const env = {
    ...process.env,
    RETAIL_REPR_RUNS: path.join(dir, "r"),
    RETAIL_REPR_DATASETS: path.join(dir, "d"),
    RETAIL_REPR_REPORTS: path.join(dir, "p"),
  };
  const code = `const { paths } = require(${JSON.stringify(path.join(ROOT, "dist", "src", "util", "paths"))}); process.stdout.write(JSON.stringify([paths.runs, paths.datasets, paths.reports]))`;
  const r = spawnSync(process.execPath, ["-e", code], { env, encoding: "utf8" });
  assert.deepEqual(JSON.parse(r.stdout), [path.join(dir, "r"), path.join(dir, "d"), path.join(dir, "p")]);
});

test("the command line's overrides reach child processes after the environment's, in the same order", async () => {
  const { profileOf } = await import("../src/cli/options");
  const { parseCommandArgs } = await import("../src/util/args");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-config-env-"));
  fs.writeFileSync(path.join(dir, "env.yaml"), "seed: 11\ntrain:\n  student:\n    dropout: 0.2\n");
  const before = { config: process.env[CONFIG_ENV], set: process.env[SET_ENV] };
  try {
    process.env[CONFIG_ENV] = path.join(dir, "env.yaml");
    process.env[SET_ENV] = "train.student.dropout=0.25 train.teacher.lr=0.02";
    const spec = {
      name: "t",
      summary: "",
      examples: [],
      options: { profile: { type: "string" as const, description: "" }, set: { type: "string" as const, multiple: true, description: "" } },
    };
    const p = profileOf(parseCommandArgs(spec, ["--profile", "smoke", "--set", "train.student.dropout=0.1"]));
    assert.deepEqual(changedKeys(PROFILES.smoke, p), ["seed=11", "train.teacher.lr=0.02", "train.student.dropout=0.1"]);
    assert.deepEqual(getProfile("smoke"), p, "a child reading the environment builds the same profile");
  } finally {
    for (const [k, v] of [
      [CONFIG_ENV, before.config],
      [SET_ENV, before.set],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test("smoke and paper are the cpu profile's differences: sizes, steps and rates, never the method's hyper-parameters", () => {
  const method =
    /^train\.(teacher\.(temperature|baseTemperature|hardRatio)|student\.(alpha|beta|start|dropout)|finetune\.gamma|pretrain\.(tagDrop|tagNoise))=/;
  for (const name of ["smoke", "paper"] as const) {
    const changed = changedKeys(PROFILES.cpu, PROFILES[name]);
    assert.ok(changed.length > 10, `${name}: ${changed.length} keys differ`);
    assert.deepEqual(
      changed.filter((k) => method.test(k)),
      [],
    );
    assert.deepEqual(PROFILES[name].train.student.sweep.candidates, PROFILES.cpu.train.student.sweep.candidates);
  }
});

test("overridesOf: what a profile changes, read back through RETAIL_REPR_CONFIG, is that profile (how reproduce hands --set to its notebooks)", () => {
  const changed = profile("cpu", { data: { testSeed: 20261207 }, train: { finetune: { recipes: { 0: { lr: 0.05 } } } } } as any);
  const o = overridesOf(withRun(changed, { repeat: 2 }));
  assert.deepEqual(o, { data: { testSeed: 20261207 }, train: { finetune: { recipes: { "0": { lr: 0.05 } } } } });
  const env = process.env.RETAIL_REPR_CONFIG;
  process.env.RETAIL_REPR_CONFIG = JSON.stringify(o);
  try {
    assert.deepEqual(getProfile("cpu"), changed);
  } finally {
    if (env === undefined) delete process.env.RETAIL_REPR_CONFIG;
    else process.env.RETAIL_REPR_CONFIG = env;
  }
  assert.deepEqual(overridesOf(getProfile("smoke")), {}, "the profile's own values change nothing");
});
