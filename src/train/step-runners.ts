// How one optimiser step computes a task's objective on a batch's images: three runners, one
// rule for batch norm. Each takes the images x, the objective on the network's outputs z, the
// learning rate, a guard on the loss (called before any update), a record for the loss's
// named parts and the batch's noise in the model, if any (models/noise.ts); each returns the loss.
//
//   local    one forward pass over the whole batch, differentiated in this thread;
//   chunked  the gradient cache (chunked.ts): z chunk by chunk, dL/dz on all of z, then each
//            chunk backpropagates its rows (a batch larger than the wasm heap);
//   replica  data-parallel (replica.ts): two replicas embed half the batch each.
//
// Batch norm in training mode normalises over the images of one forward pass: the whole batch
// (local), each chunk (chunked), each replica's half (replica; PyTorch's DDP without SyncBN does
// the same). So the three give the same loss and gradients where batch statistics are not
// involved, and the chunked and replica steps are the gradients of their own per-piece-statistics
// losses otherwise (test/step-runners.test.ts). A task's objective never runs its own forward
// pass: a stage cannot split its batch into groups with statistics of their own.
import { tf } from "../engine/tf";
import type { Model } from "../models/model";
import type { ModelNoise } from "../models/noise";
import { paramGrads } from "../models/params";
import { chunkedGrads } from "./chunked";
import type { LossFromEmbeddings } from "./embedding-grad";
import { forwardOf, Output } from "./forward";
import type { Optimizer } from "./optimizer";
import { parallelStep, Replica } from "./replica";

export type StepRunner = (
  x: tf.Tensor4D,
  objective: LossFromEmbeddings,
  lr: number,
  guard: (loss: number) => void,
  parts: Record<string, number>,
  noise?: ModelNoise,
) => Promise<number>;

/** One step in this thread: gradients of `loss`, the guard, then the update. Returns the loss. */
export function localStep(
  model: Model,
  opt: Optimizer,
  loss: () => { loss: tf.Scalar; parts?: Record<string, tf.Scalar> },
  lr: number,
  guard: (l: number) => void,
  parts: Record<string, number>,
): number {
  const { value, grads } = paramGrads(model.params, () => {
    const out = loss();
    for (const [k, v] of Object.entries(out.parts ?? {})) parts[k] = v.dataSync()[0];
    return out.loss;
  });
  try {
    const lossValue = value.dataSync()[0];
    guard(lossValue);
    opt.apply(model.params, grads, lr);
    return lossValue;
  } finally {
    tf.dispose([value, ...Object.values(grads)]);
  }
}

/** The runner for a run: data-parallel with a replica, else gradient-cache chunks of `chunk`
 * images (0: none), else local. */
export function stepRunner(model: Model, opt: Optimizer, o: { chunk: number; replica?: Replica; output?: Output }): StepRunner {
  const output = o.output ?? "embedding";
  if (o.replica) {
    const replica = o.replica;
    return async (x, objective, lr, guard, parts, noise) => {
      const r = await parallelStep(model, opt, replica, x, objective, lr, guard, output, noise);
      Object.assign(parts, r.parts);
      return r.loss;
    };
  }
  if (o.chunk) {
    return async (x, objective, lr, guard, parts, noise) => {
      const r = chunkedGrads(model, x, objective, { chunk: o.chunk, output, noise });
      try {
        Object.assign(parts, r.parts);
        guard(r.loss);
        opt.apply(model.params, r.grads, lr);
        return r.loss;
      } finally {
        tf.dispose(Object.values(r.grads));
      }
    };
  }
  const forward = forwardOf(output);
  return async (x, objective, lr, guard, parts, noise) =>
    localStep(model, opt, () => objective(forward(model, x, true, noise)), lr, guard, parts);
}
