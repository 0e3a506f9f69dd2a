// Data-parallel training across processes (and machines) on a c10d process group. Every rank
// builds the same global batch (its order and augmentation come from the seed and the step, not
// from the rank count) and decodes only its contiguous slice of the rows. Within one step:
//   1. each rank embeds its rows, batch norm taking its statistics over every rank's rows
//      (synchronised batch norm, models/layers.ts);
//   2. the embeddings are all-gathered, and every rank computes the loss on all of them, as one
//      process would: the contrastive loss and the miner see the global batch;
//   3. backpropagation reaches this rank's rows only (the all-gather's gradient is its slice), so
//      each rank holds its share of dL/dθ, and the shares are summed by one all-reduce;
//   4. every rank applies the same summed gradient with the same optimiser.
// So N ranks compute what one process computes on the global batch, up to float summation order.
// The collectives block inside tfjs's autodiff (the gradient of a collective is a collective), so
// the all-reduce of gradients runs after the backward pass, not overlapped with it.
import { rankRows } from "../data/batch-pixels";
import { tf } from "../engine/tf";
import type { ProcessGroup } from "../engine/process-group";
import { withGlobalBatchStats } from "../models/layers";
import type { Model } from "../models/model";
import { noiseRows, rowRange } from "../models/noise";
import { paramGrads } from "../models/params";
import { forwardOf, Output } from "./forward";
import type { Optimizer } from "./optimizer";
import type { StepRunner } from "./step-runners";

export { rankRows };

/** Every rank's rows of z [rows, D], gathered in global order [n, D]; the gradient of the result
 * flows back to this rank's rows. Slices of unequal length travel padded to the longest. */
export function gatherRows(group: ProcessGroup, z: tf.Tensor2D, n: number): tf.Tensor2D {
  const D = z.shape[1];
  const longest = rankRows(n, 0, group.size)[1];
  const [begin, end] = rankRows(n, group.rank, group.size);
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const gather = tf.customGrad(((zIn: tf.Tensor2D) => {
    const padded = new Float32Array(longest * D);
    padded.set(zIn.dataSync());
    const all = group.allgather(padded);
    const rows = new Float32Array(n * D);
    for (let r = 0; r < group.size; r++) {
      const [b, e] = rankRows(n, r, group.size);
      rows.set(all.subarray(r * longest * D, (r * longest + e - b) * D), b * D);
    }
    return { value: tf.tensor2d(rows, [n, D]), gradFunc: (dy: tf.Tensor2D) => tf.slice(dy, [begin, 0], [end - begin, -1]) };
  }) as any) as unknown as (z: tf.Tensor) => tf.Tensor;
  return gather(z) as tf.Tensor2D;
}

/** `tensors` in name order as one buffer (what one collective sends), and the slice of it that
 * is each one's. */
function packed(tensors: Record<string, tf.Tensor>): { flat: Float32Array; slices: [string, Float32Array, number[]][] } {
  const names = Object.keys(tensors).sort();
  const flat = new Float32Array(names.reduce((n, k) => n + tensors[k].size, 0));
  let at = 0;
  const slices = names.map((k): [string, Float32Array, number[]] => {
    const t = tensors[k];
    flat.set(t.dataSync() as Float32Array, at);
    at += t.size;
    return [k, flat.subarray(at - t.size, at), t.shape];
  });
  return { flat, slices };
}

/** The parameters' gradients summed over ranks (one all-reduce over all of them, in name order);
 * the caller disposes both maps. */
export function sumOverRanks(group: ProcessGroup, grads: Record<string, tf.Tensor>): Record<string, tf.Tensor> {
  const { flat, slices } = packed(grads);
  group.allreduce(flat);
  return Object.fromEntries(slices.map(([k, values, shape]) => [k, tf.tensor(values, shape)]));
}

/** Rank 0's parameters and running statistics on every rank. */
export function broadcastWeights(group: ProcessGroup, model: Model): void {
  const { flat, slices } = packed(Object.fromEntries(model.params));
  group.broadcast(flat, 0);
  for (const [k, values, shape] of slices) tf.tidy(() => model.params.get(k)!.assign(tf.tensor(values, shape)));
}

/** Every rank resumes from the step rank 0 resumes from: they read one checkpoint (a shared
 * runs/ folder), so a difference means they do not. */
export function sameStartOnEveryRank(group: ProcessGroup, name: string, start: number, ckpt: string): void {
  const starts = group.allgather(new Float32Array([start]));
  const other = starts.findIndex((s) => s !== starts[0]);
  if (other >= 0)
    throw new Error(
      `${name}: rank ${other} resumes from step ${starts[other]}, rank 0 from step ${starts[0]} (${ckpt}): every rank must see the same runs/ folder (a shared volume)`,
    );
}

/** One rank's step runner, handed its rows `mine` (rankRows) of a global batch of `n` images: the
 * loss on the gathered global batch, the gradient summed over ranks, then the update. */
export function dataParallelStep(model: Model, opt: Optimizer, group: ProcessGroup, n: number, output: Output = "embedding"): StepRunner {
  const forward = forwardOf(output);
  const sum = (v: Float32Array) => group.allreduce(v);
  const [begin, end] = rankRows(n, group.rank, group.size);
  if (end === begin) throw new Error(`rank ${group.rank} of ${group.size}: a batch of ${n} images leaves it none; use fewer ranks`);
  return async (mine, objective, lr, guard, parts, noise) => {
    if (mine.shape[0] !== end - begin)
      throw new Error(
        `rank ${group.rank} of ${group.size}: handed ${mine.shape[0]} images, where its rows of ${n} are ${begin} to ${end - 1}`,
      );
    const { value, grads } = paramGrads(model.params, () =>
      withGlobalBatchStats(sum, () => {
        const out = objective(gatherRows(group, forward(model, mine, true, noiseRows(noise, rowRange(begin, end))), n));
        for (const [k, v] of Object.entries(out.parts ?? {})) parts[k] = v.dataSync()[0];
        return out.loss;
      }),
    );
    let summed: Record<string, tf.Tensor> = {};
    try {
      const loss = value.dataSync()[0];
      guard(loss); // every rank computed the same loss: all of them stop here, or none
      summed = sumOverRanks(group, grads);
      opt.apply(model.params, summed, lr);
      return loss;
    } finally {
      tf.dispose([value, ...Object.values(grads), ...Object.values(summed)]);
    }
  };
}
