// What a run was made from: a plain object of its inputs (datasets' fingerprints, the init it
// started from, the profile values it used, the model config). A cached run whose recorded
// inputs differ from today's is stale and is redone, never resumed or reused.
import { createHash } from "crypto";
import * as fs from "fs";
import { writeJsonAtomic } from "./paths";

export type Inputs = Record<string, unknown>;

export function hashOf(value: unknown): string {
  return createHash("sha256")
    .update(typeof value === "string" ? value : JSON.stringify(value))
    .digest("hex")
    .slice(0, 16);
}

/** The names of the inputs that differ, or [] when the same. */
export function changedInputs(recorded: Inputs | undefined, now: Inputs): string[] {
  if (!recorded) return ["(none recorded)"];
  const keys = [...new Set([...Object.keys(recorded), ...Object.keys(now)])];
  return keys.filter((k) => JSON.stringify(recorded[k]) !== JSON.stringify(now[k]));
}

/** Whether something recorded as made from `recorded` can be used where `now` are the inputs;
 * when not, why, in the words runs print ("not made yet", "inputs changed (data, init)"). */
export type Freshness = { fresh: true } | { fresh: false; why: string };

export function freshness(recorded: Inputs | undefined, now: Inputs): Freshness {
  if (recorded === undefined) return { fresh: false, why: "not made yet" };
  const changed = changedInputs(recorded, now);
  return changed.length ? { fresh: false, why: `inputs changed (${changed.join(", ")})` } : { fresh: true };
}

/** A JSON result kept in `file` beside the inputs it was made from. */
interface Kept<T> {
  inputs: Inputs;
  result: T;
}

/** The result kept in `file` when it was made from `inputs`, else why not. */
export function keptResult<T>(file: string, inputs: Inputs): { result: T } | { why: string } {
  if (!fs.existsSync(file)) return { why: "not made yet" };
  const kept = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<Kept<T>>;
  if (kept.result === undefined) return { why: "not made yet" };
  const f = freshness(kept.inputs, inputs);
  return f.fresh ? { result: kept.result } : { why: f.why };
}

/** Reuse unless the inputs changed: the result kept in `file` when it was made from `inputs`,
 * else `compute()`'s, kept there for next time. */
export async function cached<T>(file: string, inputs: Inputs, compute: () => Promise<T>): Promise<T> {
  const k = keptResult<T>(file, inputs);
  if ("result" in k) return k.result;
  const result = await compute();
  writeJsonAtomic(file, { inputs, result } satisfies Kept<T>);
  return result;
}
