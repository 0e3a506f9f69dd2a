// Step 1: the teacher, supervised contrastive loss with hard negatives on product pairs. Its
// learning rate is chosen on dev-like by short runs (the sweep, once, in repeat 0), and its
// checkpoint there too.
import { disposeModel } from "../../models/model";
import {
  chosenTeacher,
  DEV_SET,
  keptCheckpoint,
  runTeacher,
  runTeacherSweep,
  selectionRun,
  teacherInputs,
  teacherSweepInputs,
  teacherSweepName,
} from "../runs";
import { checkpointRepresentation, initSteps, Stage, sweepStep, trainedStep } from "./stage";

export const teacherStage: Stage = {
  name: "teacher",
  steps: (profile) => {
    const repeat0 = selectionRun(profile);
    const sweep = profile.train.teacher.sweep.lrScales.map((scale) =>
      sweepStep(profile, {
        name: teacherSweepName(scale),
        dependencies: ["teacher-pairs", DEV_SET, ...initSteps(repeat0)],
        command: "train-teacher",
        inputs: () => teacherSweepInputs(repeat0, scale),
        run: (o) => runTeacherSweep(repeat0, scale, o),
      }),
    );
    const teacher = trainedStep(profile, "teacher", profile.train.teacher.steps, {
      dependencies: ["teacher-pairs", DEV_SET, ...initSteps(profile), ...sweep.map((s) => s.name)],
      inputs: () => teacherInputs(profile),
      run: async (o) => disposeModel((await runTeacher(profile, o)).model),
    });
    return [...sweep, teacher];
  },
  representation: checkpointRepresentation("teacher", "Teacher representations + LR", "teacher + LR"),
  selection: (profile) => ({ teacher: chosenTeacher(profile) }),
  keptCheckpoint: (profile) => keptCheckpoint(profile, "teacher"),
};
