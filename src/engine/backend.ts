// Backend selection: try each tfjs backend in DESIGN.md's order, keep the first that works,
// and say why every earlier one was skipped. The probes are injectable so that tests can
// simulate a machine with CUDA, with a Vulkan GPU, or with nothing at all.
import { defaultProbes } from "./probes";

export const BACKEND_ORDER = ["tensorflow-gpu", "tensorflow", "webgpu", "wasm", "cpu"] as const;
export type BackendName = (typeof BACKEND_ORDER)[number];

/** A probe either fails with a reason a person can act on, or returns how to switch to it. */
export type ProbeResult =
  | { ok: true; detail?: string; activate: () => Promise<void> }
  | { ok: false; why: string };
export type Probe = () => Promise<ProbeResult>;

export interface BackendSelection {
  chosen: BackendName;
  detail: string;
  forced: boolean;
  skipped: { name: BackendName; why: string }[];
}

export interface SelectOptions {
  /** Force one backend (also `RETAIL_REPR_BACKEND`); failing to start it is an error. */
  force?: string;
  probes?: Partial<Record<BackendName, Probe>>;
  /** Where the one-line report goes; `null` keeps quiet. */
  log?: ((line: string) => void) | null;
}

export const BACKEND_ENV = "RETAIL_REPR_BACKEND";

export function parseBackendName(name: string, source: string): BackendName {
  const n = name.trim().toLowerCase();
  if ((BACKEND_ORDER as readonly string[]).includes(n)) return n as BackendName;
  throw new Error(`${source}: unknown backend '${name}'. Use one of: ${BACKEND_ORDER.join(", ")}.`);
}

export async function selectBackend(opts: SelectOptions = {}): Promise<BackendSelection> {
  const probes = { ...defaultProbes, ...opts.probes };
  const log = opts.log === undefined ? (l: string) => console.log(l) : opts.log;
  const forcedRaw = opts.force ?? process.env[BACKEND_ENV];
  const forced = forcedRaw ? parseBackendName(forcedRaw, opts.force ? "backend option" : BACKEND_ENV) : undefined;

  const skipped: BackendSelection["skipped"] = [];
  for (const name of forced ? [forced] : BACKEND_ORDER) {
    let result: ProbeResult;
    try {
      result = await probes[name]();
    } catch (err) {
      result = { ok: false, why: `probe failed: ${(err as Error).message}` };
    }
    if (result.ok) {
      await result.activate();
      const sel: BackendSelection = { chosen: name, detail: result.detail ?? "", forced: !!forced, skipped };
      log?.(describeSelection(sel));
      return sel;
    }
    if (forced) {
      throw new Error(`backend '${name}' was forced (${opts.force ? "option" : BACKEND_ENV}) but cannot start: ${result.why}`);
    }
    skipped.push({ name, why: result.why });
  }
  // The cpu probe cannot fail unless tfjs itself is broken.
  throw new Error(`no tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.why}`).join("; ")}`);
}

export function describeSelection(sel: BackendSelection): string {
  const head = `backend: ${sel.chosen}${sel.detail ? ` (${sel.detail})` : ""}${sel.forced ? " [forced]" : ""}`;
  if (sel.skipped.length === 0) return head;
  return `${head}; skipped ${sel.skipped.map((s) => `${s.name}: ${s.why}`).join("; ")}`;
}
