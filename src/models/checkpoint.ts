// Checkpoints: a directory with checkpoint.json (model config, step, optimiser config, the data
// cursor and anything else a loop needs to resume) and weights.safetensors (parameters by
// torchvision name + optimiser slots under "optim/"). Written to a temporary directory and
// renamed into place, so a kill mid-write leaves the previous checkpoint intact; the weights'
// SHA-256 is recorded so a truncated or altered file is refused, never half-loaded.
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { tf } from "../engine/tf";
import { createModel, Model, ModelConfig } from "./model";
import { archName, backboneSpecs } from "./resnext";
import { ParamSpec } from "./params";
import { parseSafetensors, serializeSafetensors } from "./safetensors";
import { checkpointInputConfig } from "../data/input-config";

/** What a checkpoint keeps of an optimiser (train/optimizer.ts's Optimizer is one): its config,
 * its step count and its slot tensors by name, and how it takes them back. Declared here so that
 * models/ needs nothing from train/. */
export interface CheckpointedOptimizer {
  readonly config: object;
  readonly step: number;
  readonly state: ReadonlyMap<string, tf.Tensor>;
  restore(step: number, slots: Iterable<[string, { data: Float32Array; shape: number[] }]>): void;
}

export const CHECKPOINT_FORMAT = "retail-repr-checkpoint/1";

export interface CheckpointMeta {
  format: string;
  model: ModelConfig;
  step: number;
  optimizer?: { config: object; step: number };
  /** Free-form resume state: data cursor, RNG state, loss history, run id... */
  extra: Record<string, unknown>;
  weights: { file: string; bytes: number; sha256: string };
  written: string;
}

function sha256(buf: Buffer): string {
  return createHash("sha256").update(buf).digest("hex");
}

export function saveCheckpoint(
  dir: string,
  model: Model,
  opts: { step: number; optimizer?: CheckpointedOptimizer; extra?: Record<string, unknown> },
): void {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, v] of model.params) tensors.set(name, { shape: v.shape, data: v.dataSync() as Float32Array });
  if (opts.optimizer)
    for (const [name, v] of opts.optimizer.state) tensors.set(`optim/${name}`, { shape: v.shape, data: v.dataSync() as Float32Array });
  const weights = serializeSafetensors(tensors, { format: CHECKPOINT_FORMAT });
  const meta: CheckpointMeta = {
    format: CHECKPOINT_FORMAT,
    model: model.config,
    step: opts.step,
    optimizer: opts.optimizer ? { config: opts.optimizer.config, step: opts.optimizer.step } : undefined,
    extra: opts.extra ?? {},
    weights: { file: "weights.safetensors", bytes: weights.length, sha256: sha256(weights) },
    written: new Date().toISOString(),
  };
  const parent = path.dirname(path.resolve(dir));
  fs.mkdirSync(parent, { recursive: true });
  const tmp = fs.mkdtempSync(path.join(parent, `.${path.basename(dir)}.tmp-`));
  fs.writeFileSync(path.join(tmp, meta.weights.file), weights);
  fs.writeFileSync(path.join(tmp, "checkpoint.json"), JSON.stringify(meta, null, 2) + "\n");
  const old = `${path.resolve(dir)}.old`;
  fs.rmSync(old, { recursive: true, force: true });
  if (fs.existsSync(dir)) fs.renameSync(dir, old);
  fs.renameSync(tmp, dir);
  fs.rmSync(old, { recursive: true, force: true });
}

/** Before reading or resuming: a save killed between its two renames leaves `<dir>.old` and no
 * `<dir>`, so the previous checkpoint is put back; temporary folders of killed saves are
 * removed. Returns whether a checkpoint is there. */
export function recoverCheckpoint(dir: string): boolean {
  const abs = path.resolve(dir);
  const old = `${abs}.old`;
  if (!fs.existsSync(path.join(abs, "checkpoint.json")) && fs.existsSync(path.join(old, "checkpoint.json"))) {
    fs.rmSync(abs, { recursive: true, force: true });
    fs.renameSync(old, abs);
    console.log(`${abs}: a save was interrupted; the previous checkpoint is back from ${path.basename(old)}`);
  }
  const parent = path.dirname(abs);
  const tmp = `.${path.basename(abs)}.tmp-`;
  if (fs.existsSync(parent))
    for (const e of fs.readdirSync(parent)) if (e.startsWith(tmp)) fs.rmSync(path.join(parent, e), { recursive: true, force: true });
  return fs.existsSync(path.join(abs, "checkpoint.json"));
}

export function readCheckpointMeta(dir: string): CheckpointMeta {
  const file = path.join(dir, "checkpoint.json");
  if (!fs.existsSync(file)) throw new Error(`${dir}: not a checkpoint (no checkpoint.json)`);
  let meta: CheckpointMeta;
  try {
    meta = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new Error(`${file}: corrupt checkpoint metadata (${(e as Error).message})`);
  }
  if (meta.format !== CHECKPOINT_FORMAT) throw new Error(`${file}: format '${meta.format}', expected '${CHECKPOINT_FORMAT}'`);
  return meta;
}

function sameModel(a: ModelConfig, b: ModelConfig): boolean {
  return JSON.stringify([a.arch, a.pooling, a.projDim, a.classes]) === JSON.stringify([b.arch, b.pooling, b.projDim, b.classes]);
}

function describe(c: ModelConfig): string {
  return `${archName(c.arch)} (pooling ${c.pooling}, projection ${c.projDim || "none"}, classes ${c.classes || "none"})`;
}

/** The checked weights file of a checkpoint. */
function readWeights(dir: string, meta: CheckpointMeta) {
  const wfile = path.join(dir, meta.weights.file);
  const bytes = fs.existsSync(wfile) ? fs.readFileSync(wfile) : undefined;
  if (!bytes) throw new Error(`${wfile}: missing; the checkpoint is incomplete`);
  if (bytes.length !== meta.weights.bytes || sha256(bytes) !== meta.weights.sha256) {
    throw new Error(
      `${wfile}: ${bytes.length} bytes with a different checksum than recorded (${meta.weights.bytes} bytes) — truncated or corrupt; nothing was loaded`,
    );
  }
  return { wfile, file: parseSafetensors(bytes, wfile) };
}

/** Assign the named tensors of a weights file to `model`, all or nothing. */
function assignTensors(
  model: Model,
  specs: ParamSpec[],
  wfile: string,
  tensors: Map<string, { shape: number[]; data: Float32Array }>,
  hint: string,
): void {
  for (const spec of specs) {
    const t = tensors.get(spec.name);
    if (!t || t.shape.join("x") !== spec.shape.join("x"))
      throw new Error(
        `${wfile}: tensor '${spec.name}' ${t ? `is ${t.shape.join("x")}, expected ${spec.shape.join("x")}` : "missing"}; nothing was loaded. ${hint}`,
      );
  }
  tf.tidy(() => {
    for (const spec of specs) model.params.get(spec.name)!.assign(tf.tensor(tensors.get(spec.name)!.data, spec.shape));
  });
}

/** Load into `model` (same architecture required) and, when given, the optimiser's state. */
export function loadCheckpoint(dir: string, model?: Model, optimizer?: CheckpointedOptimizer): { model: Model; meta: CheckpointMeta } {
  const meta = readCheckpointMeta(dir);
  if (model && !sameModel(model.config, meta.model)) {
    throw new Error(
      `${dir}: checkpoint is ${describe(meta.model)}, the model is ${describe(model.config)}; load it into a model of the same architecture`,
    );
  }
  const { wfile, file } = readWeights(dir, meta);
  const target = model ?? createModel(meta.model, 0);
  assignTensors(target, target.specs, wfile, file.tensors, "");
  if (optimizer) {
    const slots = [...file.tensors]
      .filter(([name]) => name.startsWith("optim/"))
      .map(([name, t]) => [name.slice(6), t] as [string, typeof t]);
    optimizer.restore(meta.optimizer?.step ?? 0, slots);
  }
  target.input = checkpointInputConfig(meta.extra);
  return { model: target, meta };
}

/** Start `model` from another checkpoint's backbone (the heads keep their own initialisation):
 * how the teacher, the student and the fine-tune baselines start from a pretrained network. */
export function loadBackbone(dir: string, model: Model): CheckpointMeta {
  const meta = readCheckpointMeta(dir);
  const { wfile, file } = readWeights(dir, meta);
  assignTensors(
    model,
    backboneSpecs(model.backbone),
    wfile,
    file.tensors,
    `The start must be a ${archName(model.config.arch)} backbone (it is ${archName(meta.model.arch)}).`,
  );
  return meta;
}
