// The method as a declared table of cached steps, cached in runs/<profile>/ and datasets/: each
// step names the steps it reads, what its artifact is made from (its inputs), whether the artifact
// there was made from today's inputs, and how to make it. One traversal (ensureStep) makes sure
// of a step: its dependencies first, then the step itself unless its artifact is current. The
// CLI's per-stage commands, `reproduce`, the shard workers and the notebooks all go through it;
// `retail-repr plan` prints the table with what is cached and what would run, and why.
import { FinetuneRecipe, Profile, withRun } from "../config/profiles";
import { DATASET_NAMES, datasetState, generateAll } from "../data/generate";
import { disposeModel, Model, ModelConfig } from "../models/model";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import type { LoopResult } from "../train/loop";
import { describeIncomplete, PseudoSpec, PseudoStatus, pseudoStatus } from "../train/pseudolabel";
import { cached, Freshness, Inputs, keptResult } from "../util/fingerprint";
import type { Shard } from "../util/shard";
import type { InferenceEngine } from "../train/embed";
import {
  checkpointState,
  ckptDir,
  DEV_SET,
  embeddingConfig,
  EvalSet,
  initialModel,
  initRecord,
  modelAtInit,
  ONE_SHOT_SETS,
  OneShotSet,
  pretrainInputs,
  pseudoSpec,
  runDir,
  runPretrain,
  runPseudolabels,
  runStudent,
  runStudentSweep,
  runTeacher,
  selectionRun,
  StepOptions,
  chosenStudent,
  StudentSelection,
  studentSweepInputs,
  studentSweepName,
  teacherInputs,
  weightsOf,
  teacherSweepName,
  teacherSweepInputs,
  runTeacherSweep,
  studentLrCandidate,
  studentLrName,
  studentMainInputs,
  TeacherSelection,
  chosenTeacher,
} from "./runs";
import {
  chosenRecipe,
  FinetuneResult,
  finetuneInputs,
  finetuneName,
  finetuneResultFile,
  keptFinetune,
  finetuneAttemptName,
  finetuneAttemptFile,
  finetuneAttemptInputs,
  finetuneSweep,
  RecipeSelection,
  runFinetune,
} from "./finetune-runs";
import * as path from "path";
import { loadCheckpoint } from "../models/checkpoint";

export * from "./runs";
export * from "./finetune-runs";

export interface Step {
  name: string;
  /** The steps whose artifacts this one reads. */
  dependencies: string[];
  /** Where its artifact lives. */
  artifact: string;
  /** The command that makes this step alone. */
  command: string;
  /** Whether making it trains a network. */
  trains: boolean;
  /** What the artifact is made from; call once every dependency is current. */
  inputs(): Inputs;
  /** Whether the artifact there was made from `inputs`, and if not, why. */
  state(inputs: Inputs): Freshness;
  /** Make the artifact (its dependencies are current). */
  run(opts: StepOptions): Promise<void>;
}

/** The init's step, when the run starts from one that is made here. */
const initSteps = (profile: Profile) => (profile.init === "pretrained" ? ["pretrain"] : []);

function trainingStep(profile: Profile, name: "pretrain" | "teacher" | "student", o: Pick<Step, "dependencies" | "inputs" | "run">): Step {
  const p = name === "pretrain" ? withRun(profile, { repeat: 0 }) : profile;
  const command = name === "pretrain" ? "pretrain" : `train-${name}`;
  return {
    name,
    artifact: ckptDir(p, name),
    command,
    trains: true,
    state: (inputs) => checkpointState(p, name, p.train[name].steps, inputs),
    ...o,
  };
}

/** The steps of `profile`'s run, dependencies before the steps that read them. */
export function stepTable(profile: Profile): Step[] {
  const data: Step[] = DATASET_NAMES.map((name) => ({
    name,
    dependencies: [],
    artifact: `datasets/${profile.name}/${name}`,
    command: `generate --only ${name}`,
    trains: false,
    inputs: () => ({ spec: name }),
    state: () => datasetState(name, profile),
    run: async (opts) => void (await generateAll(profile, [name], { quiet: opts.quiet })),
  }));
  const pretrain = trainingStep(profile, "pretrain", {
    dependencies: ["pretrain-corpus"],
    inputs: () => pretrainInputs(profile),
    run: async (o) => disposeModel((await runPretrain(profile, o)).model),
  });
  // Every setting is chosen on dev-like by short runs (the sweeps): the teacher's learning rate,
  // the student's start, alpha and learning rate, the fine-tune recipe. Each sweep runs once,
  // with repeat 0, and every repeat reuses it.
  const p0 = selectionRun(profile);
  const teacherSweep = profile.train.teacher.sweep.lrScales.map((scale) =>
    sweepStep(profile, {
      name: teacherSweepName(scale),
      dependencies: ["teacher-pairs", DEV_SET, ...initSteps(p0)],
      command: "train-teacher",
      inputs: () => teacherSweepInputs(p0, scale),
      run: (o) => runTeacherSweep(p0, scale, o),
    }),
  );
  const teacher = trainingStep(profile, "teacher", {
    dependencies: ["teacher-pairs", DEV_SET, ...initSteps(profile), ...teacherSweep.map((s) => s.name)],
    inputs: () => teacherInputs(profile),
    run: async (o) => disposeModel((await runTeacher(profile, o)).model),
  });
  const pseudolabels: Step = {
    name: "pseudolabels",
    dependencies: ["student-pseudo", "teacher"],
    artifact: runDir(profile, "pseudolabels"),
    command: "pseudolabel",
    trains: false,
    inputs: () => pseudoSpec(profile) as unknown as Inputs,
    state: (spec) => pseudolabelState(profile, spec as unknown as PseudoSpec),
    run: async (o) => void (await runPseudolabels(profile, o)),
  };
  const studentSweep = profile.train.student.sweep.candidates.map((c) =>
    sweepStep(profile, {
      name: studentSweepName(c),
      dependencies: ["teacher-pairs", "pseudolabels", DEV_SET, ...initSteps(p0)],
      command: "train-student",
      inputs: () => studentSweepInputs(p0, c),
      run: (o) => runStudentSweep(p0, c, o),
    }),
  );
  // The second stage: the first stage's best start and alpha at other learning rates.
  const studentLrSweep = profile.train.student.sweep.lrScales.map((scale) => {
    const c = () => studentLrCandidate(p0, scale);
    return sweepStep(profile, {
      name: studentSweepName({ name: studentLrName(scale) }),
      dependencies: studentSweep.map((s) => s.name),
      command: "train-student",
      inputs: () => studentSweepInputs(p0, c()),
      run: (o) => runStudentSweep(p0, c(), o),
    });
  });
  const student = trainingStep(profile, "student", {
    dependencies: [
      "teacher-pairs",
      "pseudolabels",
      DEV_SET,
      ...initSteps(profile),
      ...studentSweep.map((s) => s.name),
      ...studentLrSweep.map((s) => s.name),
    ],
    inputs: () => studentMainInputs(profile),
    run: async (o) => disposeModel((await runStudent(profile, o)).model),
  });
  // The fine-tune recipe is chosen on dev-like (the sweep's runs), then used on the test sets.
  const finetuneStep = (
    p: Profile,
    set: EvalSet,
    variant: FinetuneVariant,
    recipe: () => FinetuneRecipe,
    named: FinetuneRecipe | undefined,
    after: string[],
  ): Step => ({
    name: finetuneName(set, variant, named),
    dependencies: [set, ...initSteps(p), ...after],
    artifact: finetuneResultFile(p, set, variant, named),
    command: `finetune --dataset ${set}${set === DEV_SET ? "" : ` --variant ${variant}`}`,
    trains: true,
    inputs: () => finetuneInputs(p, set, variant, recipe()),
    state: () => {
      const k = keptFinetune(p, set, variant, recipe(), named);
      return "result" in k ? { fresh: true } : { fresh: false, why: k.why };
    },
    run: async (o) => void (await finetuneRun(p, set, variant, recipe(), o)),
  });
  const sweep = finetuneSweep(profile).map((r) =>
    selectionStep(
      profile,
      finetuneStep(p0, r.set, r.variant, () => r.recipe, r.recipe, []),
    ),
  );
  const finetunes = ONE_SHOT_SETS.flatMap((set) =>
    (Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[]).map((variant) =>
      finetuneStep(
        profile,
        set,
        variant,
        () => chosenRecipe(profile).chosen,
        undefined,
        sweep.map((s) => s.name),
      ),
    ),
  );
  return [...data, pretrain, ...teacherSweep, teacher, pseudolabels, ...studentSweep, ...studentLrSweep, student, ...sweep, ...finetunes];
}

/** A sweep's short run as a step: its result file in repeat 0's runs/<profile>/<name>/, made once
 * and kept by its inputs (a repeat's table delegates to repeat 0's, selectionStep). */
function sweepStep(
  profile: Profile,
  s: { name: string; dependencies: string[]; command: string; inputs: () => Inputs; run: (o: StepOptions) => Promise<unknown> },
): Step {
  const file = path.join(runDir(selectionRun(profile), s.name), "result.json");
  return selectionStep(profile, {
    name: s.name,
    dependencies: s.dependencies,
    artifact: file,
    command: s.command,
    trains: true,
    inputs: s.inputs,
    state: (inputs) => keptState(file, inputs),
    run: async (o) => void (await cached(file, s.inputs(), () => s.run(o))),
  });
}

/** A result file's state: kept, and made from `inputs`? */
function keptState(file: string, inputs: Inputs): Freshness {
  const k = keptResult<unknown>(file, inputs);
  return "result" in k ? { fresh: true } : { fresh: false, why: k.why };
}

/** A sweep's step in a repeat's table stands for the same step of repeat 0's table, where it is
 * made (its state and its run are that step's). */
function selectionStep(profile: Profile, step: Step): Step {
  if (!profile.repeat) return step;
  const p0 = selectionRun(profile);
  return {
    ...step,
    dependencies: [],
    inputs: () => ({ madeWith: "repeat 0", step: step.name }),
    state: () => {
      const row = planSteps(p0).find((r) => r.step === step.name)!;
      return row.status === "cached" ? { fresh: true } : { fresh: false, why: `in repeat 0's run: ${row.why}` };
    },
    run: (o) => ensureStep(p0, step.name, o),
  };
}

function pseudolabelState(profile: Profile, spec: PseudoSpec): Freshness {
  const st = pseudoStatus(runDir(profile, "pseudolabels"), spec);
  if (!st.problems.size) return { fresh: true };
  return { fresh: false, why: st.done.length ? `${st.problems.size} of ${st.parts} parts to label` : "not labelled yet" };
}

/** The options a step passes to the steps it reads: `onStep` is for the step that was asked for,
 * not for a pretraining or a teacher trained on the way to it. */
function forDependencies(opts: StepOptions): StepOptions {
  const { onStep: _onStep, ...rest } = opts;
  return rest;
}

/** Make sure of step `name`: its dependencies first, then the step itself unless its artifact
 * was made from today's inputs. A shard worker (`noTraining`) refuses to train, naming the
 * command to run; the student refuses pseudolabels split across shards and left incomplete. */
export async function ensureStep(profile: Profile, name: string, opts: StepOptions = {}, asked = true): Promise<void> {
  const step = await ensureDependencies(profile, name, opts);
  const inputs = step.inputs();
  if (step.state(inputs).fresh) return;
  if (opts.noTraining && name !== "pseudolabels")
    throw new Error(
      `${name} is not ${step.trains ? "trained" : "generated"} for profile ${profile.name} (${step.artifact}); run \`retail-repr ${step.command} --profile ${profile.name}\` first: a shard worker only labels, it trains nothing`,
    );
  if (name === "pseudolabels" && !asked) {
    const spec = inputs as unknown as PseudoSpec;
    const st = pseudoStatus(step.artifact, spec);
    if (st.shards) throw new Error(describeIncomplete(step.artifact, spec, st));
  }
  await step.run(asked ? opts : forDependencies(opts));
}

/** Make sure of every step that step `name` reads; returns the step. */
async function ensureDependencies(profile: Profile, name: string, opts: StepOptions): Promise<Step> {
  const step = stepTable(profile).find((s) => s.name === name);
  if (!step) throw new Error(`no step '${name}' in the pipeline of profile ${profile.name}`);
  for (const d of step.dependencies) await ensureStep(profile, d, forDependencies(opts), false);
  return step;
}

/** Every dataset of the profile, generated (or imported) and current. */
export async function ensureData(profile: Profile): Promise<void> {
  for (const name of DATASET_NAMES) await ensureStep(profile, name);
}

export interface PlanRow {
  step: string;
  status: "cached" | "to run";
  /** Why it would run ("not trained yet", "inputs changed (data); training from scratch", "after teacher"). */
  why?: string;
  artifact: string;
}

/** The table as it stands: each step cached or to run, and why (a step after one that will run
 * runs too: its inputs are that one's output). Computes nothing. */
export function planSteps(profile: Profile): PlanRow[] {
  const table = stepTable(profile);
  const toRun = new Set<string>();
  return table.map((s) => {
    const waiting = s.dependencies.filter((d) => toRun.has(d));
    let why: string | undefined;
    if (waiting.length) why = `after ${waiting.join(", ")}`;
    else {
      const st = s.state(s.inputs());
      if (!st.fresh) why = st.why;
    }
    if (why) toRun.add(s.name);
    return { step: s.name, status: why ? "to run" : "cached", ...(why ? { why } : {}), artifact: s.artifact };
  });
}

// ---- the steps as the library's callers ask for them ------------------------------------------

/** Weakly supervised pretraining on the hashtag corpus (shared by every init and repeat); its
 * loop resumes or, when finished, only reads the checkpoint back. */
export async function pretrain(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  await ensureDependencies(profile, "pretrain", opts);
  return runPretrain(profile, opts);
}

/** The finished pretraining checkpoint's folder (pretraining first when needed). */
export async function pretrainedCheckpoint(profile: Profile, opts: StepOptions = {}): Promise<string> {
  await ensureStep(profile, "pretrain", opts);
  return ckptDir(profile, "pretrain");
}

async function ensureInit(profile: Profile, opts: StepOptions): Promise<void> {
  for (const s of initSteps(profile)) await ensureStep(profile, s, forDependencies(opts), false);
}

/** The pretrained backbone as an embedding model (LCA pooling), for the probe row. */
export async function pretrainedModel(profile: Profile, opts: StepOptions = {}): Promise<Model> {
  const p = withRun(profile, { init: "pretrained", repeat: 0 });
  await ensureInit(p, opts);
  return modelAtInit(p, embeddingConfig(profile));
}

/** Where a run starts, as an input (the init's step made first when needed). */
export async function initInputs(profile: Profile, opts: StepOptions = {}): Promise<Inputs> {
  await ensureInit(profile, opts);
  return initRecord(profile);
}

/** A new model for `config` at the run's init (the init's step made first when needed). */
export async function startingModel(profile: Profile, config: ModelConfig, opts: StepOptions = {}): Promise<Model> {
  await ensureInit(profile, opts);
  return modelAtInit(profile, config);
}

/** The teacher's training (its dependencies first); the loop resumes or, when finished, only
 * reads the checkpoint and history back. */
export async function trainTeacher(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  await ensureData(profile);
  await ensureDependencies(profile, "teacher", opts);
  return runTeacher(profile, opts);
}

export async function trainStudent(profile: Profile, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  await ensureData(profile);
  await ensureDependencies(profile, "student", opts);
  return runStudent(profile, opts);
}

/** A finished step's weights checksum (training it first when needed), without loading it. */
export async function trainedWeights(profile: Profile, which: "teacher" | "student", opts: StepOptions = {}): Promise<string> {
  await ensureStep(profile, which, opts);
  return weightsOf(profile, which);
}

/** A finished step's model from its checkpoint (training it first when needed). */
export async function trainedModel(profile: Profile, which: "teacher" | "student", opts: StepOptions = {}): Promise<Model> {
  await ensureData(profile);
  await ensureStep(profile, which, opts);
  return loadCheckpoint(ckptDir(profile, which), initialModel(profile)).model;
}

/** Step 2, or this process's shard of it: the teacher's embeddings of the unlabeled set, in parts.
 * A shard worker trains nothing: the data and the teacher must be there (shared storage). */
export async function pseudolabel(
  profile: Profile,
  opts: StepOptions & { shard?: Shard; engine?: InferenceEngine } = {},
): Promise<{ dir: string; status: PseudoStatus; spec: PseudoSpec }> {
  const o = opts.shard ? { ...opts, noTraining: true } : opts;
  if (!opts.shard) await ensureData(profile);
  await ensureStep(profile, "teacher", forDependencies(o), false);
  return runPseudolabels(profile, o);
}

/** A fine-tune by the convergence rule: its runs kept in their folders by their inputs (trained
 * when they changed), the next, twice as long, only while the last has not converged. */
async function finetuneRun(
  profile: Profile,
  set: EvalSet,
  variant: FinetuneVariant,
  recipe: FinetuneRecipe,
  opts: StepOptions,
): Promise<FinetuneResult & { result?: LoopResult }> {
  let loop: LoopResult | undefined;
  const named = set === DEV_SET ? recipe : undefined;
  for (let last = -1; ;) {
    const k = keptFinetune(profile, set, variant, recipe, named);
    if ("result" in k) return loop ? { ...k.result, result: loop } : k.result;
    if (k.missing === last) throw new Error(`${finetuneAttemptName(set, variant, named, k.missing)}: made but not read back (${k.why})`);
    last = k.missing;
    if (k.missing > 0 && !opts.quiet) console.log(`${finetuneAttemptName(set, variant, named, k.missing)}: ${k.why}`);
    await cached(
      finetuneAttemptFile(profile, set, variant, named, k.missing),
      finetuneAttemptInputs(profile, set, variant, recipe, k.missing),
      async () => {
        const { result, ...r } = await runFinetune(profile, set, variant, recipe, opts, k.missing);
        loop = result;
        return r;
      },
    );
  }
}

/** A fine-tune baseline on a test set with the recipe dev-like chose (the dev sweep first when
 * needed): its test accuracy with its interval and its training accuracy. */
export async function finetune(
  profile: Profile,
  set: OneShotSet,
  variant: FinetuneVariant,
  opts: StepOptions = {},
): Promise<FinetuneResult & { result?: LoopResult }> {
  await ensureData(profile);
  await ensureDependencies(profile, finetuneName(set, variant), opts);
  return finetuneRun(profile, set, variant, chosenRecipe(profile).chosen, opts);
}

/** The student's dev sweep (short runs of each start and alpha, then of the best one's learning
 * rates) and what it chooses. */
export async function studentSweepOnDev(profile: Profile, opts: StepOptions = {}): Promise<StudentSelection> {
  await ensureData(profile);
  const s = profile.train.student.sweep;
  for (const name of [...s.candidates.map((c) => c.name), ...s.lrScales.map(studentLrName)])
    await ensureStep(profile, studentSweepName({ name }), opts);
  return chosenStudent(profile);
}

/** The teacher's learning-rate sweep on dev-like and what it chooses. */
export async function teacherSweepOnDev(profile: Profile, opts: StepOptions = {}): Promise<TeacherSelection> {
  await ensureData(profile);
  for (const scale of profile.train.teacher.sweep.lrScales) await ensureStep(profile, teacherSweepName(scale), opts);
  return chosenTeacher(profile);
}

/** The dev sweep's runs (each recipe on dev-like) and the recipe they choose. */
export async function finetuneSweepOnDev(profile: Profile, opts: StepOptions = {}): Promise<RecipeSelection> {
  await ensureData(profile);
  for (const r of finetuneSweep(profile)) await ensureStep(profile, finetuneName(r.set, r.variant, r.recipe), opts);
  return chosenRecipe(profile);
}
