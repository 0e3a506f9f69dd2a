// How much of the wasm engine's heap a step needs, and the largest batch that fits.
// tfjs-backend-wasm keeps every tensor in one WebAssembly memory of at most 4 GiB; a step that
// needs more aborts the process ("Aborted()", no message). So a step is checked before it runs.
//
// The estimate is  bytes(b) = fixed x P + perImage x A x 4 x b + slack,  where P is the model's
// parameter bytes and A the floats of one image's feature maps (activationFloats). The factors
// were measured on this machine as the wasm heap's size after one step, in a fresh process,
// at two or three batch sizes each:
//   train (forward, backward, SGD with momentum), per image: native kernels 1.06-1.30 x A x 4
//     bytes (resnext50_32x4d @128 and @224, resnext101_32x8d @224), XNNPACK 2.53-2.58 x A x 4
//     (its batch norm keeps more for the backward pass);
//   inference (eval mode, in a tidy), per image: native at most 0.55, XNNPACK 0.76 x A x 4.
// The factors below are the largest measured, rounded up: the estimate errs on the side of
// refusing (resnext50_32x4d @224 trains at batch 16 here and runs out of heap at 17, the
// estimate allows 15; resnext101_32x8d @224 trains at 6, the estimate allows 5).
import { nativeConvolutionsOn } from "../engine/native-kernels";
import { ModelConfig, paramCounts } from "./model";
import { activationFloats, archName, resolveArch } from "./resnext";
import { wayOut } from "../util/host";

/** tfjs-backend-wasm's maximum memory: 65536 pages of 64 KiB, less one page. */
export const WASM_HEAP_BYTES = 4294901760;
/** Off switch for the check (`RETAIL_REPR_HEAP_GUARD=0`), for who measures the limit itself. */
export const HEAP_GUARD_ENV = "RETAIL_REPR_HEAP_GUARD";

export type StepMode = "train" | "infer";
type Factors = Record<StepMode, { params: number; perImage: number }>;
const NATIVE: Factors = {
  // params, gradients, momentum; the feature maps the backward pass keeps, and its temporaries
  train: { params: 3, perImage: 1.33 },
  // params with room to spare (the measured factor is below 2.5); one batch's maps
  infer: { params: 2.5, perImage: 0.6 },
};
const XNNPACK: Factors = { train: { params: 4, perImage: 2.75 }, infer: { params: 2.5, perImage: 0.85 } };
const factors = (mode: StepMode) => (nativeConvolutionsOn() ? NATIVE : XNNPACK)[mode];
const SLACK = 64 * 2 ** 20;
const USABLE = 0.98; // the heap grows in steps; keep clear of the last one

/** The estimate's two terms for this model and size: bytes whatever the batch, and per image. */
export function heapTerms(config: ModelConfig, size: number, mode: StepMode): { fixed: number; perImage: number } {
  const f = factors(mode);
  return {
    fixed: f.params * paramCounts(config).total * 4 + SLACK,
    perImage: f.perImage * activationFloats(resolveArch(config.arch), size) * 4,
  };
}

export function stepBytes(config: ModelConfig, size: number, batch: number, mode: StepMode): number {
  const { fixed, perImage } = heapTerms(config, size, mode);
  return fixed + perImage * batch;
}

/** The largest batch whose step fits the heap (0: not even one image). */
export function largestBatch(config: ModelConfig, size: number, mode: StepMode, heap = WASM_HEAP_BYTES): number {
  const { fixed, perImage } = heapTerms(config, size, mode);
  return Math.max(0, Math.floor((heap * USABLE - fixed) / perImage));
}

export class HeapLimitError extends Error {
  override name = "HeapLimitError";
}

const gb = (b: number) => `${(b / 2 ** 30).toFixed(1)} GiB`;

/** Throws a HeapLimitError naming the model, size, batch and the largest batch that fits. */
export function checkStepFits(config: ModelConfig, size: number, batch: number, mode: StepMode, hint = ""): void {
  if (process.env[HEAP_GUARD_ENV] === "0") return;
  const largest = largestBatch(config, size, mode);
  if (batch <= largest) return;
  const what = mode === "train" ? "a training step" : "an inference batch";
  throw new HeapLimitError(
    `${archName(config.arch)} @${size}px, batch ${batch}: ${what} needs about ${gb(stepBytes(config, size, batch, mode))} of the wasm engine's 4 GiB heap; ` +
      `the largest batch that fits is ${largest}${hint ? ` (${hint})` : ""}. ${wayOut(`retail-repr info --arch ${archName(config.arch)} --size ${size}`, `rr.largestBatch(config, ${size}, "${mode}")`)} shows the limits.`,
  );
}
