// Configuration without editing code: a profile's values changed by a config file (JSON or
// YAML), by `--set key=value`, or by an object in a notebook, all checked by one schema
// (schema.ts) before any work starts. What changes reaches each run's fingerprint through the
// profile values its inputs record, so a changed value retrains that run and `plan` says why.
import * as fs from "fs";
import { parse as parseYaml } from "yaml";
import { profileProblems, valueAt } from "./schema";

/** Part of a profile, nested as the profile is (`{ train: { teacher: { lr: 0.1 } } }`). */
export type Overrides = { [key: string]: unknown };

/** The aliases of `--config FILE` and `--set` for notebooks and jobs: a file (or inline JSON),
 * and `key=value` entries separated by newlines or spaces. */
export const CONFIG_ENV = "RETAIL_REPR_CONFIG";
export const SET_ENV = "RETAIL_REPR_SET";

const isPlainObject = (v: unknown): v is Overrides => v !== null && typeof v === "object" && !Array.isArray(v);

/** `key.path=value` as a nested object; the value is read as JSON where it is JSON (numbers,
 * true/false, null, arrays, objects), else taken as the string written. */
export function parseSet(expr: string, source = "--set"): Overrides {
  const eq = expr.indexOf("=");
  if (eq <= 0) throw new Error(`${source} '${expr}': write key=value, e.g. train.teacher.lr=0.1`);
  const keys = expr.slice(0, eq).trim().split(".");
  if (keys.some((k) => k === "")) throw new Error(`${source} '${expr}': the key '${expr.slice(0, eq)}' has an empty part`);
  const raw = expr.slice(eq + 1);
  let value: unknown = raw;
  try {
    value = JSON.parse(raw);
  } catch {
    // a bare string such as `init=random`
  }
  return keys.reduceRight<unknown>((inner, k) => ({ [k]: inner }), value) as Overrides;
}

/** A config file's overrides: JSON (`.json`) or YAML (anything else). */
export function readConfigFile(file: string): Overrides {
  if (!fs.existsSync(file)) throw new Error(`--config ${file}: no such file`);
  const text = fs.readFileSync(file, "utf8");
  let value: unknown;
  try {
    value = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
  } catch (e) {
    throw new Error(`--config ${file}: not valid ${file.endsWith(".json") ? "JSON" : "YAML"} (${(e as Error).message.split("\n")[0]})`);
  }
  if (value === null || value === undefined) return {};
  if (!isPlainObject(value))
    throw new Error(
      `--config ${file}: the file must hold an object of profile keys (e.g. train: {teacher: {lr: 0.1}}), not ${Array.isArray(value) ? "a list" : typeof value}`,
    );
  return value;
}

/** `b` laid over `a`: objects merge key by key; a list is replaced by a list, or changed item by
 * item by an object of indices (`recipes.0.lr=0.01`); anything else is replaced. */
export function mergeOverrides(a: Overrides, b: Overrides): Overrides {
  const out: Overrides = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = mergeValue(out[k], v);
  return out;
}

function mergeValue(a: unknown, b: unknown): unknown {
  if (isPlainObject(b) && isPlainObject(a)) return mergeOverrides(a, b);
  if (isPlainObject(b) && Array.isArray(a) && Object.keys(b).every((i) => /^\d+$/.test(i) && Number(i) < a.length)) {
    return a.map((item, i) => (String(i) in b ? mergeValue(item, b[String(i)]) : item));
  }
  return b;
}

/** The overrides the environment asks for (RETAIL_REPR_CONFIG, then RETAIL_REPR_SET). */
export function envOverrides(env: NodeJS.ProcessEnv = process.env): Overrides {
  let o: Overrides = {};
  const config = env[CONFIG_ENV]?.trim();
  if (config) o = config.startsWith("{") ? parseInlineJson(config) : readConfigFile(config);
  for (const expr of (env[SET_ENV] ?? "").split(/\s+/).filter(Boolean)) o = mergeOverrides(o, parseSet(expr, SET_ENV));
  return o;
}

function parseInlineJson(text: string): Overrides {
  try {
    return JSON.parse(text) as Overrides;
  } catch (e) {
    throw new Error(`${CONFIG_ENV}: not valid JSON (${(e as Error).message})`);
  }
}

/** Why the student's `key` is not set by hand. */
const chosenByStudentSweep = (key: string) =>
  `is chosen on dev-like by the student's sweep, so setting it would change nothing; change what the sweep tries instead: train.student.sweep.candidates (e.g. --set train.student.sweep.candidates.0.${key}=...)`;

/** Keys a value other than the profile's would change nothing for, and what to change instead. A
 * config file printed by `retail-repr config` holds them at the profile's values: only a
 * different value is refused. */
export const REFUSED_KEYS: Record<string, string> = {
  "train.student.start": chosenByStudentSweep("start"),
  "train.student.alpha": chosenByStudentSweep("alpha"),
  description: "is the profile's own description and changes nothing; describe an experiment in its config file's comments",
};

/** Keys that change how a run goes (speed, memory), not what it computes: no run's inputs hold
 * them, so changing one keeps every cached result. */
export const HOW_IT_RUNS_KEYS: Record<string, string> = {
  "train.workers":
    "data-parallel replicas where they run (the XNNPACK engine on two cores or more): like the engine itself, they change the arithmetic path (each replica's batch norm sees its half of the batch), which each checkpoint records, not what the run is made from",
  "train.embedBatch": "images per forward pass when embedding in eval mode (batch norm's running statistics: rows are independent)",
  "engine.backend":
    "what computes (engine/configured.ts), as --backend and RETAIL_REPR_BACKEND choose it: it changes the arithmetic path, which each checkpoint and the metrics record, not what a run is made from",
  "engine.device": "where the torch backend computes, as --device chooses it",
};

/** `base` with `overrides` laid over it, checked by the profile schema: an error naming each
 * key, its value and what is allowed; the profile's name is chosen by --profile, not here. */
export function applyOverrides<P extends { name: string }>(base: P, overrides: Overrides, source = "config"): P {
  if (Object.keys(overrides).length === 0) return base;
  if ("name" in overrides && overrides.name !== base.name)
    throw new Error(`${source}: 'name' cannot be set (choose the profile with --profile ${String(overrides.name)})`);
  for (const [key, why] of Object.entries(REFUSED_KEYS)) {
    const value = valueAt(overrides, key.split("."));
    if (value !== undefined && JSON.stringify(value) !== JSON.stringify(valueAt(base, key.split("."))))
      throw new Error(`${source}: ${key} ${why}`);
  }
  const merged = mergeOverrides(base as unknown as Overrides, overrides) as unknown as P;
  const problems = profileProblems(merged);
  if (problems.length) throw new Error(`${source}: ${problems.join("; ")}`);
  return merged;
}

/** The keys where `p` differs from `base`, as `key=value` lines (what `retail-repr config` marks). */
export function changedKeys(base: unknown, p: unknown, prefix = ""): string[] {
  const at = (k: string) => (prefix ? `${prefix}.${k}` : k);
  if (isPlainObject(base) && isPlainObject(p)) {
    const keys = [...new Set([...Object.keys(base), ...Object.keys(p)])];
    return keys.flatMap((k) => changedKeys(base[k], p[k], at(k)));
  }
  if (Array.isArray(base) && Array.isArray(p) && base.length === p.length)
    return p.flatMap((v, i) => changedKeys(base[i], v, at(String(i))));
  return JSON.stringify(base) === JSON.stringify(p) ? [] : [`${prefix}=${JSON.stringify(p)}`];
}
