// What a stage of the method declares (one module per stage in this folder, listed in
// registry.ts): its cached steps, and, for a representation, how its probe rows are made. The step
// table, the plan, evaluate's representations and the paper tables' rows are all read off these.
import type { Profile } from "../../config/profiles";
import type { Model } from "../../models/model";
import type { CheckpointSelection, LoopResult } from "../../train/loop";
import type { Freshness, Inputs } from "../../util/fingerprint";
import { checkpointModel, checkpointState, ckptDir, StepOptions, weightsOf } from "../runs";
import { keptSweepRun, makeSweepRun, Sweep, sweepFile } from "../sweep";

/** One cached step: the steps it reads, what its artifact is made from (its inputs), whether the
 * artifact there was made from today's inputs, and how to make it. */
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
  /** Whether a shard worker makes its share of it (every other step it finds made, or refuses). */
  sharded?: boolean;
  /** What the artifact is made from; call once every dependency is current. */
  inputs(): Inputs;
  /** Whether the artifact there was made from `inputs`, and if not, why. */
  state(inputs: Inputs): Freshness;
  /** Throws when the artifact, though being made, must not be read by another step as it is. */
  refuseReader?(inputs: Inputs): void;
  /** Make the artifact (its dependencies are current). */
  run(opts: StepOptions): Promise<void>;
}

export interface PlanRow {
  step: string;
  status: "cached" | "to run";
  /** Why it would run ("not trained yet", "inputs changed (data); training from scratch", "after teacher"). */
  why?: string;
  artifact: string;
}

/** A representation the paper's tables probe: frozen embeddings + logistic regression. */
export interface RepresentationSpec {
  /** Its key in the metrics' probes ("pretrained", "teacher"). */
  name: string;
  /** Its row in the paper tables ("Teacher representations + LR"). */
  label: string;
  /** Its short name in the findings ("teacher + LR"). */
  short: string;
  /** What its probe rows are made from (its weights' checksum); its stage's steps are current. */
  inputs(profile: Profile): Inputs;
  /** The embedding model (LCA pooling); its stage's steps are current. */
  model(profile: Profile): Model | Promise<Model>;
}

export interface Stage {
  name: string;
  /** Its steps in the profile's table, each after the steps it reads. */
  steps(profile: Profile): Step[];
  /** The stage's main training run, its step named as the stage (its dependencies current): the
   * loop resumes or, when finished, only reads the checkpoint and history back (for notebooks'
   * charts: steps.ts, trainStage). */
  train?(profile: Profile, opts: StepOptions): Promise<{ model: Model; result: LoopResult }>;
  /** When the stage makes a representation: its probe rows. */
  representation?: RepresentationSpec;
  /** What it chose on dev-like (metrics.meta.selection), once its steps are current. */
  selection?(profile: Profile): Record<string, unknown>;
  /** The checkpoint its main run kept and why (metrics.meta.selection.checkpoints). */
  keptCheckpoint?(profile: Profile): CheckpointSelection & { rule: string };
}

/** A representation whose weights are its stage's checkpoint, runs/<profile>/<step>/checkpoint. */
export const checkpointRepresentation = (step: string, label: string, short: string): RepresentationSpec => ({
  name: step,
  label,
  short,
  inputs: (profile) => ({ [step]: weightsOf(profile, step) }),
  model: (profile) => checkpointModel(profile, step),
});

/** The init's step, when the run starts from one that is made here. */
export const initSteps = (profile: Profile) => (profile.init === "pretrained" ? ["pretrain"] : []);

/** A step that trains a network `steps` long into runs/<profile>/<name>/checkpoint. */
export function trainedStep(
  profile: Profile,
  name: string,
  steps: number,
  s: Pick<Step, "dependencies" | "inputs" | "run"> & { command?: string },
): Step {
  return {
    name,
    artifact: ckptDir(profile, name),
    command: s.command ?? `train-${name}`,
    trains: true,
    state: (inputs) => checkpointState(profile, name, steps, inputs),
    dependencies: s.dependencies,
    inputs: s.inputs,
    run: s.run,
  };
}

/** A kept result (or why there is none) as a step's state. */
export const freshnessOf = (k: { result: unknown } | { why: string }): Freshness =>
  "result" in k ? { fresh: true } : { fresh: false, why: k.why };

/** A sweep's short runs as steps, each reading `dependencies`, made in every repeat (each chooses
 * on its own draw of dev-like): a run's result is kept in its result.json by its inputs, or, for a
 * sweep that keeps its own (`kept`), where its run writes it. */
export function sweepSteps<C, R>(profile: Profile, sweep: Sweep<C, R>, dependencies: string[]): Step[] {
  return sweep.candidates(profile).map((c) => ({
    name: sweep.stepName(c),
    dependencies,
    artifact: sweepFile(profile, sweep, c),
    command: sweep.command,
    trains: true,
    inputs: () => sweep.inputs(profile, c),
    state: (made) => freshnessOf(keptSweepRun(profile, sweep, c, made)),
    run: async (o) => void (await makeSweepRun(profile, sweep, c, o)),
  }));
}
