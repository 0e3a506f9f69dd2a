// Parameters by torchvision state_dict name: trainable weights as tf.Variables, batch-norm
// running statistics as non-trainable ones. A plain Map keeps names, import and checkpoints
// trivially aligned with PyTorch.
import { tf } from "../engine/tf";

export interface ParamSpec {
  name: string;
  shape: number[];
  trainable: boolean;
  init: "kaiming-fan-out" | "ones" | "zeros" | "linear";
}

export type Params = Map<string, tf.Variable>;

/** FNV-1a of a string: derives one reproducible seed per parameter from the model seed. */
export function hashSeed(s: string, seed: number): number {
  let h = 2166136261 ^ seed;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return (h >>> 0) % 2147483647;
}

function initial(spec: ParamSpec, seed: number): tf.Tensor {
  const s = hashSeed(spec.name, seed);
  switch (spec.init) {
    case "ones":
      return tf.ones(spec.shape);
    case "zeros":
      return tf.zeros(spec.shape);
    case "kaiming-fan-out": {
      // conv weights are stored HWIO; torchvision's fan_out = out_channels * kh * kw.
      const [kh, kw, , cout] = spec.shape;
      return tf.randomNormal(spec.shape, 0, Math.sqrt(2 / (cout * kh * kw)), "float32", s);
    }
    case "linear": {
      // nn.Linear's default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)); weights stored [in, out].
      const bound = 1 / Math.sqrt(spec.shape[0]);
      return tf.randomUniform(spec.shape, -bound, bound, "float32", s);
    }
  }
}

export function createParams(specs: ParamSpec[], seed: number): Params {
  const params: Params = new Map();
  for (const spec of specs) {
    const t = initial(spec, seed);
    params.set(spec.name, tf.variable(t, spec.trainable, `${spec.name}_${seed}_${Math.random().toString(36).slice(2, 8)}`));
    t.dispose();
  }
  return params;
}

export function countParams(specs: ParamSpec[], filter: (s: ParamSpec) => boolean = (s) => s.trainable): number {
  return specs.filter(filter).reduce((n, s) => n + s.shape.reduce((a, b) => a * b, 1), 0);
}

export function trainableVariables(params: Params): tf.Variable[] {
  return [...params.values()].filter((v) => v.trainable);
}

export function disposeParams(params: Params): void {
  for (const v of params.values()) v.dispose();
  params.clear();
}

export function getParam(params: Params, name: string): tf.Variable {
  const v = params.get(name);
  if (!v) throw new Error(`missing parameter '${name}'`);
  return v;
}

/** Gradients of a scalar with respect to every trainable parameter, keyed by parameter name
 * (tfjs keys them by its internal variable names). */
export function paramGrads(params: Params, f: () => tf.Scalar): { value: tf.Scalar; grads: Record<string, tf.Tensor> } {
  const byVariable = new Map([...params].map(([n, v]) => [v.name, n]));
  const { value, grads } = tf.variableGrads(f, trainableVariables(params));
  return { value, grads: Object.fromEntries(Object.entries(grads).map(([k, g]) => [byVariable.get(k)!, g])) };
}
