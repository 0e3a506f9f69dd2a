// What dev-like chose while the method trained, as tables for the notebooks: the teacher's
// learning rate, the student's start, alpha and learning rate, each fine-tune variant's recipe
// and gamma, and the checkpoint each main run kept (its number of steps).
import type { FinetuneSelection, StudentSelection, TeacherSelection } from "../pipeline/steps";
import { finetuneShortRuns, isChosenSetting } from "../pipeline/selections";
import type { CheckpointSelection } from "../train/loop";
import type { Row } from "./dataframe";
import { pct } from "./paper-tables";

const yes = (b: boolean) => (b ? "yes" : "");

export function teacherSweepRows(s: TeacherSelection): Row[] {
  return s.tried.map((t) => ({
    lr: t.lr,
    "dev-like LR %": pct(t.devAccuracy),
    "dev-like 1-NN %": pct(t.devOneNN),
    "past the grid's edge": yes(t.lr === s.widened),
    chosen: yes(t.lr === s.chosen.lr),
  }));
}

/** Both stages: each start and alpha at the base rate, then the best one at the other rates. */
export function studentSweepRows(s: StudentSelection): Row[] {
  return [...s.tried, ...s.lrTried.slice(1)].map((t) => ({
    candidate: t.candidate.name,
    start: t.candidate.start,
    alpha: t.candidate.alpha,
    lr: t.candidate.lr ?? null,
    "dev-like LR %": pct(t.devAccuracy),
    "dev-like 1-NN %": pct(t.devOneNN),
    "|grad| SupCon": +t.gradientNorms.supcon.toPrecision(3),
    "|grad| Smooth L1": +t.gradientNorms.smoothl1.toPrecision(3),
    "past the grid's edge": yes(t.candidate.lr != null && t.candidate.lr === s.widened),
    chosen: yes(
      t.candidate.start === s.chosen.start &&
        t.candidate.alpha === s.chosen.alpha &&
        (t.candidate.lr ?? s.lrTried[0].candidate.lr) === s.chosen.lr,
    ),
  }));
}

/** A fine-tune variant's short runs: each recipe, then (MaxEnt) the best recipe at each gamma. */
export function finetuneSweepRows(s: FinetuneSelection): Row[] {
  return finetuneShortRuns(s).map((t) => ({
    recipe: t.setting.recipe.name,
    "head lr": t.setting.recipe.lr,
    "backbone lr x": t.setting.recipe.backboneScale,
    gamma: t.setting.gamma ?? null,
    "dev-like %": pct(t.devAccuracy),
    "train %": pct(t.trainAccuracy),
    "past the grid's edge": yes(t.setting.gamma !== undefined && t.setting.gamma === s.widened),
    chosen: yes(isChosenSetting(s, t.setting)),
  }));
}

export function checkpointRows(s: CheckpointSelection): Row[] {
  return s.scores.map((x) => ({ step: x.step, "dev-like LR %": pct(x.score), kept: yes(x.step === s.chosenStep) }));
}
