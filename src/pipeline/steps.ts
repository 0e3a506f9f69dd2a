// The method as a table of cached steps, read off the registry of stages (stages/), cached in
// runs/<profile>/ and datasets/. One traversal (ensureStep) makes sure of a step: its
// dependencies first, then the step itself unless its artifact is current. The CLI's per-stage
// commands, `reproduce`, the shard workers and the notebooks all go through it; `retail-repr plan`
// prints the table with what is cached and what would run, and why.
import type { Profile } from "../config/profiles";
import { DATASET_NAMES } from "../data/generate";
import { Model, ModelConfig } from "../models/model";
import type { FinetuneVariant } from "../train/finetune";
import type { LoopResult } from "../train/loop";
import type { PseudoSpec, PseudoStatus } from "../train/pseudolabel";
import type { Inputs } from "../util/fingerprint";
import type { Shard } from "../util/shard";
import type { InferenceEngine } from "../train/embed";
import { checkpointModel, ckptDir, initRecord, modelAtInit, OneShotSet, StepOptions, weightsOf } from "./runs";
import { FinetuneResult, finetuneName, runFinetune } from "./finetune-runs";
import { finetuneChoice } from "./finetune-sweep";
import { runPseudolabels } from "./pseudolabel-runs";
import type { Sweep } from "./sweep";
import type { ProcessGroup } from "../engine/process-group";
import { stages } from "./stages/registry";
import { initSteps, PlanRow, Step } from "./stages/stage";

export * from "./runs";
export * from "./finetune-runs";
export * from "./finetune-sweep";
export * from "./pseudolabel-runs";
export * from "./teacher-runs";
export * from "./student-runs";
export * from "./sweep";
export type { PlanRow, Step } from "./stages/stage";

/** The steps of `profile`'s run, dependencies before the steps that read them: each stage's, in
 * the registry's order. */
export function stepTable(profile: Profile): Step[] {
  return stages().flatMap((s) => s.steps(profile));
}

/** The options a step passes to the steps it reads: `onStep` is for the step that was asked for,
 * not for a pretraining or a teacher trained on the way to it. */
function forDependencies(opts: StepOptions): StepOptions {
  const { onStep: _onStep, group: _group, ...rest } = opts;
  return rest;
}

/** Make sure of step `name`: its dependencies first, then the step itself unless its artifact
 * was made from today's inputs. A shard worker (`noTraining`) refuses to train, naming the
 * command to run; a step read by another may refuse that reader (pseudolabels split across
 * shards and left incomplete). */
export async function ensureStep(profile: Profile, name: string, opts: StepOptions = {}, forReader = false): Promise<void> {
  if (opts.group) return ensureStepOnRanks(profile, name, { ...opts, group: opts.group });
  const step = await ensureDependencies(profile, name, opts);
  const inputs = step.inputs();
  if (step.state(inputs).fresh) return;
  if (opts.noTraining && !step.sharded)
    throw new Error(
      `${name} is not ${step.trains ? "trained" : "generated"} for profile ${profile.name} (${step.artifact}); run \`retail-repr ${step.command} --profile ${profile.name}\` first: a shard worker only labels, it trains nothing`,
    );
  if (forReader) step.refuseReader?.(inputs);
  await step.run(forReader ? forDependencies(opts) : opts);
}

/** ensureStep as one rank of a data-parallel run: rank 0 makes what the step reads while the
 * others wait; then, by rank 0's reading of its state, a step that trains is made by every rank
 * together, any other by rank 0 alone. */
async function ensureStepOnRanks(profile: Profile, name: string, opts: StepOptions & { group: ProcessGroup }): Promise<void> {
  const { group } = opts;
  await rankZeroFirst(opts, `${profile.name}/${name}/reads`, async () => void (await ensureDependencies(profile, name, opts)));
  const step = stepNamed(profile, name);
  const fresh = group.broadcast(new Float32Array([group.rank === 0 && step.state(step.inputs()).fresh ? 1 : 0]))[0] === 1;
  if (fresh) return;
  if (step.trains) await step.run(spokenForByRankZero(opts));
  else await rankZeroFirst(opts, `${profile.name}/${name}`, () => step.run(forDependencies(opts)));
}

function stepNamed(profile: Profile, name: string): Step {
  const step = stepTable(profile).find((s) => s.name === name);
  if (!step) throw new Error(`no step '${name}' in the pipeline of profile ${profile.name}`);
  return step;
}

/** Make sure of every step that step `name` reads; returns the step. */
async function ensureDependencies(profile: Profile, name: string, opts: StepOptions): Promise<Step> {
  const step = stepNamed(profile, name);
  for (const d of step.dependencies) await ensureStep(profile, d, forDependencies(opts), true);
  return step;
}

/** A rank other than 0 runs quiet: rank 0 reports for every rank. */
const spokenForByRankZero = (opts: StepOptions): StepOptions => (opts.group && opts.group.rank !== 0 ? { ...opts, quiet: true } : opts);

/** `prepare` (making what a run reads), on rank 0 only while the other ranks of a data-parallel
 * run wait for it: they read what it made. */
export async function rankZeroFirst(opts: StepOptions, key: string, prepare: () => Promise<void>): Promise<void> {
  if (opts.group) await opts.group.rankZeroFirst(key, prepare);
  else await prepare();
}

/** Every dataset of the profile, generated (or imported) and current. */
export async function ensureData(profile: Profile): Promise<void> {
  for (const name of DATASET_NAMES) await ensureStep(profile, name);
}

/** Past this many waiting dependencies, a plan row names the first three and counts the rest. */
const LISTED_DEPENDENCIES = 10;

/** The table as it stands, with `extra` steps after it: each step cached or to run, and why (a
 * step after one that will run runs too: its inputs are that one's output). Computes nothing. */
export function planSteps(profile: Profile, extra: Step[] = []): PlanRow[] {
  const toRun = new Set<string>();
  return [...stepTable(profile), ...extra].map((s) => {
    const waiting = s.dependencies.filter((d) => toRun.has(d));
    let why: string | undefined;
    if (waiting.length)
      why = `after ${waiting.length > LISTED_DEPENDENCIES ? `${waiting.slice(0, 3).join(", ")} and ${waiting.length - 3} more` : waiting.join(", ")}`;
    else {
      const st = s.state(s.inputs());
      if (!st.fresh) why = st.why;
    }
    if (why) toRun.add(s.name);
    return { step: s.name, status: why ? "to run" : "cached", ...(why ? { why } : {}), artifact: s.artifact };
  });
}

// ---- the steps as the library's callers ask for them ------------------------------------------

/** A stage's main training run (teacher, student, pretrain, or a registered one), its
 * dependencies made first: the loop resumes or, when finished, only reads the checkpoint and
 * history back. `opts.onStep` sees each step of this run, not of those made on the way. */
export async function trainStage(profile: Profile, name: string, opts: StepOptions = {}): Promise<{ model: Model; result: LoopResult }> {
  const stage = stages().find((s) => s.name === name);
  if (!stage?.train)
    throw new Error(
      `no stage '${name}' that trains; the stages that do: ${stages()
        .filter((s) => s.train)
        .map((s) => s.name)
        .join(", ")}`,
    );
  await rankZeroFirst(opts, `${profile.name}/${name}`, async () => {
    await ensureData(profile);
    await ensureDependencies(profile, name, opts);
  });
  return stage.train(profile, spokenForByRankZero(opts));
}

/** Every run of `sweep` made on dev-like (each its cached step, the data first); what it chose is
 * its stage's to say (chosenTeacher, chosenStudent, chosenFinetune). */
export async function sweepOnDev<C, R>(profile: Profile, sweep: Sweep<C, R>, opts: StepOptions = {}): Promise<void> {
  await ensureData(profile);
  for (const c of sweep.candidates(profile)) await ensureStep(profile, sweep.stepName(c), opts);
}

/** The finished pretraining checkpoint's folder (pretraining first when needed). */
export async function pretrainedCheckpoint(profile: Profile, opts: StepOptions = {}): Promise<string> {
  await ensureStep(profile, "pretrain", opts);
  return ckptDir(profile, "pretrain");
}

async function ensureInit(profile: Profile, opts: StepOptions): Promise<void> {
  for (const s of initSteps(profile)) await ensureStep(profile, s, forDependencies(opts), true);
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

/** A finished step's weights checksum (training it first when needed), without loading it. */
export async function trainedWeights(profile: Profile, step: string, opts: StepOptions = {}): Promise<string> {
  await ensureStep(profile, step, opts);
  return weightsOf(profile, step);
}

/** A finished step's model from its checkpoint (training it first when needed). */
export async function trainedModel(profile: Profile, step: string, opts: StepOptions = {}): Promise<Model> {
  await ensureData(profile);
  await ensureStep(profile, step, opts);
  return checkpointModel(profile, step);
}

/** Step 2, or this process's shard of it: the teacher's embeddings of the unlabeled set, in parts.
 * A shard worker trains nothing: the data and the teacher must be there (shared storage). */
export async function pseudolabel(
  profile: Profile,
  opts: StepOptions & { shard?: Shard; engine?: InferenceEngine } = {},
): Promise<{ dir: string; status: PseudoStatus; spec: PseudoSpec }> {
  const o = opts.shard ? { ...opts, noTraining: true } : opts;
  if (!opts.shard) await ensureData(profile);
  await ensureStep(profile, "teacher", forDependencies(o), true);
  return runPseudolabels(profile, o);
}

/** A fine-tune baseline on a test set with the setting and length its variant chose on dev-like
 * (the dev sweeps first when needed): its test accuracy with its interval and its training accuracy. */
export async function finetune(
  profile: Profile,
  set: OneShotSet,
  variant: FinetuneVariant,
  opts: StepOptions = {},
): Promise<FinetuneResult & { result?: LoopResult }> {
  await rankZeroFirst(opts, `${profile.name}/${finetuneName(set, variant)}/reads`, async () => {
    await ensureData(profile);
    await ensureDependencies(profile, finetuneName(set, variant), opts);
  });
  return runFinetune(profile, set, variant, finetuneChoice(profile, variant), spokenForByRankZero(opts));
}
