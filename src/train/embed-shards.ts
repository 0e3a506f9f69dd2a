// `embed --shard K/N` writes its contiguous slice of the image list beside the final output
// (<out>.parts/shard-K-of-N.f32 + .json, each atomic); `embed --merge` joins the N slices
// into the .npy an unsharded run would have written, once every one is there.
import * as fs from "fs";
import * as path from "path";
import { npyBytes } from "../util/npy";
import { writeFileAtomic, writeJsonAtomic } from "../util/paths";
import { Shard, shardName } from "../util/shard";

interface ShardMeta {
  shard: string;
  /** The model's weights checksum: slices of two models are never joined. */
  model: string;
  total: number;
  begin: number;
  count: number;
  dim: number;
  files: string[];
}

export const shardsDir = (out: string) => `${out}.parts`;
const shardBase = (out: string, s: Shard) => path.join(shardsDir(out), `shard-${s.index}-of-${s.count}`);

export function writeEmbeddingShard(
  out: string,
  s: Shard,
  z: Float32Array,
  files: string[],
  info: { model: string; total: number; begin: number },
): string {
  const base = shardBase(out, s);
  const dim = files.length ? z.length / files.length : 0;
  fs.rmSync(`${base}.json`, { force: true });
  writeFileAtomic(`${base}.f32`, Buffer.from(z.buffer, z.byteOffset, z.byteLength));
  const meta: ShardMeta = { shard: shardName(s), model: info.model, total: info.total, begin: info.begin, count: files.length, dim, files };
  writeJsonAtomic(`${base}.json`, meta);
  return `${base}.f32`;
}

export function mergeEmbeddingShards(out: string): { count: number; dim: number; shards: number } {
  const dir = shardsDir(out);
  const metas = (fs.existsSync(dir) ? fs.readdirSync(dir) : [])
    .filter((f) => /^shard-\d+-of-\d+\.json$/.test(f))
    .map((f) => {
      try {
        return JSON.parse(fs.readFileSync(path.join(dir, f), "utf8")) as ShardMeta;
      } catch (e) {
        throw new Error(`${path.join(dir, f)}: corrupt (${(e as Error).message}); run that shard again`);
      }
    });
  if (!metas.length) throw new Error(`${dir}: no shards; run \`retail-repr embed --shard K/N --out ${out} ...\` first`);
  const n = Number(metas[0].shard.split("/")[1]);
  const kinds = new Set(metas.map((m) => `${m.shard.split("/")[1]} shards, ${m.total} images, model ${m.model.slice(0, 12)}`));
  if (kinds.size > 1)
    throw new Error(`${dir}: shards of different runs (${[...kinds].join("; ")}); remove the stale ones and run those shards again`);
  const byIndex = new Map(metas.map((m) => [Number(m.shard.split("/")[0]), m]));
  const missing = Array.from({ length: n }, (_, k) => k).filter((k) => !byIndex.has(k));
  if (missing.length)
    throw new Error(
      `${dir}: ${missing.length} of ${n} shards missing: ${missing.map((k) => `${k}/${n}`).join(", ")}; run \`retail-repr embed --shard K/${n} ...\` for those`,
    );
  const dim = metas[0].dim;
  const data = new Float32Array(metas[0].total * dim);
  const files: string[] = [];
  for (let k = 0; k < n; k++) {
    const m = byIndex.get(k)!;
    const f = `${shardBase(out, { index: k, count: n })}.f32`;
    const buf = fs.readFileSync(f);
    if (buf.length !== m.count * dim * 4)
      throw new Error(`${f}: ${buf.length} bytes, expected ${m.count * dim * 4} (truncated?); run shard ${m.shard} again`);
    data.set(new Float32Array(buf.buffer, buf.byteOffset, m.count * dim), m.begin * dim);
    files.push(...m.files);
  }
  writeFileAtomic(out, npyBytes(data, [metas[0].total, dim]));
  writeFileAtomic(out.replace(/\.npy$/, ".files.txt"), files.join("\n") + "\n");
  return { count: metas[0].total, dim, shards: n };
}
