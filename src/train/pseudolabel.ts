// Step 2: the frozen teacher labels the unlabeled images with its embeddings.
// The set is cut into parts of `partSize` images (in manifest order). Each part is one raw
// float32 file (rows x dim) and a small JSON beside it saying what made it (the teacher's
// weights, the image list, where it starts); both are written atomically, the JSON last, so a
// part either exists whole or not at all. Parts are independent: a killed run redoes at most one,
// memory stays at one part however large the set, and `--shard K/N` lets N processes on N
// machines write parts K, K+N, ... into one folder on shared storage at the same time.
import * as fs from "fs";
import * as path from "path";
import { Model } from "../models/model";
import { npyBytes } from "../util/npy";
import { ensureDir, writeFileAtomic, writeJsonAtomic } from "../util/paths";
import { Progress } from "../util/progress";
import { partsOfShard, Shard, shardName } from "../util/shard";
import { createEmbedder, embedFiles, InferenceEngine } from "./embed";
import { wayOut } from "../util/host";
import { memoOnFile } from "../util/memo";

/** What a complete set of pseudolabels is made from; every part records it. */
export interface PseudoSpec {
  /** The teacher checkpoint's weights checksum. */
  teacher: string;
  /** The unlabeled set's fingerprint (its manifest). */
  list: string;
  count: number;
  dim: number;
  partSize: number;
}

export interface PartMeta extends PseudoSpec {
  part: number;
  start: number;
  rows: number;
  /** The shard of the process that wrote it ("K/N"), when the work was split. */
  shard?: string;
  /** The engine that computed it (parts of one set may differ by engine, within 1e-4). */
  engine?: InferenceEngine;
}

export const partCount = (spec: Pick<PseudoSpec, "count" | "partSize">) => Math.ceil(spec.count / spec.partSize);
const base = (dir: string, p: number) => path.join(dir, `part-${String(p).padStart(5, "0")}`);
export const partDataFile = (dir: string, p: number) => `${base(dir, p)}.f32`;
export const partMetaFile = (dir: string, p: number) => `${base(dir, p)}.json`;

export function readPartMeta(dir: string, p: number): PartMeta | undefined {
  const f = partMetaFile(dir, p);
  if (!fs.existsSync(f)) return undefined;
  try {
    return JSON.parse(fs.readFileSync(f, "utf8"));
  } catch (e) {
    throw new Error(
      `${f}: corrupt (${(e as Error).message}); remove it and run ${wayOut("retail-repr pseudolabel", "await rr.pseudolabel(profile)")} to redo that part`,
    );
  }
}

/** What is wrong with part p on disk for `spec` (missing, another teacher, truncated, a
 * non-finite value), or undefined when it is sound. */
export function partProblem(dir: string, spec: PseudoSpec, p: number, buf?: Buffer): string | undefined {
  let meta: PartMeta | undefined;
  try {
    meta = readPartMeta(dir, p);
  } catch (e) {
    return (e as Error).message.split(";")[0];
  }
  const f = partDataFile(dir, p);
  if (!meta || !fs.existsSync(f)) return `${f}: missing`;
  if (meta.teacher !== spec.teacher)
    return `${f}: made by another teacher (${meta.teacher.slice(0, 12)}, not ${spec.teacher.slice(0, 12)})`;
  if (meta.list !== spec.list || meta.count !== spec.count || meta.partSize !== spec.partSize || meta.dim !== spec.dim)
    return `${f}: made for another image list or part size`;
  const rows = Math.min(spec.partSize, spec.count - p * spec.partSize);
  buf ??= fs.readFileSync(f);
  if (buf.length !== rows * spec.dim * 4) return `${f}: ${buf.length} bytes, expected ${rows * spec.dim * 4} (truncated?)`;
  const z = new Float32Array(buf.buffer, buf.byteOffset, rows * spec.dim);
  const bad = z.findIndex((v) => !Number.isFinite(v));
  return bad < 0
    ? undefined
    : `${f}: a non-finite value in row ${Math.floor(bad / spec.dim)} (image ${p * spec.partSize + Math.floor(bad / spec.dim)} of the list)`;
}

export interface PseudoStatus {
  parts: number;
  /** Sound parts for this spec. */
  done: number[];
  /** part -> its problem, for every part that is not sound (missing ones included). */
  problems: Map<number, string>;
  /** The shard count the parts on disk were written with, if they were split. */
  shards?: number;
}

export function pseudoStatus(dir: string, spec: PseudoSpec): PseudoStatus {
  const parts = partCount(spec);
  const done: number[] = [];
  const problems = new Map<number, string>();
  let shards: number | undefined;
  const question = `part of ${JSON.stringify(spec)}`;
  for (let p = 0; p < parts; p++) {
    // Each part's check reads and scans the whole part: once per version of its two files.
    const meta = partMetaFile(dir, p);
    const metaStamp = fs.existsSync(meta) ? `${fs.statSync(meta).mtimeMs}` : "none";
    const problem = memoOnFile(partDataFile(dir, p), `${question} ${p} ${metaStamp}`, () => partProblem(dir, spec, p));
    if (problem) problems.set(p, problem);
    else done.push(p);
    const s = fs.existsSync(partMetaFile(dir, p)) && !problem ? readPartMeta(dir, p)?.shard : undefined;
    if (s) shards = Number(s.split("/")[1]);
  }
  return { parts, done, problems, shards };
}

/** A one-paragraph account of what is missing or wrong, and the commands that fix it. */
export function describeIncomplete(dir: string, spec: PseudoSpec, st: PseudoStatus): string {
  const bad = [...st.problems.keys()];
  const first = st.problems.get(bad[0])!;
  const missing = bad.filter((p) => st.problems.get(p)!.endsWith(": missing"));
  const wrong = bad.filter((p) => !missing.includes(p));
  const range = (p: number) => `${p} (images ${p * spec.partSize}-${Math.min(spec.count, (p + 1) * spec.partSize) - 1})`;
  const lines = [`pseudolabels in ${dir} are not complete for this teacher: ${st.done.length} of ${st.parts} parts sound`];
  if (missing.length)
    lines.push(`missing parts: ${missing.slice(0, 10).map(range).join(", ")}${missing.length > 10 ? `, ... (${missing.length})` : ""}`);
  if (wrong.length) lines.push(`parts to redo: ${wrong.length}, e.g. ${st.problems.get(wrong[0]) ?? first}`);
  if (st.shards) {
    const shards = [...new Set(bad.map((p) => p % st.shards!))];
    lines.push(
      `they belong to shard(s) ${shards.map((k) => `${k}/${st.shards}`).join(", ")}: run \`retail-repr pseudolabel --shard K/${st.shards}\` for each (or \`retail-repr pseudolabel\` to do them all here)`,
    );
  } else lines.push(`run ${wayOut("retail-repr pseudolabel", "await rr.pseudolabel(profile)")} to make them`);
  return lines.join("\n  ");
}

/** Label the parts of `files` that are missing or unsound (this shard's, with `shard`), on
 * `engine`: every engine writes the same parts in the same order and format, so a set may be
 * finished on another engine than it was begun on (values agree within 1e-4). */
export async function writePseudolabels(
  model: Model,
  files: string[],
  dir: string,
  opts: {
    spec: PseudoSpec;
    size: number;
    batch: number;
    shard?: Shard;
    quiet?: boolean;
    stopAfterParts?: number;
    engine?: InferenceEngine;
  },
): Promise<PseudoStatus> {
  const spec = opts.spec;
  if (files.length !== spec.count) throw new Error(`pseudolabels: ${files.length} images but the spec says ${spec.count}`);
  ensureDir(dir);
  removeOldLayout(dir, opts.quiet);
  const mine = partsOfShard(partCount(spec), opts.shard);
  const todo = mine.filter((p) => {
    const problem = partProblem(dir, spec, p);
    if (problem && !problem.endsWith(": missing") && !opts.quiet) console.log(`${problem}; redoing that part`);
    return problem !== undefined;
  });
  const rowsOf = (p: number) => Math.min(spec.partSize, spec.count - p * spec.partSize);
  const bar = opts.quiet
    ? undefined
    : new Progress({
        label: opts.shard ? `pseudolabel ${shardName(opts.shard)}` : "pseudolabel",
        total: mine.reduce((n, p) => n + rowsOf(p), 0),
        unit: "img",
      });
  bar?.tick(mine.filter((p) => !todo.includes(p)).reduce((n, p) => n + rowsOf(p), 0));
  let written = 0;
  const embedder = todo.length ? await createEmbedder(model, { size: opts.size, engine: opts.engine }) : undefined;
  try {
    for (const p of todo) {
      if (opts.stopAfterParts !== undefined && written >= opts.stopAfterParts) break;
      const start = p * spec.partSize;
      const part = files.slice(start, start + rowsOf(p));
      const z = await embedFiles(model, part, { size: opts.size, batch: opts.batch, quiet: true, embedder });
      const bad = z.findIndex((v) => !Number.isFinite(v));
      if (bad >= 0)
        throw new Error(
          `${part[Math.floor(bad / spec.dim)]}: the teacher's embedding of this image is not finite; check the image, or the teacher checkpoint if every image fails`,
        );
      fs.rmSync(partMetaFile(dir, p), { force: true }); // the old record goes first: data and record always agree
      writeFileAtomic(partDataFile(dir, p), Buffer.from(z.buffer, z.byteOffset, z.byteLength));
      const meta: PartMeta = {
        ...spec,
        part: p,
        start,
        rows: part.length,
        engine: opts.engine ?? "native",
        ...(opts.shard ? { shard: shardName(opts.shard) } : {}),
      };
      writeJsonAtomic(partMetaFile(dir, p), meta);
      written++;
      bar?.tick(part.length);
    }
  } finally {
    await embedder?.close();
  }
  return pseudoStatus(dir, spec);
}

/** Folders from before parts (index.json + shard-*.f32) are cleared once, said in one line. */
function removeOldLayout(dir: string, quiet?: boolean): void {
  const old = fs.readdirSync(dir).filter((f) => f === "index.json" || /^shard-\d+\.f32/.test(f));
  if (!old.length) return;
  if (!quiet) console.log(`${dir}: removing ${old.length} file(s) of the earlier one-index layout; labelling again in parts`);
  for (const f of old) fs.rmSync(path.join(dir, f), { force: true });
}

/** All pseudolabels in memory ([count, dim]), refusing an incomplete or mixed set. */
export function readPseudolabels(dir: string, spec: PseudoSpec): { dim: number; data: Float32Array } {
  const data = new Float32Array(spec.count * spec.dim);
  // Each part is read once and checked as read; on the first problem the whole account of what
  // is missing or wrong (every part, every shard) is the error.
  for (let p = 0; p < partCount(spec); p++) {
    const f = partDataFile(dir, p);
    const buf = fs.existsSync(f) ? fs.readFileSync(f) : undefined;
    if (!buf || partProblem(dir, spec, p, buf)) throw new Error(describeIncomplete(dir, spec, pseudoStatus(dir, spec)));
    data.set(new Float32Array(buf.buffer, buf.byteOffset, buf.length / 4), p * spec.partSize * spec.dim);
  }
  return { dim: spec.dim, data };
}

/** The spec the parts on disk agree on, for reading them without the teacher at hand; a folder
 * whose parts disagree (two teachers, two image lists) is refused with both named. */
export function specOnDisk(dir: string): PseudoSpec {
  const metas = fs.existsSync(dir)
    ? fs
        .readdirSync(dir)
        .filter((f) => /^part-\d+\.json$/.test(f))
        .sort()
        .map((f) => readPartMeta(dir, Number(f.slice(5, -5)))!)
    : [];
  if (!metas.length)
    throw new Error(`${dir}: no pseudolabel parts; run ${wayOut("retail-repr pseudolabel", "await rr.pseudolabel(profile)")} first`);
  const key = (m: PseudoSpec) => JSON.stringify([m.teacher, m.list, m.count, m.dim, m.partSize]);
  const kinds = [...new Set(metas.map(key))];
  if (kinds.length > 1) {
    const by = kinds.map((k) => {
      const ps = metas.filter((m) => key(m) === k);
      return `${ps.length} part(s) from teacher ${ps[0].teacher.slice(0, 12)} (list ${ps[0].list.slice(0, 8)}), e.g. part ${ps[0].part}`;
    });
    throw new Error(
      `${dir}: the parts come from different teachers or image lists: ${by.join("; ")}; rerun ${wayOut("retail-repr pseudolabel", "await rr.pseudolabel(profile)")} with the current teacher`,
    );
  }
  const { teacher, list, count, dim, partSize } = metas[0];
  return { teacher, list, count, dim, partSize };
}

/** Every pseudolabel as one N x D float32 .npy in manifest order, written atomically. */
export function exportPseudolabels(dir: string, out: string, spec: PseudoSpec = specOnDisk(dir)): { count: number; dim: number } {
  const { data } = readPseudolabels(dir, spec);
  writeFileAtomic(out, npyBytes(data, [spec.count, spec.dim]));
  return { count: spec.count, dim: spec.dim };
}
