// Optimisers with their state kept by parameter name, so a checkpoint holds it exactly and a
// resumed run continues bit for bit. Semantics follow torch.optim (SGD with momentum and
// weight decay; AdamW with decoupled decay).
import { tf } from "../engine/tf";
import type { Params } from "../models/params";
import { projectKernelsOn, scaledAdd } from "../engine/native-kernels";

/** a + s * b: one native pass on every thread where the native engine runs (the update touches
 * every parameter: 88 M floats for ResNeXt-101), else tfjs's multiply and add (exactly a - lr*b
 * for s = -lr, as negation is exact). */
function axpy(a: tf.Tensor, b: tf.Tensor, s: number): tf.Tensor {
  return projectKernelsOn() ? scaledAdd(a, b, s) : tf.add(a, tf.mul(b, s));
}

export interface OptimizerConfig {
  kind: "sgd" | "adamw";
  lr: number;
  momentum?: number;
  weightDecay?: number;
  beta1?: number;
  beta2?: number;
  eps?: number;
  /** Parameters whose names start with none of `headPrefixes` (the pretrained backbone) train
   * at `backboneScale` x the rate; unset, every parameter trains at the rate. */
  backboneScale?: number;
  headPrefixes?: string[];
}

export class Optimizer {
  /** Slot tensors by `${param}/${slot}`. */
  readonly state = new Map<string, tf.Variable>();
  step = 0;

  constructor(readonly config: OptimizerConfig) {}

  private slot(name: string, slot: string, like: tf.Tensor): tf.Variable {
    const key = `${name}/${slot}`;
    let v = this.state.get(key);
    if (!v) {
      v = tf.variable(tf.zerosLike(like), false);
      this.state.set(key, v);
    }
    return v;
  }

  /** Apply gradients (by parameter name) at learning rate `lr` (default: the config's). */
  apply(params: Params, grads: Record<string, tf.Tensor>, baseLr = this.config.lr): void {
    this.step++;
    const c = this.config;
    const wd = c.weightDecay ?? 0;
    const scale = c.backboneScale ?? 1;
    for (const [name, g] of Object.entries(grads)) {
      const p = params.get(name)!;
      const lr = scale !== 1 && !(c.headPrefixes ?? []).some((h) => name.startsWith(h)) ? baseLr * scale : baseLr;
      tf.tidy(() => {
        if (c.kind === "sgd") {
          // torch: g += wd * p; buf = momentum * buf + g; p -= lr * buf
          const gd = wd ? axpy(g, p, wd) : g;
          const mom = c.momentum ?? 0;
          let update = gd;
          if (mom) {
            const buf = this.slot(name, "momentum", p);
            buf.assign(this.step === 1 ? gd : axpy(gd, buf, mom));
            update = buf;
          }
          p.assign(axpy(p, update, -lr));
        } else {
          const b1 = c.beta1 ?? 0.9,
            b2 = c.beta2 ?? 0.999,
            eps = c.eps ?? 1e-8;
          const m = this.slot(name, "exp_avg", p);
          const v = this.slot(name, "exp_avg_sq", p);
          m.assign(tf.add(tf.mul(m, b1), tf.mul(g, 1 - b1)));
          v.assign(tf.add(tf.mul(v, b2), tf.mul(tf.square(g), 1 - b2)));
          const mhat = tf.div(m, 1 - b1 ** this.step);
          const vhat = tf.div(v, 1 - b2 ** this.step);
          const decayed = wd ? tf.mul(p, 1 - lr * wd) : p;
          p.assign(tf.sub(decayed, tf.mul(tf.div(mhat, tf.add(tf.sqrt(vhat), eps)), lr)));
        }
      });
    }
  }

  /** Replace the state with saved slots (by `${param}/${slot}`) and step count. */
  restore(step: number, slots: Iterable<[string, { data: Float32Array; shape: number[] }]>): void {
    this.dispose();
    for (const [key, { data, shape }] of slots) {
      const init = tf.tensor(data, shape);
      this.state.set(key, tf.variable(init, false));
      init.dispose();
    }
    this.step = step;
  }

  dispose(): void {
    for (const v of this.state.values()) v.dispose();
    this.state.clear();
  }
}
