// `npm run bench`: throughput per available backend beside PyTorch on the same machine, in the
// same run, written to reports/bench.json (section "engine"; other sections come from the data
// and training benchmarks and are kept).
import * as fs from "fs";
import * as os from "os";
import { BACKEND_ORDER, BackendName, selectBackend } from "../engine/backend";
import { defaultChecks } from "../engine/availability";
import { environmentInfo } from "../engine/info";
import { loadNative } from "../engine/native";
import { GroupedConvMode } from "../models/layers";
import { reportPath } from "../util/reports";
import { readVersioned, ReportFormatError, writeVersioned } from "../util/report-schema";
import { BENCH_REPORT } from "./bench-schema";
import { benchModel, ModelBenchResult, round } from "./model-bench";
import { pairedAgainstTorch, PairedResult, PairedSide } from "./paired-bench";
import { presetReferenceArgs, runTorchReference, torchAvailable, TorchResult } from "./torch-reference";

export interface BenchOptions {
  /** Smaller repeats, the 224px config skipped: for a quick look, not for reports. */
  quick?: boolean;
  backends?: BackendName[];
  log?: (s: string) => void;
}

const CONFIGS = [
  { arch: "resnext14_8x8d", size: 64, batch: 64 },
  { arch: "resnext50_32x4d", size: 224, batch: 8 },
  { arch: "resnext101_32x8d", size: 224, batch: 4 },
];
// ResNeXt-101 @224 on XNNPACK: past the heap at batch 4 and ~10x slower than native; measured
// on the native engine and torch only (and skipped, with that reason, where neither is).
const NATIVE_ONLY = new Set(["resnext101_32x8d"]);
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

/** Put one benchmark's section into reports/bench.json, keeping the other sections. A file of
 * another version is moved to bench.json.old (named on the console), never overwritten. */
export function mergeBenchSection(section: string, data: unknown): string {
  const file = reportPath("bench");
  let prior: Record<string, unknown> = {};
  try {
    prior = readVersioned(BENCH_REPORT, file) ?? {};
  } catch (e) {
    if (!(e instanceof ReportFormatError)) throw e;
    fs.renameSync(file, `${file}.old`);
    console.log(`${e.message.split(". ")[0]}: moved to ${file}.old, starting a new file`);
  }
  const { schemaVersion: _v, ...sections } = prior;
  writeVersioned(BENCH_REPORT, file, { ...sections, [section]: { written: new Date().toISOString(), ...(data as object) } });
  return file;
}

/** reports/bench.json, checked against its schema and version; undefined when not written yet. */
export const readBench = () => readVersioned(BENCH_REPORT, reportPath("bench"));

/** Identifies one measured configuration across rounds. */
const resultKey = (r: ModelBenchResult) => `${engineName(r)} ${key(r)} ${r.grouped} x${r.workers}`;

/** Keep each configuration's best train and best inference figure over the rounds. */
function bestOf<T extends { train_img_s: number; infer_img_s: number }>(
  rounds: Map<string, T>[],
): Map<string, T & { rounds_train: number[]; rounds_infer: number[] }> {
  const out = new Map<string, T & { rounds_train: number[]; rounds_infer: number[] }>();
  for (const round of rounds)
    for (const [k, r] of round) {
      const prior = out.get(k);
      if (!prior) {
        out.set(k, { ...r, rounds_train: [r.train_img_s], rounds_infer: [r.infer_img_s] });
        continue;
      }
      prior.rounds_train.push(r.train_img_s);
      prior.rounds_infer.push(r.infer_img_s);
      prior.train_img_s = Math.max(prior.train_img_s, r.train_img_s);
      prior.infer_img_s = Math.max(prior.infer_img_s, r.infer_img_s);
    }
  return out;
}

/** The paired measurement (paired-bench.ts) of the engines that can train the 224-px models:
 * the torch backend and the native engine. */
async function pairedRuns(
  configs: typeof CONFIGS,
  python: string,
  pairs: number,
  log: (s: string) => void,
  only?: BackendName[],
): Promise<PairedResult[]> {
  const out: PairedResult[] = [];
  for (const name of ["torch", "wasm"] as BackendName[]) {
    if (only && !only.includes(name)) continue;
    if (!(await defaultChecks[name]({ forced: true })).ok) continue;
    if (name === "wasm" && !loadNative().ok) continue;
    await selectBackend({ force: name, log: null });
    const conv = name === "wasm" ? ("native" as const) : undefined;
    const engine = engineName({ backend: name, conv });
    for (const c of configs) {
      const r = await pairedAgainstTorch({ ...c, conv }, python, pairs, engine);
      out.push(r);
      const iqr = (s: PairedSide) => `${s.ratio} (${s.ratio_iqr.join("-")})`;
      log(`paired with PyTorch, ${engine} ${key(c)}: train ${iqr(r.train)}, infer ${iqr(r.infer)} over ${pairs} pairs`);
    }
  }
  return out;
}

export async function runEngineBench(opts: BenchOptions = {}): Promise<Record<string, unknown>> {
  const log = opts.log ?? ((s: string) => console.log(s));
  const configs = opts.quick ? CONFIGS.slice(0, 1) : CONFIGS;
  const repeats = opts.quick ? 2 : 3;
  // This shared machine slows down for seconds at a time (steal time): each round measures every
  // engine and then PyTorch, and both sides keep their best round, so that a slow spell in one
  // round does not decide a ratio.
  const rounds = opts.quick ? 1 : 2;
  const skipped: Record<string, string> = {};
  const groupedChoice: Record<string, GroupedConvMode> = {};
  const ta = torchAvailable();
  if (!ta.ok) log(`PyTorch reference skipped: ${ta.why}`);
  else log(`PyTorch reference: torch ${ta.version} (${ta.python})`);
  const ours: Map<string, ModelBenchResult>[] = [];
  const theirs: Map<string, TorchResult>[] = [];

  for (let round = 0; round < rounds; round++) {
    if (rounds > 1) log(`-- round ${round + 1} of ${rounds}`);
    const results = new Map<string, ModelBenchResult>();
    const add = (r: ModelBenchResult, label: string) => {
      results.set(resultKey(r), r);
      log(`${label}: train ${r.train_img_s} img/s${r.workers === 1 ? `, infer ${r.infer_img_s} img/s` : ""}`);
    };
    for (const name of opts.backends ?? BACKEND_ORDER) {
      if (TOO_SLOW.includes(name)) {
        skipped[name] = "too slow to time a ResNeXt step (~0.2 img/s on a small net)";
        continue;
      }
      // Asked for by name: torch is measured on the CPU too (auto takes it on CUDA only).
      const check = await defaultChecks[name]({ forced: true });
      if (!check.ok) {
        skipped[name] = check.why;
        continue;
      }
      await selectBackend({ force: name, log: null });
      const native = name === "wasm" ? loadNative() : undefined;
      if (native && !native.ok) skipped["wasm/native"] = native.why;
      for (const conv of name !== "wasm" ? [undefined] : native?.ok ? (["xnnpack", "native"] as const) : (["xnnpack"] as const)) {
        const engine = engineName({ backend: name, conv });
        const first = configs[0];
        const label = (c: { arch: string; size: number; batch: number }, extra = "") => `${engine} ${key(c)}${extra}`;
        if (conv !== "native" && name !== "torch" && round === 0) {
          // Grouped convolution: time both formulations on the small config (first round), keep
          // the faster. The native engine and torch have one grouped kernel and need neither.
          for (const mode of ["split", "blockdiag"] as GroupedConvMode[])
            add(await benchModel({ ...first, repeats, grouped: mode, conv }), label(first, ` grouped=${mode}`));
          const t = (mode: string) => results.get(`${engine} ${key(first)} ${mode} x1`)!.train_img_s;
          groupedChoice[engine] = t("split") >= t("blockdiag") ? "split" : "blockdiag";
        } else {
          groupedChoice[engine] ??= "split";
          add(await benchModel({ ...first, repeats, grouped: groupedChoice[engine], conv }), label(first));
        }
        const best = groupedChoice[engine];
        if (name === "wasm" && os.cpus().length >= 2) {
          // Both cores: data-parallel training with a worker replica (inference stays one thread).
          add(await benchModel({ ...first, repeats, grouped: best, workers: 2, conv }), label(first, " 2 workers"));
        }
        for (const base of configs.slice(1)) {
          if (NATIVE_ONLY.has(base.arch) && conv !== "native" && name !== "torch") {
            skipped[`${engine} ${key(base)}`] =
              "over the wasm heap at this batch and ~10x slower than the native engine: measured on native only";
            continue;
          }
          const cfg = conv === "xnnpack" && base.arch === "resnext50_32x4d" ? { ...base, batch: XNNPACK_R50_BATCH } : base;
          add(await benchModel({ ...cfg, repeats, grouped: best, conv }), label(cfg));
        }
      }
    }
    ours.push(results);

    const torch = new Map<string, TorchResult>();
    if (ta.ok) {
      // Every (arch, size, batch) some engine ran, each once.
      const wanted = new Map([...results.values()].map((r) => [key(r), { arch: r.arch, size: r.size, batch: r.batch }]));
      for (const cfg of wanted.values()) {
        const r = runTorchReference(presetReferenceArgs(cfg, opts.quick ? 3 : 5), ta.python);
        torch.set(key(cfg), r);
        log(`${r.engine} ${key(cfg)}: train ${r.train_img_s} img/s, infer ${r.infer_img_s} img/s`);
      }
    }
    theirs.push(torch);
  }

  const results = [...bestOf(ours).values()];
  const torch = Object.fromEntries(bestOf(theirs));
  const ratios = results
    .filter((r) => torch[key(r)] && r.grouped === groupedChoice[engineName(r)])
    .map((r) => {
      const t = torch[key(r)];
      return {
        engine: engineName(r),
        workers: r.workers,
        arch: r.arch,
        size: r.size,
        batch: r.batch,
        train_ratio: round(r.train_img_s / t.train_img_s, 3),
        infer_ratio: r.workers === 1 ? round(r.infer_img_s / t.infer_img_s, 3) : null,
      };
    });
  for (const r of ratios)
    log(
      `ratio to PyTorch (2 threads) ${r.engine} x${r.workers} ${key(r)}: train ${r.train_ratio}${r.infer_ratio === null ? "" : `, infer ${r.infer_ratio}`}`,
    );
  // The 224-px models only: on the small model's 0.06-0.4 s steps a pause before a step moves
  // PyTorch's time by up to 40 % (0.5 s back to back, 0.55-0.72 s after 0.6 s idle), which the
  // rounds above do not have.
  const paired = ta.ok ? await pairedRuns(configs.slice(1), ta.python, 8, log, opts.backends) : [];
  const env = environmentInfo();
  const section = {
    machine: {
      cpus: os.cpus().length,
      cpuModel: env.cpuModel,
      memoryGiB: env.memoryGiB,
      node: env.node,
      nativeConvolutions: env.nativeConvolutions,
    },
    packages: env.packages,
    method:
      "one SGD step on mean(GAP features^2), train mode, fp32; inference in eval mode; median of repeats after warm-up; best of `rounds` rounds on both sides (each round: every engine, then PyTorch)",
    groupedChoice,
    results,
    rounds,
    torch: ta.ok ? { version: ta.version, python: ta.python, ...torch } : { skipped: ta.why },
    ratios,
    pairedMethod:
      "the same steps, one here and one in PyTorch's reference server in turn (the order swapped every pair); ratio: the median over pairs of PyTorch's time / ours, with its quartiles",
    paired,
    skipped,
  };
  const file = mergeBenchSection("engine", section);
  log(`wrote ${file}`);
  return section;
}
