// Backend selection: try each tfjs backend in order (libtorch on CUDA, TensorFlow's C library,
// WebGPU, wasm, cpu: the fastest first), keep the first that works, and say why every earlier one was skipped.
// The availability checks are injectable so that tests can simulate a machine with CUDA, with a
// Vulkan GPU, or with nothing at all.
import { Availability, AvailabilityCheck, BACKEND_ORDER, BackendName, defaultChecks } from "./availability";
import { BACKEND_CHOICES } from "../config/schema";
import { BACKEND_ENV, configuredEngine } from "./configured";

export { BACKEND_CHOICES, BACKEND_ENV, BACKEND_ORDER };
export type { Availability, AvailabilityCheck, BackendName };

export interface BackendSelection {
  chosen: BackendName;
  detail: string;
  forced: boolean;
  skipped: { name: BackendName; why: string }[];
}

export interface SelectOptions {
  /** Force one backend (else `RETAIL_REPR_BACKEND`, else the profile's `engine.backend`:
   * configured.ts); failing to start it is an error. */
  force?: string;
  checks?: Partial<Record<BackendName, AvailabilityCheck>>;
  /** Where the one-line report goes; `null` keeps quiet. */
  log?: ((line: string) => void) | null;
}

export function parseBackendName(name: string, source: string): BackendName;
export function parseBackendName(name: string, source: string, allowAuto: true): BackendName | undefined;
export function parseBackendName(name: string, source: string, allowAuto = false): BackendName | undefined {
  const n = name.trim().toLowerCase();
  if (n === "native") return "wasm";
  if (n === "auto" && allowAuto) return undefined;
  if ((BACKEND_ORDER as readonly string[]).includes(n)) return n as BackendName;
  throw new Error(`${source}: unknown backend '${name}'. Use one of: ${BACKEND_CHOICES.join(", ")}.`);
}

let current: BackendSelection | undefined;
/** The last selection made in this process (undefined before the first). */
export function currentSelection(): BackendSelection | undefined {
  return current;
}

export async function selectBackend(opts: SelectOptions = {}): Promise<BackendSelection> {
  const checks = { ...defaultChecks, ...opts.checks };
  const log = opts.log === undefined ? (l: string) => console.log(l) : opts.log;
  const configured = opts.force ? { value: opts.force, source: "option" } : configuredEngine().backend;
  const forced = configured ? parseBackendName(configured.value, configured.source, true) : undefined;

  const skipped: BackendSelection["skipped"] = [];
  for (const name of forced ? [forced] : BACKEND_ORDER) {
    let result: Availability;
    try {
      result = await checks[name]({ forced: name === forced });
    } catch (err) {
      result = { ok: false, why: `probe failed: ${(err as Error).message}` };
    }
    if (result.ok) {
      await result.activate();
      const sel: BackendSelection = { chosen: name, detail: result.detail ?? "", forced: !!forced, skipped };
      current = sel;
      log?.(describeSelection(sel));
      return sel;
    }
    if (forced) {
      throw new Error(`backend '${name}' was forced (${configured!.source}) but cannot start: ${result.why}`);
    }
    skipped.push({ name, why: result.why });
  }
  // The cpu check cannot fail unless tfjs itself is broken.
  throw new Error(`no tfjs backend could start: ${skipped.map((s) => `${s.name}: ${s.why}`).join("; ")}`);
}

export function describeSelection(sel: BackendSelection): string {
  const head = `backend: ${sel.chosen}${sel.detail ? ` (${sel.detail})` : ""}${sel.forced ? " [forced]" : ""}`;
  if (sel.skipped.length === 0) return head;
  return `${head}; skipped ${sel.skipped.map((s) => `${s.name}: ${s.why}`).join("; ")}`;
}
