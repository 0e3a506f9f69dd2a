// The command-line table (util/args.ts): parsing on util.parseArgs, validation before any work
// starts, and the help written from the same table.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { CommandSpec, commandHelp, flagInt, flagList, parseCommandArgs, UsageError } from "../src/util/args";
import { getProfile, PROFILE_ENV } from "../src/config/profiles";

const spec: CommandSpec = {
  name: "demo",
  summary: "a command for the tests",
  positionals: "[NAME ...]",
  options: {
    profile: { type: "string", choices: ["smoke", "cpu"], default: "cpu", description: "sizes" },
    steps: { type: "string", value: "N", int: true, min: 1, description: "how many" },
    out: { type: "string", value: "FILE", description: "where" },
    set: { type: "string", value: "K=V", multiple: true, description: "a change" },
    json: { type: "boolean", description: "as JSON" },
    merge: { type: "boolean", description: "join" },
  },
  examples: ["retail-repr demo --steps 3"],
};
const usage = (argv: string[], message: RegExp) =>
  assert.throws(
    () => parseCommandArgs(spec, argv),
    (e: Error) => e instanceof UsageError && message.test(e.message),
  );

test("parseCommandArgs reads values, inline values, switches, repeats and positionals", () => {
  const a = parseCommandArgs(spec, ["x", "--profile", "smoke", "--steps=12", "--json", "--set", "a=1", "--set", "b.c=2", "y"]);
  assert.deepEqual(a.positional, ["x", "y"]);
  assert.equal(a.flags.profile, "smoke");
  assert.equal(flagInt(a, "steps"), 12);
  assert.equal(a.flags.json, true);
  assert.deepEqual(flagList(a, "set"), ["a=1", "b.c=2"]);
  assert.equal(a.flags.merge, undefined, "a switch not given is absent");
});

test("parseCommandArgs refuses, as usage errors naming the option: unknown, missing value, ambiguous value, bad choice, non-number, below min, missing required", () => {
  usage(["--proifle", "cpu"], /demo: unknown option --proifle \(known: --profile, --steps/);
  usage(["--out"], /demo: Option '--out <value>' argument missing/);
  usage(["--out", "--merge"], /demo: Option '--out' argument is ambiguous/);
  usage(["--profile", "huge"], /demo: --profile 'huge' is not one of smoke, cpu/);
  usage(["--steps", "1.5"], /--steps must be a whole number, got '1.5'/);
  usage(["--steps", "0"], /--steps must be at least 1, got 0/);
  usage(["--json=yes"], /does not take an argument/);
  const strict: CommandSpec = {
    ...spec,
    positionals: undefined,
    options: { ...spec.options, out: { ...spec.options.out, required: true } },
  };
  assert.throws(() => parseCommandArgs(strict, []), /demo: --out FILE is required/);
  assert.throws(() => parseCommandArgs(strict, ["--out", "f", "stray"]), /Unexpected argument 'stray'/);
});

test("commandHelp lists every option with its placeholder or choices, its default, and an example", () => {
  const h = commandHelp(spec, "retail-repr");
  assert.match(h, /^usage: retail-repr demo \[options\] \[NAME \.\.\.\]$/m);
  assert.match(h, /--profile smoke\|cpu +sizes \(default: cpu\)/);
  assert.match(h, /--steps N +how many$/m);
  assert.match(h, /--set K=V +a change \(repeatable\)/);
  for (const name of Object.keys(spec.options)) assert.ok(h.includes(`--${name}`), name);
  assert.match(h, /example:\n {2}retail-repr demo --steps 3/);
});

test("getProfile: explicit name, env var, default, and a clear error", () => {
  const before = process.env[PROFILE_ENV];
  try {
    delete process.env[PROFILE_ENV];
    assert.equal(getProfile().name, "cpu");
    process.env[PROFILE_ENV] = "smoke";
    assert.equal(getProfile().name, "smoke");
    assert.equal(getProfile("paper").name, "paper");
    assert.throws(() => getProfile("huge"), /profile: unknown profile 'huge'. Use one of: smoke, cpu, paper/);
  } finally {
    if (before === undefined) delete process.env[PROFILE_ENV];
    else process.env[PROFILE_ENV] = before;
  }
});
