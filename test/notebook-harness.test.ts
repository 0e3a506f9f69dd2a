import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { checkJupyter, installKernel, jupyterEnv, KERNEL_NAME, TSLAB_SHUTDOWN_RACE } from "../src/notebooks/jupyter";
import { paths } from "../src/util/paths";

function execute(fixture: string) {
  const check = checkJupyter();
  assert.ok(check.ok, check.problem);
  installKernel();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "rr-nb-"));
  const r = spawnSync(check.python, [paths.executeScript, path.join(paths.root, "test", "fixtures", fixture), out, "--kernel", KERNEL_NAME], {
    env: jupyterEnv(),
    encoding: "utf8",
  });
  return { ...r, out };
}

test("a throwing cell fails the run with the cell's number and its own message", () => {
  const r = execute("throws.ipynb");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /throws: cell 2 \(`throw new Error/);
  assert.match(r.stderr, /the cell says: bad input in widgets\.csv/);
  // The executed copy and its HTML are written even when a cell fails.
  assert.ok(fs.existsSync(path.join(r.out, "throws.ipynb")));
  assert.ok(fs.readFileSync(path.join(r.out, "throws.html"), "utf8").includes("before"));
});

test("an error thrown in a timer, which tslab hides from nbconvert, fails the run", () => {
  const r = execute("timer-error.ipynb");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /thrown outside any cell/);
  assert.match(r.stderr, /late failure in a timer/);
});

test("the kernel launcher ignores only tslab's own 'Socket is closed' at shutdown", () => {
  const isRace = new Function(`return ${TSLAB_SHUTDOWN_RACE}`)() as (e: unknown) => boolean;
  const err = (message: string, frame: string) => Object.assign(new Error(message), { stack: `Error: ${message}\n    at ${frame}` });
  assert.equal(isRace(err("Socket is closed", "/repo/node_modules/tslab/dist/jupyter.js:510:33")), true);
  assert.equal(isRace(err("Socket is closed", "/repo/notebooks/cell.ts:3:9")), false, "the same message from notebook code still counts");
  assert.equal(isRace(err("bad input in widgets.csv", "/repo/node_modules/tslab/dist/jupyter.js:510:33")), false);
  assert.equal(isRace(undefined), false);
});
