// Step 3: the noisy student, contrastive loss plus Smooth L1 to the teacher's pseudolabels. Its
// start, alpha and learning rate are chosen on dev-like in two stages of short runs (the sweep,
// in each repeat), and its checkpoint there too.
import { disposeModel } from "../../models/model";
import { DEV_SET, keptCheckpoint } from "../runs";
import { chosenStudent, runStudent, studentEdgeSweep, studentLrSweep, studentMainInputs, studentStartSweep } from "../student-runs";
import { checkpointRepresentation, initSteps, Stage, sweepSteps, trainedStep } from "./stage";

export const studentStage: Stage = {
  name: "student",
  steps: (profile) => {
    const reads = ["teacher-pairs", "pseudolabels", DEV_SET];
    const sweep = sweepSteps(profile, studentStartSweep, [...reads, ...initSteps(profile)]);
    // The second stage: the first stage's best start and alpha at other learning rates.
    const lrGrid = sweepSteps(
      profile,
      studentLrSweep,
      sweep.map((s) => s.name),
    );
    // The rates' grid widened once when its choice is on the edge (a step either way).
    const lrSweep = [
      ...lrGrid,
      ...sweepSteps(
        profile,
        studentEdgeSweep,
        [...sweep, ...lrGrid].map((s) => s.name),
      ),
    ];
    const student = trainedStep(profile, "student", profile.train.student.steps, {
      dependencies: [...reads, ...initSteps(profile), ...sweep.map((s) => s.name), ...lrSweep.map((s) => s.name)],
      inputs: () => studentMainInputs(profile),
      run: async (o) => disposeModel((await runStudent(profile, o)).model),
    });
    return [...sweep, ...lrSweep, student];
  },
  train: runStudent,
  representation: checkpointRepresentation("student", "Student representations + LR", "student + LR"),
  selection: (profile) => ({ student: chosenStudent(profile) }),
  keptCheckpoint: (profile) => keptCheckpoint(profile, "student"),
};
