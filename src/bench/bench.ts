// `npm run bench`: throughput per available backend beside PyTorch on the same machine, in the
// same run, written to reports/bench.json (section "engine"; other sections come from the data
// and training benchmarks and are kept).
import * as fs from "fs";
import * as os from "os";
import { BACKEND_ORDER, BackendName, selectBackend } from "../engine/backend";
import { defaultProbes } from "../engine/probes";
import { environmentInfo } from "../engine/info";
import { loadNative } from "../engine/native";
import { GroupedConvMode } from "../models/layers";
import { getPreset } from "../models/resnext";
import { reportPath } from "../report/metrics";
import { benchModel, ModelBenchResult, round } from "./model-bench";
import { runTorchReference, torchAvailable, TorchResult } from "./torch-reference";

export interface BenchOptions {
  /** Smaller repeats, the 224px config skipped: for a quick look, not for reports. */
  quick?: boolean;
  backends?: BackendName[];
  log?: (s: string) => void;
}

const CONFIGS = [
  { arch: "resnext14_8x8d", size: 64, batch: 64 },
  { arch: "resnext50_32x4d", size: 224, batch: 8 },
];
// With convolutions on XNNPACK, a ResNeXt-50 batch-8 training step overflows wasm's 4 GiB heap
// (the composite gradients' padded and transposed copies on top of the activations), so that
// engine runs it at batch 4, and PyTorch is measured at batch 4 as well for its ratio.
const XNNPACK_R50_BATCH = 4;

const key = (c: { arch: string; size: number; batch: number }) => `${c.arch}@${c.size} b${c.batch}`;

/** "wasm/xnnpack", "wasm/native" or the backend's name. */
function engineName(r: { backend: string; conv?: string }): string {
  return r.conv ? `${r.backend}/${r.conv}` : r.backend;
}

/** Backends too slow to time a ResNeXt step on in reasonable time (measured: ~0.2 img/s). */
const TOO_SLOW: BackendName[] = ["cpu"];

export function mergeBenchSection(section: string, data: unknown): string {
  const file = reportPath("bench");
  const prior = fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, "utf8")) : {};
  prior[section] = { written: new Date().toISOString(), ...(data as object) };
  fs.writeFileSync(file, JSON.stringify(prior, null, 2) + "\n");
  return file;
}

export async function runEngineBench(opts: BenchOptions = {}): Promise<Record<string, unknown>> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const configs = opts.quick ? CONFIGS.slice(0, 1) : CONFIGS;
  const repeats = opts.quick ? 2 : 3;
  const results: ModelBenchResult[] = [];
  const skipped: Record<string, string> = {};
  const groupedChoice: Record<string, GroupedConvMode> = {};

  for (const name of opts.backends ?? BACKEND_ORDER) {
    if (TOO_SLOW.includes(name)) {
      skipped[name] = "too slow to time a ResNeXt step (~0.2 img/s on a small net)";
      continue;
    }
    const probe = await defaultProbes[name]();
    if (!probe.ok) {
      skipped[name] = probe.why;
      continue;
    }
    await selectBackend({ force: name, log: null });
    const native = name === "wasm" ? loadNative() : undefined;
    if (native && !native.ok) skipped["wasm/native"] = native.why;
    for (const conv of name !== "wasm" ? [undefined] : native?.ok ? (["xnnpack", "native"] as const) : (["xnnpack"] as const)) {
      const engine = engineName({ backend: name, conv });
      const first = configs[0];
      let best: GroupedConvMode = "split";
      if (conv !== "native") {
        // Grouped convolution: time both formulations on the small config, keep the faster.
        // (The native engine has one grouped kernel and needs neither.)
        const per: Record<string, ModelBenchResult> = {};
        for (const mode of ["split", "blockdiag"] as GroupedConvMode[]) {
          per[mode] = await benchModel({ ...first, repeats, grouped: mode, conv });
          log(`${engine} ${first.arch}@${first.size} b${first.batch} grouped=${mode}: train ${per[mode].train_img_s} img/s, infer ${per[mode].infer_img_s} img/s`);
        }
        best = per.split.train_img_s >= per.blockdiag.train_img_s ? "split" : "blockdiag";
        results.push(per.split, per.blockdiag);
      } else {
        const r = await benchModel({ ...first, repeats, conv });
        log(`${engine} ${first.arch}@${first.size} b${first.batch}: train ${r.train_img_s} img/s, infer ${r.infer_img_s} img/s`);
        results.push(r);
      }
      groupedChoice[engine] = best;
      if (name === "wasm" && os.cpus().length >= 2) {
        // Both cores: data-parallel training with a worker replica (inference stays one thread).
        const dp = await benchModel({ ...first, repeats, grouped: best, workers: 2, conv });
        log(`${engine} ${first.arch}@${first.size} b${first.batch} 2 workers: train ${dp.train_img_s} img/s`);
        results.push(dp);
      }
      for (const base of configs.slice(1)) {
        const cfg = conv === "xnnpack" && base.arch === "resnext50_32x4d" ? { ...base, batch: XNNPACK_R50_BATCH } : base;
        const r = await benchModel({ ...cfg, repeats, grouped: best, conv });
        log(`${engine} ${cfg.arch}@${cfg.size} b${cfg.batch}: train ${r.train_img_s} img/s, infer ${r.infer_img_s} img/s`);
        results.push(r);
      }
    }
  }

  const torch: Record<string, TorchResult> = {};
  const ta = torchAvailable();
  if (ta.ok) {
    // Every (arch, size, batch) some engine ran, each once.
    const wanted = new Map(results.map((r) => [key(r), { arch: r.arch, size: r.size, batch: r.batch }]));
    for (const cfg of wanted.values()) {
      const p = getPreset(cfg.arch);
      const r = runTorchReference({ layers: p.layers, groups: p.groups, widthPerGroup: p.widthPerGroup, size: cfg.size, batch: cfg.batch, threads: 2, repeats: opts.quick ? 3 : 5 });
      torch[key(cfg)] = r;
      log(`${r.engine} ${cfg.arch}@${cfg.size} b${cfg.batch}: train ${r.train_img_s} img/s, infer ${r.infer_img_s} img/s`);
    }
  } else {
    log(`PyTorch reference skipped: ${ta.why}`);
  }

  const ratios = results
    .filter((r) => torch[key(r)] && r.grouped === groupedChoice[engineName(r)])
    .map((r) => {
      const t = torch[key(r)];
      return { engine: engineName(r), workers: r.workers, arch: r.arch, size: r.size, batch: r.batch, train_ratio: round(r.train_img_s / t.train_img_s, 3), infer_ratio: r.workers === 1 ? round(r.infer_img_s / t.infer_img_s, 3) : null };
    });
  for (const r of ratios) log(`ratio to PyTorch (2 threads) ${r.engine} x${r.workers} ${key(r)}: train ${r.train_ratio}${r.infer_ratio === null ? "" : `, infer ${r.infer_ratio}`}`);
  const env = environmentInfo();
  const section = {
    machine: { cpus: os.cpus().length, cpuModel: env.cpuModel, memoryGiB: env.memoryGiB, node: env.node, nativeConvolutions: env.nativeConvolutions },
    packages: env.packages,
    method: "one SGD step on mean(GAP features^2), train mode, fp32; inference in eval mode; median of repeats after warm-up",
    groupedChoice,
    results,
    torch: ta.ok ? torch : { skipped: ta.why },
    ratios,
    skipped,
  };
  const file = mergeBenchSection("engine", section);
  log(`wrote ${file}`);
  return section;
}
