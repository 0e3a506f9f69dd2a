// Memory benchmarks (`bench --only memory`), each case in a fresh process so that its peak RSS
// and wasm heap are its own:
//   chunked: one gradient-cache SupCon step on a batch larger than the heap holds at once
//            (resnext101_32x8d @224, 256 images), img/s and peak RSS beside the chunk size;
//   embedding: the same model embedding 1k and 10k images; peak RSS should not grow with the set
//            beyond the output matrix itself (N x D float32).
import { tf } from "../engine/tf";
import { selectBackend } from "../engine/backend";
import { engineLabel } from "../engine/native-kernels";
import { createModel, embeddingDim, ModelConfig } from "../models/model";
import { largestBatch } from "../models/memory";
import { Optimizer } from "../train/optimizer";
import { chunkedGrads } from "../train/chunked";
import { supConLoss } from "../losses/supcon";
import { embedFiles } from "../train/embed";
import { datasetDir } from "../data/generate";
import { filesOf } from "../data/sets";
import { mergeBenchSection } from "./bench";
import { round } from "./model-bench";
import { childMain, inFreshProcess, peakRss } from "./child";

interface ChunkedCase {
  kind: "chunked";
  arch: string;
  size: number;
  batch: number;
  chunk?: number;
}
interface EmbedCase {
  kind: "embedding";
  arch: string;
  size: number;
  images: number;
  batch: number;
}
type Case = ChunkedCase | EmbedCase;

const mib = (bytes: number) => round(bytes / 2 ** 20, 0);
const heap = () => (tf.backend() as unknown as { wasm?: { HEAPU8: Uint8Array } }).wasm?.HEAPU8.buffer.byteLength ?? 0;

/** Runs in the child: one case, one JSON line on stdout. */
async function runCase(c: Case): Promise<Record<string, unknown>> {
  await selectBackend({ force: "wasm", log: null });
  const config: ModelConfig = { arch: c.arch, pooling: "lca", projDim: 0, classes: 0 };
  const model = createModel(config, 1);
  const rssModel = peakRss();
  if (c.kind === "chunked") {
    const chunk = c.chunk ?? largestBatch(config, c.size, "train");
    const x = tf.randomNormal([c.batch, c.size, c.size, 3]) as tf.Tensor4D;
    const labels = Int32Array.from({ length: c.batch }, (_, i) => i % (c.batch / 2)); // pairs: i and i + B/2
    const opt = new Optimizer({ kind: "sgd", lr: 0.01, momentum: 0.9, weightDecay: 1e-4 });
    const t = Date.now();
    const r = chunkedGrads(model, x, (z) => ({ loss: supConLoss(z, labels) }), { chunk });
    opt.apply(model.params, r.grads, 0.01);
    const seconds = (Date.now() - t) / 1000;
    return {
      ...c,
      chunk,
      engine: engineLabel(),
      loss: round(r.loss, 4),
      seconds: round(seconds, 1),
      imgPerSec: round(c.batch / seconds, 3),
      peakRssMiB: mib(peakRss()),
      modelRssMiB: mib(rssModel),
      wasmHeapMiB: mib(heap()),
    };
  }
  const pool = filesOf(datasetDir("student-pseudo", "cpu")).files;
  const files = Array.from({ length: c.images }, (_, i) => pool[i % pool.length]);
  const t = Date.now();
  const z = await embedFiles(model, files, { size: c.size, batch: c.batch, quiet: true });
  const seconds = (Date.now() - t) / 1000;
  return {
    ...c,
    engine: engineLabel(),
    seconds: round(seconds, 1),
    imgPerSec: round(c.images / seconds, 1),
    outputMiB: mib(z.byteLength),
    dim: embeddingDim(config),
    peakRssMiB: mib(peakRss()),
    modelRssMiB: mib(rssModel),
    wasmHeapMiB: mib(heap()),
  };
}

export function runMemoryBench(opts: { quick?: boolean; log?: (s: string) => void } = {}): void {
  const log = opts.log ?? console.log;
  const chunked: ChunkedCase[] = opts.quick
    ? [{ kind: "chunked", arch: "resnext50_32x4d", size: 224, batch: 24 }]
    : [
        { kind: "chunked", arch: "resnext50_32x4d", size: 224, batch: 64, chunk: 4 },
        { kind: "chunked", arch: "resnext50_32x4d", size: 224, batch: 64 },
        { kind: "chunked", arch: "resnext101_32x8d", size: 224, batch: 256 },
      ];
  const embedding: EmbedCase[] = [1000, opts.quick ? 3000 : 10000].map((images) => ({
    kind: "embedding",
    arch: "resnext14_8x8d_ls1",
    size: 64,
    images,
    batch: 64,
  }));
  const results: Record<string, unknown>[] = [];
  for (const c of [...chunked, ...embedding]) {
    log(`memory bench: ${JSON.stringify(c)} ...`);
    const r = inFreshProcess(__filename, c);
    log(`  ${JSON.stringify(r)}`);
    results.push(r);
  }
  const file = mergeBenchSection("memory", {
    method:
      "each case in a fresh process; peak RSS from process.resourceUsage().maxRSS, the wasm heap's size after the work; one chunked step (the first, so it includes warm-up)",
    chunked: results.filter((r) => r.kind === "chunked"),
    embedding: results.filter((r) => r.kind === "embedding"),
  });
  log(`memory bench -> ${file}`);
}

if (require.main === module) childMain(runCase);
