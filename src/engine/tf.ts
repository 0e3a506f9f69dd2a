// The one place the library takes tfjs from: the core ops plus the always-available cpu
// backend. Other backends are loaded on demand by `selectBackend`.
import * as tf from "@tensorflow/tfjs-core";
import "@tensorflow/tfjs-backend-cpu";

export { tf };
export type Tensor = tf.Tensor;
