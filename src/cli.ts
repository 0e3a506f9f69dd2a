// `retail-repr`: thin commands over the same library functions the notebooks call.
import { BACKEND_ORDER, selectBackend, describeSelection, parseBackendName } from "./engine/backend";
import { runEngineBench } from "./bench/bench";
import { runPipelineBench } from "./bench/pipeline-bench";
import { runKernelSplit } from "./bench/kernel-split";
import { runMemoryBench } from "./bench/memory-bench";
import { runOnnxBench } from "./bench/onnx-bench";
import { DATASET_NAMES, DatasetName, datasetDir, generateAll } from "./data/generate";
import { BadPolicy, Format, FORMATS, importDataset } from "./data/formats";
import {
  ckptDir,
  DEV_SET,
  finetune,
  finetuneSweepOnDev,
  studentSweepOnDev,
  teacherSweepOnDev,
  ONE_SHOT_SETS,
  OneShotSet,
  pretrainedCheckpoint,
  pseudolabel,
  runDir,
  trainStudent,
  trainTeacher,
} from "./pipeline/steps";
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
import { getProfile, OverrideLayer, PROFILE_NAMES, PROFILES, withChunk } from "./config/profiles";
import { runNotebooks } from "./jupyter/harness";
import { installKernel, KERNEL_NAME, KernelPlace, uninstallKernel } from "./jupyter/kernel";
import { applyTslabPatch } from "./jupyter/tslab-patch";
import {
  CommandSpec,
  commandHelp,
  flagChoice,
  flagInt,
  flagList,
  flagSet,
  flagString,
  OptionSpec,
  parseCommandArgs,
  ParsedArgs,
  requiredFlag,
  UsageError,
} from "./util/args";
import { CONFIG_ENV, changedKeys, mergeOverrides, Overrides, parseSet, readConfigFile } from "./config/overrides";
import { stringify as toYaml } from "yaml";
import { formatModelInfo, modelInfo } from "./models/info";
import { Pooling, POOLINGS } from "./models/heads";
import { PRESETS } from "./models/resnext";
import { importTorchToCheckpoint } from "./models/import-torch";

const PROGRAM = "retail-repr";

// Options many commands share. The profile's values can be changed without editing code: a
// config file, then each --set in order, each layer checked by the profile schema.
const PROFILE_OPTIONS: Record<string, OptionSpec> = {
  profile: {
    type: "string",
    choices: PROFILE_NAMES,
    default: "cpu, or $RETAIL_REPR_PROFILE",
    description: "which sizes of the method to run",
  },
  config: { type: "string", value: "FILE", description: "a JSON or YAML file of profile values to change ($RETAIL_REPR_CONFIG)" },
  set: {
    type: "string",
    value: "KEY=VALUE",
    multiple: true,
    description: "change one profile value, e.g. train.teacher.lr=0.1 ($RETAIL_REPR_SET); `retail-repr config` lists the keys",
  },
};
const TRAINING_OPTIONS: Record<string, OptionSpec> = {
  ...PROFILE_OPTIONS,
  init: {
    type: "string",
    value: "pretrained|random|CHECKPOINT_DIR",
    default: "the profile's (pretrained), or $RETAIL_REPR_INIT",
    description: "where every trained model starts",
  },
  chunk: {
    type: "string",
    value: "N",
    int: true,
    min: 1,
    default: "only when a batch does not fit",
    description: "train in gradient-cache chunks of N images ($RETAIL_REPR_CHUNK)",
  },
};
const JSON_OPTION: OptionSpec = { type: "boolean", description: "print the result as JSON on stdout (diagnostics go to stderr)" };
const BAD_OPTION: OptionSpec = {
  type: "string",
  choices: ["skip", "stop"],
  default: "skip",
  description: "what to do with an unreadable image: skip it (named on stderr) or stop",
};

/** The --config and --set layers of a command line, in the order they apply. */
function overrideLayers(args: ParsedArgs): OverrideLayer[] {
  const file = flagString(args, "config");
  const layers: OverrideLayer[] = file ? [{ source: `--config ${file}`, values: readConfigFile(file) }] : [];
  for (const expr of flagList(args, "set")) layers.push({ source: `--set ${expr}`, values: parseSet(expr) });
  return layers;
}

/** The profile a command line asks for: --profile, --config, --set, --init and --chunk. The
 * overrides are also put in RETAIL_REPR_CONFIG so that the notebooks and worker processes this
 * command starts read the same profile. A value the schema refuses is a usage error. */
function profileOf(args: ParsedArgs) {
  let layers: OverrideLayer[];
  let p;
  try {
    layers = overrideLayers(args);
    p = getProfile(flagString(args, "profile"), flagString(args, "init"), layers);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (layers.length) process.env[CONFIG_ENV] = JSON.stringify(layers.reduce<Overrides>((o, l) => mergeOverrides(o, l.values), {}));
  const chunk = flagInt(args, "chunk");
  return chunk === undefined ? p : withChunk(p, chunk);
}

/** The checkpoint folder an export's --model names: a folder, or a finished step of the profile. */
function exportedCheckpoint(args: ParsedArgs, command: string): string {
  const which = requiredFlag(args, command, "model");
  const dir = fs.existsSync(path.join(which, "checkpoint.json")) ? which : ckptDir(profileOf(args), which);
  if (!fs.existsSync(path.join(dir, "checkpoint.json")))
    throw new Error(
      `--model ${which}: neither a checkpoint folder nor a finished step of this profile (no ${path.join(dir, "checkpoint.json")}); train it first, or give a folder`,
    );
  return dir;
}

/** Run `compute` with everything it logs sent to stderr, then print its result as JSON on stdout. */
async function printJson(compute: () => Promise<unknown>): Promise<number> {
  const log = console.log;
  console.log = (...a: unknown[]) => console.error(...a);
  let result: unknown;
  try {
    result = await compute();
  } finally {
    console.log = log;
  }
  process.stdout.write(JSON.stringify(result, null, 2) + "\n");
  return 0;
}

const pct = (x: number) => (100 * x).toFixed(1);

interface Command extends CommandSpec {
  run(args: ParsedArgs): Promise<number>;
}

const commandList: Command[] = [
  {
    name: "bench",
    summary: "throughput per backend beside PyTorch (same machine, same run) -> reports/bench.json",
    options: {
      quick: { type: "boolean", description: "fewer cases and rounds (a minute, not a quarter hour)" },
      backend: { type: "string", choices: BACKEND_ORDER, default: "every backend that starts here", description: "time one backend only" },
      only: {
        type: "string",
        choices: ["engine", "onnx", "pipeline", "memory", "kernels"],
        default: "all but memory",
        description: "one part of the benchmark (memory only when named)",
      },
    },
    examples: ["retail-repr bench --quick", "retail-repr bench --only onnx"],
    async run(args) {
      const b = flagString(args, "backend");
      const only = flagString(args, "only");
      const quick = flagSet(args, "quick");
      if (!only || only === "engine") await runEngineBench({ quick, backends: b ? [parseBackendName(b, "--backend")] : undefined });
      if (!only || only === "onnx") await runOnnxBench({ quick });
      if (!only || only === "pipeline") {
        await selectBackend({ log: null });
        await runPipelineBench();
      }
      // The memory cases take minutes (a 256-image ResNeXt-101 step): asked for by name only.
      if (only === "memory") runMemoryBench({ quick });
      if (!only || only === "kernels") runKernelSplit({ quick });
      return 0;
    },
  },
  {
    name: "info",
    summary: "backend, versions and machine; with --arch, a model's parameters, embedding size and FLOPs",
    options: {
      backend: {
        type: "string",
        choices: BACKEND_ORDER,
        default: "the fastest that starts here, or $RETAIL_REPR_BACKEND",
        description: "start this backend",
      },
      arch: { type: "string", choices: Object.keys(PRESETS), description: "describe this architecture instead of the machine" },
      size: { type: "string", value: "PX", int: true, min: 1, default: "224", description: "input side for --arch" },
      pooling: { type: "string", choices: POOLINGS, default: "lca", description: "the head for --arch" },
      classes: {
        type: "string",
        value: "N",
        int: true,
        min: 0,
        default: "0 (an embedding model)",
        description: "a classifier head of N classes for --arch",
      },
      json: JSON_OPTION,
    },
    examples: ["retail-repr info", "retail-repr info --arch resnext50_32x4d --size 224 --json"],
    async run(args) {
      const json = flagSet(args, "json");
      const arch = flagString(args, "arch");
      const force = flagString(args, "backend");
      if (arch) {
        await selectBackend({ force, log: null }); // the heap limits depend on the engine
        const info = modelInfo(
          { arch, pooling: (flagString(args, "pooling") ?? "lca") as Pooling, projDim: 0, classes: flagInt(args, "classes") ?? 0 },
          flagInt(args, "size") ?? 224,
        );
        console.log(json ? JSON.stringify(info, null, 2) : formatModelInfo(info));
        return 0;
      }
      const sel = await selectBackend({ force, log: null });
      const info = { ...environmentInfo(), selection: sel };
      if (json) return printJson(async () => info);
      console.log(describeSelection(sel));
      console.log(`node ${info.node} on ${info.platform}, ${info.cpus} x ${info.cpuModel}, ${info.memoryGiB} GiB`);
      for (const [p, v] of Object.entries(info.packages)) console.log(`  ${p.padEnd(34)} ${v}`);
      return 0;
    },
  },
  {
    name: "config",
    summary: "the effective profile (after --config and --set) as YAML, with the keys that differ from the profile's own",
    options: { ...PROFILE_OPTIONS, json: JSON_OPTION },
    examples: [
      "retail-repr config --profile cpu --set train.teacher.lr=0.1",
      "retail-repr config --profile smoke > my.yaml   # edit, then: --config my.yaml",
    ],
    async run(args) {
      const p = profileOf(args);
      const base = PROFILES[p.name];
      if (flagSet(args, "json")) return printJson(async () => ({ profile: p, changed: changedKeys(base, p) }));
      const changed = changedKeys(base, p);
      console.log(`# profile ${p.name}${changed.length ? `, changed: ${changed.join(", ")}` : ", as defined (no overrides)"}`);
      console.log(toYaml(p).trimEnd());
      return 0;
    },
  },
  {
    name: "generate",
    summary: "render the synthetic datasets of a profile into datasets/<profile>/",
    options: {
      ...PROFILE_OPTIONS,
      only: {
        type: "string",
        value: "NAME[,NAME]",
        default: "every dataset",
        description: `only these datasets (${DATASET_NAMES.join(", ")})`,
      },
    },
    examples: ["retail-repr generate --profile smoke", "retail-repr generate --only grozi-like,capg-like"],
    async run(args) {
      const profile = profileOf(args);
      const only = flagString(args, "only")
        ?.split(",")
        .map((n) => {
          if (!(DATASET_NAMES as readonly string[]).includes(n))
            throw new UsageError(`--only: unknown dataset '${n}' (have: ${DATASET_NAMES.join(", ")})`);
          return n as DatasetName;
        });
      for (const r of await generateAll(profile, only)) {
        console.log(
          `${r.name}: ${r.images} images in ${r.dir}${r.cached ? " (cached: same spec, all files present)" : ` (${r.seconds.toFixed(1)} s)`}`,
        );
      }
      return 0;
    },
  },
  {
    name: "import-data",
    summary: "use a real dataset (class folders, Grozi-120, pairs CSV, unlabeled folder) in place of a generated one",
    options: {
      format: { type: "string", choices: FORMATS, required: true, description: "how the source is laid out" },
      source: { type: "string", value: "PATH", required: true, description: "the folder (or CSV) to read" },
      as: { type: "string", choices: DATASET_NAMES, required: true, description: "the dataset it replaces" },
      split: {
        type: "string",
        value: "FILE.csv",
        default: "a seeded split by class",
        description: "which images are train and which test (file,split rows)",
      },
      profile: PROFILE_OPTIONS.profile,
      "on-bad": BAD_OPTION,
    },
    examples: ["retail-repr import-data --format grozi120 --source ~/data/Grozi-120 --as grozi-like"],
    async run(args) {
      const profile = profileOf(args);
      const as = requiredFlag(args, "import-data", "as");
      const r = await importDataset(
        flagString(args, "format") as Format,
        requiredFlag(args, "import-data", "source"),
        datasetDir(as, profile.name),
        (flagString(args, "on-bad") ?? "skip") as BadPolicy,
        { split: flagString(args, "split") },
      );
      console.log(`${r.items.length} images imported as ${as} (${profile.name})`);
      if (r.rule) console.log(`  split: ${r.rule}`);
      for (const n of r.notes) console.error(`note: ${n}`);
      if (r.problems.length) console.error(`skipped ${r.problems.length}:\n  ${r.problems.join("\n  ")}`);
      return 0;
    },
  },
  {
    name: "pretrain",
    summary: "step 0: the pretrained start (weakly supervised on the hashtag corpus; the stand-in for ResNeXt-WSL)",
    options: { ...PROFILE_OPTIONS, chunk: TRAINING_OPTIONS.chunk },
    examples: ["retail-repr pretrain --profile smoke"],
    async run(args) {
      const profile = profileOf(args);
      await selectBackend();
      console.log(`pretrained backbone in ${await pretrainedCheckpoint(profile)}`);
      return 0;
    },
  },
  {
    name: "train-teacher",
    summary: "step 1: the teacher (SupCon + hard negatives on teacher-pairs), its learning rate and checkpoint chosen on dev-like",
    options: TRAINING_OPTIONS,
    examples: ["retail-repr train-teacher --profile cpu --set train.teacher.steps=300"],
    async run(args) {
      const profile = profileOf(args);
      await selectBackend();
      const sel = await teacherSweepOnDev(profile);
      for (const t of sel.tried)
        console.log(
          `dev sweep lr ${t.lr}: dev-like LR ${pct(t.devAccuracy)} %, 1-NN ${pct(t.devOneNN)} %${t.lr === sel.chosen.lr ? "  <- chosen" : ""}`,
        );
      const { result } = await trainTeacher(profile);
      console.log(
        `teacher: ${result.steps} steps (resumed from ${result.resumedFrom}), ${result.imgPerSec.toFixed(1)} img/s${result.selection ? `; kept step ${result.selection.chosenStep}, the best on dev-like` : ""}`,
      );
      return 0;
    },
  },
  {
    name: "pseudolabel",
    summary:
      "step 2: teacher embeddings of student-pseudo, in parts (--shard K/N splits the work across machines; --export writes one .npy)",
    options: {
      ...TRAINING_OPTIONS,
      shard: {
        type: "string",
        value: "K/N",
        default: "all parts, or $JOB_COMPLETION_INDEX of $RETAIL_REPR_SHARDS",
        description: "do only shard K of N (K from 0) of the parts",
      },
      engine: {
        type: "string",
        choices: INFERENCE_ENGINES,
        default: `${PIPELINE_ENGINE}, the pipeline's`,
        description: "inference engine",
      },
      export: {
        type: "string",
        value: "FILE.npy",
        description: "instead of computing: write the finished pseudolabels as one .npy (manifest order)",
      },
    },
    examples: ["retail-repr pseudolabel --profile paper --shard 2/8", "retail-repr pseudolabel --export pseudo.npy"],
    async run(args) {
      const engine = flagChoice(args, "engine", INFERENCE_ENGINES, PIPELINE_ENGINE);
      const profile = profileOf(args);
      const out = flagString(args, "export");
      if (out !== undefined) {
        if (!out.endsWith(".npy")) throw new UsageError(`--export: ${out} must end in .npy`);
        const r = exportPseudolabels(runDir(profile, "pseudolabels"), out);
        console.log(`${r.count} pseudolabels of dimension ${r.dim} (float32, manifest order) -> ${out}`);
        return 0;
      }
      const shard = shardFrom(flagString(args, "shard"));
      await selectBackend();
      if (shard && flagString(args, "shard") === undefined)
        console.error(`shard ${shardName(shard)} (from JOB_COMPLETION_INDEX and ${SHARD_COUNT_ENV})`);
      const { dir, status } = await pseudolabel(profile, { shard, engine });
      const left = status.parts - status.done.length;
      console.log(
        `pseudolabels in ${dir}: ${status.done.length} of ${status.parts} parts done${left ? ` (${left} left to other shards)` : ""}`,
      );
      return 0;
    },
  },
  {
    name: "train-student",
    summary: "step 3: the noisy student (SupCon on pairs + Smooth L1 to pseudolabels), its start, alpha and lr chosen on dev-like",
    options: TRAINING_OPTIONS,
    examples: ["retail-repr train-student --profile smoke"],
    async run(args) {
      const profile = profileOf(args);
      await selectBackend();
      const sel = await studentSweepOnDev(profile);
      for (const t of [...sel.tried, ...sel.lrTried.slice(1)])
        console.log(
          `dev sweep ${t.candidate.name}${t.candidate.lr ? ` (lr ${t.candidate.lr})` : ""}: dev-like LR ${pct(t.devAccuracy)} %, 1-NN ${pct(t.devOneNN)} %; |grad| SupCon ${t.gradientNorms.supcon.toPrecision(3)}, Smooth L1 ${t.gradientNorms.smoothl1.toPrecision(3)}`,
        );
      console.log(`chosen: start ${sel.chosen.start}, alpha ${sel.chosen.alpha}, lr ${sel.chosen.lr}`);
      const { result } = await trainStudent(profile);
      console.log(
        `student: ${result.steps} steps (resumed from ${result.resumedFrom}), ${result.imgPerSec.toFixed(1)} img/s${result.selection ? `; kept step ${result.selection.chosenStep}, the best on dev-like` : ""}`,
      );
      return 0;
    },
  },
  {
    name: "finetune",
    summary: "fine-tune baselines (gap, lca, lca-maxent) on the one-shot sets, with the recipe chosen on dev-like",
    options: {
      ...TRAINING_OPTIONS,
      dataset: {
        type: "string",
        choices: [DEV_SET, ...ONE_SHOT_SETS],
        default: "both one-shot sets",
        description: "one set only (dev-like: the recipe sweep alone)",
      },
      variant: { type: "string", choices: Object.keys(FINETUNE_VARIANTS), default: "all three", description: "one baseline only" },
    },
    examples: ["retail-repr finetune --profile smoke --dataset grozi-like --variant lca"],
    async run(args) {
      const profile = profileOf(args);
      await selectBackend();
      const sel = await finetuneSweepOnDev(profile);
      for (const t of sel.tried)
        console.log(
          `dev-like gap, recipe ${t.recipe.name} (lr ${t.recipe.lr}, backbone x${t.recipe.backboneScale}): dev accuracy ${pct(t.devAccuracy)} %, training accuracy ${pct(t.trainAccuracy)} %${t.recipe.name === sel.chosen.name ? "  <- chosen" : ""}`,
        );
      const dataset = flagString(args, "dataset");
      if (dataset === DEV_SET) return 0;
      const sets = dataset ? [dataset as OneShotSet] : [...ONE_SHOT_SETS];
      const variants = flagString(args, "variant")
        ? [flagString(args, "variant") as FinetuneVariant]
        : (Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[]);
      for (const set of sets)
        for (const v of variants) {
          const r = await finetune(profile, set, v);
          console.log(
            `${set} ${v} (init ${profile.init}): test accuracy ${formatAccuracy(r.accuracy, r.accuracyCI)} %, training accuracy ${pct(r.trainAccuracy)} %`,
          );
        }
      return 0;
    },
  },
  {
    name: "plan",
    summary: "the pipeline's steps, each cached or to run and why (computes nothing)",
    options: { ...TRAINING_OPTIONS, json: JSON_OPTION },
    examples: ["retail-repr plan", "retail-repr plan --set train.teacher.lr=0.1   # what a change would retrain"],
    async run(args) {
      const profile = profileOf(args);
      const rows = pipelinePlan(profile);
      if (flagSet(args, "json")) return printJson(async () => rows);
      const width = Math.max(...rows.map((r) => r.step.length));
      console.log(`plan for profile ${profile.name} (init ${profile.init}${profile.repeat ? `, repeat ${profile.repeat}` : ""}):`);
      for (const r of rows) console.log(`  ${r.step.padEnd(width)}  ${r.status === "cached" ? "cached" : `to run: ${r.why}`}`);
      const todo = rows.filter((r) => r.status === "to run").length;
      console.log(todo ? `${todo} of ${rows.length} steps to run` : "every step is cached");
      return 0;
    },
  },
  {
    name: "evaluate",
    summary: "probes (LR, kNN, NCM) on random-init/pretrained/teacher/student + fine-tune baselines -> tables, findings",
    options: {
      ...TRAINING_OPTIONS,
      json: {
        type: "boolean",
        description: "print the metrics (the reports/metrics-<profile>.json record) as JSON on stdout instead of tables",
      },
    },
    examples: ["retail-repr evaluate --profile smoke", "retail-repr evaluate --json | jq '.findings[] | {id, verdict}'"],
    async run(args) {
      const profile = profileOf(args);
      if (flagSet(args, "json")) {
        return printJson(async () => {
          await selectBackend();
          return evaluate(profile);
        });
      }
      await selectBackend();
      reportTables(await evaluate(profile));
      return 0;
    },
  },
  {
    name: "embed",
    summary: "embeddings of any image folder with a trained model, to .npy or .json (--shard K/N, then --merge, across machines)",
    options: {
      model: { type: "string", value: "CHECKPOINT_DIR", description: "the trained model (required unless --merge)" },
      input: { type: "string", value: "FOLDER", description: "the images (required unless --merge)" },
      out: {
        type: "string",
        value: "FILE.npy|FILE.json",
        required: true,
        description: "where the embeddings go (.npy also writes FILE.files.txt)",
      },
      size: { type: "string", value: "PX", int: true, min: 1, default: "the model's input config", description: "input side" },
      engine: {
        type: "string",
        choices: INFERENCE_ENGINES,
        default: `${EMBED_ENGINE} where onnxruntime-node loads, else native`,
        description: "inference engine",
      },
      batch: {
        type: "string",
        value: "N",
        int: true,
        min: 1,
        default: "32, less where the model needs",
        description: "images per forward pass",
      },
      "on-bad": BAD_OPTION,
      shard: { type: "string", value: "K/N", description: "embed only shard K of N of the images (to FILE.npy's shard file)" },
      merge: { type: "boolean", description: "join the shard files of --out into it" },
      json: { type: "boolean", description: "print a summary (count, dim, files written) as JSON on stdout" },
    },
    examples: ["retail-repr embed --model runs/cpu/student --input photos/ --out z.npy", "retail-repr embed --merge --out z.npy"],
    async run(args) {
      const engine = flagChoice(args, "engine", INFERENCE_ENGINES, EMBED_ENGINE === "onnx" && !ortLoads() ? "native" : EMBED_ENGINE);
      const out = requiredFlag(args, "embed", "out");
      if (!/\.(npy|json)$/.test(out)) throw new UsageError(`--out: ${out} must end in .npy or .json`);
      const summary = async () => {
        if (flagSet(args, "merge")) {
          const r = mergeEmbeddingShards(out);
          return {
            out,
            count: r.count,
            dim: r.dim,
            shards: r.shards,
            text: `${r.count} embeddings of dimension ${r.dim} from ${r.shards} shard(s) -> ${out}`,
          };
        }
        return embedFolder(args, out, engine);
      };
      if (flagSet(args, "json"))
        return printJson(async () => {
          const { text: _text, ...rest } = await summary();
          return rest;
        });
      console.log((await summary()).text);
      return 0;
    },
  },
  {
    name: "add-product",
    summary: "add a product from one image to a one-shot set's probe; before/after accuracy and fit time",
    options: {
      image: { type: "string", value: "FILE", required: true, description: "the new product's one image" },
      test: { type: "string", value: "FILE,FILE...", default: "the image itself", description: "images of it to recognise afterwards" },
      model: { type: "string", choices: ["teacher", "student"], default: "student", description: "whose embeddings" },
      dataset: { type: "string", choices: ONE_SHOT_SETS, default: "grozi-like", description: "the probe it joins" },
      ...PROFILE_OPTIONS,
    },
    examples: ["retail-repr add-product --image new.jpg --test a.jpg,b.jpg --profile cpu"],
    async run(args) {
      const profile = profileOf(args);
      const image = requiredFlag(args, "add-product", "image");
      const tests = flagString(args, "test")?.split(",") ?? [];
      for (const f of [image, ...tests]) await checkImage(f);
      await selectBackend({ log: null });
      const which = (flagString(args, "model") ?? "student") as Representation;
      const set = (flagString(args, "dataset") ?? "grozi-like") as OneShotSet;
      const model = await representationModel(profile, which);
      const base = await embedOneShot(profile, model, set);
      const r = await addProduct(profile, model, base, image, tests.length ? tests : [image]);
      console.log(
        `${set}, ${which} embeddings: probe accuracy ${formatAccuracy(r.before.logreg, r.before.logregCI)} % before, ${formatAccuracy(r.oldClassesAfter, r.oldClassesAfterCI)} % on the old classes after adding class ${r.newClass}`,
      );
      console.log(
        `new product: ${formatAccuracy(r.newProduct, r.newProductCI)} % of ${tests.length ? `${tests.length} test image(s)` : "its own image"} recognised; refit took ${r.fitMs.toFixed(1)} ms`,
      );
      return 0;
    },
  },
  {
    name: "baseline",
    summary: "smoke-profile metrics vs the committed regression baseline (--write replaces it); exits 1 on drift",
    options: {
      write: {
        type: "boolean",
        description: `replace ${path.relative(process.cwd(), BASELINE_FILE) || BASELINE_FILE} with today's metrics`,
      },
    },
    examples: ["retail-repr baseline"],
    async run(args) {
      await selectBackend({ force: "wasm", log: null });
      setNativeConvolutions(false); // the baseline's engine (see pipeline/baseline.ts)
      const now = await currentBaseline(getProfile("smoke"));
      if (flagSet(args, "write")) {
        fs.writeFileSync(BASELINE_FILE, JSON.stringify(now, null, 1) + "\n");
        console.log(`wrote ${BASELINE_FILE}`);
        return 0;
      }
      const drift = compareBaseline(now, JSON.parse(fs.readFileSync(BASELINE_FILE, "utf8")));
      console.log(drift.length ? drift.join("\n") : "within the baseline's tolerances");
      return drift.length ? 1 : 0;
    },
  },
  {
    name: "reproduce",
    summary: "everything: data, pretraining, teacher, pseudolabels, student, baselines, probes, tables, findings, notebooks",
    options: {
      ...TRAINING_OPTIONS,
      seeds: {
        type: "string",
        value: "N",
        int: true,
        min: 1,
        default: "1",
        description: "train everything N times (seeds 0..N-1) and score the findings over all",
      },
      "no-notebooks": { type: "boolean", description: "stop after the tables and findings" },
    },
    examples: [
      "retail-repr reproduce",
      "retail-repr reproduce --profile smoke --no-notebooks",
      "retail-repr reproduce --seeds 3 --set train.student.steps=300",
    ],
    async run(args) {
      const profile = profileOf(args);
      return reproduce(profile, { notebooks: !flagSet(args, "no-notebooks"), seeds: flagInt(args, "seeds") ?? 1 });
    },
  },
  {
    name: "import-torch",
    summary: "torchvision-named weights (.pth from torch.save, either format, or .safetensors) -> a retail-repr checkpoint",
    options: {
      arch: { type: "string", choices: Object.keys(PRESETS), required: true, description: "the architecture the weights are for" },
      weights: { type: "string", value: "FILE.pth|FILE.safetensors", required: true, description: "the weights" },
      out: { type: "string", value: "DIR", required: true, description: "the checkpoint folder to write" },
      pooling: { type: "string", choices: POOLINGS, default: "lca", description: "the head to put on the backbone" },
      classes: {
        type: "string",
        value: "N",
        int: true,
        min: 0,
        default: "0 (an embedding model)",
        description: "keep a classifier of N classes",
      },
      size: {
        type: "string",
        value: "PX",
        int: true,
        min: 1,
        default: "224",
        description: "torchvision's crop (Resize(size*256/224) + CenterCrop(size))",
      },
    },
    examples: ["retail-repr import-torch --arch resnext101_32x8d --weights ig_resnext101_32x8-c38310e5.pth --out runs/wsl"],
    async run(args) {
      const out = requiredFlag(args, "import-torch", "out");
      const r = importTorchToCheckpoint({
        config: {
          arch: requiredFlag(args, "import-torch", "arch"),
          pooling: (flagString(args, "pooling") ?? "lca") as Pooling,
          projDim: 0,
          classes: flagInt(args, "classes") ?? 0,
        },
        weights: requiredFlag(args, "import-torch", "weights"),
        out,
        size: flagInt(args, "size"),
      });
      console.log(
        `loaded ${r.loaded} tensors${r.ignored.length ? ` (left out: ${r.ignored.length}, e.g. ${r.ignored[0]})` : ""}; checkpoint written to ${out}`,
      );
      return 0;
    },
  },
  {
    name: "export-torch",
    summary:
      "a trained model -> a .safetensors or .pth file in PyTorch's names and layouts (python/retail_repr_torch.py builds the model from it)",
    options: {
      model: {
        type: "string",
        value: "teacher|student|pretrain|finetune-...|CHECKPOINT_DIR",
        required: true,
        description: "a finished step of the profile, or a checkpoint folder",
      },
      out: { type: "string", value: "FILE.safetensors|FILE.pth", required: true, description: "the file to write" },
      size: {
        type: "string",
        value: "PX",
        int: true,
        min: 1,
        default: "the model's input config",
        description: "the input side recorded with it",
      },
      ...TRAINING_OPTIONS,
    },
    examples: ["retail-repr export-torch --model student --out student.pth"],
    async run(args) {
      const out = requiredFlag(args, "export-torch", "out");
      const dir = exportedCheckpoint(args, "export-torch");
      await selectBackend({ log: null });
      const r = exportTorch(dir, out, flagInt(args, "size"));
      console.log(
        `${r.tensors} tensors (${(r.bytes / 1e6).toFixed(1)} MB, input ${r.size} px) written to ${out}; in Python: PYTHONPATH=python python3 -c "import retail_repr_torch as rr; model, cfg = rr.load('${out}')"`,
      );
      return 0;
    },
  },
  {
    name: "export-onnx",
    summary: "a trained model's embedding network -> an .onnx file (dynamic batch, L2-normalised output, preprocessing in its metadata)",
    options: {
      model: {
        type: "string",
        value: "teacher|student|pretrain|finetune-...|CHECKPOINT_DIR",
        required: true,
        description: "a finished step of the profile, or a checkpoint folder",
      },
      out: { type: "string", value: "FILE.onnx", required: true, description: "the file to write" },
      size: { type: "string", value: "PX", int: true, min: 1, default: "the model's input config", description: "the input side" },
      ...TRAINING_OPTIONS,
    },
    examples: ["retail-repr export-onnx --model teacher --out teacher.onnx"],
    async run(args) {
      const out = requiredFlag(args, "export-onnx", "out");
      const dir = exportedCheckpoint(args, "export-onnx");
      await selectBackend({ log: null });
      const r = exportOnnx(dir, out, flagInt(args, "size"));
      console.log(
        `${(r.bytes / 1e6).toFixed(1)} MB written to ${out}: input "images" [batch, 3, ${r.size}, ${r.size}] (${describeInput(r.input)}), output "embedding"`,
      );
      return 0;
    },
  },
  {
    name: "kernel",
    summary: "install the notebook kernel where your own Jupyter looks (JupyterLab, Notebook, JupyterHub), or remove it",
    positionals: "install|uninstall",
    options: {
      user: { type: "boolean", description: "your Jupyter data dir (the default; `jupyter --data-dir`)" },
      prefix: { type: "string", value: "DIR", description: "DIR/share/jupyter instead (a virtualenv or conda env, JupyterHub's prefix)" },
      "sys-prefix": { type: "boolean", description: "the prefix of the python that has Jupyter ($RETAIL_REPR_PYTHON)" },
      name: { type: "string", value: "NAME", default: KERNEL_NAME, description: "the kernelspec's name" },
      "display-name": { type: "string", value: "TEXT", default: '"TypeScript (retail-repr)"', description: "what the launcher shows" },
    },
    notes:
      'The kernel runs this checkout: `import * as rr from "retail-repr"` works in a notebook in any folder, and dist/ is rebuilt first when src/ is newer.',
    examples: [
      "retail-repr kernel install --user",
      "retail-repr kernel install --prefix ~/venvs/lab --name rr",
      "retail-repr kernel uninstall --user",
    ],
    async run(args) {
      const [action, ...extra] = args.positional;
      if (action !== "install" && action !== "uninstall")
        throw new UsageError(`kernel: say install or uninstall${action ? `, not '${action}'` : ""}`);
      if (extra.length) throw new UsageError(`kernel: unexpected ${extra.join(" ")}`);
      const chosen = (["user", "prefix", "sys-prefix"] as const).filter((k) => args.flags[k] !== undefined);
      if (chosen.length > 1)
        throw new UsageError(`kernel: choose one of --user, --prefix, --sys-prefix (got ${chosen.map((k) => `--${k}`).join(", ")})`);
      const prefix = flagString(args, "prefix");
      const place: KernelPlace = prefix !== undefined ? { prefix } : flagSet(args, "sys-prefix") ? { sysPrefix: true } : { user: true };
      const name = flagString(args, "name");
      if (action === "uninstall") {
        console.log(`removed ${uninstallKernel({ place, name })}`);
        return 0;
      }
      const patch = applyTslabPatch();
      const dir = installKernel({ place, name, displayName: flagString(args, "display-name") });
      console.log(`kernel '${path.basename(dir)}' installed in ${dir} (tslab patch: ${patch})`);
      console.error(
        `\`jupyter kernelspec list\` lists it${prefix !== undefined ? ` when JUPYTER_PATH includes ${path.join(path.resolve(prefix), "share", "jupyter")} (or Jupyter runs from that prefix)` : ""}; notebooks import the library as \`import * as rr from "retail-repr"\`.`,
      );
      return 0;
    },
  },
  {
    name: "notebooks",
    summary: "execute notebooks headless (nbconvert) into reports/notebooks/<profile>/",
    positionals: "[NAME ...]",
    options: {
      ...PROFILE_OPTIONS,
      init: TRAINING_OPTIONS.init,
      timeout: { type: "string", value: "SECONDS", int: true, min: 1, default: "1800", description: "per cell" },
    },
    examples: ["retail-repr notebooks --profile smoke", "retail-repr notebooks --profile smoke 02-teacher"],
    async run(args) {
      const profile = profileOf(args);
      const runs = runNotebooks({
        profile: profile.name,
        init: flagString(args, "init"),
        only: args.positional,
        timeoutSec: flagInt(args, "timeout") ?? 1800,
      });
      const failed = runs.filter((r) => !r.ok);
      console.log(`notebooks: ${runs.length - failed.length} passed, ${failed.length} failed`);
      return failed.length ? 1 : 0;
    },
  },
];

const commands: Record<string, Command> = Object.fromEntries(commandList.map((c) => [c.name, c]));

/** embed's main mode: a folder of images through a checkpoint to .npy / .json (or one shard). */
async function embedFolder(args: ParsedArgs, out: string, engine: (typeof INFERENCE_ENGINES)[number]) {
  const [modelDir, folder] = [requiredFlag(args, "embed", "model"), requiredFlag(args, "embed", "input")];
  const shard = shardFrom(flagString(args, "shard"));
  if (shard && !out.endsWith(".npy"))
    throw new UsageError(`--shard: write shards to a .npy (--out ${out.replace(/\.json$/, ".npy")}); \`embed --merge\` joins them`);
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
  if (asked !== undefined && recorded !== undefined && asked !== recorded.size)
    console.warn(`embed: --size ${asked} differs from the ${recorded.size} px of this model's input config`);
  if (asked === undefined && recorded === undefined) console.warn(`embed: ${modelDir} records no input size; using 64 px (set --size)`);
  const input = recorded ? (asked ? atSize(recorded, asked) : recorded) : defaultInputConfig(asked ?? 64);
  const size = input.size;
  if (input.resize !== "fill") console.error(`embed: ${describeInput(input)} (the checkpoint's input config)`);
  const batch = embedBatchFor(model.config, size, flagInt(args, "batch") ?? 32);
  const [begin, end] = sliceOfShard(all.length, shard, batch);
  const files = all.slice(begin, end);
  const z = await embedFiles(model, files, { size, batch, engine, input, label: shard ? `embed ${shardName(shard)}` : "embed" });
  const dim = embeddingDim(model.config);
  const base = { out, count: files.length, dim, skipped: report.problems.length };
  if (shard) {
    const file = writeEmbeddingShard(out, shard, z, files, { model: meta.weights.sha256, total: all.length, begin });
    return {
      ...base,
      out: file,
      shard: shardName(shard),
      text: `shard ${shardName(shard)}: ${files.length} embeddings (images ${begin}-${end - 1} of ${all.length}) -> ${file}`,
    };
  }
  if (out.endsWith(".npy")) {
    writeFileAtomic(out, npyBytes(z, [files.length, dim]));
    writeFileAtomic(out.replace(/\.npy$/, ".files.txt"), files.join("\n") + "\n");
  } else {
    writeFileAtomic(
      out,
      JSON.stringify({
        model: modelDir,
        step: meta.step,
        dim,
        files,
        embeddings: files.map((_, i) => Array.from(z.subarray(i * dim, (i + 1) * dim))),
      }) + "\n",
    );
  }
  return { ...base, text: `${files.length} embeddings of dimension ${dim} -> ${out}` };
}

/** The package's version, from package.json beside dist/. */
export function version(): string {
  return JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "package.json"), "utf8")).version;
}

function help(): string {
  const lines = [
    `${PROGRAM} ${version()} — contrastive + pseudolabel representations for retail product images`,
    "",
    `usage: ${PROGRAM} COMMAND [options]`,
    "",
    "commands:",
  ];
  for (const c of commandList) lines.push(`  ${c.name.padEnd(14)} ${c.summary}`);
  lines.push(
    "",
    `\`${PROGRAM} COMMAND --help\` lists a command's options, their defaults and an example; \`${PROGRAM} --version\` prints the version.`,
  );
  return lines.join("\n");
}

/** Each command's table (name, options, examples), for tests and completion. */
export const COMMAND_SPECS: readonly CommandSpec[] = commandList;

/** Runs one command line; returns the exit status (0 done, 1 failed, 2 usage error). */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(help());
    return 0;
  }
  if (name === "--version" || name === "-V") {
    console.log(version());
    return 0;
  }
  const cmd = commands[name];
  if (!cmd) {
    console.error(`${PROGRAM}: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  if (rest.includes("--help") || rest.includes("-h")) {
    console.log(commandHelp(cmd, PROGRAM));
    return 0;
  }
  return cmd.run(parseCommandArgs(cmd, rest));
}

/** `main` with every error turned into a message and an exit status: 2 for a usage error (with
 * a pointer to the command's --help), 130 for Ctrl-C, 1 for anything else (RETAIL_REPR_DEBUG=1
 * adds the stack). */
export async function runCli(argv: string[]): Promise<number> {
  try {
    return await main(argv);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${PROGRAM} ${err.message}\n(\`${PROGRAM} ${argv[0]} --help\` lists the options)`);
      return 2;
    }
    console.error(`${PROGRAM}: ${(err as Error)?.message ?? err}`);
    if (process.env.RETAIL_REPR_DEBUG) console.error(err);
    return err instanceof InterruptedError ? 130 : 1; // 130: stopped by Ctrl-C, as shells report it
  }
}

if (require.main === module) runCli(process.argv.slice(2)).then((code) => process.exit(code));
