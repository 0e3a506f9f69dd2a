// The native library's loader: compiled on first use into its build folder, reused after, and
// every way it can be unavailable reported with what to do (each case in a fresh process,
// because a process loads the library once).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { CHILD } from "./helpers";

const loader = path.join(__dirname, "..", "src", "engine", "native.js");

function load(env: Record<string, string>): { ok: boolean; detail?: string; why?: string } {
  const r = spawnSync(
    process.execPath,
    ["-e", `process.stdout.write(JSON.stringify(require(${JSON.stringify(loader)}).loadNative(), (k, v) => k === "lib" ? undefined : v))`],
    {
      env: { ...process.env, ...env },
      encoding: "utf8",
      ...CHILD,
    },
  );
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}

test("the native library compiles into an empty build folder, then loads from it without compiling", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-native-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const first = load({ RETAIL_REPR_NATIVE_BUILD: dir });
  if (!first.ok) return t.skip(`no compiler or OpenBLAS here: ${first.why}`);
  assert.match(
    first.detail!,
    /^OpenBLAS \S+, \S+ \((OpenBLAS.s own detection|OPENBLAS_CORETYPE set|from the CPU.s flags)\), \d+ threads?$/,
  );
  const built = fs.readdirSync(dir);
  assert.equal(built.length, 1);
  assert.match(built[0], /^retail_native-[0-9a-f]{12}\.node$/);
  // A compiler that always fails proves the second load compiled nothing.
  assert.equal(load({ RETAIL_REPR_NATIVE_BUILD: dir, CC: "false" }).ok, true);
});

test("a failing compiler leaves XNNPACK in charge, with the reason and the packages to install", (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-native-"));
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const r = load({ RETAIL_REPR_NATIVE_BUILD: dir, CC: "false" });
  assert.equal(r.ok, false);
  assert.match(r.why!, /could not compile native\/retail_native\.c/);
  assert.match(r.why!, /apt-get install build-essential libopenblas-dev/);
  assert.deepEqual(fs.readdirSync(dir), [], "no half-written build is left behind");
});

test("RETAIL_REPR_NATIVE=0 turns the library off", () => {
  assert.deepEqual(load({ RETAIL_REPR_NATIVE: "0" }), { ok: false, why: "RETAIL_REPR_NATIVE=0" });
});
