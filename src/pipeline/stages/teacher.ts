// Step 1: the teacher, supervised contrastive loss with hard negatives on product pairs. Its
// learning rate is chosen on dev-like by short runs (the sweep, in each repeat; its grid widened
// once when the choice is on its edge), and its checkpoint there too.
import { disposeModel } from "../../models/model";
import { DEV_SET, keptCheckpoint } from "../runs";
import { chosenTeacher, runTeacher, teacherEdgeSweep, teacherInputs, teacherLrSweep } from "../teacher-runs";
import { checkpointRepresentation, initSteps, Stage, sweepSteps, trainedStep } from "./stage";

export const teacherStage: Stage = {
  name: "teacher",
  steps: (profile) => {
    const grid = sweepSteps(profile, teacherLrSweep, ["teacher-pairs", DEV_SET, ...initSteps(profile)]);
    // The grid widened once when its choice is on the edge (a step either way).
    const sweep = [
      ...grid,
      ...sweepSteps(
        profile,
        teacherEdgeSweep,
        grid.map((s) => s.name),
      ),
    ];
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
