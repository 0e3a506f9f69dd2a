import { test } from "node:test";
import * as assert from "node:assert/strict";
import { flagInt, parseArgs } from "../src/util/args";
import { getProfile, PROFILE_ENV } from "../src/config/profiles";

test("parseArgs reads values, inline values, switches and positionals", () => {
  const a = parseArgs(["gen", "--profile", "smoke", "--steps=12", "--json", "x"], { values: ["profile", "steps"], switches: ["json"] });
  assert.deepEqual(a.positional, ["gen", "x"]);
  assert.deepEqual(a.flags, { profile: "smoke", steps: "12", json: true });
  assert.equal(flagInt(a, "steps"), 12);
});

test("parseArgs names an unknown flag and a missing value", () => {
  assert.throws(() => parseArgs(["--proifle", "cpu"], { values: ["profile"] }), /unknown option --proifle \(known: --profile\)/);
  assert.throws(() => parseArgs(["--profile"], { values: ["profile"] }), /--profile needs a value/);
  assert.throws(() => flagInt(parseArgs(["--steps", "1.5"], { values: ["steps"] }), "steps"), /whole number/);
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
