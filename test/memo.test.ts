// Answers kept per version of a file: asked twice, computed once; a rewritten file (another size
// or modification time) is read again; a missing file is never kept; a throw is never kept.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { memoOnFile } from "../src/util/memo";

test("memoOnFile computes once per version of the file and per question", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-memo-"));
  const file = path.join(dir, "manifest.json");
  let calls = 0;
  const read = (q = "q") => memoOnFile(file, q, () => (calls++, fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "none"));
  assert.equal(read(), "none");
  assert.equal(read(), "none");
  assert.equal(calls, 2, "a missing file is not kept");
  fs.writeFileSync(file, "one");
  assert.equal(read(), "one");
  assert.equal(read(), "one");
  assert.equal(calls, 3);
  assert.equal(read("another question"), "one");
  assert.equal(calls, 4);
  fs.writeFileSync(file, "two!");
  assert.equal(read(), "two!", "a rewritten file is read again");
  assert.equal(calls, 5);
  let throws = 0;
  const failing = () =>
    memoOnFile(file, "fails", () => {
      throws++;
      throw new Error("corrupt");
    });
  assert.throws(failing, /corrupt/);
  assert.throws(failing, /corrupt/);
  assert.equal(throws, 2, "a throw is not kept");
  fs.rmSync(dir, { recursive: true });
});
