// Where one training step's time goes (`bench --only kernels`): tf.profile times every kernel of
// one SGD step (the engine bench's step: mean(GAP features^2), train mode), summed per kernel
// name, with the step's wall time and the process's peak RSS. Each configuration runs in a
// fresh process (after one warm-up step), so that its peak RSS is its own.
import { tf } from "../engine/tf";
import { selectBackend } from "../engine/backend";
import { engineLabel } from "../engine/native-kernels";
import { createModel } from "../models/model";
import { Optimizer } from "../train/optimizer";
import { mergeBenchSection } from "./bench";
import { benchTrainStep, round } from "./model-bench";
import { childMain, inFreshProcess, peakRss } from "./child";

interface SplitCase {
  arch: string;
  size: number;
  batch: number;
}

export interface KernelShare {
  kernel: string;
  calls: number;
  ms: number;
  share: number;
}

/** tfjs also records wrappers as kernels: a custom gradient's forward function (`forward`) and
 * ops made of other kernels (`fusedConv2d__op`, any `<name>__op`). Their time is that of the
 * kernels inside them, which are recorded too: wrappers are left out of the sums. */
export function isWrapperKernel(name: string): boolean {
  return name === "forward" || name.endsWith("__op");
}

/** Sum kernel times by name (wrappers left out), largest first; `share` is of the summed time. */
export function splitByKernel(kernels: { name: string; kernelTimeMs: number | { error: string } }[]): {
  total_ms: number;
  kernels: KernelShare[];
} {
  const by = new Map<string, { calls: number; ms: number }>();
  for (const k of kernels) {
    if (isWrapperKernel(k.name)) continue;
    const ms = typeof k.kernelTimeMs === "number" ? k.kernelTimeMs : 0;
    const e = by.get(k.name) ?? { calls: 0, ms: 0 };
    e.calls++;
    e.ms += ms;
    by.set(k.name, e);
  }
  const total = [...by.values()].reduce((s, e) => s + e.ms, 0);
  const rows = [...by].map(([kernel, e]) => ({ kernel, calls: e.calls, ms: round(e.ms, 1), share: round(total ? e.ms / total : 0, 3) }));
  return { total_ms: round(total, 1), kernels: rows.sort((a, b) => b.ms - a.ms) };
}

async function runCase(c: SplitCase): Promise<Record<string, unknown>> {
  await selectBackend({ force: "wasm", log: null });
  tf.env().set("CHECK_COMPUTATION_FOR_ERRORS", false); // the profiler would read every output
  const model = createModel({ arch: c.arch, pooling: "gap" }, 1);
  const x = tf.randomNormal([c.batch, c.size, c.size, 3], 0, 1, "float32", 2) as tf.Tensor4D;
  const opt = new Optimizer({ kind: "sgd", lr: 0.01 });
  const step = () => benchTrainStep(model, x, opt);
  step(); // warm-up: the optimiser's slots, first-use allocations
  const t = Date.now();
  step();
  const stepMs = Date.now() - t;
  const info = await tf.profile(step);
  const kernels = await Promise.all(info.kernels.map(async (k) => ({ name: k.name, kernelTimeMs: await k.kernelTimeMs })));
  const split = splitByKernel(kernels);
  return {
    ...c,
    engine: engineLabel(),
    step_ms: stepMs,
    kernel_ms: split.total_ms,
    peakRssMiB: round(peakRss() / 2 ** 20, 0),
    kernels: split.kernels,
  };
}

export function runKernelSplit(opts: { quick?: boolean; log?: (s: string) => void } = {}): void {
  const log = opts.log ?? console.log;
  const cases: SplitCase[] = opts.quick
    ? [{ arch: "resnext14_8x8d", size: 64, batch: 64 }]
    : [
        { arch: "resnext14_8x8d", size: 64, batch: 64 },
        { arch: "resnext50_32x4d", size: 224, batch: 8 },
        { arch: "resnext101_32x8d", size: 224, batch: 3 },
      ];
  const results: Record<string, unknown>[] = [];
  for (const c of cases) {
    log(`kernel split: ${c.arch} @${c.size} batch ${c.batch} ...`);
    const r = inFreshProcess(__filename, c);
    if (r.error) log(`  failed: ${r.error}`);
    else {
      const top = (r.kernels as KernelShare[])
        .slice(0, 8)
        .map((k) => `${k.kernel} ${(100 * k.share).toFixed(1)}%`)
        .join(", ");
      log(`  ${r.engine}: step ${r.step_ms} ms (kernels ${r.kernel_ms} ms profiled), peak RSS ${r.peakRssMiB} MiB; ${top}`);
    }
    results.push(r);
  }
  const file = mergeBenchSection("kernels", {
    method:
      "one SGD step on mean(GAP features^2), train mode, fp32, after one warm-up step, each configuration in a fresh process; kernel times from tf.profile (wall time of each kernel call, summed per kernel name; wrappers left out, the `forward` of custom gradients and `<op>__op`, whose kernels count by name); step_ms is an unprofiled step; peak RSS from process.resourceUsage().maxRSS",
    results,
  });
  log(`kernel split -> ${file}`);
}

if (require.main === module) childMain(runCase);
