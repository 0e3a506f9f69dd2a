// A model out to PyTorch: its weights under torchvision's names in PyTorch's layouts (OIHW
// filters, [out, in] linear weights; import-torch.ts reads the same mapping the other way), batch
// norms with torchvision's `num_batches_tracked`, no optimiser slots, and in the file's metadata
// what python/retail_repr_torch.py needs to build the whole embedding model: the architecture,
// pooling, projection, classes and the input config.
import * as fs from "fs";
import * as path from "path";
import { tf } from "../engine/tf";
import { loadCheckpoint } from "./checkpoint";
import { disposeModel, Model } from "./model";
import { resolveArch } from "./resnext";
import { serializeSafetensors } from "./safetensors";
import { serializePth } from "./torch-pth-write";
import { atSize, checkpointInputConfig, defaultInputConfig, InputConfig } from "../data/input-config";

export const TORCH_EXPORT_FORMAT = "retail-repr-torch/1";

/** Our layout -> PyTorch's: HWIO -> OIHW; [in, out] -> [out, in]. */
function toTorchLayout(name: string, t: tf.Tensor): { shape: number[]; data: Float32Array } {
  const out = tf.tidy(() =>
    t.rank === 4 ? tf.transpose(t, [3, 2, 0, 1]) : t.rank === 2 && name.endsWith(".weight") ? tf.transpose(t) : tf.clone(t),
  );
  const r = { shape: out.shape, data: out.dataSync() as Float32Array };
  out.dispose();
  return r;
}

/** The state dict PyTorch's modules expect, with the model's metadata. */
export function torchStateDict(
  model: Model,
  input: InputConfig,
): { tensors: Map<string, { shape: number[]; data: Float32Array | BigInt64Array }>; metadata: Record<string, string> } {
  const tensors = new Map<string, { shape: number[]; data: Float32Array | BigInt64Array }>();
  for (const [name, v] of model.params) {
    tensors.set(name, toTorchLayout(name, v));
    if (name.endsWith(".running_var"))
      tensors.set(name.replace(/running_var$/, "num_batches_tracked"), { shape: [], data: new BigInt64Array([0n]) });
  }
  const config = { ...model.config, arch: resolveArch(model.config.arch) };
  return { tensors, metadata: { format: TORCH_EXPORT_FORMAT, model: JSON.stringify(config), input: JSON.stringify(input) } };
}

/** A checkpoint folder's model and input config, for an export: `size` overrides the side the
 * run trained at (a model without a record of it needs one). The caller disposes the model. */
export function modelForExport(checkpointDir: string, size?: number): { model: Model; input: InputConfig } {
  if (!fs.existsSync(path.join(checkpointDir, "checkpoint.json")))
    throw new Error(`${checkpointDir}: no checkpoint.json; give a checkpoint folder (e.g. runs/cpu/teacher/checkpoint) or a step name`);
  const { model, meta } = loadCheckpoint(checkpointDir);
  const recorded = checkpointInputConfig(meta.extra);
  if (!recorded && !size) {
    disposeModel(model);
    throw new Error(`${checkpointDir} records no input size; give it with --size`);
  }
  const input = recorded ? (size ? atSize(recorded, size) : recorded) : defaultInputConfig(size!);
  return { model, input };
}

/** The file beside data.pkl in an exported .pth that holds the metadata (torch.load skips it). */
export const PTH_METADATA_ENTRY = "retail_repr.json";

/** `retail-repr export-torch`: a checkpoint folder's model as a PyTorch .safetensors file, or a
 * .pth in torch.save's zip format (a plain state dict; the metadata in a file beside it). */
export function exportTorch(checkpointDir: string, out: string, size?: number): { tensors: number; bytes: number; size: number } {
  if (!/\.(safetensors|pth|pt)$/.test(out))
    throw new Error(`--out ${out}: write a .safetensors or .pth file (python/retail_repr_torch.py builds the model from either)`);
  const { model, input } = modelForExport(checkpointDir, size);
  try {
    const { tensors, metadata } = torchStateDict(model, input);
    const bytes = out.endsWith(".safetensors")
      ? serializeSafetensors(tensors, metadata)
      : serializePth(tensors, { [PTH_METADATA_ENTRY]: JSON.stringify(metadata) });
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, bytes);
    return { tensors: tensors.size, bytes: bytes.length, size: input.size };
  } finally {
    disposeModel(model);
  }
}
