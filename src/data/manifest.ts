// A dataset on disk: datasets/<name>/manifest.json plus image files. Generated and real data
// share this shape, so every loop reads one kind of list.
import * as fs from "fs";
import * as path from "path";
import { writeJsonAtomic } from "../util/paths";
import { memoOnFile } from "../util/memo";
import { hashOf } from "../util/fingerprint";
import { wayOut } from "../util/host";
import type { Domain } from "./domains";

export type View = "in-vitro" | "in-situ";
export type Split = "train" | "test" | "pair" | "unlabeled";

export interface Item {
  /** Path relative to the manifest's folder (or absolute for real data read in place). */
  file: string;
  /** Class / product id; -1 when unknown (unlabeled). */
  product: number;
  view?: View;
  split: Split;
  /** Pair id for teacher-pairs (both views share it). */
  pair?: number;
  /** Brand (fine-grained group) when known. */
  brand?: number;
  /** Whose rendering conditions a generated shelf photo has (domains.ts). */
  domain?: Domain;
  /** Weak multi-label targets (pretraining): indices into the manifest spec's `vocabulary`. */
  tags?: number[];
}

export interface Manifest {
  name: string;
  specHash: string;
  spec: Record<string, unknown>;
  created: string;
  items: Item[];
}

export function manifestPath(dir: string): string {
  return path.join(dir, "manifest.json");
}

export function readManifest(dir: string): Manifest {
  const file = manifestPath(dir);
  if (!fs.existsSync(file))
    throw new Error(
      `${dir}: no manifest.json; generate it with ${wayOut("retail-repr generate", "await rr.generateAll(profile)")} or point at a real dataset folder`,
    );
  // Read once per version of the file: callers only read the manifest, never change it.
  return memoOnFile(file, "manifest", () => {
    let m: Manifest;
    try {
      m = JSON.parse(fs.readFileSync(file, "utf8")) as Manifest;
    } catch (e) {
      throw new Error(
        `${file}: corrupt manifest (${(e as Error).message}); regenerate it (${wayOut("retail-repr generate", "await rr.generateAll(profile)")}) or import the dataset again`,
      );
    }
    if (!Array.isArray(m.items)) throw new Error(`${file}: field 'items' must be a list`);
    return m;
  });
}

export function writeManifest(dir: string, m: Manifest): void {
  writeJsonAtomic(manifestPath(dir), m);
}

export function resolveItem(dir: string, item: Item): string {
  return path.isAbsolute(item.file) ? item.file : path.join(dir, item.file);
}

const datasetCache = new Map<string, { mtimeMs: number; hash: string }>();
/** A dataset's fingerprint: its manifest's spec and items (not its creation time). */
export function datasetFingerprint(dir: string): string {
  const file = manifestPath(dir);
  const mtimeMs = fs.statSync(file).mtimeMs;
  const hit = datasetCache.get(dir);
  if (hit && hit.mtimeMs === mtimeMs) return hit.hash;
  const m = readManifest(dir);
  const hash = hashOf({ specHash: m.specHash, items: m.items });
  datasetCache.set(dir, { mtimeMs, hash });
  return hash;
}
