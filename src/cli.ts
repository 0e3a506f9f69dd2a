// `retail-repr`: thin commands over the same library functions the notebooks call.
import { selectBackend, describeSelection, parseBackendName } from "./engine/backend";
import { runEngineBench } from "./bench/bench";
import { runPipelineBench } from "./bench/pipeline-bench";
import { runKernelSplit } from "./bench/kernel-split";
import { runMemoryBench } from "./bench/memory-bench";
import { runOnnxBench } from "./bench/onnx-bench";
import { DATASET_NAMES, DatasetName, datasetDir, generateAll } from "./data/generate";
import { BadPolicy, Format, FORMATS, importDataset } from "./data/formats";
import { ckptDir, DEV_SET, finetune, finetuneSweepOnDev, studentSweepOnDev, teacherSweepOnDev, ONE_SHOT_SETS, OneShotSet, pretrainedCheckpoint, pseudolabel, runDir, trainStudent, trainTeacher } from "./pipeline/steps";
import { exportPseudolabels } from "./train/pseudolabel";
import { mergeEmbeddingShards, writeEmbeddingShard } from "./train/embed-shards";
import { SHARD_COUNT_ENV, shardFrom, shardName, sliceOfShard } from "./util/shard";
import { writeFileAtomic } from "./util/paths";
import { embeddingDim } from "./models/model";
import { formatAccuracy } from "./probe/bootstrap";
import { evaluate, pipelinePlan } from "./pipeline/evaluate";
import { reproduce } from "./reproduce";
import { FINETUNE_VARIANTS, FinetuneVariant } from "./train/finetune";
import { reportTables } from "./report/paper-tables";
import { setNativeConvolutions } from "./engine/native-kernels";
import { BASELINE_FILE, compareBaseline, currentBaseline } from "./pipeline/baseline";
import * as fs from "fs";
import * as path from "path";
import { loadCheckpoint } from "./models/checkpoint";
import { exportTorch } from "./models/export-torch";
import { atSize, defaultInputConfig, describeInput } from "./data/input-config";
import { exportOnnx } from "./models/export-onnx";
import { readDataset } from "./data/formats";
import { checkImage } from "./data/images";
import { EMBED_ENGINE, embedBatchFor, embedFiles, INFERENCE_ENGINES, PIPELINE_ENGINE } from "./train/embed";
import { ortLoads } from "./train/onnx-engine";
import { InterruptedError } from "./train/interrupt";
import { npyBytes } from "./util/npy";
import { representationModel } from "./pipeline/evaluate";
import { embedOneShot } from "./probe/probe";
import type { Representation } from "./pipeline/metrics";
import { addProduct } from "./probe/add-product";
import { environmentInfo } from "./engine/info";
import { getProfile, withChunk } from "./config/profiles";
import { runNotebooks } from "./jupyter/harness";
import { flagChoice, flagInt, flagString, parseArgs, requiredFlag } from "./util/args";
import { formatModelInfo, modelInfo } from "./models/info";
import { Pooling } from "./models/heads";
import { importTorchToCheckpoint } from "./models/import-torch";

/** The checkpoint folder an export's --model names: a folder, or a finished step of the profile. */
function exportedCheckpoint(args: ReturnType<typeof parseArgs>, command: string): string {
  const which = requiredFlag(args, command, "model");
  const dir = fs.existsSync(path.join(which, "checkpoint.json")) ? which : ckptDir(profileOf(args), which);
  if (!fs.existsSync(path.join(dir, "checkpoint.json"))) throw new Error(`--model ${which}: neither a checkpoint folder nor a finished step of this profile (no ${path.join(dir, "checkpoint.json")}); train it first, or give a folder`);
  return dir;
}

const INIT_HELP = "--init pretrained|random|CHECKPOINT_DIR] [--chunk N";

/** `--profile`, `--init` and `--chunk` of a training command. */
function profileOf(args: ReturnType<typeof parseArgs>) {
  const p = getProfile(flagString(args, "profile"), flagString(args, "init"));
  const chunk = flagString(args, "chunk");
  return chunk === undefined ? p : withChunk(p, Number(chunk));
}

/** The `--profile`, `--init` and `--chunk` of a command that takes nothing else, with the compute backend started. */
async function profileAndEngine(argv: string[]) {
  const profile = profileOf(parseArgs(argv, { values: ["profile", "init", "chunk"] }));
  await selectBackend();
  return profile;
}

interface Command {
  summary: string;
  usage: string;
  run(argv: string[]): Promise<number>;
}

const commands: Record<string, Command> = {
  bench: {
    summary: "throughput per backend beside PyTorch (same machine, same run) -> reports/bench.json",
    usage: "retail-repr bench [--quick] [--backend NAME] [--only engine|onnx|pipeline|memory|kernels]",
    async run(argv) {
      const args = parseArgs(argv, { values: ["backend", "only"], switches: ["quick"] });
      const b = flagString(args, "backend");
      const only = flagString(args, "only");
      if (only !== undefined && !["engine", "onnx", "pipeline", "memory", "kernels"].includes(only)) throw new Error(`--only: '${only}' is not engine, onnx, pipeline, memory or kernels`);
      if (!only || only === "engine") await runEngineBench({ quick: args.flags.quick === true, backends: b ? [parseBackendName(b, "--backend")] : undefined });
      if (!only || only === "onnx") await runOnnxBench({ quick: args.flags.quick === true });
      if (!only || only === "pipeline") {
        await selectBackend({ log: null });
        await runPipelineBench();
      }
      // The memory cases take minutes (a 256-image ResNeXt-101 step): asked for by name only.
      if (only === "memory") runMemoryBench({ quick: args.flags.quick === true });
      if (!only || only === "kernels") runKernelSplit({ quick: args.flags.quick === true });
      return 0;
    },
  },
  info: {
    summary: "backend, versions and machine; with --arch, a model's parameters, embedding size and FLOPs",
    usage: "retail-repr info [--backend NAME] [--json]\n       retail-repr info --arch NAME [--size PX] [--pooling lca|lca-concepts|gap] [--classes N] [--json]",
    async run(argv) {
      const args = parseArgs(argv, { values: ["backend", "arch", "size", "pooling", "classes"], switches: ["json"] });
      const json = args.flags.json === true;
      const arch = flagString(args, "arch");
      if (arch) {
        await selectBackend({ force: flagString(args, "backend"), log: null }); // the heap limits depend on the engine
        const info = modelInfo({ arch, pooling: (flagString(args, "pooling") ?? "lca") as Pooling, projDim: 0, classes: flagInt(args, "classes") ?? 0 }, flagInt(args, "size") ?? 224);
        console.log(json ? JSON.stringify(info, null, 2) : formatModelInfo(info));
        return 0;
      }
      const sel = await selectBackend({ force: flagString(args, "backend"), log: null });
      const info = { ...environmentInfo(), selection: sel };
      if (json) {
        console.log(JSON.stringify(info, null, 2));
      } else {
        console.log(describeSelection(sel));
        console.log(`node ${info.node} on ${info.platform}, ${info.cpus} x ${info.cpuModel}, ${info.memoryGiB} GiB`);
        for (const [p, v] of Object.entries(info.packages)) console.log(`  ${p.padEnd(34)} ${v}`);
      }
      return 0;
    },
  },
  generate: {
    summary: "render the synthetic datasets of a profile into datasets/<profile>/",
    usage: "retail-repr generate [--profile smoke|cpu|paper] [--only NAME[,NAME]]",
    async run(argv) {
      const args = parseArgs(argv, { values: ["profile", "only"] });
      const profile = getProfile(flagString(args, "profile"));
      const only = flagString(args, "only")?.split(",").map((n) => {
        if (!(DATASET_NAMES as readonly string[]).includes(n)) throw new Error(`--only: unknown dataset '${n}' (have: ${DATASET_NAMES.join(", ")})`);
        return n as DatasetName;
      });
      for (const r of await generateAll(profile, only)) {
        console.log(`${r.name}: ${r.images} images in ${r.dir}${r.cached ? " (cached: same spec, all files present)" : ` (${r.seconds.toFixed(1)} s)`}`);
      }
      return 0;
    },
  },
  "import-data": {
    summary: "use a real dataset (class folders, Grozi-120, pairs CSV, unlabeled folder) in place of a generated one",
    usage: "retail-repr import-data --format class-folders|grozi120|pairs-csv|unlabeled --source PATH --as DATASET [--split FILE.csv] [--profile P] [--on-bad skip|stop]",
    async run(argv) {
      const args = parseArgs(argv, { values: ["format", "source", "as", "profile", "on-bad", "split"] });
      const profile = getProfile(flagString(args, "profile"));
      const format = flagString(args, "format") as Format;
      if (!(FORMATS as readonly string[]).includes(format)) throw new Error(`--format: use one of ${FORMATS.join(", ")}`);
      const source = flagString(args, "source");
      const as = flagString(args, "as");
      if (!source || !as) throw new Error("import-data: --source and --as are required");
      const policy = (flagString(args, "on-bad") ?? "skip") as BadPolicy;
      if (policy !== "skip" && policy !== "stop") throw new Error("--on-bad: use skip or stop");
      const r = await importDataset(format, source, datasetDir(as, profile.name), policy, { split: flagString(args, "split") });
      console.log(`${r.items.length} images imported as ${as} (${profile.name})`);
      if (r.rule) console.log(`  split: ${r.rule}`);
      for (const n of r.notes) console.log(`  note: ${n}`);
      if (r.problems.length) console.log(`skipped ${r.problems.length}:\n  ${r.problems.join("\n  ")}`);
      return 0;
    },
  },
  pretrain: {
    summary: "step 0: the pretrained start (weakly supervised on the hashtag corpus; the stand-in for ResNeXt-WSL)",
    usage: "retail-repr pretrain [--profile P] [--chunk N]",
    async run(argv) {
      const profile = await profileAndEngine(argv);
      console.log(`pretrained backbone in ${await pretrainedCheckpoint(profile)}`);
      return 0;
    },
  },
  "train-teacher": {
    summary: "step 1: the teacher (SupCon + hard negatives on teacher-pairs), its learning rate and checkpoint chosen on dev-like",
    usage: `retail-repr train-teacher [--profile P] [${INIT_HELP}]`,
    async run(argv) {
      const profile = await profileAndEngine(argv);
      const sel = await teacherSweepOnDev(profile);
      for (const t of sel.tried) console.log(`dev sweep lr ${t.lr}: dev-like LR ${(100 * t.devAccuracy).toFixed(1)} %, 1-NN ${(100 * t.devOneNN).toFixed(1)} %${t.lr === sel.chosen.lr ? "  <- chosen" : ""}`);
      const { result } = await trainTeacher(profile);
      console.log(`teacher: ${result.steps} steps (resumed from ${result.resumedFrom}), ${result.imgPerSec.toFixed(1)} img/s${result.selection ? `; kept step ${result.selection.chosenStep}, the best on dev-like` : ""}`);
      return 0;
    },
  },
  pseudolabel: {
    summary: "step 2: teacher embeddings of student-pseudo, in parts (--shard K/N splits the work across machines; --export writes one .npy)",
    usage: `retail-repr pseudolabel [--profile P] [${INIT_HELP}] [--shard K/N] [--engine ${INFERENCE_ENGINES.join("|")} (default ${PIPELINE_ENGINE}, the pipeline's)] | --export FILE.npy`,
    async run(argv) {
      const args = parseArgs(argv, { values: ["profile", "init", "chunk", "shard", "export", "engine"] });
      const engine = flagChoice(args, "engine", INFERENCE_ENGINES, PIPELINE_ENGINE);
      const profile = profileOf(args);
      const out = flagString(args, "export");
      if (out !== undefined) {
        if (!out.endsWith(".npy")) throw new Error(`--export: ${out} must end in .npy`);
        const dir = runDir(profile, "pseudolabels");
        const r = exportPseudolabels(dir, out);
        console.log(`${r.count} pseudolabels of dimension ${r.dim} (float32, manifest order) -> ${out}`);
        return 0;
      }
      const shard = shardFrom(flagString(args, "shard"));
      await selectBackend();
      if (shard && flagString(args, "shard") === undefined) console.log(`shard ${shardName(shard)} (from JOB_COMPLETION_INDEX and ${SHARD_COUNT_ENV})`);
      const { dir, status } = await pseudolabel(profile, { shard, engine });
      const left = status.parts - status.done.length;
      console.log(`pseudolabels in ${dir}: ${status.done.length} of ${status.parts} parts done${left ? ` (${left} left to other shards)` : ""}`);
      return 0;
    },
  },
  "train-student": {
    summary: "step 3: the noisy student (SupCon on pairs + Smooth L1 to pseudolabels), its start and alpha chosen on dev-like",
    usage: `retail-repr train-student [--profile P] [${INIT_HELP}]`,
    async run(argv) {
      const profile = await profileAndEngine(argv);
      const sel = await studentSweepOnDev(profile);
      for (const t of [...sel.tried, ...sel.lrTried.slice(1)]) console.log(`dev sweep ${t.candidate.name}${t.candidate.lr ? ` (lr ${t.candidate.lr})` : ""}: dev-like LR ${(100 * t.devAccuracy).toFixed(1)} %, 1-NN ${(100 * t.devOneNN).toFixed(1)} %; |grad| SupCon ${t.gradientNorms.supcon.toPrecision(3)}, Smooth L1 ${t.gradientNorms.smoothl1.toPrecision(3)}`);
      console.log(`chosen: start ${sel.chosen.start}, alpha ${sel.chosen.alpha}, lr ${sel.chosen.lr}`);
      const { result } = await trainStudent(profile);
      console.log(`student: ${result.steps} steps (resumed from ${result.resumedFrom}), ${result.imgPerSec.toFixed(1)} img/s${result.selection ? `; kept step ${result.selection.chosenStep}, the best on dev-like` : ""}`);
      return 0;
    },
  },
  finetune: {
    summary: "fine-tune baselines (gap, lca, lca-maxent) on the one-shot sets, with the recipe chosen on dev-like",
    usage: `retail-repr finetune [--profile P] [${INIT_HELP}] [--dataset dev-like|capg-like|grozi-like] [--variant gap|lca|lca-maxent]`,
    async run(argv) {
      const args = parseArgs(argv, { values: ["profile", "init", "chunk", "dataset", "variant"] });
      const profile = profileOf(args);
      await selectBackend();
      const sel = await finetuneSweepOnDev(profile);
      for (const t of sel.tried) console.log(`dev-like gap, recipe ${t.recipe.name} (lr ${t.recipe.lr}, backbone x${t.recipe.backboneScale}): dev accuracy ${(100 * t.devAccuracy).toFixed(1)} %, training accuracy ${(100 * t.trainAccuracy).toFixed(1)} %${t.recipe.name === sel.chosen.name ? "  <- chosen" : ""}`);
      if (flagString(args, "dataset") === DEV_SET) return 0;
      const sets = flagString(args, "dataset") ? [flagString(args, "dataset") as OneShotSet] : [...ONE_SHOT_SETS];
      const variants = flagString(args, "variant") ? [flagString(args, "variant") as FinetuneVariant] : (Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[]);
      for (const set of sets) for (const v of variants) {
        if (!(ONE_SHOT_SETS as readonly string[]).includes(set)) throw new Error(`--dataset: unknown '${set}' (have: ${ONE_SHOT_SETS.join(", ")})`);
        if (!(v in FINETUNE_VARIANTS)) throw new Error(`--variant: unknown '${v}' (have: ${Object.keys(FINETUNE_VARIANTS).join(", ")})`);
        const r = await finetune(profile, set, v);
        console.log(`${set} ${v} (init ${profile.init}): test accuracy ${formatAccuracy(r.accuracy, r.accuracyCI)} %, training accuracy ${(100 * r.trainAccuracy).toFixed(1)} %`);
      }
      return 0;
    },
  },
  plan: {
    summary: "the pipeline's steps, each cached or to run and why (computes nothing)",
    usage: `retail-repr plan [--profile P] [${INIT_HELP}] [--json]`,
    async run(argv) {
      const args = parseArgs(argv, { values: ["profile", "init", "chunk"], switches: ["json"] });
      const profile = profileOf(args);
      const rows = pipelinePlan(profile);
      if (args.flags.json) {
        console.log(JSON.stringify(rows, null, 2));
        return 0;
      }
      const width = Math.max(...rows.map((r) => r.step.length));
      console.log(`plan for profile ${profile.name} (init ${profile.init}${profile.repeat ? `, repeat ${profile.repeat}` : ""}):`);
      for (const r of rows) console.log(`  ${r.step.padEnd(width)}  ${r.status === "cached" ? "cached" : `to run: ${r.why}`}`);
      const todo = rows.filter((r) => r.status === "to run").length;
      console.log(todo ? `${todo} of ${rows.length} steps to run` : "every step is cached");
      return 0;
    },
  },
  evaluate: {
    summary: "probes (LR, kNN, NCM) on random-init/pretrained/teacher/student + fine-tune baselines -> tables, findings",
    usage: `retail-repr evaluate [--profile P] [${INIT_HELP}]`,
    async run(argv) {
      const profile = await profileAndEngine(argv);
      reportTables(await evaluate(profile));
      return 0;
    },
  },
  embed: {
    summary: "embeddings of any image folder with a trained model, to .npy or .json (--shard K/N, then --merge, across machines)",
    usage: `retail-repr embed --model CHECKPOINT_DIR --input FOLDER --out FILE.npy|FILE.json [--size PX (default: the model's training size)] [--engine ${INFERENCE_ENGINES.join("|")} (default ${EMBED_ENGINE} where onnxruntime-node loads)] [--on-bad skip|stop] [--shard K/N] | --merge --out FILE.npy`,
    async run(argv) {
      const args = parseArgs(argv, { values: ["model", "input", "out", "size", "on-bad", "batch", "shard", "engine"], switches: ["merge"] });
      const engine = flagChoice(args, "engine", INFERENCE_ENGINES, EMBED_ENGINE === "onnx" && !ortLoads() ? "native" : EMBED_ENGINE);
      const need = (n: string) => requiredFlag(args, "embed", n);
      const out = need("out");
      if (!/\.(npy|json)$/.test(out)) throw new Error(`--out: ${out} must end in .npy or .json`);
      if (args.flags.merge === true) {
        const r = mergeEmbeddingShards(out);
        console.log(`${r.count} embeddings of dimension ${r.dim} from ${r.shards} shard(s) -> ${out}`);
        return 0;
      }
      const [modelDir, folder] = [need("model"), need("input")];
      const shard = shardFrom(flagString(args, "shard"));
      if (shard && !out.endsWith(".npy")) throw new Error(`--shard: write shards to a .npy (--out ${out.replace(/\.json$/, ".npy")}); \`embed --merge\` joins them`);
      await selectBackend({ log: null });
      const { model, meta } = loadCheckpoint(modelDir);
      const report = await readDataset("unlabeled", folder, (flagString(args, "on-bad") ?? "skip") as BadPolicy);
      for (const p of report.problems) console.warn(`skipped ${p}`);
      const all = report.items.map((it) => it.file);
      if (all.length === 0) throw new Error(`${folder}: no images to embed`);
      // The checkpoint's input config (the size its run trained at, or an import's torchvision
      // transform) unless --size says otherwise.
      const recorded = model.input;
      const asked = flagInt(args, "size");
      if (asked !== undefined && recorded !== undefined && asked !== recorded.size) console.warn(`embed: --size ${asked} differs from the ${recorded.size} px of this model's input config`);
      if (asked === undefined && recorded === undefined) console.warn(`embed: ${modelDir} records no input size; using 64 px (set --size)`);
      const input = recorded ? (asked ? atSize(recorded, asked) : recorded) : defaultInputConfig(asked ?? 64);
      const size = input.size;
      if (input.resize !== "fill") console.error(`embed: ${describeInput(input)} (the checkpoint's input config)`);
      const batch = embedBatchFor(model.config, size, flagInt(args, "batch") ?? 32);
      const [begin, end] = sliceOfShard(all.length, shard, batch);
      const files = all.slice(begin, end);
      const z = await embedFiles(model, files, { size, batch, engine, input, label: shard ? `embed ${shardName(shard)}` : "embed" });
      const dim = embeddingDim(model.config);
      if (shard) {
        const file = writeEmbeddingShard(out, shard, z, files, { model: meta.weights.sha256, total: all.length, begin });
        console.log(`shard ${shardName(shard)}: ${files.length} embeddings (images ${begin}-${end - 1} of ${all.length}) -> ${file}`);
      } else if (out.endsWith(".npy")) {
        writeFileAtomic(out, npyBytes(z, [files.length, dim]));
        writeFileAtomic(out.replace(/\.npy$/, ".files.txt"), files.join("\n") + "\n");
      } else {
        writeFileAtomic(out, JSON.stringify({ model: modelDir, step: meta.step, dim, files, embeddings: files.map((_, i) => Array.from(z.subarray(i * dim, (i + 1) * dim))) }) + "\n");
      }
      if (!shard) console.log(`${files.length} embeddings of dimension ${dim} -> ${out}`);
      return 0;
    },
  },
  "add-product": {
    summary: "add a product from one image to a one-shot set's probe; before/after accuracy and fit time",
    usage: "retail-repr add-product --image FILE [--test FILE,FILE...] [--profile P] [--model teacher|student] [--dataset grozi-like|capg-like]",
    async run(argv) {
      const args = parseArgs(argv, { values: ["image", "test", "profile", "model", "dataset"] });
      const profile = getProfile(flagString(args, "profile"));
      const image = flagString(args, "image");
      if (!image) throw new Error("add-product: --image is required");
      const tests = flagString(args, "test")?.split(",") ?? [];
      for (const f of [image, ...tests]) await checkImage(f);
      await selectBackend({ log: null });
      const which = (flagString(args, "model") ?? "student") as Representation;
      const set = (flagString(args, "dataset") ?? "grozi-like") as OneShotSet;
      const model = await representationModel(profile, which);
      const base = await embedOneShot(profile, model, set);
      const r = await addProduct(profile, model, base, image, tests.length ? tests : [image]);
      console.log(`${set}, ${which} embeddings: probe accuracy ${formatAccuracy(r.before.logreg, r.before.logregCI)} % before, ${formatAccuracy(r.oldClassesAfter, r.oldClassesAfterCI)} % on the old classes after adding class ${r.newClass}`);
      console.log(`new product: ${formatAccuracy(r.newProduct, r.newProductCI)} % of ${tests.length ? `${tests.length} test image(s)` : "its own image"} recognised; refit took ${r.fitMs.toFixed(1)} ms`);
      return 0;
    },
  },
  baseline: {
    summary: "smoke-profile metrics vs the committed regression baseline (--write replaces it)",
    usage: "retail-repr baseline [--write]",
    async run(argv) {
      const args = parseArgs(argv, { switches: ["write"] });
      await selectBackend({ force: "wasm", log: null });
      setNativeConvolutions(false); // the baseline's engine (see pipeline/baseline.ts)
      const now = await currentBaseline(getProfile("smoke"));
      if (args.flags.write === true) {
        fs.writeFileSync(BASELINE_FILE, JSON.stringify(now, null, 1) + "\n");
        console.log(`wrote ${BASELINE_FILE}`);
        return 0;
      }
      const drift = compareBaseline(now, JSON.parse(fs.readFileSync(BASELINE_FILE, "utf8")));
      console.log(drift.length ? drift.join("\n") : "within the baseline's tolerances");
      return drift.length ? 1 : 0;
    },
  },
  reproduce: {
    summary: "everything: data, pretraining, teacher, pseudolabels, student, baselines, probes, tables, findings, notebooks",
    usage: `retail-repr reproduce [--profile P] [${INIT_HELP}] [--seeds N] [--no-notebooks]`,
    async run(argv) {
      const args = parseArgs(argv, { values: ["profile", "init", "chunk", "seeds"], switches: ["no-notebooks"] });
      const seeds = flagInt(args, "seeds") ?? 1;
      if (seeds < 1) throw new Error("--seeds: give a whole number >= 1");
      return reproduce(profileOf(args), { notebooks: args.flags["no-notebooks"] !== true, seeds });
    },
  },
  "import-torch": {
    summary: "torchvision-named weights (.pth from torch.save, either format, or .safetensors) -> a retail-repr checkpoint",
    usage: "retail-repr import-torch --arch NAME --weights FILE.pth|FILE.safetensors --out DIR [--pooling lca|gap] [--classes N] [--size PX (torchvision's crop, default 224)]",
    async run(argv) {
      const args = parseArgs(argv, { values: ["arch", "weights", "safetensors", "out", "pooling", "classes", "size"] });
      const need = (n: string) => requiredFlag(args, "import-torch", n);
      const r = importTorchToCheckpoint({
        config: { arch: need("arch"), pooling: (flagString(args, "pooling") ?? "lca") as Pooling, projDim: 0, classes: flagInt(args, "classes") ?? 0 },
        weights: flagString(args, "safetensors") ?? need("weights"), // --safetensors: the earlier name
        out: need("out"),
        size: flagInt(args, "size"),
      });
      console.log(`loaded ${r.loaded} tensors${r.ignored.length ? ` (left out: ${r.ignored.length}, e.g. ${r.ignored[0]})` : ""}; checkpoint written to ${need("out")}`);
      return 0;
    },
  },
  "export-torch": {
    summary: "a trained model -> a .safetensors or .pth file in PyTorch's names and layouts (python/retail_repr_torch.py builds the model from it)",
    usage: "retail-repr export-torch --model teacher|student|pretrain|finetune-...|CHECKPOINT_DIR --out FILE.safetensors|FILE.pth [--profile P] [--size PX]",
    async run(argv) {
      const args = parseArgs(argv, { values: ["model", "out", "profile", "init", "chunk", "size"] });
      const out = requiredFlag(args, "export-torch", "out");
      const dir = exportedCheckpoint(args, "export-torch");
      await selectBackend({ log: null });
      const r = exportTorch(dir, out, flagInt(args, "size"));
      console.log(`${r.tensors} tensors (${(r.bytes / 1e6).toFixed(1)} MB, input ${r.size} px) written to ${out}; in Python: PYTHONPATH=python python3 -c "import retail_repr_torch as rr; model, cfg = rr.load('${out}')"`);
      return 0;
    },
  },
  "export-onnx": {
    summary: "a trained model's embedding network -> an .onnx file (dynamic batch, L2-normalised output, preprocessing in its metadata)",
    usage: "retail-repr export-onnx --model teacher|student|pretrain|finetune-...|CHECKPOINT_DIR --out FILE.onnx [--profile P] [--size PX]",
    async run(argv) {
      const args = parseArgs(argv, { values: ["model", "out", "profile", "init", "chunk", "size"] });
      const out = requiredFlag(args, "export-onnx", "out");
      const dir = exportedCheckpoint(args, "export-onnx");
      await selectBackend({ log: null });
      const r = exportOnnx(dir, out, flagInt(args, "size"));
      console.log(`${(r.bytes / 1e6).toFixed(1)} MB written to ${out}: input "images" [batch, 3, ${r.size}, ${r.size}] (${describeInput(r.input)}), output "embedding"`);
      return 0;
    },
  },
  notebooks: {
    summary: "execute notebooks headless (nbconvert) into reports/notebooks/<profile>/",
    usage: "retail-repr notebooks [--profile smoke|cpu|paper] [NAME ...]",
    async run(argv) {
      const args = parseArgs(argv, { values: ["profile", "timeout"] });
      const profile = getProfile(flagString(args, "profile"));
      const runs = runNotebooks({ profile: profile.name, only: args.positional, timeoutSec: Number(flagString(args, "timeout") ?? 1800) });
      const failed = runs.filter((r) => !r.ok);
      console.log(`notebooks: ${runs.length - failed.length} passed, ${failed.length} failed`);
      return failed.length ? 1 : 0;
    },
  },
};

function help(): string {
  const lines = ["retail-repr — contrastive + pseudolabel representations for retail product images", "", "commands:"];
  for (const [name, c] of Object.entries(commands)) lines.push(`  ${name.padEnd(14)} ${c.summary}`);
  lines.push("", "`retail-repr COMMAND --help` shows a command's options.");
  return lines.join("\n");
}

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(help());
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`retail-repr: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(`${cmd.usage}\n\n${cmd.summary}`);
    return 0;
  }
  return cmd.run(rest);
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      console.error(`retail-repr: ${(err as Error).message}`);
      if (process.env.RETAIL_REPR_DEBUG) console.error(err);
      process.exit(err instanceof InterruptedError ? 130 : 1);
    },
  );
}
