// Versions of everything that decides numbers, for `retail-repr info` and notebook 00.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { tf } from "./tf";
import { loadNative } from "./native";
import { loadTorch } from "./torch-lib";
import { dataParallelAvailability } from "./process-group";

/** A package's version, also for packages whose `exports` hide package.json (sharp). */
export function pkgVersion(name: string): string {
  let dir: string;
  try {
    dir = path.dirname(require.resolve(name));
  } catch {
    return "not installed";
  }
  for (; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const file = path.join(dir, "package.json");
    if (!fs.existsSync(file)) continue;
    const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
    if (pkg.name === name) return pkg.version;
  }
  return "unknown";
}

export const REPORTED_PACKAGES = [
  "@tensorflow/tfjs-core",
  "@tensorflow/tfjs-backend-wasm",
  "@tensorflow/tfjs-backend-webgpu",
  "@tensorflow/tfjs-node",
  "@tensorflow/tfjs-node-gpu",
  "webgpu",
  "tslab",
  "plotly.js-dist",
  "umap-js",
  "danfojs-node",
  "sharp",
];

export interface EnvironmentInfo {
  node: string;
  platform: string;
  cpus: number;
  cpuModel: string;
  memoryGiB: number;
  backend: string | undefined;
  /** The native OpenBLAS convolution library that serves wasm: what it is, or why it is off. */
  nativeConvolutions: string;
  /** The libtorch behind the torch backend: its addon's description, or why none is usable. */
  torch: string;
  /** Data-parallel training (c10d): what it runs on, or why it cannot here. */
  dataParallel: string;
  packages: Record<string, string>;
}

export function environmentInfo(): EnvironmentInfo {
  const cpus = os.cpus();
  return {
    node: process.version,
    platform: `${os.platform()}-${os.arch()}`,
    cpus: cpus.length,
    cpuModel: cpus[0]?.model ?? "unknown",
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    backend: tf.getBackend(),
    nativeConvolutions: (() => {
      const n = loadNative();
      return n.ok ? n.detail : `off: ${n.why}`;
    })(),
    torch: (() => {
      const t = loadTorch();
      return t.ok ? t.detail : `none usable: ${t.why}`;
    })(),
    dataParallel: dataParallelAvailability(),
    packages: Object.fromEntries(REPORTED_PACKAGES.map((p) => [p, pkgVersion(p)])),
  };
}
