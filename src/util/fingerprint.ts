// What a run was made from: a plain object of its inputs (datasets' fingerprints, the init it
// started from, the profile values it used, the model config). A cached run whose recorded
// inputs differ from today's is stale and is redone, never resumed or reused.
import { createHash } from "crypto";

export type Inputs = Record<string, unknown>;

export function hashOf(value: unknown): string {
  return createHash("sha256").update(typeof value === "string" ? value : JSON.stringify(value)).digest("hex").slice(0, 16);
}

/** The names of the inputs that differ, or [] when the same. */
export function changedInputs(recorded: Inputs | undefined, now: Inputs): string[] {
  if (!recorded) return ["(none recorded)"];
  const keys = [...new Set([...Object.keys(recorded), ...Object.keys(now)])];
  return keys.filter((k) => JSON.stringify(recorded[k]) !== JSON.stringify(now[k]));
}
