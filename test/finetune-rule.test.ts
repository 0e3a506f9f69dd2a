// The fine-tune convergence rule's loss measurement: the slope of the training loss over a run's
// last fifth with its t statistic, against hand-worked least squares (the rule itself:
// findings.test.ts, finetunePrecondition).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { FLAT_SLOPE_T, lossSlope } from "../src/pipeline/finetune-runs";

const rows = (losses: number[]) => losses.map((loss, i) => ({ step: i + 1, loss }));

test("lossSlope: least squares over the last fifth (at least 3 points), by hand", () => {
  // 10 steps: the last 3 (steps 8, 9, 10) with losses 0.5, 0.3, 0.4. Mean step 9, mean loss 0.4;
  // Sxx = 2, Sxy = -0.1: slope -0.05. Residuals 0.05, -0.1, 0.05: SSE 0.015, se = sqrt(0.015 / 1 / 2).
  const { slope, t } = lossSlope(rows([9, 9, 9, 9, 9, 9, 9, 0.5, 0.3, 0.4]));
  assert.ok(Math.abs(slope + 0.05) < 1e-12, `slope ${slope}`);
  assert.ok(Math.abs(t - -0.05 / Math.sqrt(0.0075)) < 1e-9, `t ${t}`);
  // 20 steps: the last fifth is 4 points, an exact line (binary fractions, no rounding): a falling one is infinitely significant.
  assert.equal(lossSlope(rows([...Array(16).fill(1), 1, 0.75, 0.5, 0.25])).t, -Infinity);
  assert.equal(lossSlope(rows([...Array(16).fill(1), 0.25, 0.25, 0.25, 0.25])).t, 0, "flat and noiseless");
  // Earlier steps do not count: a steep fall before the last fifth, then noise around a level.
  assert.ok(lossSlope(rows([5, 4, 3, 2, 1, 0.5, 0.52, 0.49, 0.51, 0.5])).t > FLAT_SLOPE_T);
});
