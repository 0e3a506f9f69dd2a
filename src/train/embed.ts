// Frozen-model embeddings of image files, batch by batch (eval mode, no augmentation).
import { tf } from "../engine/tf";
import { loadBatch } from "../data/loader";
import { embedForward, embeddingDim, logitsForward, Model } from "../models/model";
import { Progress } from "../util/progress";
import { checkStepFits, largestBatch } from "../models/memory";
import { ModelConfig } from "../models/model";

/** The batch to embed with: the one asked for, capped on the wasm engine at the largest that
 * fits its heap (embeddings do not depend on the batch in eval mode), so any set streams through. */
export function embedBatchFor(config: ModelConfig, size: number, batch: number): number {
  if (tf.getBackend() !== "wasm") return batch;
  checkStepFits(config, size, 1, "infer");
  return Math.max(1, Math.min(batch, largestBatch(config, size, "infer")));
}

/** [n, D] L2-normalised embeddings (or logits with `logits: true`) as one Float32Array. */
export async function embedFiles(model: Model, files: string[], opts: { size: number; batch: number; label?: string; quiet?: boolean; logits?: boolean }): Promise<Float32Array> {
  const D = opts.logits ? model.config.classes : embeddingDim(model.config);
  opts = { ...opts, batch: embedBatchFor(model.config, opts.size, opts.batch) };
  const out = new Float32Array(files.length * D);
  const bar = opts.quiet ? undefined : new Progress({ label: opts.label ?? "embed", total: files.length, unit: "img" });
  let next = files.length ? loadBatch(files.slice(0, opts.batch), { size: opts.size, seed: 0 }) : undefined;
  for (let i = 0; i < files.length; i += opts.batch) {
    const x = await next!;
    next = i + opts.batch < files.length ? loadBatch(files.slice(i + opts.batch, i + 2 * opts.batch), { size: opts.size, seed: 0 }) : undefined;
    const z = tf.tidy(() => (opts.logits ? logitsForward(model, x, false) : embedForward(model, x, false)));
    out.set(z.dataSync(), i * D);
    tf.dispose([x, z]);
    bar?.tick(x.shape[0]);
  }
  return out;
}
