// Step 1 as runs: the teacher, supervised contrastive loss with hard negatives on product pairs,
// at the learning rate its sweep chose on dev-like, keeping its checkpoint best there.
import type { Profile } from "../config/profiles";
import { datasetDirOf } from "../data/generate";
import { datasetFingerprint } from "../data/manifest";
import { pairsOf } from "../data/sets";
import { disposeModel, Model } from "../models/model";
import { LoopConfig, LoopResult, trainLoop } from "../train/loop";
import { teacherTask } from "../train/teacher";
import type { Inputs } from "../util/fingerprint";
import { CHECKPOINT_RULE, DEV_SET, devAccuracy, devCheckpoints } from "./runs"; // chosen on dev-like
import { commonInputs, embeddingConfig, initRecord, loopConfig, modelAtInit, StepOptions } from "./runs"; // what a run is made of
import type { TeacherSelection, TeacherSweepResult } from "./selections";
import { bestOf, edgeSweep, Sweep, sweepTried, withEdge } from "./sweep";

/** The profile with the teacher's learning rate set. */
export function teacherProfile(profile: Profile, lr: number): Profile {
  return { ...profile, train: { ...profile.train, teacher: { ...profile.train.teacher, lr } } };
}

/** What a teacher run of `steps` is made from: its data, start and settings. */
function teacherRunInputs(profile: Profile, steps: number): Inputs {
  const { sweep: _sweep, ...train } = profile.train.teacher;
  return {
    data: datasetFingerprint(datasetDirOf(profile, "teacher-pairs")),
    init: initRecord(profile),
    ...commonInputs(profile, embeddingConfig(profile)),
    train: { ...train, steps },
  };
}

/** The teacher's inputs: the learning rate dev-like chose (every sweep run finished), and the
 * checkpoint rule. */
export function teacherInputs(profile: Profile): Inputs {
  const p = teacherProfile(profile, chosenTeacher(profile).chosen.lr);
  return {
    ...teacherRunInputs(p, p.train.teacher.steps),
    keep: { rule: CHECKPOINT_RULE, every: profile.train.checkpointEvery },
    dev: datasetFingerprint(datasetDirOf(profile, DEV_SET)),
  };
}

async function teacherRun(
  profile: Profile,
  name: string,
  steps: number,
  inputs: Inputs,
  opts: StepOptions,
  select?: LoopConfig["select"],
): Promise<{ model: Model; result: LoopResult }> {
  const model = modelAtInit(profile, embeddingConfig(profile));
  const pairs = pairsOf(datasetDirOf(profile, "teacher-pairs"));
  const result = await trainLoop(
    model,
    teacherTask(pairs, profile),
    loopConfig(profile, name, steps, profile.train.teacher.lr, inputs, opts, select),
  );
  return { model, result };
}

/** The teacher at the learning rate dev-like chose, its checkpoint chosen there too. */
export async function runTeacher(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  const p = teacherProfile(profile, chosenTeacher(profile).chosen.lr);
  return teacherRun(p, "teacher", p.train.teacher.steps, teacherInputs(profile), opts, devCheckpoints(p));
}

/** The teacher's learning-rate sweep: a short run at the base rate times each scale, in each repeat. */
export const teacherLrSweep: Sweep<number, TeacherSweepResult> = {
  command: "train-teacher",
  candidates: (profile) => profile.train.teacher.sweep.lrScales,
  stepName: (scale) => `teacher-sweep-lr${scale}x`,
  inputs: (profile, scale) => {
    const p = teacherProfile(profile, profile.train.teacher.lr * scale);
    return { ...teacherRunInputs(p, p.train.teacher.sweep.steps), dev: datasetFingerprint(datasetDirOf(profile, DEV_SET)) };
  },
  run: async (profile, scale, opts) => {
    const p = teacherProfile(profile, profile.train.teacher.lr * scale);
    const name = teacherLrSweep.stepName(scale);
    const { model } = await teacherRun(p, name, p.train.teacher.sweep.steps, teacherLrSweep.inputs(profile, scale), opts);
    const dev = await devAccuracy(p, model);
    disposeModel(model);
    return { lr: p.train.teacher.lr, ...dev };
  },
  devScore: (r) => r.devAccuracy,
};

/** The learning-rate grid widened once: a run at the scale past the edge when the sweep chose one
 * on the edge (util/grid.ts). */
export const teacherEdgeSweep = edgeSweep("teacher-sweep-edge", {
  command: "train-teacher",
  grid: (profile) => profile.train.teacher.sweep.lrScales,
  tried: (profile) => sweepTried(profile, teacherLrSweep),
  inputs: teacherLrSweep.inputs,
  run: teacherLrSweep.run,
  devScore: teacherLrSweep.devScore,
});

/** The teacher's learning rate: the best dev-like LR accuracy of the sweep and its widening (the
 * earlier-listed rate on a tie). Every sweep run must be finished. */
export function chosenTeacher(profile: Profile): TeacherSelection {
  const s = profile.train.teacher.sweep;
  const edge = sweepTried(profile, teacherEdgeSweep)[0];
  const tried = withEdge(sweepTried(profile, teacherLrSweep), edge.result);
  return {
    tried,
    chosen: { lr: bestOf(tried, teacherLrSweep.devScore).lr },
    rule: `highest dev-like LR accuracy (C = 1) after ${s.steps} steps (the earlier-listed rate on a tie); a choice on the grid's edge widens it once`,
    steps: s.steps,
    widened: edge.past === null ? null : profile.train.teacher.lr * edge.past,
    // The short runs, and the main run whose checkpoints dev-like scores.
    devRuns: tried.length + 1,
  };
}
