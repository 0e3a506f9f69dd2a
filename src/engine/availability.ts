// Which tfjs backends can start here: one availability check per backend, behind
// `selectBackend`. Each says precisely why a backend cannot start, because "it fell back to cpu"
// without a reason is the first question users ask.
import * as fs from "fs";
import * as path from "path";
import { tf } from "./tf";
import { registerProjectKernels } from "./kernels";
import { loadNative } from "./native";
import { registerGroupedConvGradient, registerNativeKernels } from "./native-kernels";
import { TORCH_BACKEND, TorchBackend } from "./torch-backend";
import { registerTorchKernels } from "./torch-kernels";
import { loadTorch, TorchLib } from "./torch-lib";
import { checkWasmAllocations } from "./wasm-heap";
import { BACKEND_ORDER } from "../config/schema";
import { configuredEngine, DEVICE_ENV } from "./configured";

export { BACKEND_ORDER };
export type BackendName = (typeof BACKEND_ORDER)[number];

/** A check either fails with a reason a person can act on, or returns how to switch to the backend. */
export type Availability = { ok: true; detail?: string; activate: () => Promise<void> } | { ok: false; why: string };
/** `forced`: the user asked for this backend by name (the torch check then accepts a CPU). */
export type AvailabilityCheck = (ctx?: { forced?: boolean }) => Promise<Availability>;

/** ESM-only packages (webgpu) cannot be `require`d from our CommonJS build. */
const dynamicImport = new Function("s", "return import(s)") as (s: string) => Promise<any>;

function tryRequire(name: string): { mod?: any; why?: string } {
  try {
    return { mod: require(name) };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "MODULE_NOT_FOUND" && e.message.includes(name)) {
      return { why: `${name} is not installed` };
    }
    return { why: `${name} failed to load: ${e.message.split("\n")[0]}` };
  }
}

async function activate(name: string): Promise<void> {
  const ok = await tf.setBackend(name);
  if (!ok) throw new Error(`tf.setBackend('${name}') returned false`);
  await tf.ready();
  registerProjectKernels(name);
  if (name === "wasm") {
    registerNativeKernels();
    checkWasmAllocations();
  }
}

function nvidiaDriver(): string | undefined {
  try {
    return fs.readFileSync("/proc/driver/nvidia/version", "utf8").split("\n")[0];
  } catch {
    return undefined;
  }
}

/** tfjs-node(-gpu) both register a backend named 'tensorflow'; the plain alias in
 * danfojs-node's tree is not one, so check the factory rather than the require. */
function tensorflowCheck(pkg: string, needsCuda: boolean): AvailabilityCheck {
  return async () => {
    if (needsCuda && !nvidiaDriver()) return { ok: false, why: "no NVIDIA driver (no /proc/driver/nvidia/version)" };
    const { why } = tryRequire(pkg);
    if (why) return { ok: false, why: `${why} (its install downloads libtensorflow from outside npm)` };
    if (!tf.findBackendFactory("tensorflow")) return { ok: false, why: `${pkg} loaded but registered no 'tensorflow' backend` };
    return { ok: true, detail: pkg, activate: () => activate("tensorflow") };
  };
}

/** Is Vulkan's loader (libvulkan.so.1) where the dynamic linker looks? Without it Dawn can find
 * no GPU, and loading it only prints a warning with a path from Dawn's build machine. */
export function vulkanLoaderPresent(env: NodeJS.ProcessEnv = process.env): boolean {
  if (process.platform !== "linux") return true; // other systems: let Dawn decide
  const dirs = [
    ...(env.LD_LIBRARY_PATH ?? "").split(":").filter(Boolean),
    "/usr/lib/x86_64-linux-gnu",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib64",
    "/usr/lib",
    "/usr/local/lib",
    "/lib/x86_64-linux-gnu",
  ];
  return dirs.some((d) => fs.existsSync(path.join(d, "libvulkan.so.1")));
}

/** Is there a GPU for Vulkan to drive: a DRM render node (/dev/dri/renderD*) or NVIDIA's driver?
 * Without one, only a software Vulkan (Mesa's lavapipe) can answer, and Dawn refuses it with a
 * "Vulkan shaderUniform*ArrayDynamicIndexing required" warning on every start (and would run on
 * the CPU, slower than wasm). `root` is for tests. */
export function gpuDevicePresent(root = "/"): boolean {
  if (process.platform !== "linux") return true; // other systems: let Dawn decide
  if (fs.existsSync(path.join(root, "proc", "driver", "nvidia", "version"))) return true;
  const dri = path.join(root, "dev", "dri");
  return fs.existsSync(dri) && fs.readdirSync(dri).some((f) => f.startsWith("renderD"));
}

const webgpuCheck: AvailabilityCheck = async () => {
  if (!vulkanLoaderPresent())
    return { ok: false, why: "no Vulkan loader (libvulkan.so.1; Debian: apt-get install libvulkan1 and a GPU driver)" };
  if (!gpuDevicePresent())
    return { ok: false, why: "no GPU device (/dev/dri/renderD*, NVIDIA driver): only a software Vulkan could answer" };
  let webgpu: any;
  try {
    webgpu = await dynamicImport("webgpu");
  } catch (err) {
    return { ok: false, why: `webgpu (Dawn) is not installed or failed to load: ${(err as Error).message.split("\n")[0]}` };
  }
  // Dawn's Vulkan loader complains on every start without it.
  if (!process.env.XDG_RUNTIME_DIR) process.env.XDG_RUNTIME_DIR = "/tmp";
  Object.assign(globalThis, webgpu.globals);
  const gpu = webgpu.create([]);
  const adapter = await gpu.requestAdapter();
  if (!adapter) return { ok: false, why: "no GPU adapter (Dawn found no Vulkan device)" };
  const g = globalThis as any;
  if (!g.navigator) g.navigator = {};
  if (!g.navigator.gpu) Object.defineProperty(g.navigator, "gpu", { value: gpu, configurable: true });
  const { why } = tryRequire("@tensorflow/tfjs-backend-webgpu");
  if (why) return { ok: false, why };
  const info = adapter.info ? `${adapter.info.vendor} ${adapter.info.architecture}`.trim() : "";
  return { ok: true, detail: info || "Dawn", activate: () => activate("webgpu") };
};

const wasmCheck: AvailabilityCheck = async () => {
  const { mod, why } = tryRequire("@tensorflow/tfjs-backend-wasm");
  if (why) return { ok: false, why };
  const dir = path.dirname(require.resolve("@tensorflow/tfjs-backend-wasm/package.json"));
  mod.setWasmPaths(path.join(dir, "dist") + path.sep);
  const native = loadNative();
  const detail = native.ok
    ? `XNNPACK, SIMD, 1 thread; convolutions native: ${native.detail}`
    : `XNNPACK, SIMD, 1 thread; native convolutions off: ${native.why}`;
  return { ok: true, detail, activate: () => activate("wasm") };
};

export { DEVICE_ENV };

/** libtorch: chosen by `auto` only on CUDA (on a CPU the native engine is the default); asked
 * for by name it runs on RETAIL_REPR_DEVICE (else `engine.device`), else the first GPU, else the CPU. */
const torchCheck: AvailabilityCheck = async (ctx = {}) => {
  const wanted = configuredEngine().device?.value;
  if (!ctx.forced && !nvidiaDriver())
    return { ok: false, why: "chosen automatically on CUDA only (no NVIDIA driver); --backend torch runs it on the CPU" };
  const status = loadTorch();
  if (!status.ok) return { ok: false, why: status.why };
  let device: string;
  try {
    device = status.lib.setDevice(wanted || "cuda:0");
  } catch (err) {
    if (wanted || !ctx.forced) return { ok: false, why: `${wanted || "cuda:0"}: ${(err as Error).message}` };
    device = status.lib.setDevice("cpu");
  }
  return { ok: true, detail: `${device}; ${status.detail}`, activate: () => activateTorch(status.lib, device) };
};

let torchBackend: TorchBackend | undefined;
async function activateTorch(lib: TorchLib, device: string): Promise<void> {
  if (!torchBackend) {
    const backend = new TorchBackend(lib, device);
    torchBackend = backend;
    tf.registerBackend(TORCH_BACKEND, () => backend);
    registerTorchKernels();
    registerGroupedConvGradient();
  }
  torchBackend.device = device; // the addon's device was set by the check
  await activate(TORCH_BACKEND);
}

const cpuCheck: AvailabilityCheck = async () => ({ ok: true, detail: "pure JS", activate: () => activate("cpu") });

export const defaultChecks: Record<BackendName, AvailabilityCheck> = {
  torch: torchCheck,
  "tensorflow-gpu": tensorflowCheck("@tensorflow/tfjs-node-gpu", true),
  tensorflow: tensorflowCheck("@tensorflow/tfjs-node", false),
  webgpu: webgpuCheck,
  wasm: wasmCheck,
  cpu: cpuCheck,
};
