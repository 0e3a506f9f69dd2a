// A model out to PyTorch: its weights under torchvision's names in PyTorch's layouts (OIHW
// filters, [out, in] linear weights; import-torch.ts reads the same mapping the other way), batch
// norms with torchvision's `num_batches_tracked`, no optimiser slots, and in the file's metadata
// what python/retail_repr_torch.py needs to build the whole embedding model: the architecture,
// pooling, projection, classes and the input config.
import * as fs from "fs";
import * as path from "path";
import { tf } from "../engine/tf";
import { IMAGENET_MEAN, IMAGENET_STD } from "../data/images";
import { loadCheckpoint } from "./checkpoint";
import { disposeModel, Model } from "./model";
import { resolveArch } from "./resnext";
import { serializeSafetensors } from "./safetensors";

export const TORCH_EXPORT_FORMAT = "retail-repr-torch/1";

/** How images become the model's input, as timm's pretrained configs say it. */
export interface InputConfig {
  size: number;
  /** "fill": resize both sides to size (this workbench's loaders). */
  resize: "fill";
  mean: number[];
  std: number[];
}

export const defaultInputConfig = (size: number): InputConfig => ({ size, resize: "fill", mean: IMAGENET_MEAN, std: IMAGENET_STD });

/** Our layout -> PyTorch's: HWIO -> OIHW; [in, out] -> [out, in]. */
function toTorchLayout(name: string, t: tf.Tensor): { shape: number[]; data: Float32Array } {
  const out = tf.tidy(() => (t.rank === 4 ? tf.transpose(t, [3, 2, 0, 1]) : t.rank === 2 && name.endsWith(".weight") ? tf.transpose(t) : tf.clone(t)));
  const r = { shape: out.shape, data: out.dataSync() as Float32Array };
  out.dispose();
  return r;
}

/** The state dict PyTorch's modules expect, with the model's metadata. */
export function torchStateDict(model: Model, input: InputConfig): { tensors: Map<string, { shape: number[]; data: Float32Array | BigInt64Array }>; metadata: Record<string, string> } {
  if (model.config.pooling === "lca-concepts") throw new Error("export-torch: the lca-concepts pooling is not exported (lca and gap are)");
  const tensors = new Map<string, { shape: number[]; data: Float32Array | BigInt64Array }>();
  for (const [name, v] of model.params) {
    tensors.set(name, toTorchLayout(name, v));
    if (name.endsWith(".running_var")) tensors.set(name.replace(/running_var$/, "num_batches_tracked"), { shape: [], data: new BigInt64Array([0n]) });
  }
  const config = { ...model.config, arch: resolveArch(model.config.arch) };
  return { tensors, metadata: { format: TORCH_EXPORT_FORMAT, model: JSON.stringify(config), input: JSON.stringify(input) } };
}

/** The image size a checkpoint's run trained at (its recorded inputs), if it says. */
export function trainedImageSize(extra: Record<string, unknown>): number | undefined {
  return (extra.inputs as { imageSize?: number } | undefined)?.imageSize;
}

/** `retail-repr export-torch`: a checkpoint folder's model as a PyTorch .safetensors file. */
export function exportTorch(checkpointDir: string, out: string, size?: number): { tensors: number; bytes: number; size: number } {
  if (!fs.existsSync(path.join(checkpointDir, "checkpoint.json"))) throw new Error(`${checkpointDir}: no checkpoint.json; give a checkpoint folder (e.g. runs/cpu/teacher/checkpoint) or a step name`);
  if (!out.endsWith(".safetensors")) throw new Error(`--out ${out}: write a .safetensors file (torch loads it with python/retail_repr_torch.py)`);
  const { model, meta } = loadCheckpoint(checkpointDir);
  try {
    const imageSize = size ?? trainedImageSize(meta.extra);
    if (!imageSize) throw new Error(`${checkpointDir} records no training image size; give it with --size`);
    const { tensors, metadata } = torchStateDict(model, defaultInputConfig(imageSize));
    const bytes = serializeSafetensors(tensors, metadata);
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, bytes);
    return { tensors: tensors.size, bytes: bytes.length, size: imageSize };
  } finally {
    disposeModel(model);
  }
}
