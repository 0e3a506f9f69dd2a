// A model replica in a worker thread, for data-parallel training on the second core (tfjs
// keeps wasm single-threaded in Node). It embeds its share of a batch, backpropagates the
// embedding gradients the main thread sends, and applies the same summed gradients with the
// same optimiser, so its weights stay identical to the main replica's.
import { parentPort } from "worker_threads";
import { tf } from "../engine/tf";
import { selectBackend } from "../engine/backend";
import { withoutRunningStatUpdates } from "../models/layers";
import { createModel, Model, ModelConfig } from "../models/model";
import type { ModelNoise } from "../models/noise";
import { paramGrads } from "../models/params";
import { Optimizer, OptimizerConfig } from "./optimizer";
import { forwardOf, Output } from "./forward";

export interface InitMessage {
  output: Output;
  backend: string;
  config: ModelConfig;
  weights: Record<string, Float32Array>;
  optimizer: OptimizerConfig;
  optimizerStep: number;
  optimizerState: Record<string, Float32Array>;
}

let model: Model;
let opt: Optimizer;
let x: tf.Tensor4D | undefined;
/** The noise of the step in progress: the backward pass recomputes the forward with the same masks. */
let noise: ModelNoise | undefined;
let forward: ReturnType<typeof forwardOf>;

const handlers: Record<string, (m: any) => Promise<unknown> | unknown> = {
  async init(m: InitMessage) {
    await selectBackend({ force: m.backend, log: null });
    model = createModel(m.config, 0);
    forward = forwardOf(m.output);
    tf.tidy(() => {
      for (const [name, v] of model.params) v.assign(tf.tensor(m.weights[name], v.shape));
    });
    opt = new Optimizer(m.optimizer);
    // Slots have their parameter's shape; keys are `${param}/${slot}`.
    opt.restore(
      m.optimizerStep,
      Object.entries(m.optimizerState).map(([k, data]) => [k, { data, shape: model.params.get(k.slice(0, k.lastIndexOf("/")))!.shape }]),
    );
    return "ready";
  },
  /** First pass: embeddings of this replica's images (batch-norm statistics updated here). */
  forward(m: { x: Float32Array; shape: [number, number, number, number]; noise?: ModelNoise }) {
    x?.dispose();
    x = tf.tensor4d(m.x, m.shape);
    noise = m.noise;
    const z = tf.tidy(() => forward(model, x!, true, noise));
    const data = z.dataSync() as Float32Array;
    z.dispose();
    return data;
  },
  /** Second pass: parameter gradients of sum(z * dz), the forward recomputed. */
  backward(m: { dz: Float32Array; dim: number }) {
    const dz = tf.tensor2d(m.dz, [x!.shape[0], m.dim]);
    const { value, grads } = paramGrads(model.params, () =>
      withoutRunningStatUpdates(() => tf.sum(tf.mul(forward(model, x!, true, noise), dz)) as tf.Scalar),
    );
    const out: Record<string, Float32Array> = {};
    for (const [name, g] of Object.entries(grads)) out[name] = g.dataSync() as Float32Array;
    tf.dispose([dz, value, ...Object.values(grads)]);
    return out;
  },
  apply(m: { grads: Record<string, Float32Array>; lr: number }) {
    const grads = Object.fromEntries(Object.entries(m.grads).map(([n, g]) => [n, tf.tensor(g, model.params.get(n)!.shape)]));
    opt.apply(model.params, grads, m.lr);
    tf.dispose(Object.values(grads));
    return "applied";
  },
  /** For tests: this replica's weights. */
  weights() {
    return Object.fromEntries([...model.params].map(([n, v]) => [n, v.dataSync() as Float32Array]));
  },
};

parentPort!.on("message", async (msg: { id: number; type: string; payload: unknown }) => {
  try {
    const result = await handlers[msg.type](msg.payload);
    parentPort!.postMessage({ id: msg.id, result });
  } catch (e) {
    parentPort!.postMessage({ id: msg.id, error: (e as Error).stack ?? String(e) });
  }
});
