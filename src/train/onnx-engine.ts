// ONNX Runtime as an inference engine: a frozen model exported in memory (models/export-onnx.ts)
// and run by onnxruntime-node, on its CPU execution provider unless RETAIL_REPR_ORT_PROVIDERS
// names others (e.g. "cuda,cpu" on a GPU machine whose onnxruntime-node has its CUDA files).
import * as os from "os";
import { tf } from "../engine/tf";
import { Model } from "../models/model";
import { onnxModelBytes } from "../models/export-onnx";
import { InputConfig } from "../data/input-config";

export const ORT_PROVIDERS_ENV = "RETAIL_REPR_ORT_PROVIDERS";

type Ort = typeof import("onnxruntime-node");

/** onnxruntime-node, or an error that says how to get it. */
export function loadOrt(): Ort {
  try {
    return require("onnxruntime-node") as Ort;
  } catch (e) {
    throw new Error(
      `--engine onnx: onnxruntime-node does not load (${(e as Error).message.split("\n")[0]}); run \`npm ci\` (with ONNXRUNTIME_NODE_INSTALL_CUDA=skip where its CUDA download cannot run), or use --engine native`,
    );
  }
}

/** Whether onnxruntime-node loads here. */
export function ortLoads(): boolean {
  try {
    loadOrt();
    return true;
  } catch {
    return false;
  }
}

/** The execution providers asked for: RETAIL_REPR_ORT_PROVIDERS, else the CPU's. */
export function ortProviders(): string[] {
  const env = process.env[ORT_PROVIDERS_ENV];
  return env
    ? env
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
    : ["cpu"];
}

/** [n, h, w, c] -> [n, c, h, w] in a plain loop: tfjs's transpose on the wasm backend took
 * ~600 ms for a batch of 64 images of 64 px (measured), longer than the network itself. */
export function toNCHW(x: Float32Array, n: number, h: number, w: number, c: number): Float32Array {
  const out = new Float32Array(x.length);
  const plane = h * w;
  for (let b = 0; b < n; b++) {
    const base = b * plane * c;
    for (let p = 0; p < plane; p++) for (let k = 0; k < c; k++) out[base + k * plane + p] = x[base + p * c + k];
  }
  return out;
}

/** A session over `model`'s embedding network at `input.size`: NHWC batches in (as our loaders
 * make them), L2-normalised embeddings out. Close it when done. */
export async function onnxSession(
  model: Model,
  input: InputConfig,
): Promise<{ run(x: tf.Tensor4D): Promise<Float32Array>; close(): Promise<void> }> {
  const ort = loadOrt();
  const session = await ort.InferenceSession.create(onnxModelBytes(model, input), {
    executionProviders: ortProviders(),
    graphOptimizationLevel: "all",
    intraOpNumThreads: os.cpus().length,
  });
  return {
    async run(x) {
      const [n, h, w, c] = x.shape;
      const nchw = toNCHW(x.dataSync() as Float32Array, n, h, w, c);
      const out = await session.run({ images: new ort.Tensor("float32", nchw, [n, c, h, w]) });
      const z = out.embedding.data as Float32Array;
      out.embedding.dispose();
      return z;
    },
    close: () => session.release(),
  };
}
