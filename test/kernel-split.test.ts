// The bench's per-kernel time split: sums by kernel name by hand, and a real profiled step.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { splitByKernel } from "../src/bench/kernel-split";

test("splitByKernel: sums per name, shares of the total, largest first, failed timings count as 0, wrappers left out", () => {
  const r = splitByKernel([
    { name: "Conv2D", kernelTimeMs: 6 },
    { name: "Relu", kernelTimeMs: 1 },
    { name: "Conv2D", kernelTimeMs: 2 },
    { name: "Transpose", kernelTimeMs: { error: "no timer" } },
    { name: "Relu", kernelTimeMs: 1 },
    { name: "forward", kernelTimeMs: 7 }, // a custom gradient's wrapper: its kernels are above
    { name: "fusedConv2d__op", kernelTimeMs: 6 }, // an op made of kernels: the same
  ]);
  assert.equal(r.total_ms, 10);
  assert.deepEqual(r.kernels, [
    { kernel: "Conv2D", calls: 2, ms: 8, share: 0.8 },
    { kernel: "Relu", calls: 2, ms: 2, share: 0.2 },
    { kernel: "Transpose", calls: 1, ms: 0, share: 0 },
  ]);
});
