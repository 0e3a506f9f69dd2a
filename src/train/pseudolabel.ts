// Step 2: the frozen teacher labels the unlabeled images with its embeddings. Written as
// float32 shards with an index; resumable shard by shard (a killed run redoes at most one
// shard), and memory stays at one shard however large the set is.
import * as fs from "fs";
import * as path from "path";
import { Model, embeddingDim } from "../models/model";
import { ensureDir, writeJsonAtomic } from "../util/paths";
import { Progress } from "../util/progress";
import { embedFiles } from "./embed";

export interface PseudoIndex {
  teacher: string;
  dim: number;
  count: number;
  shardSize: number;
  shards: { file: string; start: number; count: number }[];
}

export function readPseudoIndex(dir: string): PseudoIndex | undefined {
  const f = path.join(dir, "index.json");
  if (!fs.existsSync(f)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(f, "utf8"));
  } catch (e) {
    throw new Error(`${f}: corrupt pseudolabel index (${(e as Error).message}); remove ${dir} and run \`retail-repr pseudolabel\` again`);
  }
}

/** What is wrong with a shard on disk (missing, truncated, a non-finite value), or undefined. */
export function shardProblem(dir: string, idx: PseudoIndex, s: PseudoIndex["shards"][number], buf?: Buffer): string | undefined {
  const f = path.join(dir, s.file);
  if (!buf && !fs.existsSync(f)) return `${f}: missing`;
  buf ??= fs.readFileSync(f);
  if (buf.length !== s.count * idx.dim * 4) return `${f}: ${buf.length} bytes, expected ${s.count * idx.dim * 4} (truncated?)`;
  const z = new Float32Array(buf.buffer, buf.byteOffset, s.count * idx.dim);
  const bad = z.findIndex((v) => !Number.isFinite(v));
  return bad < 0 ? undefined : `${f}: a non-finite value in row ${Math.floor(bad / idx.dim)} (image ${s.start + Math.floor(bad / idx.dim)} of the list)`;
}

/** Every shard's problem, one line each (none: the shards are sound). */
export function shardProblems(dir: string, idx: PseudoIndex | undefined): string[] {
  return idx ? idx.shards.map((s) => shardProblem(dir, idx, s)).filter((p): p is string => p !== undefined) : [];
}

export function pseudoComplete(idx: PseudoIndex | undefined, count: number, teacher: string): boolean {
  return !!idx && idx.teacher === teacher && idx.count === count && idx.shards.reduce((n, s) => n + s.count, 0) === count;
}

export async function writePseudolabels(model: Model, files: string[], dir: string, opts: { teacher: string; size: number; batch: number; shardSize?: number; quiet?: boolean; stopAfterShards?: number }): Promise<PseudoIndex> {
  ensureDir(dir);
  const dim = embeddingDim(model.config);
  const shardSize = opts.shardSize ?? 4096;
  let idx = readPseudoIndex(dir);
  if (idx && (idx.teacher !== opts.teacher || idx.count !== files.length || idx.dim !== dim || idx.shardSize !== shardSize)) {
    if (!opts.quiet) console.log(`pseudolabels in ${dir} came from another teacher or image list: starting over`);
    for (const s of idx.shards) fs.rmSync(path.join(dir, s.file), { force: true });
    idx = undefined;
  }
  idx ??= { teacher: opts.teacher, dim, count: files.length, shardSize, shards: [] };
  // A shard cut short or spoiled since it was written is redone, named.
  const sound = idx.shards.filter((s) => {
    const problem = shardProblem(dir, idx!, s);
    if (problem) console.log(`${problem}; redoing that shard`);
    return !problem;
  });
  idx.shards = sound;
  const bar = opts.quiet ? undefined : new Progress({ label: "pseudolabel", total: files.length, unit: "img" });
  const done = new Set(idx.shards.map((s) => s.start));
  bar?.tick(idx.shards.reduce((n, s) => n + s.count, 0));
  let written = 0;
  for (let start = 0; start < files.length; start += shardSize) {
    if (done.has(start)) continue;
    if (opts.stopAfterShards !== undefined && written >= opts.stopAfterShards) break;
    const part = files.slice(start, start + shardSize);
    const z = await embedFiles(model, part, { size: opts.size, batch: opts.batch, quiet: true });
    const bad = z.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) throw new Error(`${part[Math.floor(bad / dim)]}: the teacher's embedding of this image is not finite; check the image, or the teacher checkpoint if every image fails`);
    const file = `shard-${String(start / shardSize).padStart(5, "0")}.f32`;
    fs.writeFileSync(path.join(dir, `${file}.tmp`), Buffer.from(z.buffer, z.byteOffset, z.byteLength));
    fs.renameSync(path.join(dir, `${file}.tmp`), path.join(dir, file));
    idx.shards.push({ file, start, count: part.length });
    idx.shards.sort((a, b) => a.start - b.start);
    writeJsonAtomic(path.join(dir, "index.json"), idx); // a kill never leaves half an index
    written++;
    bar?.tick(part.length);
  }
  return idx;
}

/** All pseudolabels in memory ([count, dim]); for the sizes of the smoke and cpu profiles. */
export function readPseudolabels(dir: string): { dim: number; data: Float32Array } {
  const idx = readPseudoIndex(dir);
  if (!idx) throw new Error(`${dir}: no pseudolabels (index.json); run \`retail-repr pseudolabel\` first`);
  const data = new Float32Array(idx.count * idx.dim);
  for (const s of idx.shards) {
    const f = path.join(dir, s.file);
    const buf = fs.existsSync(f) ? fs.readFileSync(f) : undefined;
    const problem = shardProblem(dir, idx, s, buf);
    if (problem || !buf) throw new Error(`${problem}; run \`retail-repr pseudolabel\` to redo it`);
    data.set(new Float32Array(buf.buffer, buf.byteOffset, s.count * idx.dim), s.start * idx.dim);
  }
  return { dim: idx.dim, data };
}
