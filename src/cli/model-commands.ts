// The commands around a model and the machine: info, bench, the kernel, embedding, a new product,
// import from and export to PyTorch and ONNX.
import { BACKEND_ORDER, selectBackend, describeSelection, parseBackendName } from "../engine/backend";
import { runEngineBench } from "../bench/bench";
import { runPipelineBench } from "../bench/pipeline-bench";
import { runDataParallelBench } from "../bench/data-parallel-bench";
import { runKernelSplit } from "../bench/kernel-split";
import { runMemoryBench } from "../bench/memory-bench";
import { runOnnxBench } from "../bench/onnx-bench";
import { BadPolicy } from "../data/formats";
import { ONE_SHOT_SETS, OneShotSet } from "../pipeline/steps";
import { mergeEmbeddingShards, writeEmbeddingShard } from "../train/embed-shards";
import { shardFrom, shardName, sliceOfShard } from "../util/shard";
import { writeFileAtomic } from "../util/paths";
import { embeddingDim } from "../models/model";
import { formatAccuracy } from "../probe/bootstrap";
import * as path from "path";
import { loadCheckpoint } from "../models/checkpoint";
import { exportTorch } from "../models/export-torch";
import { atSize, defaultInputConfig, describeInput } from "../data/input-config";
import { exportOnnx } from "../models/export-onnx";
import { readDataset } from "../data/formats";
import { checkImage } from "../data/images";
import { EMBED_ENGINE, embedBatchFor, embedFiles, INFERENCE_ENGINES } from "../train/embed";
import { ortLoads } from "../train/onnx-engine";
import { npyBytes } from "../util/npy";
import { representationModel } from "../pipeline/evaluate";
import { embedOneShot } from "../probe/probe";
import type { Representation } from "../pipeline/metrics";
import { addProduct } from "../probe/add-product";
import { environmentInfo } from "../engine/info";
import { describeLoader } from "../data/loader-pool";
import { installKernel, KERNEL_NAME, KernelPlace, uninstallKernel } from "../jupyter/kernel";
import { applyTslabPatch } from "../jupyter/tslab-patch";
import { flagChoice, flagInt, flagSet, flagString, ParsedArgs, requiredFlag, UsageError } from "../util/args";
import { formatModelInfo, modelInfo } from "../models/info";
import { Pooling, POOLINGS } from "../models/heads";
import { PRESETS } from "../models/resnext";
import { importTorchToCheckpoint } from "../models/import-torch";

import {
  BAD_OPTION,
  Command,
  ENGINE_OPTIONS,
  engineOf,
  exportedCheckpoint,
  JSON_OPTION,
  printJson,
  PROFILE_OPTIONS,
  profileOf,
  TRAINING_OPTIONS,
} from "./options";

/** Commands about the machine and the notebook kernel. */
export const machineCommands: Command[] = [
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
      const info = { ...environmentInfo(), loader: describeLoader(), selection: sel };
      if (json) return printJson(async () => info);
      console.log(describeSelection(sel));
      console.log(`node ${info.node} on ${info.platform}, ${info.cpus} x ${info.cpuModel}, ${info.memoryGiB} GiB`);
      console.log(`native kernels: ${info.nativeConvolutions}`);
      console.log(`libtorch: ${info.torch}`);
      console.log(`data parallel: ${info.dataParallel}`);
      console.log(`loader: ${info.loader}`);
      for (const [p, v] of Object.entries(info.packages)) console.log(`  ${p.padEnd(34)} ${v}`);
      return 0;
    },
  },
  {
    name: "bench",
    summary: "throughput per backend beside PyTorch (same machine, same run) -> reports/bench.json",
    options: {
      quick: { type: "boolean", description: "fewer cases and rounds (a minute, not a quarter hour)" },
      backend: { type: "string", choices: BACKEND_ORDER, default: "every backend that starts here", description: "time one backend only" },
      only: {
        type: "string",
        choices: ["engine", "onnx", "pipeline", "memory", "kernels", "data-parallel"],
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
      if (!only || only === "data-parallel") await runDataParallelBench({ quick });
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
];

/** Commands that use a model: embed a folder, add a product, import from and export to PyTorch and ONNX. */
export const modelCommands: Command[] = [
  {
    name: "embed",
    summary: "embeddings of any image folder with a trained model, to .npy or .json (--shard K/N, then --merge, across machines)",
    options: {
      ...ENGINE_OPTIONS,
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
];

/** embed's main mode: a folder of images through a checkpoint to .npy / .json (or one shard). */
async function embedFolder(args: ParsedArgs, out: string, engine: (typeof INFERENCE_ENGINES)[number]) {
  const [modelDir, folder] = [requiredFlag(args, "embed", "model"), requiredFlag(args, "embed", "input")];
  const shard = shardFrom(flagString(args, "shard"));
  if (shard && !out.endsWith(".npy"))
    throw new UsageError(`--shard: write shards to a .npy (--out ${out.replace(/\.json$/, ".npy")}); \`embed --merge\` joins them`);
  engineOf(args);
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
