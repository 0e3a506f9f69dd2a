// Metrics files under reports/: one JSON per producer, so notebooks and CLI runs of different
// steps never overwrite each other's numbers.
import * as fs from "fs";
import * as path from "path";
import { ensureDir, paths, writeJsonAtomic } from "./paths";

export function reportPath(name: string, ext = "json"): string {
  return path.join(ensureDir(paths.reports), `${name}.${ext}`);
}

export function writeReport(name: string, data: unknown): string {
  const file = reportPath(name);
  writeJsonAtomic(file, { written: new Date().toISOString(), ...(data as object) }, 2);
  return file;
}

export function readReport<T = any>(name: string): T | undefined {
  const file = reportPath(name);
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : undefined;
}
