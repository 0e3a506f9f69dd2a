// The paired speed measurement against PyTorch: the summary's formula on hand-worked times, and
// one real exchange with torch_reference.py's server (skipped, with the reason, without torch).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { selectBackend } from "../src/engine/backend";
import { pairedAgainstTorch, pairedSide, quantile } from "../src/bench/paired-bench";
import { torchAvailable } from "../src/bench/torch-reference";

test("pairedSide: the median over pairs of PyTorch's time / ours, with linear-interpolated quartiles", () => {
  // ratios 2, 1, 0.5: median 1; quartiles at positions 0.5 and 1.5 of [0.5, 1, 2]
  const s = pairedSide([1, 2, 4], [2, 2, 2]);
  assert.equal(s.ratio, 1);
  assert.deepEqual(s.ratio_iqr, [0.75, 1.5]);
  // a pair is a pair: a slow spell that slows both sides leaves its ratio alone
  assert.equal(pairedSide([1, 10], [2, 20]).ratio, 2);
  assert.equal(quantile([3, 1, 2, 4], 0.5), 2.5);
  assert.throws(() => pairedSide([1], [1, 2]), /one time per side per pair/);
});

const ta = torchAvailable();
test(
  "pairedAgainstTorch: steps alternate with PyTorch's reference server, every step timed",
  { skip: ta.ok ? false : ta.why },
  async () => {
    if (!ta.ok) return;
    await selectBackend({ force: "wasm", log: null });
    const r = await pairedAgainstTorch({ arch: "resnext14_8x8d", size: 32, batch: 2 }, ta.python, 3, "wasm");
    assert.equal(r.pairs, 3);
    assert.match(r.torch, /^torch \d/);
    for (const side of [r.train, r.infer]) {
      assert.equal(side.ours_s.length, 3);
      assert.equal(side.torch_s.length, 3);
      for (const v of [...side.ours_s, ...side.torch_s]) assert.ok(v > 0 && v < 60, `step seconds ${v}`);
      assert.ok(side.ratio_iqr[0] <= side.ratio && side.ratio <= side.ratio_iqr[1]);
    }
  },
);
