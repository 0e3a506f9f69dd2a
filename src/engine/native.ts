// The optional native convolution library (native/retail_native.c): OpenBLAS GEMMs that read
// and write the wasm backend's heap in place. It is compiled on first use with the system C
// compiler (about a quarter of a second) into build/native/, keyed by a hash of the source, so
// an edit recompiles and a fresh clone needs no install step. Without a compiler, Node's
// headers or OpenBLAS, everything still runs on XNNPACK alone, and the reason is reported.
import { execFileSync } from "child_process";
import * as crypto from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { REPO_ROOT } from "../util/paths";
import { applyOpenBlasCore, CORETYPE_ENV } from "./openblas-core";

export interface NativeLib {
  conv2d(heap: ArrayBuffer, params: Float64Array): void;
  conv2dFilterGrad(heap: ArrayBuffer, params: Float64Array): void;
  conv2dInputGrad(heap: ArrayBuffer, params: Float64Array): void;
  channelMoments(heap: ArrayBuffer, params: Float64Array): void;
  channelAffine(heap: ArrayBuffer, params: Float64Array): void;
  bnGradSums(heap: ArrayBuffer, params: Float64Array): void;
  scaledAdd(heap: ArrayBuffer, params: Float64Array): void;
  maxPoolGrad(heap: ArrayBuffer, params: Float64Array): void;
  /** Returns the previous thread count. */
  setThreads(n: number): number;
  describe(): string;
}

export type NativeStatus = { ok: true; lib: NativeLib; detail: string } | { ok: false; why: string };

/** `RETAIL_REPR_NATIVE=0` keeps the native library off (pure wasm). */
export const NATIVE_ENV = "RETAIL_REPR_NATIVE";
const SOURCE = path.join(REPO_ROOT, "native", "retail_native.c");
/** Where builds go: build/native/, or RETAIL_REPR_NATIVE_BUILD. */
const BUILD_DIR = process.env.RETAIL_REPR_NATIVE_BUILD || path.join(REPO_ROOT, "build", "native");

let cached: NativeStatus | undefined;

/** Where Node's C headers (node_api.h) are, for the native addons. */
export function nodeHeaders(): string | undefined {
  const candidates = [path.join(path.dirname(process.execPath), "..", "include", "node"), "/usr/include/node", "/usr/local/include/node"];
  return candidates.find((d) => fs.existsSync(path.join(d, "node_api.h")));
}

/** The line of a failed command's output that says what went wrong. */
export function firstErrorLine(err: unknown): string {
  const e = err as { stderr?: Buffer; message: string };
  const text = e.stderr?.toString().trim() || e.message;
  return text.split("\n").find((l) => /error|not found|cannot/i.test(l)) ?? text.split("\n")[0];
}

/** Compile (once per source version) and load the library; never throws. */
export function loadNative(): NativeStatus {
  if (cached) return cached;
  cached = load();
  return cached;
}

function load(): NativeStatus {
  if (process.env[NATIVE_ENV] === "0") return { ok: false, why: `${NATIVE_ENV}=0` };
  if (!fs.existsSync(SOURCE)) return { ok: false, why: `${SOURCE} is missing` };
  // Compiled for this machine's CPU (-march=native: AVX-512 where there is one), so the build is
  // keyed by the source, the flags and the CPU model: a checkout moved to another CPU rebuilds.
  const flags = ["-O3", "-march=native", "-shared", "-fPIC", "-fopenmp"];
  const src = fs.readFileSync(SOURCE);
  const hash = crypto
    .createHash("sha256")
    .update(src)
    .update(flags.join(" "))
    .update(os.cpus()[0]?.model ?? "")
    .digest("hex")
    .slice(0, 12);
  const target = path.join(BUILD_DIR, `retail_native-${hash}.node`);
  if (!fs.existsSync(target)) {
    const headers = nodeHeaders();
    if (!headers) return { ok: false, why: "Node's C headers (node_api.h) were not found next to the node binary" };
    fs.mkdirSync(BUILD_DIR, { recursive: true });
    // Build under a temporary name and rename: parallel processes (replica workers, test
    // runners) may race to compile, and none may load a half-written file.
    const tmp = `${target}.${process.pid}.tmp`;
    try {
      execFileSync(process.env.CC || "cc", [...flags, `-I${headers}`, "-o", tmp, SOURCE, "-lopenblas"], { stdio: "pipe" });
      fs.renameSync(tmp, target);
      // Builds of earlier source versions are dead weight (unlinking one a process still has
      // loaded is harmless on Linux).
      for (const f of fs.readdirSync(BUILD_DIR))
        if (/^retail_native-[0-9a-f]+\.node$/.test(f) && path.join(BUILD_DIR, f) !== target)
          fs.rmSync(path.join(BUILD_DIR, f), { force: true });
    } catch (err) {
      fs.rmSync(tmp, { force: true });
      return {
        ok: false,
        why: `could not compile ${path.relative(REPO_ROOT, SOURCE)} (${firstErrorLine(err)}); install a C compiler and OpenBLAS: apt-get install build-essential libopenblas-dev`,
      };
    }
  }
  try {
    // OpenBLAS reads its kernel set from the environment when it loads, with the addon.
    const choice = applyOpenBlasCore();
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const lib = require(target) as NativeLib;
    // describe() is "OpenBLAS 0.3.21 <build flags> <core>; core <core>; <n> threads".
    const [config, core, threads] = lib.describe().split("; ");
    const how =
      choice.source === "openblas"
        ? "OpenBLAS's own detection"
        : choice.source === "environment"
          ? `${CORETYPE_ENV} set`
          : "from the CPU's flags";
    return { ok: true, lib, detail: `${config.split(" ").slice(0, 2).join(" ")}, ${core.replace(/^core /, "")} (${how}), ${threads}` };
  } catch (err) {
    return { ok: false, why: `could not load ${target}: ${(err as Error).message.split("\n")[0]}` };
  }
}
