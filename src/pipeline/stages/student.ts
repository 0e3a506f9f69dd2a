// Step 3: the noisy student, contrastive loss plus Smooth L1 to the teacher's pseudolabels. Its
// start, alpha and learning rate are chosen on dev-like in two stages of short runs (the sweep,
// once, in repeat 0), and its checkpoint there too.
import { disposeModel } from "../../models/model";
import {
  chosenStudent,
  DEV_SET,
  keptCheckpoint,
  runStudent,
  runStudentSweep,
  selectionRun,
  studentLrCandidate,
  studentLrName,
  studentMainInputs,
  studentSweepInputs,
  studentSweepName,
} from "../runs";
import { checkpointRepresentation, initSteps, Stage, sweepStep, trainedStep } from "./stage";

export const studentStage: Stage = {
  name: "student",
  steps: (profile) => {
    const repeat0 = selectionRun(profile);
    const sweep = profile.train.student.sweep.candidates.map((c) =>
      sweepStep(profile, {
        name: studentSweepName(c),
        dependencies: ["teacher-pairs", "pseudolabels", DEV_SET, ...initSteps(repeat0)],
        command: "train-student",
        inputs: () => studentSweepInputs(repeat0, c),
        run: (o) => runStudentSweep(repeat0, c, o),
      }),
    );
    // The second stage: the first stage's best start and alpha at other learning rates.
    const lrSweep = profile.train.student.sweep.lrScales.map((scale) => {
      const candidate = () => studentLrCandidate(repeat0, scale);
      return sweepStep(profile, {
        name: studentSweepName({ name: studentLrName(scale) }),
        dependencies: sweep.map((s) => s.name),
        command: "train-student",
        inputs: () => studentSweepInputs(repeat0, candidate()),
        run: (o) => runStudentSweep(repeat0, candidate(), o),
      });
    });
    const student = trainedStep(profile, "student", profile.train.student.steps, {
      dependencies: [
        "teacher-pairs",
        "pseudolabels",
        DEV_SET,
        ...initSteps(profile),
        ...sweep.map((s) => s.name),
        ...lrSweep.map((s) => s.name),
      ],
      inputs: () => studentMainInputs(profile),
      run: async (o) => disposeModel((await runStudent(profile, o)).model),
    });
    return [...sweep, ...lrSweep, student];
  },
  representation: checkpointRepresentation("student", "Student representations + LR", "student + LR"),
  selection: (profile) => ({ student: chosenStudent(profile) }),
  keptCheckpoint: (profile) => keptCheckpoint(profile, "student"),
};
