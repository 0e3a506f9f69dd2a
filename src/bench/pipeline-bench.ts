// Benchmarks of the pipeline around the engine: rendering, loading, training and labelling
// throughput on the cpu profile, and the probe's fit time. Sections "data", "training", "probe"
// of reports/bench.json.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { getProfile } from "../config/profiles";
import { datasetDir } from "../data/generate";
import { Augment, studentNoiseAugment, TRAIN_AUGMENT } from "../data/images";
import { batchPixels } from "../data/batch-pixels";
import { LoaderPool, loaderThreads } from "../data/loader-pool";
import { loadBatch } from "../data/loader";
import { renderInSitu, renderInVitro } from "../data/render";
import { filesOf, pairsOf } from "../data/sets";
import { productSpec } from "../data/universe";
import { disposeModel } from "../models/model";
import { initialModel } from "../pipeline/steps";
import { fitLogReg } from "../probe/logreg";
import { l2NormalizeRows } from "../probe/neighbours";
import { embedFiles } from "../train/embed";
import { trainLoop } from "../train/loop";
import { studentTask } from "../train/student";
import { teacherTask } from "../train/teacher";
import { engineLabel, nativeConvolutionsOn, setNativeConvolutions } from "../engine/native-kernels";
import { round } from "./model-bench";
import { mergeBenchSection } from "./bench";

const rate = (n: number, ms: number) => round((n * 1000) / ms);

/** The loader alone on 64-image batches of the student's noisy input (RandAugment, the most
 * JavaScript per image), in the main thread and in worker threads (the machine's default, at
 * least 1), each the best of two rounds taken in turn. */
async function loaderThreadsBench(files: string[], size: number, augment: Augment, log: (s: string) => void) {
  const n = Math.max(1, loaderThreads());
  const pool = new LoaderPool(n);
  const opts = { size, augment, seed: 1 };
  const rows = [0, files.length] as const;
  const time = async (decode: (b: number) => Promise<Float32Array>) => {
    await decode(0);
    const t = Date.now();
    for (let b = 1; b <= 3; b++) await decode(b);
    return rate(3 * files.length, Date.now() - t);
  };
  let main = 0,
    threads = 0;
  try {
    for (let round = 0; round < 2; round++) {
      main = Math.max(main, await time((b) => batchPixels(files, opts, b, rows)));
      threads = Math.max(threads, await time((b) => pool.pixels(files, opts, b, rows)));
    }
  } finally {
    await pool.close();
  }
  log(
    `loader with the student's noise @${size}px: main thread ${main} img/s, ${n} worker thread${n === 1 ? "" : "s"} ${threads} img/s (default here: ${loaderThreads()})`,
  );
  return {
    studentNoiseMainThreadImgPerSec: main,
    studentNoiseWorkerThreads: n,
    studentNoiseWorkersImgPerSec: threads,
    defaultThreads: loaderThreads(),
  };
}

export async function runPipelineBench(log: (s: string) => void = console.log): Promise<void> {
  const profile = getProfile("cpu");
  const size = profile.data.storeSize;
  // Rendering (one process; generate runs 4 renders at once on the thread pool).
  let t = Date.now();
  for (let i = 0; i < 32; i++) await renderInVitro(productSpec(1, i, 1), size);
  const vitro = rate(32, Date.now() - t);
  t = Date.now();
  for (let i = 0; i < 32; i++) await renderInSitu(productSpec(1, i, 1), [productSpec(1, 100 + i, 1), productSpec(1, 200 + i, 1)], 3, size);
  const situ = rate(32, Date.now() - t);
  const data: Record<string, unknown> = { renderInVitroImgPerSec: vitro, renderInSituImgPerSec: situ, storeSize: size };
  log(`render @${size}px: in vitro ${vitro} img/s, in situ ${situ} img/s (sequential)`);

  const pairsDir = datasetDir("teacher-pairs", "cpu");
  if (!fs.existsSync(path.join(pairsDir, "manifest.json"))) {
    const why = "cpu datasets not generated (retail-repr generate --profile cpu)";
    mergeBenchSection("data", { ...data, loader: { skipped: why } });
    mergeBenchSection("training", { skipped: why });
    log(`loader/training benchmarks skipped: ${why}`);
  } else {
    const pairs = pairsOf(pairsDir);
    const files = pairs.slice(0, 64).map((p) => p.a);
    await (await loadBatch(files, { size: profile.imageSize, augment: TRAIN_AUGMENT, seed: 1 })).dispose();
    t = Date.now();
    for (let b = 0; b < 3; b++) (await loadBatch(files, { size: profile.imageSize, augment: TRAIN_AUGMENT, seed: 1 }, b)).dispose();
    const loader = rate(3 * 64, Date.now() - t);
    log(`loader (decode + training augmentation) @${profile.imageSize}px: ${loader} img/s`);
    const threads = await loaderThreadsBench(files, profile.imageSize, studentNoiseAugment(profile.train.student.randAugment), log);

    const run = async (name: string, task: Parameters<typeof trainLoop>[1], workers = 1) => {
      const m = initialModel(profile);
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rr-bench-${name}-`));
      const r = await trainLoop(m, task, {
        name,
        steps: 4,
        optimizer: { kind: "sgd", lr: 0.01, momentum: 0.9 },
        warmup: 1,
        checkpointEvery: 1000,
        runDir: dir,
        quiet: true,
        workers,
      });
      disposeModel(m);
      fs.rmSync(dir, { recursive: true, force: true });
      const steady = r.history
        .slice(1)
        .map((h) => h.imgPerSec)
        .sort((a, b) => a - b);
      return { imgPerSec: round(steady[Math.floor(steady.length / 2)]), loaderImgPerSec: r.loader.imgPerSec };
    };
    // The engine in use (native convolutions where they build), then the XNNPACK engine with
    // two data-parallel replicas, its best configuration.
    const native = nativeConvolutionsOn();
    const { imgPerSec: teacher, loaderImgPerSec: teacherLoader } = await run("teacher", teacherTask(pairs, profile));
    setNativeConvolutions(false);
    const teacherXnnpack2 = (await run("teacher", teacherTask(pairs, profile), 2).finally(() => setNativeConvolutions(native))).imgPerSec;
    const { files: uFiles } = filesOf(datasetDir("student-pseudo", "cpu"));
    const fakeTargets = { dim: 2048, data: l2NormalizeRows(new Float32Array(uFiles.length * 2048).fill(1), 2048) };
    const { imgPerSec: student, loaderImgPerSec: studentLoader } = await run("student", studentTask(pairs, uFiles, fakeTargets, profile));
    const m = initialModel(profile);
    await embedFiles(m, uFiles.slice(0, 64), { size: profile.imageSize, batch: profile.train.embedBatch, quiet: true });
    t = Date.now();
    await embedFiles(m, uFiles.slice(0, 256), { size: profile.imageSize, batch: profile.train.embedBatch, quiet: true });
    const pseudo = rate(256, Date.now() - t);
    disposeModel(m);
    const engine = engineLabel();
    log(
      `cpu profile (${profile.arch} @${profile.imageSize}px, ${engine}): teacher ${teacher} img/s (its loader ${teacherLoader}; xnnpack, 2 replicas: ${teacherXnnpack2}), student ${student} img/s (its loader ${studentLoader}), pseudolabel ${pseudo} img/s`,
    );
    mergeBenchSection("data", { ...data, loaderImgPerSec: loader, loaderOutpacesTraining: loader > teacher, loaderThreads: threads });
    mergeBenchSection("training", {
      profile: "cpu",
      arch: profile.arch,
      imageSize: profile.imageSize,
      engine,
      teacherImgPerSec: teacher,
      teacherLoaderImgPerSec: teacherLoader,
      teacherXnnpackTwoReplicasImgPerSec: teacherXnnpack2,
      studentImgPerSec: student,
      studentLoaderImgPerSec: studentLoader,
      pseudolabelImgPerSec: pseudo,
      method:
        "median img/s of steps 2-4 of the real loop (loading overlapped); *LoaderImgPerSec: the loader's own rate in that loop, images decoded per second of its time while the steps compute beside it",
    });
  }

  const K = 120,
    d = 2048;
  const seedRows = new Float32Array(K * d);
  let s = 1;
  for (let i = 0; i < seedRows.length; i++) {
    s = (s * 16807) % 2147483647;
    seedRows[i] = s / 2147483647 - 0.5;
  }
  const X = l2NormalizeRows(seedRows, d);
  const y = Int32Array.from({ length: K }, (_, i) => i);
  fitLogReg(X, y, d);
  const times = [0, 1, 2]
    .map(() => {
      const t0 = Date.now();
      fitLogReg(X, y, d);
      return Date.now() - t0;
    })
    .sort((a, b) => a - b);
  log(`probe: logistic regression, ${K} classes x ${d}-d, one shot: ${times[1]} ms`);
  mergeBenchSection("probe", { classes: K, dim: d, fitMs: times[1] });
}
