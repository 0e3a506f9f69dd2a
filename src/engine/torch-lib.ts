// The optional libtorch addon (native/retail_torch.cpp) behind the `torch` backend. libtorch is
// looked for in this order: the `torch` package of the Python on PATH (a pip wheel, CPU or
// CUDA, carries headers and libraries), then Debian's libtorch-dev. The addon is compiled on
// first use with the system C++ compiler (about 10 s) into build/torch/, keyed by its source,
// the flags and the libtorch it links, so a new libtorch or an edit rebuilds. Without a libtorch
// the reason is reported and everything runs on the other backends.
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../util/paths";
import { firstErrorLine, nodeHeaders } from "./native";

/** The addon's functions; tensors are integer ids into the addon's store. */
export interface TorchLib {
  write(values: Float32Array | Int32Array | Uint8Array, shape: Float64Array, dtype: number): number;
  read(id: number): Float32Array | Int32Array | Uint8Array;
  /** Returns how many tensors the addon still holds. */
  free(id: number): number;
  /** -> [id, dtype, rank, dims...] per output. */
  run(op: string, ids: Float64Array, shapes: Float64Array, attrs: Float64Array, outDtype: number): Float64Array;
  setDevice(device: string): string;
  /** Returns the previous count. */
  setThreads(n: number): number;
  synchronize(): number;
  describe(): string;
  /** Tensors held: the store's, and the filters kept in PyTorch's layout beside them. */
  live(): number;
  filterCopies(): number;
}

/** Where a libtorch is: headers, libraries, and what it is. */
export interface LibTorch {
  source: "python" | "debian";
  version: string;
  includes: string[];
  libDir: string;
  /** libstdc++'s dual ABI: pip wheels say which they were built with; Debian's is the new one. */
  cxx11Abi: boolean;
  /** CUDA runtime version the libtorch was built with, or undefined (CPU build). */
  cuda?: string;
}

export type TorchStatus = { ok: true; lib: TorchLib; libtorch: LibTorch; detail: string } | { ok: false; why: string };

/** `RETAIL_REPR_TORCH=0` keeps the torch backend off. */
export const TORCH_ENV = "RETAIL_REPR_TORCH";
const NAPI_HEADER = path.join(REPO_ROOT, "native", "napi_util.hpp");
const BUILD_DIR = process.env.RETAIL_REPR_TORCH_BUILD || path.join(REPO_ROOT, "build", "torch");

const PROBE = `
import json, os, torch
d = os.path.dirname(torch.__file__)
print(json.dumps({"version": torch.__version__, "dir": d, "abi": bool(torch._C._GLIBCXX_USE_CXX11_ABI), "cuda": torch.version.cuda}))
`;

/** The torch package of `python` (default: python3 on PATH), if it carries libtorch's headers. */
export function pythonLibTorch(python = "python3"): LibTorch | { why: string } {
  let info: { version: string; dir: string; abi: boolean; cuda: string | null };
  try {
    info = JSON.parse(execFileSync(python, ["-c", PROBE], { stdio: "pipe", timeout: 60_000 }).toString());
  } catch (err) {
    return { why: `${python} has no usable torch (${firstErrorLine(err)})` };
  }
  const includes = [path.join(info.dir, "include"), path.join(info.dir, "include", "torch", "csrc", "api", "include")];
  const libDir = path.join(info.dir, "lib");
  if (!fs.existsSync(path.join(includes[0], "ATen", "ATen.h")))
    return { why: `${python}'s torch ${info.version} has no C++ headers (${includes[0]}); a pip wheel has them` };
  if (!fs.existsSync(path.join(libDir, "libtorch.so"))) return { why: `${python}'s torch ${info.version} has no ${libDir}/libtorch.so` };
  return { source: "python", version: info.version, includes, libDir, cxx11Abi: info.abi, cuda: info.cuda ?? undefined };
}

/** Debian's libtorch-dev (headers in /usr/include, libraries in the multiarch directory). */
export function debianLibTorch(root = "/"): LibTorch | { why: string } {
  const inc = path.join(root, "usr", "include");
  const api = path.join(inc, "torch", "csrc", "api", "include");
  const libDir = ["x86_64-linux-gnu", "aarch64-linux-gnu"]
    .map((m) => path.join(root, "usr", "lib", m))
    .find((d) => fs.existsSync(path.join(d, "libtorch.so")));
  if (!fs.existsSync(path.join(inc, "ATen", "ATen.h")) || !libDir)
    return { why: "Debian's libtorch-dev is not installed (apt-get install libtorch-dev)" };
  let version = "unknown";
  try {
    version = execFileSync("dpkg-query", ["-W", "-f", "${Version}", "libtorch-dev"], { stdio: "pipe" }).toString().trim();
  } catch {
    const h = path.join(api, "torch", "version.h");
    version = (fs.existsSync(h) && /TORCH_VERSION\s*\\?\s*"([^"]+)"/.exec(fs.readFileSync(h, "utf8"))?.[1]) || version;
  }
  return { source: "debian", version, includes: [inc, api], libDir, cxx11Abi: true };
}

/** The first libtorch found, or every reason none was. */
export function findLibTorch(
  finders: (() => LibTorch | { why: string })[] = [() => pythonLibTorch(), () => debianLibTorch()],
): LibTorch | { why: string } {
  const whys: string[] = [];
  for (const find of finders) {
    const found = find();
    if ("libDir" in found) return found;
    whys.push(found.why);
  }
  return { why: whys.join("; ") };
}

let cached: TorchStatus | undefined;

/** Find libtorch, compile the addon once per (source, libtorch) and load it; never throws. */
export function loadTorch(): TorchStatus {
  if (!cached) cached = load();
  return cached;
}

function load(): TorchStatus {
  if (process.env[TORCH_ENV] === "0") return { ok: false, why: `${TORCH_ENV}=0` };
  const libtorch = findLibTorch();
  if (!("libDir" in libtorch)) return { ok: false, why: `no libtorch: ${libtorch.why}` };
  const built = buildTorchAddon(libtorch, "retail_torch");
  if ("why" in built) return { ok: false, why: built.why };
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const lib = require(built.target) as TorchLib;
    lib.setThreads(Number(process.env.RETAIL_REPR_TORCH_THREADS) || os.cpus().length);
    return { ok: true, lib, libtorch, detail: `${lib.describe()} (${libtorch.source}: ${libtorch.libDir})` };
  } catch (err) {
    return { ok: false, why: `could not load ${built.target}: ${(err as Error).message.split("\n")[0]}` };
  }
}

/** Compile native/NAME.cpp against `libtorch` (once per source, flags and libtorch) into
 * build/torch/, or say why it could not be. */
export function buildTorchAddon(
  libtorch: LibTorch,
  name: string,
  extra: { flags?: string[]; libs?: string[] } = {},
): { target: string } | { why: string } {
  const source = path.join(REPO_ROOT, "native", `${name}.cpp`);
  const headers = nodeHeaders();
  if (!headers) return { why: "Node's C headers (node_api.h) were not found next to the node binary" };
  // With --no-as-needed a CUDA build's libtorch_cuda stays linked although no symbol of it is
  // named here: loading it is what registers the CUDA kernels and hooks.
  const cudaLibs = ["torch_cuda", "c10_cuda"].filter((l) => fs.existsSync(path.join(libtorch.libDir, `lib${l}.so`)));
  const flags = [
    "-O2",
    "-std=c++17",
    "-shared",
    "-fPIC",
    `-D_GLIBCXX_USE_CXX11_ABI=${libtorch.cxx11Abi ? 1 : 0}`,
    `-DRETAIL_TORCH_VERSION="${libtorch.source} ${libtorch.version}"`,
    `-DNODE_GYP_MODULE_NAME=${name}`,
    `-I${headers}`,
    ...libtorch.includes.map((i) => `-I${i}`),
    ...(extra.flags ?? []),
  ];
  const libs = [
    `-L${libtorch.libDir}`,
    `-Wl,-rpath,${libtorch.libDir}`,
    "-Wl,--no-as-needed",
    ...["torch", "torch_cpu", "c10", ...cudaLibs].map((l) => `-l${l}`),
    ...(extra.libs ?? []),
  ];
  const hash = crypto
    .createHash("sha256")
    .update(fs.readFileSync(source))
    .update(fs.readFileSync(NAPI_HEADER))
    .update(flags.join(" "))
    .update(libs.join(" "))
    .digest("hex")
    .slice(0, 12);
  const target = path.join(BUILD_DIR, `${name}-${hash}.node`);
  if (fs.existsSync(target)) return { target };
  fs.mkdirSync(BUILD_DIR, { recursive: true });
  const tmp = `${target}.${process.pid}.tmp`; // parallel processes may race to build
  try {
    execFileSync(process.env.CXX || "g++", [...flags, "-o", tmp, source, ...libs], { stdio: "pipe" });
    fs.renameSync(tmp, target);
    return { target };
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    return {
      why: `could not compile ${path.relative(REPO_ROOT, source)} against ${libtorch.source} libtorch ${libtorch.version} (${firstErrorLine(err)})`,
    };
  }
}
