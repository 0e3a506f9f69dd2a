// A setting chosen on dev-like by short runs, as one shape for every sweep (the teacher's
// learning rate, the student's start, alpha and learning rate, the fine-tune recipe): candidates,
// each run once per repeat (with the repeat's training seed, on its draw of dev-like) and kept by
// its inputs, a dev score per run, and the best by that score, the earlier-listed candidate on a tie. The stages turn a sweep
// into cached steps (stages/stage.ts, sweepSteps); each sweep's record of what it tried is its own.
// A numeric grid whose choice lands on its edge is widened once (edgeSweep, util/grid.ts).
import * as path from "path";
import type { Profile } from "../config/profiles";
import { cached, Inputs, keptResult } from "../util/fingerprint";
import { pastTheEdge } from "../util/grid";
import { runDir, StepOptions } from "./runs";

export interface Sweep<C, R> {
  /** The command that runs it (`retail-repr <command>`). */
  command: string;
  candidates(profile: Profile): C[];
  /** The step (and folder under the repeat's runs/<profile>/) of one candidate's run. */
  stepName(c: C): string;
  /** What a candidate's run is made from. */
  inputs(profile: Profile, c: C): Inputs;
  /** One candidate's short run, scored on dev-like. */
  run(profile: Profile, c: C, opts: StepOptions): Promise<R>;
  /** Its score on dev-like: the higher, the better. */
  devScore(r: R): number;
  /** For a sweep whose runs keep their results their own way (`run` writes them): a finished
   * run's result, or why there is none. Unset: `run`'s result is kept in its result.json
   * (sweepFile) by its inputs. */
  kept?(profile: Profile, c: C): { result: R } | { why: string };
}

/** Where a candidate's result is kept: the repeat's runs/<profile>/.../<step>/result.json. */
export const sweepFile = <C, R>(profile: Profile, sweep: Sweep<C, R>, c: C) => path.join(runDir(profile, sweep.stepName(c)), "result.json");

/** A candidate's kept result, or why there is none (`inputs`: its run's, when known already). */
export function keptSweepRun<C, R>(profile: Profile, sweep: Sweep<C, R>, c: C, inputs?: Inputs): { result: R } | { why: string } {
  return sweep.kept ? sweep.kept(profile, c) : keptResult<R>(sweepFile(profile, sweep, c), inputs ?? sweep.inputs(profile, c));
}

/** One candidate's run, its result kept where keptSweepRun reads it. */
export async function makeSweepRun<C, R>(profile: Profile, sweep: Sweep<C, R>, c: C, opts: StepOptions): Promise<R> {
  if (sweep.kept) return sweep.run(profile, c, opts);
  return cached(sweepFile(profile, sweep, c), sweep.inputs(profile, c), () => sweep.run(profile, c, opts));
}

/** Every candidate's result, in the candidates' order; an error names the first run missing and
 * the command that makes it. */
export function sweepTried<C, R>(profile: Profile, sweep: Sweep<C, R>): R[] {
  return sweep.candidates(profile).map((c) => {
    const k = keptSweepRun(profile, sweep, c);
    if (!("result" in k)) throw new Error(`${sweep.stepName(c)}: ${k.why}; run the dev sweep first (retail-repr ${sweep.command})`);
    return k.result;
  });
}

/** The result with the highest dev score; the earlier-listed one on a tie. */
export const bestOf = <R>(tried: R[], devScore: (r: R) => number): R => tried.reduce((a, b) => (devScore(b) > devScore(a) ? b : a));

/** What a numeric sweep's widening did: the grid, the value chosen on it, and, when that value
 * was on the grid's edge, the one value past it (util/grid.ts) and its run's result. */
export interface EdgeRun<R> {
  grid: number[];
  chosen: number;
  past: number | null;
  result?: R;
}

/** A numeric sweep as its widening reads it: its grid and its results in the grid's order, a run
 * at any value (its inputs and the run), and its dev score. */
export interface NumericSweep<R> {
  command: string;
  grid(profile: Profile): number[];
  tried(profile: Profile): R[];
  inputs(profile: Profile, value: number): Inputs;
  run(profile: Profile, value: number, opts: StepOptions): Promise<R>;
  devScore(r: R): number;
}

/** The grid's value the tried results choose, and the value past the edge when it is on one. */
function edgeChoice<R>(profile: Profile, s: NumericSweep<R>): Omit<EdgeRun<R>, "result"> {
  const grid = s.grid(profile);
  const tried = s.tried(profile);
  const chosen = grid[tried.indexOf(bestOf(tried, s.devScore))];
  return { grid, chosen, past: pastTheEdge(grid, chosen) ?? null };
}

/** A sweep's grid widened once, as one step (`stepName`) that is always in the table: when the
 * sweep's choice lies on its grid's edge, one more run a step past it; else nothing to run, and
 * its result says so. */
export function edgeSweep<R>(stepName: string, s: NumericSweep<R>): Sweep<"edge", EdgeRun<R>> {
  return {
    command: s.command,
    candidates: () => ["edge"],
    stepName: () => stepName,
    inputs: (profile) => {
      const e = edgeChoice(profile, s);
      return e.past === null ? { widened: e } : { widened: e, run: s.inputs(profile, e.past) };
    },
    run: async (profile, _edge, opts) => {
      const e = edgeChoice(profile, s);
      return e.past === null ? e : { ...e, result: await s.run(profile, e.past, opts) };
    },
    devScore: (r) => (r.result ? s.devScore(r.result) : -Infinity),
  };
}

/** The sweep's results with its widening's run, if it ran, last (so a tie keeps the grid's value). */
export function withEdge<R>(tried: R[], edge: R | undefined): R[] {
  return edge ? [...tried, edge] : tried;
}
