// Inference engines side by side: this workbench's (the tfjs backend in use, with the native
// kernels where they load), ONNX Runtime on an export of the same weights, and PyTorch, on the
// same machine in the same run. Each forward pass is the embedding network with GAP (what the
// PyTorch reference times), eval mode, fp32, on the same random batch; the two engines' outputs
// are compared as they are timed. Best of `rounds` rounds on every side.
import * as os from "os";
import { tf } from "../engine/tf";
import { selectBackend } from "../engine/backend";
import { engineLabel } from "../engine/native-kernels";
import { medianSeconds } from "../engine/microbench";
import { createModel, disposeModel, embedForward } from "../models/model";
import { defaultInputConfig } from "../data/input-config";
import { loadOrt, onnxSession } from "../train/onnx-engine";
import { mergeBenchSection } from "./bench";
import { round } from "./model-bench";
import { presetReferenceArgs, runTorchReference, torchAvailable } from "./torch-reference";

const CONFIGS = [
  { arch: "resnext14_8x8d", size: 64, batch: 64 },
  { arch: "resnext50_32x4d", size: 224, batch: 8 },
  { arch: "resnext101_32x8d", size: 224, batch: 4 },
];

export interface InferenceRow {
  arch: string;
  size: number;
  batch: number;
  native_img_s: number;
  onnx_img_s: number;
  torch_img_s?: number;
  /** Largest |native - onnx| over the batch's embeddings. */
  max_abs_diff: number;
}

export async function runOnnxBench(opts: { quick?: boolean; log?: (s: string) => void } = {}): Promise<Record<string, unknown>> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const configs = opts.quick ? CONFIGS.slice(0, 1) : CONFIGS;
  const repeats = opts.quick ? 2 : 3;
  const rounds = opts.quick ? 1 : 2;
  await selectBackend({ log: null });
  const ort = loadOrt();
  const ta = torchAvailable();
  if (!ta.ok) log(`PyTorch reference skipped: ${ta.why}`);
  const best = new Map<string, InferenceRow>();
  for (let r = 0; r < rounds; r++) {
    if (rounds > 1) log(`-- round ${r + 1} of ${rounds}`);
    for (const c of configs) {
      const key = `${c.arch}@${c.size} b${c.batch}`;
      const model = createModel({ arch: c.arch, pooling: "gap" }, 1);
      const x = tf.randomNormal([c.batch, c.size, c.size, 3], 0, 1, "float32", 2) as tf.Tensor4D;
      const session = await onnxSession(model, defaultInputConfig(c.size));
      try {
        let zNative: Float32Array = new Float32Array(0);
        let zOnnx: Float32Array = new Float32Array(0);
        const native = await medianSeconds(
          () => {
            const z = tf.tidy(() => embedForward(model, x, false));
            zNative = z.dataSync() as Float32Array;
            z.dispose();
          },
          repeats,
          1,
        );
        // ONNX Runtime's first two runs plan its memory (measured: 3x slower than the next ones).
        const onnx = await medianSeconds(async () => void (zOnnx = await session.run(x)), repeats, 2);
        let diff = 0;
        for (let i = 0; i < zNative.length; i++) diff = Math.max(diff, Math.abs(zNative[i] - zOnnx[i]));
        const row: InferenceRow = { ...c, native_img_s: round(c.batch / native), onnx_img_s: round(c.batch / onnx), max_abs_diff: diff };
        if (ta.ok) {
          row.torch_img_s = runTorchReference(presetReferenceArgs(c, repeats + 2), ta.python).infer_img_s;
        }
        log(
          `${key}: native ${row.native_img_s} img/s, onnx ${row.onnx_img_s} img/s${row.torch_img_s ? `, torch ${row.torch_img_s} img/s` : ""}; max |native - onnx| ${diff.toExponential(1)}`,
        );
        const prior = best.get(key);
        best.set(
          key,
          prior
            ? {
                ...row,
                native_img_s: Math.max(prior.native_img_s, row.native_img_s),
                onnx_img_s: Math.max(prior.onnx_img_s, row.onnx_img_s),
                torch_img_s: row.torch_img_s && prior.torch_img_s ? Math.max(prior.torch_img_s, row.torch_img_s) : row.torch_img_s,
                max_abs_diff: Math.max(prior.max_abs_diff, diff),
              }
            : row,
        );
      } finally {
        await session.close();
        x.dispose();
        disposeModel(model);
      }
    }
  }
  const results = [...best.values()];
  const ratios = results.map((r) => ({
    arch: r.arch,
    size: r.size,
    batch: r.batch,
    onnx_to_native: round(r.onnx_img_s / r.native_img_s, 3),
    native_to_torch: r.torch_img_s ? round(r.native_img_s / r.torch_img_s, 3) : null,
    onnx_to_torch: r.torch_img_s ? round(r.onnx_img_s / r.torch_img_s, 3) : null,
  }));
  for (const r of ratios)
    log(
      `${r.arch}@${r.size} b${r.batch}: onnx / native ${r.onnx_to_native}${r.onnx_to_torch !== null ? `, native / torch ${r.native_to_torch}, onnx / torch ${r.onnx_to_torch}` : ""}`,
    );
  const section = {
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model },
    native: engineLabel(),
    onnxruntime: { version: ort.env.versions.node, providers: ["cpu"] },
    torch: ta.ok ? { version: ta.version, python: ta.python, threads: 2 } : { skipped: ta.why },
    method:
      "embedding network with GAP, eval mode, fp32, one random batch; median of repeats after a warm-up; best of `rounds` rounds per engine",
    rounds,
    results,
    ratios,
  };
  log(`wrote ${mergeBenchSection("onnx", section)}`);
  return section;
}
