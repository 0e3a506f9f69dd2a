// Report files with a format version: each kind of report (metrics, bench) has one zod schema
// and one version number; a file is checked against them when written and when read, and an
// older or foreign file is refused with its version named instead of failing somewhere later.
import * as fs from "fs";
import { z } from "zod";
import { writeJsonAtomic } from "./paths";

export interface ReportKind<T> {
  /** What the file is, in messages ("metrics", "bench"). */
  kind: string;
  version: number;
  schema: z.ZodType<T>;
}

/** A report whose version is not the one this code reads, or whose content breaks its schema. */
export class ReportFormatError extends Error {}

const versionOf = (value: unknown) =>
  value !== null && typeof value === "object" ? (value as { schemaVersion?: unknown }).schemaVersion : undefined;

/** `value` checked against the kind's schema and version; throws naming the file and the problem. */
export function checkReport<T>(k: ReportKind<T>, value: unknown, file: string): T {
  const v = versionOf(value);
  if (v !== k.version) {
    throw new ReportFormatError(
      `${file}: ${k.kind} file of schemaVersion ${v === undefined ? "none (written before versions)" : JSON.stringify(v)}; this code reads schemaVersion ${k.version}. Rerun the command that writes it (it is recomputed from cached runs), or read it with the code that wrote it`,
    );
  }
  const r = k.schema.safeParse(value);
  if (!r.success) {
    const lines = r.error.issues.slice(0, 5).map((i) => `${i.path.map(String).join(".") || "(top)"}: ${i.message}`);
    throw new ReportFormatError(
      `${file}: not a valid ${k.kind} file (schemaVersion ${k.version}): ${lines.join("; ")}${r.error.issues.length > 5 ? `; and ${r.error.issues.length - 5} more` : ""}`,
    );
  }
  return r.data;
}

/** Write `data` with the kind's schemaVersion, after checking it (a bug writes nothing). */
export function writeVersioned<T>(k: ReportKind<T>, file: string, data: object): void {
  const value = { schemaVersion: k.version, ...data };
  checkReport(k, value, file);
  writeJsonAtomic(file, value, 2);
}

/** The file read and checked; undefined when it does not exist. */
export function readVersioned<T>(k: ReportKind<T>, file: string): T | undefined {
  if (!fs.existsSync(file)) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(fs.readFileSync(file, "utf8"));
  } catch (e) {
    throw new ReportFormatError(`${file}: not JSON (${(e as Error).message})`);
  }
  return checkReport(k, value, file);
}
