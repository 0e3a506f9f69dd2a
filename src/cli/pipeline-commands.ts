// The commands of the pipeline: data, the training steps, evaluation, reproduce, notebooks, config.
import { selectBackend } from "../engine/backend";
import { DATASET_NAMES, DatasetName, datasetDir, generateAll } from "../data/generate";
import { BadPolicy, Format, FORMATS, importDataset } from "../data/formats";
import {
  DEV_SET,
  finetune,
  ONE_SHOT_SETS,
  OneShotSet,
  pretrainedCheckpoint,
  pseudolabel,
  runDir,
  ensureStep,
  planSteps,
  stepTable,
  sweepOnDev,
  teacherLrSweep,
  teacherEdgeSweep,
  chosenTeacher,
  studentStartSweep,
  studentLrSweep,
  studentEdgeSweep,
  chosenStudent,
  finetuneSweeps,
  chosenFinetune,
  trainStage,
  rankZeroFirst,
} from "../pipeline/steps";
import { stages } from "../pipeline/stages/registry";
import { finetuneShortRuns, isChosenSetting, settingLabel } from "../pipeline/selections";
import { exportPseudolabels } from "../train/pseudolabel";
import { SHARD_COUNT_ENV, shardFrom, shardName } from "../util/shard";
import { formatAccuracy } from "../probe/bootstrap";
import { evaluate, pipelinePlan } from "../pipeline/evaluate";
import { reproduce } from "./reproduce";
import { dataParallel, NPROC_OPTION, rankZeroLog } from "./launch";
import { FINETUNE_VARIANTS, FinetuneVariant } from "../train/finetune";
import { reportTables } from "../report/paper-tables";
import { setNativeConvolutions } from "../engine/native-kernels";
import { BASELINE_FILE, compareBaseline, currentBaseline } from "../pipeline/baseline";
import * as fs from "fs";
import * as path from "path";
import { INFERENCE_ENGINES, PIPELINE_ENGINE } from "../train/embed";
import { getProfile, PROFILES } from "../config/profiles";
import { runNotebooks } from "../jupyter/harness";
import { flagChoice, flagInt, flagSet, flagString, requiredFlag, UsageError } from "../util/args";
import { changedKeys } from "../config/overrides";
import { stringify as toYaml } from "yaml";

import { BAD_OPTION, Command, JSON_OPTION, pct, printJson, PROFILE_OPTIONS, profileOf, TRAINING_OPTIONS } from "./options";

export const pipelineCommands: Command[] = [
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
    options: { ...PROFILE_OPTIONS, chunk: TRAINING_OPTIONS.chunk, nproc: NPROC_OPTION },
    examples: ["retail-repr pretrain --profile smoke", "retail-repr pretrain --profile smoke --nproc 2"],
    async run(args) {
      const dp = await dataParallel(args);
      if ("exit" in dp) return dp.exit;
      const profile = profileOf(args);
      await selectBackend();
      const dir = await pretrainedCheckpoint(profile, { group: dp.group });
      rankZeroLog(dp.group)(`pretrained backbone in ${dir}`);
      return 0;
    },
  },
  {
    name: "train-teacher",
    summary: "step 1: the teacher (SupCon + hard negatives on teacher-pairs), its learning rate and checkpoint chosen on dev-like",
    options: { ...TRAINING_OPTIONS, nproc: NPROC_OPTION },
    examples: [
      "retail-repr train-teacher --profile cpu --set train.teacher.steps=300",
      "retail-repr train-teacher --profile smoke --nproc 2",
    ],
    async run(args) {
      const dp = await dataParallel(args);
      if ("exit" in dp) return dp.exit;
      const { group } = dp;
      const profile = profileOf(args);
      await selectBackend();
      // The dev-like sweep's short runs train in one process (rank 0's), before the run itself.
      await rankZeroFirst({ group }, `${profile.name}/teacher-sweep`, async () => {
        await sweepOnDev(profile, teacherLrSweep);
        await sweepOnDev(profile, teacherEdgeSweep);
      });
      const sel = chosenTeacher(profile);
      const log = rankZeroLog(group);
      for (const t of sel.tried)
        log(
          `dev sweep lr ${t.lr}: dev-like LR ${pct(t.devAccuracy)} %, 1-NN ${pct(t.devOneNN)} %${t.lr === sel.chosen.lr ? "  <- chosen" : ""}`,
        );
      if (sel.widened != null) log(`the grid's choice lay on its edge: widened once, to lr ${sel.widened}`);
      const { result } = await trainStage(profile, "teacher", { group });
      log(
        `teacher: ${result.steps} steps (resumed from ${result.resumedFrom}), ${result.imgPerSec.toFixed(1)} img/s (loader ${result.loader.imgPerSec} img/s, waited for ${result.loader.waitSeconds} s)${result.selection ? `; kept step ${result.selection.chosenStep}, the best on dev-like` : ""}`,
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
    options: { ...TRAINING_OPTIONS, nproc: NPROC_OPTION },
    examples: ["retail-repr train-student --profile smoke", "retail-repr train-student --profile smoke --nproc 2"],
    async run(args) {
      const dp = await dataParallel(args);
      if ("exit" in dp) return dp.exit;
      const { group } = dp;
      const profile = profileOf(args);
      await selectBackend();
      await rankZeroFirst({ group }, `${profile.name}/student-sweep`, async () => {
        await sweepOnDev(profile, studentStartSweep);
        await sweepOnDev(profile, studentLrSweep);
        await sweepOnDev(profile, studentEdgeSweep);
      });
      const sel = chosenStudent(profile);
      const log = rankZeroLog(group);
      for (const t of [...sel.tried, ...sel.lrTried.slice(1)])
        log(
          `dev sweep ${t.candidate.name}${t.candidate.lr ? ` (lr ${t.candidate.lr})` : ""}: dev-like LR ${pct(t.devAccuracy)} %, 1-NN ${pct(t.devOneNN)} %; |grad| SupCon ${t.gradientNorms.supcon.toPrecision(3)}, Smooth L1 ${t.gradientNorms.smoothl1.toPrecision(3)}`,
        );
      if (sel.widened != null) log(`the rates' choice lay on the grid's edge: widened once, to lr ${sel.widened}`);
      log(`chosen: start ${sel.chosen.start}, alpha ${sel.chosen.alpha}, lr ${sel.chosen.lr}`);
      const { result } = await trainStage(profile, "student", { group });
      log(
        `student: ${result.steps} steps (resumed from ${result.resumedFrom}), ${result.imgPerSec.toFixed(1)} img/s (loader ${result.loader.imgPerSec} img/s, waited for ${result.loader.waitSeconds} s)${result.selection ? `; kept step ${result.selection.chosenStep}, the best on dev-like` : ""}`,
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
        description: "one set only (dev-like: the variants' choices on dev alone)",
      },
      variant: { type: "string", choices: Object.keys(FINETUNE_VARIANTS), default: "all three", description: "one baseline only" },
      nproc: NPROC_OPTION,
    },
    examples: ["retail-repr finetune --profile smoke --dataset grozi-like --variant lca", "retail-repr finetune --profile smoke --nproc 2"],
    async run(args) {
      const dp = await dataParallel(args);
      if ("exit" in dp) return dp.exit;
      const { group } = dp;
      const profile = profileOf(args);
      await selectBackend();
      const only = flagString(args, "variant") as FinetuneVariant | undefined;
      const variants = only ? [only] : (Object.keys(FINETUNE_VARIANTS) as FinetuneVariant[]);
      const log = rankZeroLog(group);
      for (const v of variants) {
        await rankZeroFirst({ group }, `${profile.name}/finetune-sweep-${v}`, async () => {
          for (const sweep of finetuneSweeps(v)) await sweepOnDev(profile, sweep);
        });
        const sel = chosenFinetune(profile, v);
        for (const t of finetuneShortRuns(sel))
          log(
            `dev-like ${v}, ${settingLabel(t.setting)}, ${sel.steps} steps: dev accuracy ${pct(t.devAccuracy)} %, training accuracy ${pct(t.trainAccuracy)} %${isChosenSetting(sel, t.setting) ? "  <- chosen" : ""}`,
          );
        const l = sel.length;
        log(
          `dev-like ${v}: kept step ${l.keptStep} of ${l.schedule} (dev accuracy ${pct(l.devAccuracy)} %, training accuracy ${pct(l.trainAccuracy)} %, loss slope t = ${l.lossSlopeT.toFixed(2)} at the schedule's end); ${sel.devRuns} runs on dev-like`,
        );
      }
      const dataset = flagString(args, "dataset");
      if (dataset === DEV_SET) return 0;
      const sets = dataset ? [dataset as OneShotSet] : [...ONE_SHOT_SETS];
      for (const set of sets)
        for (const v of variants) {
          const r = await finetune(profile, set, v, { group });
          log(
            `${set} ${v} (init ${profile.init}), ${r.steps} of ${r.schedule} steps: test accuracy ${formatAccuracy(r.accuracy, r.accuracyCI)} %, training accuracy ${pct(r.trainAccuracy)} %`,
          );
        }
      return 0;
    },
  },
  {
    name: "make",
    summary:
      "make stages (the registry's: datasets, pretrain, teacher, pseudolabels, student, finetune, ...) or single steps, with what they read",
    positionals: "NAME ...",
    options: { ...TRAINING_OPTIONS, nproc: NPROC_OPTION },
    examples: [
      "retail-repr make teacher --profile smoke",
      "retail-repr make teacher-sweep-lr2x student",
      "retail-repr make pretrain teacher --profile smoke --nproc 2",
    ],
    async run(args) {
      const dp = await dataParallel(args);
      if ("exit" in dp) return dp.exit;
      const { group } = dp;
      const profile = profileOf(args);
      const table = stepTable(profile);
      const known = `a stage (${stages()
        .map((s) => s.name)
        .join(", ")}) or a step \`retail-repr plan\` lists`;
      if (!args.positional.length) throw new UsageError(`make: name ${known}`);
      const steps = args.positional.flatMap((name) => {
        const stage = stages().find((s) => s.name === name);
        if (stage) return stage.steps(profile).map((s) => s.name);
        if (table.some((s) => s.name === name)) return [name];
        throw new UsageError(`make: no stage or step '${name}' in profile ${profile.name}; name ${known}`);
      });
      if (!steps.length) {
        console.log(`${args.positional.join(", ")}: no step to make (it trains nothing)`);
        return 0;
      }
      await selectBackend();
      for (const step of steps) await ensureStep(profile, step, { group });
      if (group && group.rank !== 0) return 0;
      for (const r of planSteps(profile).filter((r) => steps.includes(r.step)))
        console.log(`${r.step}: ${r.status === "cached" ? "made" : `not made (${r.why})`} -> ${r.artifact}`);
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
        description:
          "run everything N times (training seeds 0..N-1, each repeat on its own draws of dev-like and the test sets, every choice made again) and score the findings over all",
      },
      "no-notebooks": { type: "boolean", description: "stop after the tables and findings" },
      nproc: NPROC_OPTION,
    },
    examples: [
      "retail-repr reproduce",
      "retail-repr reproduce --profile smoke --no-notebooks",
      "retail-repr reproduce --seeds 3 --set train.student.steps=300",
      "retail-repr reproduce --profile smoke --nproc 2",
    ],
    async run(args) {
      const dp = await dataParallel(args);
      if ("exit" in dp) return dp.exit;
      const profile = profileOf(args);
      return reproduce(profile, { notebooks: !flagSet(args, "no-notebooks"), seeds: flagInt(args, "seeds") ?? 1, group: dp.group });
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
