// Every stage of the method, in the order it runs. The step table (steps.ts), the plan,
// evaluate's representations, the paper tables' rows and the findings' labels are read from this
// list: a new stage is one module beside these and one registerStage call (src/README.md).
import { datasetsStage } from "./datasets";
import { finetuneStage } from "./finetune";
import { pretrainStage } from "./pretrain";
import { pseudolabelsStage } from "./pseudolabels";
import { randomInitStage } from "./random-init";
import type { RepresentationSpec, Stage } from "./stage";
import { studentStage } from "./student";
import { teacherStage } from "./teacher";

const STAGES: Stage[] = [datasetsStage, pretrainStage, randomInitStage, teacherStage, pseudolabelsStage, studentStage, finetuneStage];

/** Add a stage after the built-in ones (after every stage it reads); returns its removal. */
export function registerStage(stage: Stage): () => void {
  if (STAGES.some((s) => s.name === stage.name)) throw new Error(`a stage named '${stage.name}' is registered already`);
  STAGES.push(stage);
  return () => void STAGES.splice(STAGES.indexOf(stage), 1);
}

/** The stages, in the order they run. */
export const stages = (): readonly Stage[] => STAGES;

/** The representations the paper's tables probe, in the stages' order: [name, spec]. */
export const representationStages = (): [string, RepresentationSpec][] =>
  STAGES.flatMap((s) => (s.representation ? [[s.representation.name, s.representation] as [string, RepresentationSpec]] : []));

/** The representations' names ("pretrained", "random-init", "teacher", "student", ...). */
export const representationNames = (): string[] => representationStages().map(([name]) => name);
