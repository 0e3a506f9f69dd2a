// Step 1: the teacher, supervised contrastive loss with hard negatives on product pairs. Its
// learning rate is chosen on dev-like by short runs (the sweep, once, in repeat 0), and its
// checkpoint there too.
import { disposeModel } from "../../models/model";
import { DEV_SET, keptCheckpoint, selectionRun } from "../runs";
import { chosenTeacher, runTeacher, teacherInputs, teacherLrSweep } from "../teacher-runs";
import { checkpointRepresentation, initSteps, Stage, sweepSteps, trainedStep } from "./stage";

export const teacherStage: Stage = {
  name: "teacher",
  steps: (profile) => {
    const sweep = sweepSteps(profile, teacherLrSweep, ["teacher-pairs", DEV_SET, ...initSteps(selectionRun(profile))]);
    const teacher = trainedStep(profile, "teacher", profile.train.teacher.steps, {
      dependencies: ["teacher-pairs", DEV_SET, ...initSteps(profile), ...sweep.map((s) => s.name)],
      inputs: () => teacherInputs(profile),
      run: async (o) => disposeModel((await runTeacher(profile, o)).model),
    });
    return [...sweep, teacher];
  },
  train: runTeacher,
  representation: checkpointRepresentation("teacher", "Teacher representations + LR", "teacher + LR"),
  selection: (profile) => ({ teacher: chosenTeacher(profile) }),
  keptCheckpoint: (profile) => keptCheckpoint(profile, "teacher"),
};
