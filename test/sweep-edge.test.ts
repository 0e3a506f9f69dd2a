// A numeric sweep's grid widened once (pipeline/sweep.ts edgeSweep): a run one step past the edge
// its choice fell on, nothing when the choice is inside, and the widened run last among the
// results, so that a tie keeps the grid's value. On hand-made scores, with no training.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { getProfile } from "../src/config/profiles";
import { bestOf, edgeSweep, NumericSweep, withEdge } from "../src/pipeline/sweep";

interface Scored {
  value: number;
  score: number;
}

/** A sweep over `grid` whose run at value v scores score(v); records the values it was run at. */
function fakeSweep(grid: number[], score: (v: number) => number) {
  const ran: number[] = [];
  const s: NumericSweep<Scored> = {
    command: "test",
    grid: () => grid,
    tried: () => grid.map((value) => ({ value, score: score(value) })),
    inputs: (_p, value) => ({ value }),
    run: async (_p, value) => {
      ran.push(value);
      return { value, score: score(value) };
    },
    devScore: (r) => r.score,
  };
  return { sweep: edgeSweep("fake-edge", s), ran };
}

const profile = getProfile("smoke");

test("edgeSweep: a choice on the top edge runs one factor further, on the bottom edge one factor below", async () => {
  const up = fakeSweep([0.5, 1, 2], (v) => v);
  const r = await up.sweep.run(profile, "edge", {});
  assert.deepEqual(up.ran, [4]);
  assert.deepEqual({ grid: r.grid, chosen: r.chosen, past: r.past }, { grid: [0.5, 1, 2], chosen: 2, past: 4 });
  assert.deepEqual(r.result, { value: 4, score: 4 });
  assert.deepEqual(up.sweep.inputs(profile, "edge"), { widened: { grid: [0.5, 1, 2], chosen: 2, past: 4 }, run: { value: 4 } });

  // The student's grid lists the base first: [1, 0.5, 2]; 0.5 is its low edge.
  const down = fakeSweep([1, 0.5, 2], (v) => -v);
  const d = await down.sweep.run(profile, "edge", {});
  assert.deepEqual([down.ran, d.chosen, d.past], [[0.25], 0.5, 0.25]);
});

test("edgeSweep: a choice inside the grid runs nothing and says so", async () => {
  const inside = fakeSweep([0.5, 1, 2], (v) => -Math.abs(v - 1));
  const r = await inside.sweep.run(profile, "edge", {});
  assert.deepEqual(inside.ran, []);
  assert.equal(r.past, null);
  assert.equal(r.result, undefined);
  assert.equal(inside.sweep.devScore(r), -Infinity);
  assert.deepEqual(inside.sweep.inputs(profile, "edge"), { widened: { grid: [0.5, 1, 2], chosen: 1, past: null } });
});

test("withEdge: the widened run last, so a tie keeps the grid's value and a better one wins", () => {
  const tried = [0.5, 1, 2].map((value) => ({ value, score: value }));
  const score = (r: Scored) => r.score;
  assert.equal(bestOf(withEdge(tried, { value: 4, score: 2 }), score).value, 2);
  assert.equal(bestOf(withEdge(tried, { value: 4, score: 3 }), score).value, 4);
  assert.equal(withEdge(tried, undefined), tried);
});
