// The notebook kernel over the Jupyter protocol (test/kernel_protocol.py drives it with
// jupyter_client): message kinds and order, errors, interrupt (plain and during training),
// shutdown; and the tslab patch that makes them so.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { checkJupyter, installKernel, jupyterEnv, KERNEL_NAME } from "../src/jupyter/kernel";
import { tslabPatched } from "../src/jupyter/tslab-patch";
import { paths } from "../src/util/paths";
import { CHILD } from "./helpers";

const script = path.join(paths.root, "test", "kernel_protocol.py");

function drive(mode: "protocol" | "training", env: Record<string, string> = {}): string {
  const check = checkJupyter();
  assert.ok(check.ok, check.problem);
  installKernel();
  const r = spawnSync(check.python, [script, KERNEL_NAME, paths.root, mode], { env: jupyterEnv(env), encoding: "utf8", ...CHILD });
  const out = r.stdout + r.stderr;
  assert.equal(r.status, 0, out);
  return r.stdout;
}

test("npm run setup patched tslab (kernel-setup/tslab-1.0.22.patch)", () => {
  assert.ok(tslabPatched(), "node_modules/tslab lacks the patch: run `npm run setup`");
});

test("kernel protocol: kernel_info, execute_input/execute_result, stream, display_data, errors with ename/evalue/traceback, status busy until the cell ends, complete/inspect/is_complete, interrupt, shutdown", () => {
  const out = drive("protocol");
  assert.doesNotMatch(out, /^FAIL/m);
  for (const what of [
    "kernel_info",
    "last expression as execute_result",
    "compile error: ename, evalue",
    "cells queued behind an error are aborted",
    "busy from start to end of a running cell",
    "interrupt goes to a listening loop, the cell ends with its error",
    "the kernel exits after shutdown",
  ]) {
    assert.match(out, new RegExp(`^ok ${what.replace(/[()]/g, "\\$&")}$`, "m"));
  }
});

test("Kernel > Interrupt during smoke teacher training: stops after its step with one line, the kernel stays usable, the cell run again resumes", () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), "rr-kint-"));
  const out = drive("training", { RETAIL_REPR_RUNS: path.join(root, "runs"), RETAIL_REPR_DATASETS: path.join(root, "datasets") });
  assert.match(out, /^ok and resumes from the checkpoint$/m);
  fs.rmSync(root, { recursive: true, force: true });
});
