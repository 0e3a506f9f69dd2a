// What the commands share: the profile options (--profile, --config, --set, --init, --chunk),
// reading them into a profile, --json output, and the Command type.
import { ckptDir } from "../pipeline/steps";
import * as fs from "fs";
import * as path from "path";
import { getProfile, OverrideLayer, PROFILE_NAMES, withChunk } from "../config/profiles";
import { CommandSpec, flagInt, flagList, flagString, OptionSpec, ParsedArgs, requiredFlag, UsageError } from "../util/args";
import { BACKEND_CHOICES, BACKEND_ENV } from "../engine/backend";
import { DEVICE_ENV } from "../engine/availability";
import { CONFIG_ENV, envOverrides, mergeOverrides, Overrides, parseSet, readConfigFile, SET_ENV } from "../config/overrides";

export const PROGRAM = "retail-repr";

/** What computes: every command that runs a model takes these. */
export const ENGINE_OPTIONS: Record<string, OptionSpec> = {
  backend: {
    type: "string",
    choices: BACKEND_CHOICES,
    default: "auto, or $RETAIL_REPR_BACKEND",
    description: "what computes: auto takes torch on CUDA, else native (wasm + OpenBLAS kernels); torch runs libtorch on --device",
  },
  device: {
    type: "string",
    value: "cpu|cuda|cuda:N",
    description: "the torch backend's device ($RETAIL_REPR_DEVICE; default: the first GPU, else the CPU)",
  },
};

// Options many commands share. The profile's values can be changed without editing code: a
// config file, then each --set in order, each layer checked by the profile schema.
export const PROFILE_OPTIONS: Record<string, OptionSpec> = {
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
  ...ENGINE_OPTIONS,
};
export const TRAINING_OPTIONS: Record<string, OptionSpec> = {
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
export const JSON_OPTION: OptionSpec = { type: "boolean", description: "print the result as JSON on stdout (diagnostics go to stderr)" };
export const BAD_OPTION: OptionSpec = {
  type: "string",
  choices: ["skip", "stop"],
  default: "skip",
  description: "what to do with an unreadable image: skip it (named on stderr) or stop",
};

/** --backend and --device, put in the environment that selectBackend, the notebooks and the
 * worker processes this command starts all read; they win over the profile's `engine` keys. */
export function engineOf(args: ParsedArgs): void {
  // `auto` is written too: it overrides the profile's engine.backend as any other value does.
  const backend = flagString(args, "backend");
  if (backend) process.env[BACKEND_ENV] = backend;
  const device = flagString(args, "device");
  if (device) process.env[DEVICE_ENV] = device;
}

/** The --config and --set layers of a command line, in the order they apply. */
export function overrideLayers(args: ParsedArgs): OverrideLayer[] {
  const file = flagString(args, "config");
  const layers: OverrideLayer[] = file ? [{ source: `--config ${file}`, values: readConfigFile(file) }] : [];
  for (const expr of flagList(args, "set")) layers.push({ source: `--set ${expr}`, values: parseSet(expr) });
  return layers;
}

/** The profile a command line asks for: --profile, --config, --set, --init and --chunk. The
 * overrides are also put in RETAIL_REPR_CONFIG so that the notebooks and worker processes this
 * command starts read the same profile. A value the schema refuses is a usage error. */
export function profileOf(args: ParsedArgs) {
  engineOf(args);
  let layers: OverrideLayer[];
  let p;
  try {
    layers = overrideLayers(args);
    p = getProfile(flagString(args, "profile"), flagString(args, "init"), layers);
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (layers.length) {
    // Child processes read only the environment: hand them the environment's own overrides with
    // the command line's laid over them, in one variable, so they apply in the same order.
    process.env[CONFIG_ENV] = JSON.stringify(layers.reduce<Overrides>((o, l) => mergeOverrides(o, l.values), envOverrides()));
    delete process.env[SET_ENV];
  }
  const chunk = flagInt(args, "chunk");
  return chunk === undefined ? p : withChunk(p, chunk);
}

/** The checkpoint folder an export's --model names: a folder, or a finished step of the profile. */
export function exportedCheckpoint(args: ParsedArgs, command: string): string {
  const which = requiredFlag(args, command, "model");
  const dir = fs.existsSync(path.join(which, "checkpoint.json")) ? which : ckptDir(profileOf(args), which);
  if (!fs.existsSync(path.join(dir, "checkpoint.json")))
    throw new Error(
      `--model ${which}: neither a checkpoint folder nor a finished step of this profile (no ${path.join(dir, "checkpoint.json")}); train it first, or give a folder`,
    );
  return dir;
}

/** Run `compute` with everything it logs sent to stderr, then print its result as JSON on stdout. */
export async function printJson(compute: () => Promise<unknown>): Promise<number> {
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

export const pct = (x: number) => (100 * x).toFixed(1);

export interface Command extends CommandSpec {
  run(args: ParsedArgs): Promise<number>;
}
