// Data-parallel training on two cores: the main thread and one worker replica each take half
// of a batch. Contrastive losses need every embedding of the batch, so a step is
//   1. both replicas embed their half (batch-norm statistics from that half, as in DDP);
//   2. the main thread computes the loss on all embeddings and dL/dz;
//   3. each replica recomputes its forward pass and backpropagates its rows of dL/dz;
//   4. the gradients are summed and both replicas apply them with the same optimiser.
// The recomputed forward costs a third of a step; the second core pays for it and more.
import * as path from "path";
import { Worker } from "worker_threads";
import { tf } from "../engine/tf";
import { withoutRunningStatUpdates } from "../models/layers";
import { Model } from "../models/model";
import { ModelNoise, noiseRows } from "../models/noise";
import { paramGrads } from "../models/params";
import { nativeConvolutionsOn, setNativeThreads } from "../engine/native-kernels";
import { forwardOf, Output } from "./forward";
import type { InitMessage } from "./replica-worker";
import { LossFromEmbeddings, lossAndEmbeddingGrad } from "./embedding-grad";
import { Optimizer } from "./optimizer";

export class Replica {
  private readonly worker: Worker;
  private next = 0;
  private readonly waiting = new Map<number, { resolve: (v: any) => void; reject: (e: Error) => void }>();
  /** OpenBLAS threads before this replica: each replica computes on one core while it lives. */
  private readonly blasThreads?: number;

  constructor() {
    if (nativeConvolutionsOn()) this.blasThreads = setNativeThreads(1);
    // The worker's own stdout/stderr are not forwarded: in a tslab kernel, output arriving after
    // a cell has finished crashes the kernel ("Socket is closed"). Its errors come back as
    // rejected calls, with their stack.
    this.worker = new Worker(path.join(__dirname, "replica-worker.js"), { stdout: true, stderr: true });
    this.worker.stdout.resume();
    this.worker.stderr.resume();
    this.worker.on("message", (m: { id: number; result?: unknown; error?: string }) => {
      const w = this.waiting.get(m.id)!;
      this.waiting.delete(m.id);
      if (m.error) w.reject(new Error(`replica worker: ${m.error}`));
      else w.resolve(m.result);
    });
    this.worker.on("error", (e) => {
      for (const w of this.waiting.values()) w.reject(e);
      this.waiting.clear();
    });
  }

  call<T>(type: string, payload: unknown, transfer: ArrayBuffer[] = []): Promise<T> {
    const id = this.next++;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      this.worker.postMessage({ id, type, payload }, transfer);
    });
  }

  /** Copy the main replica's weights (running statistics included) and optimiser state. */
  init(model: Model, opt: Optimizer, output: Output = "embedding"): Promise<string> {
    const msg: InitMessage = {
      output,
      backend: tf.getBackend(),
      config: model.config,
      weights: Object.fromEntries([...model.params].map(([n, v]) => [n, v.dataSync() as Float32Array])),
      optimizer: opt.config,
      optimizerStep: opt.step,
      optimizerState: Object.fromEntries([...opt.state].map(([k, v]) => [k, v.dataSync() as Float32Array])),
    };
    return this.call("init", msg);
  }

  terminate(): Promise<number> {
    if (this.blasThreads !== undefined) setNativeThreads(this.blasThreads);
    return this.worker.terminate();
  }
}

/** Rows of the batch each replica takes: even rows here, odd rows in the worker (with pairs laid
 * out as [first views; second views], both views of a pair land on the same replica). */
function halves(n: number): { mine: number[]; theirs: number[] } {
  const all = [...Array(n).keys()];
  return { mine: all.filter((i) => i % 2 === 0), theirs: all.filter((i) => i % 2 === 1) };
}

export interface ParallelStepResult {
  loss: number;
  parts: Record<string, number>;
}

/** One data-parallel step; applies the summed gradients on both replicas. */
export async function parallelStep(
  model: Model,
  opt: Optimizer,
  replica: Replica,
  x: tf.Tensor4D,
  lossFromEmbeddings: LossFromEmbeddings,
  lr: number,
  onLoss?: (loss: number) => void,
  output: Output = "embedding",
  noise?: ModelNoise,
): Promise<ParallelStepResult> {
  const forward = forwardOf(output);
  const { mine, theirs } = halves(x.shape[0]);
  const [ours, theirNoise] = [noiseRows(noise, mine), noiseRows(noise, theirs)]; // each image's masks as in one pass
  const [xa, xb] = tf.tidy(() => [tf.gather(x, mine), tf.gather(x, theirs)]) as [tf.Tensor4D, tf.Tensor4D];
  try {
    const remoteZ = replica.call<Float32Array>("forward", { x: xb.dataSync(), shape: xb.shape, noise: theirNoise });
    const za = tf.tidy(() => forward(model, xa, true, ours));
    const zbData = await remoteZ;
    const D = za.shape[1];
    // Embeddings back in batch order, then dL/dz for all of them.
    const order = [...mine, ...theirs];
    const inverse = new Int32Array(order.length);
    order.forEach((row, k) => (inverse[row] = k));
    let parts: Record<string, number> = {};
    const { value, dz } = tf.tidy(() => {
      const z = tf.gather(tf.concat([za, tf.tensor2d(zbData, [theirs.length, D])], 0), inverse) as tf.Tensor2D;
      const r = lossAndEmbeddingGrad(z, lossFromEmbeddings);
      parts = r.parts;
      return { value: r.loss, dz: r.dz };
    });
    const loss = value.dataSync()[0];
    onLoss?.(loss); // the caller's guard may throw before any update
    const [dza, dzb] = tf.tidy(() => [tf.gather(dz, mine), tf.gather(dz, theirs)]);
    tf.dispose([za, value, dz]);
    const remoteGrads = replica.call<Record<string, Float32Array>>("backward", { dz: dzb.dataSync(), dim: D });
    const local = paramGrads(model.params, () =>
      withoutRunningStatUpdates(() => tf.sum(tf.mul(forward(model, xa, true, ours), dza)) as tf.Scalar),
    );
    const theirsGrads = await remoteGrads;
    const summed: Record<string, tf.Tensor> = {};
    const wire: Record<string, Float32Array> = {};
    for (const [name, g] of Object.entries(local.grads)) {
      summed[name] = tf.tidy(() => tf.add(g, tf.tensor(theirsGrads[name], g.shape)));
      wire[name] = summed[name].dataSync() as Float32Array;
    }
    tf.dispose([dza, dzb, local.value, ...Object.values(local.grads)]);
    const applied = replica.call("apply", { grads: wire, lr });
    opt.apply(model.params, summed, lr);
    tf.dispose(Object.values(summed));
    await applied;
    return { loss, parts };
  } finally {
    tf.dispose([xa, xb]);
  }
}
