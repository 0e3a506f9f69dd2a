// Step 3 as runs: the noisy student, contrastive loss plus Smooth L1 to the teacher's
// pseudolabels, with the start, alpha and learning rate its two-stage sweep chose on dev-like,
// keeping its checkpoint best there.
import type { Profile } from "../config/profiles";
import { datasetDirOf } from "../data/generate";
import { datasetFingerprint } from "../data/manifest";
import { filesOf, pairsOf } from "../data/sets";
import { disposeModel, Model } from "../models/model";
import { LoopConfig, LoopResult, trainLoop } from "../train/loop";
import { readPseudolabels } from "../train/pseudolabel";
import { studentTask, termGradientNorms } from "../train/student";
import type { Inputs } from "../util/fingerprint";
import { pseudoSpec } from "./pseudolabel-runs";
import { CHECKPOINT_RULE, DEV_SET, devAccuracy, devCheckpoints } from "./runs"; // chosen on dev-like
import { commonInputs, embeddingConfig, initRecord, loopConfig, modelAtInit, StepOptions } from "./runs"; // what a run is made of
import { checkpointModel, runDir, weightsOf } from "./runs"; // the teacher it reads
import type { StudentCandidate, StudentSelection, StudentSweepResult } from "./selections";
import { bestOf, edgeSweep, Sweep, sweepTried, withEdge } from "./sweep";

/** What a student run is made from: its data, teacher, start and settings, `steps` long. */
export function studentInputs(profile: Profile, steps = profile.train.student.steps): Inputs {
  const { sweep: _sweep, ...train } = profile.train.student;
  return {
    data: datasetFingerprint(datasetDirOf(profile, "teacher-pairs")),
    unlabeled: datasetFingerprint(datasetDirOf(profile, "student-pseudo")),
    teacher: weightsOf(profile, "teacher"),
    init: initRecord(profile),
    ...commonInputs(profile, embeddingConfig(profile)),
    train: { ...train, steps },
  };
}

/** The profile with the student's start, alpha (and learning rate) set to a candidate's. */
export function studentProfile(profile: Profile, c: Pick<StudentCandidate, "start" | "alpha" | "lr">): Profile {
  return {
    ...profile,
    train: {
      ...profile.train,
      student: { ...profile.train.student, start: c.start, alpha: c.alpha, lr: c.lr ?? profile.train.student.lr },
    },
  };
}

/** The noisy student from its start (the teacher's weights or the init's backbone), `steps`
 * long, checkpointed under `name`. */
async function studentRun(
  profile: Profile,
  name: string,
  steps: number,
  inputs: Inputs,
  opts: StepOptions,
  before?: (model: Model, task: ReturnType<typeof studentTask>) => Promise<void>,
  select?: LoopConfig["select"],
): Promise<{ model: Model; result: LoopResult }> {
  const labels = readPseudolabels(runDir(profile, "pseudolabels"), pseudoSpec(profile));
  const model =
    profile.train.student.start === "teacher" ? checkpointModel(profile, "teacher") : modelAtInit(profile, embeddingConfig(profile));
  const pairs = pairsOf(datasetDirOf(profile, "teacher-pairs"));
  const { files } = filesOf(datasetDirOf(profile, "student-pseudo"));
  const task = studentTask(pairs, files, labels, profile);
  await before?.(model, task);
  const result = await trainLoop(model, task, loopConfig(profile, name, steps, profile.train.student.lr, inputs, opts, select));
  return { model, result };
}

/** The student's inputs: the start, alpha and learning rate dev-like chose (every sweep run
 * finished), and the checkpoint rule. */
export function studentMainInputs(profile: Profile): Inputs {
  return {
    ...studentInputs(studentProfile(profile, chosenStudent(profile).chosen)),
    keep: { rule: CHECKPOINT_RULE, every: profile.train.checkpointEvery },
    dev: datasetFingerprint(datasetDirOf(profile, DEV_SET)),
  };
}

/** The student with the start, alpha and learning rate the dev sweep chose, its checkpoint
 * chosen on dev-like too. */
export async function runStudent(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  const p = studentProfile(profile, chosenStudent(profile).chosen);
  return studentRun(p, "student", p.train.student.steps, studentMainInputs(profile), opts, undefined, devCheckpoints(p));
}

/** What a student sweep run of candidate `c` is made from (the repeat's teacher and pseudolabels). */
function studentSweepInputs(profile: Profile, c: StudentCandidate): Inputs {
  const p = studentProfile(profile, c);
  return { ...studentInputs(p, p.train.student.sweep.steps), dev: datasetFingerprint(datasetDirOf(profile, DEV_SET)) };
}

/** One short sweep run on the repeat's teacher and pseudolabels, scored on its dev-like. */
async function studentSweepRun(profile: Profile, c: StudentCandidate, name: string, opts: StepOptions): Promise<StudentSweepResult> {
  const p = studentProfile(profile, c);
  let gradientNorms = { supcon: 0, smoothl1: 0 };
  const before = async (model: Model, task: ReturnType<typeof studentTask>) => {
    const b = await task.batch(0);
    gradientNorms = termGradientNorms(model, task, b);
    task.dispose(b);
  };
  const { model } = await studentRun(p, name, p.train.student.sweep.steps, studentSweepInputs(profile, c), opts, before);
  const dev = await devAccuracy(p, model);
  disposeModel(model);
  return { candidate: c, ...dev, gradientNorms };
}

/** The sweep's first stage: each start and alpha at the profile's learning rate. */
export const studentStartSweep: Sweep<StudentCandidate, StudentSweepResult> = {
  command: "train-student",
  candidates: (profile) => profile.train.student.sweep.candidates,
  stepName: (c) => `student-sweep-${c.name}`,
  inputs: studentSweepInputs,
  run: (profile, c, opts) => studentSweepRun(profile, c, studentStartSweep.stepName(c), opts),
  devScore: (r) => r.devAccuracy,
};

/** The second stage's candidate at `scale`: the first stage's best start and alpha. */
function studentLrCandidate(profile: Profile, scale: number): StudentCandidate {
  const best = bestOf(sweepTried(profile, studentStartSweep), studentStartSweep.devScore).candidate;
  return { name: `lr${scale}x`, start: best.start, alpha: best.alpha, lr: profile.train.student.lr * scale };
}

/** The second stage: the first stage's best start and alpha at the base rate times each scale. */
export const studentLrSweep: Sweep<number, StudentSweepResult> = {
  command: "train-student",
  candidates: (profile) => profile.train.student.sweep.lrScales,
  stepName: (scale) => `student-sweep-lr${scale}x`,
  inputs: (profile, scale) => studentSweepInputs(profile, studentLrCandidate(profile, scale)),
  run: (profile, scale, opts) => studentSweepRun(profile, studentLrCandidate(profile, scale), studentLrSweep.stepName(scale), opts),
  devScore: (r) => r.devAccuracy,
};

/** The second stage's results in its grid's order: the first stage's best (its run at the base
 * rate, scale 1), then each of lrScales. */
function lrStageTried(profile: Profile): StudentSweepResult[] {
  const best = bestOf(sweepTried(profile, studentStartSweep), studentStartSweep.devScore);
  return [{ ...best, candidate: { ...best.candidate, lr: profile.train.student.lr } }, ...sweepTried(profile, studentLrSweep)];
}

/** The second stage's grid widened once: a run at the scale past the edge when it chose one on
 * the edge (util/grid.ts). */
export const studentEdgeSweep = edgeSweep("student-sweep-edge", {
  command: "train-student",
  grid: (profile) => [1, ...profile.train.student.sweep.lrScales],
  tried: lrStageTried,
  inputs: (profile, scale) => studentSweepInputs(profile, studentLrCandidate(profile, scale)),
  run: (profile, scale, opts) => studentSweepRun(profile, studentLrCandidate(profile, scale), studentLrSweep.stepName(scale), opts),
  devScore: (r) => r.devAccuracy,
});

/** The start, alpha and learning rate the final student uses, in two stages (coordinate search):
 * the best start and alpha on dev-like, then that one's best learning rate (the earlier-listed
 * candidate on a tie, the base rate first), the rates' grid widened once when its choice is on
 * the edge. Every sweep run must be finished. */
export function chosenStudent(profile: Profile): StudentSelection {
  const s = profile.train.student.sweep;
  const tried = sweepTried(profile, studentStartSweep);
  const edge = sweepTried(profile, studentEdgeSweep)[0];
  const lrTried = withEdge(lrStageTried(profile), edge.result);
  return {
    tried,
    lrTried,
    chosen: bestOf(lrTried, studentLrSweep.devScore).candidate,
    rule: `highest dev-like LR accuracy (C = 1) after ${s.steps} steps: start and alpha first, then the learning rate (x${s.lrScales.join(", x")}, widened once past an edge chosen); the earlier-listed candidate on a tie`,
    steps: s.steps,
    widened: edge.past === null ? null : profile.train.student.lr * edge.past,
    // The short runs (the second stage's base rate is a first-stage run), and the main run.
    devRuns: tried.length + lrTried.length - 1 + 1,
  };
}
