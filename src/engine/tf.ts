// The one place the library takes tfjs from: the core ops plus the always-available cpu
// backend. Other backends are loaded on demand by `selectBackend`.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";
// Gradient functions are registered by the umbrella package's CommonJS bundle, not by
// tfjs-core's (its register_all_gradients is ESM-only): load it for that side effect.
import "@tensorflow/tfjs";

export { tf };
export type Tensor = tf.Tensor;
