// Load torchvision-named weights (a state_dict saved as .safetensors, or by torch.save as
// .pth in either of its formats) into a model.
// PyTorch stores conv filters OIHW and Linear weights [out, in]; we store HWIO and [in, out].
import * as fs from "fs";
import { tf } from "../engine/tf";
import { createModel, disposeModel, Model, ModelConfig } from "./model";
import { parseSafetensors, readWeightsBytes, SafeTensorsFile } from "./safetensors";
import { parsePth } from "./torch-pth";
import { isZip } from "./zip";
import { saveCheckpoint } from "./checkpoint";
import { torchvisionInputConfig } from "../data/input-config";

export interface ImportReport {
  loaded: number;
  /** Tensors in the file the model has no place for, that were allowed to be left out. */
  ignored: string[];
}

/** Always fine to leave out: batch counters, and the ImageNet classifier of a backbone. */
const DEFAULT_IGNORE = [/\.num_batches_tracked$/, /^fc\./];

function torchToOurs(name: string, shape: number[], data: Float32Array): { shape: number[]; t: tf.Tensor } {
  const t = tf.tensor(data, shape);
  if (shape.length === 4) return { shape: [shape[2], shape[3], shape[1], shape[0]], t: tf.transpose(t, [2, 3, 1, 0]) };
  if (shape.length === 2 && name.endsWith(".weight")) return { shape: [shape[1], shape[0]], t: tf.transpose(t) };
  return { shape, t };
}

export function importTorchWeights(model: Model, file: SafeTensorsFile, source: string, opts: { ignore?: RegExp[] } = {}): ImportReport {
  const ignore = opts.ignore ?? (model.config.classes ? [DEFAULT_IGNORE[0]] : DEFAULT_IGNORE);
  const problems: string[] = [];
  const staged: [tf.Variable, tf.Tensor][] = [];
  for (const spec of model.specs) {
    const src = file.tensors.get(spec.name);
    if (!src) {
      problems.push(`missing '${spec.name}' (expected ${spec.shape.join("x")} in our layout)`);
      continue;
    }
    const { shape, t } = torchToOurs(spec.name, src.shape, src.data);
    if (shape.join("x") !== spec.shape.join("x")) {
      problems.push(
        `'${spec.name}' has shape ${src.shape.join("x")} in the file, the model needs ${spec.shape.join("x")} (our layout) — another architecture?`,
      );
      t.dispose();
      continue;
    }
    staged.push([model.params.get(spec.name)!, t]);
  }
  const known = new Set(model.specs.map((s) => s.name));
  const extra = [...file.tensors.keys()].filter((n) => !known.has(n));
  const ignored = extra.filter((n) => ignore.some((r) => r.test(n)));
  for (const n of extra.filter((n) => !ignored.includes(n))) problems.push(`extra '${n}' has no place in ${model.backbone.name}`);
  if (problems.length) {
    staged.forEach(([, t]) => t.dispose());
    const shown = problems.slice(0, 12).join("\n  ");
    throw new Error(
      `${source}: cannot load into ${model.backbone.name} (${problems.length} problems, nothing loaded):\n  ${shown}${problems.length > 12 ? `\n  ... and ${problems.length - 12} more` : ""}`,
    );
  }
  // All checked: only now touch the model, so a bad file never half-loads it.
  for (const [v, t] of staged) {
    v.assign(t);
    t.dispose();
  }
  return { loaded: staged.length, ignored };
}

/** A weights file by its content (read once): torch.save's zip or legacy pickle, else safetensors. */
export function readWeights(file: string): SafeTensorsFile {
  const bytes = readWeightsBytes(file);
  return isZip(bytes) || bytes[0] === 0x80 ? parsePth(bytes, file) : parseSafetensors(bytes, file);
}

/** `retail-repr import-torch`: read, check, load, and write a step-0 checkpoint. */
/** `size`: the side torchvision's evaluation transform crops to (224 for its ImageNet weights),
 * recorded as the checkpoint's input config. */
export function importTorchToCheckpoint(opts: { config: ModelConfig; weights: string; out: string; size?: number }): ImportReport {
  if (!fs.existsSync(opts.weights)) throw new Error(`${opts.weights}: no such file`);
  const file = readWeights(opts.weights);
  const model = createModel(opts.config, 0);
  try {
    const report = importTorchWeights(model, file, opts.weights);
    saveCheckpoint(opts.out, model, {
      step: 0,
      extra: { importedFrom: opts.weights, format: file.metadata.format ?? "safetensors", input: torchvisionInputConfig(opts.size ?? 224) },
    });
    return report;
  } finally {
    disposeModel(model);
  }
}
