// OpenBLAS chooses its kernel set from the CPU's model number, so a CPU newer than the library
// runs an older set: Debian's 0.3.21 calls an AMD Zen 5 "Haswell" and runs AVX2 kernels on a
// machine with AVX-512 (measured: 1.3x slower training than with SkylakeX's kernels). The
// kernel set can be named in OPENBLAS_CORETYPE before the library loads; this picks it from the
// CPU's own flags. A user's OPENBLAS_CORETYPE always wins.
import * as fs from "fs";

export const CORETYPE_ENV = "OPENBLAS_CORETYPE";

/** AVX-512 kernels need the Skylake-X subset; AVX2 kernels need FMA as well. */
const KERNEL_SETS: { core: string; needs: string[] }[] = [
  { core: "SkylakeX", needs: ["avx512f", "avx512cd", "avx512bw", "avx512dq", "avx512vl"] },
  { core: "Haswell", needs: ["avx2", "fma"] },
];

export interface CoreChoice {
  /** The kernel set OpenBLAS is told to use, or undefined: its own detection decides. */
  core?: string;
  source: "environment" | "cpu flags" | "openblas";
  why: string;
}

/** The flags of the first processor in a /proc/cpuinfo text. */
export function cpuFlags(cpuinfo: string): Set<string> {
  const line = cpuinfo.split("\n").find((l) => /^flags\s*:/.test(l));
  return new Set(
    line
      ? line
          .replace(/^flags\s*:/, "")
          .trim()
          .split(/\s+/)
      : [],
  );
}

/** What OPENBLAS_CORETYPE should be, given the environment and the CPU's description. */
export function chooseOpenBlasCore(env: NodeJS.ProcessEnv, cpuinfo: string | undefined): CoreChoice {
  const set = env[CORETYPE_ENV]?.trim();
  if (set) return { core: set, source: "environment", why: `${CORETYPE_ENV}=${set} was set` };
  if (cpuinfo === undefined) return { source: "openblas", why: "no /proc/cpuinfo: OpenBLAS's own detection" };
  const flags = cpuFlags(cpuinfo);
  const fit = KERNEL_SETS.find((k) => k.needs.every((f) => flags.has(f)));
  if (!fit) return { source: "openblas", why: "no AVX2 + FMA: OpenBLAS's own detection" };
  return { core: fit.core, source: "cpu flags", why: `the CPU has ${fit.needs.join(", ")}` };
}

let applied: CoreChoice | undefined;

/** Set OPENBLAS_CORETYPE from the CPU's flags (once, before OpenBLAS loads) and say why. */
export function applyOpenBlasCore(): CoreChoice {
  if (applied) return applied;
  let cpuinfo: string | undefined;
  try {
    cpuinfo = fs.readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    cpuinfo = undefined;
  }
  applied = chooseOpenBlasCore(process.env, cpuinfo);
  if (applied.source === "cpu flags") process.env[CORETYPE_ENV] = applied.core;
  return applied;
}
