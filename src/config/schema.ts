// One schema for a profile, so that a value from a config file, a `--set` or a notebook is
// checked the same way before any work starts: unknown keys are refused (a typo never silently
// runs the default), numbers carry their ranges, and enumerations their choices. The Profile
// type is inferred from it (z.infer), so the two cannot drift apart.
import { z } from "zod";

const count = z.number().int().positive();
const rate = z.number().positive();
const fraction = z.number().min(0).max(1);

/** A learning-rate sweep on dev-like: short runs of `steps` steps at the base rate times each scale. */
const lrSweep = z.strictObject({ steps: count, lrScales: z.array(z.number().positive()).min(1) });
/** Where the student starts: the teacher's weights, or the pretrained backbone (the paper does
 * not say; the dev sweep chooses). */
const studentStart = z.enum(["teacher", "pretrained"]);
/** A fine-tuning recipe: the new head's learning rate, and the pretrained backbone's as a
 * fraction of it (a practitioner's usual guard against destroying the pretrained features). */
export const finetuneRecipeSchema = z.strictObject({ name: z.string().min(1), lr: rate, backboneScale: z.number().positive().max(1) });

/** The tfjs backends, fastest first: the order `auto` tries them in (engine/availability.ts). */
export const BACKEND_ORDER = ["torch", "tensorflow-gpu", "tensorflow", "webgpu", "wasm", "cpu"] as const;
/** What a user may write: a backend's name, `native` (the wasm engine with its native kernels)
 * or `auto` (try each in order). */
export const BACKEND_CHOICES = [...BACKEND_ORDER, "native", "auto"] as const;

/** What computes, when neither the command line (--backend, --device) nor the environment
 * (RETAIL_REPR_BACKEND, RETAIL_REPR_DEVICE) says. Not an input of any step: a run records the
 * backend it used (meta.backend), and a backend's results differ only in rounding. */
const engineChoice = z.strictObject({
  backend: z.enum(BACKEND_CHOICES),
  /** The torch backend's device: cpu, cuda or cuda:N; null: the first GPU, else the CPU. */
  device: z
    .string()
    .regex(/^(cpu|cuda(:\d+)?)$/, "a device is cpu, cuda or cuda:N")
    .nullable(),
});

/** How many products and images each dataset gets. */
const dataSizes = z.strictObject({
  /** Images are stored at this side; loaders crop/resize to imageSize. */
  storeSize: count,
  /** The pretraining corpus: products disjoint from every other set, logos too. */
  pretrainImages: count,
  teacherPairs: count,
  pseudoImages: count,
  groziClasses: count,
  groziTestPerClass: count,
  capgBrands: count,
  capgVariants: count,
  capgTestPerClass: count,
  /** dev-like, where settings are chosen: brands (two variants each) and test images per class. */
  devBrands: count,
  devTestPerClass: count,
  /** The draw of the test sets (grozi-like, capg-like): their products and photos come from this
   * seed instead of the profile's `seed`, leaving every other set, and so every representation,
   * as it is. A draw no run has scored yet is a sealed test: null keeps the profile's seed. */
  testSeed: z.number().int().min(0).nullable(),
});

/** A start and alpha the student's sweep tries. */
export const studentCandidateSchema = z.strictObject({ name: z.string().min(1), start: studentStart, alpha: fraction });

/** The student's dev sweep: short runs of `steps` steps, one per candidate (start, alpha), then
 * the best candidate at the base learning rate times each of `lrScales`. */
const studentSweep = z.strictObject({
  steps: count,
  candidates: z.array(studentCandidateSchema).min(1),
  lrScales: z.array(z.number().positive()),
});

/** Steps and batch sizes of every training run, and the method's hyper-parameters. */
const trainSizes = z.strictObject({
  /** Weakly supervised pretraining on noisy "hashtags" (softmax over the tag vocabulary). */
  pretrain: z.strictObject({ steps: count, batch: count, lr: rate, tagDrop: fraction, tagNoise: fraction }),
  /** `lr` is the base the dev sweep scales (`sweep.lrScales`, short runs of `sweep.steps`); the
   * chosen rate trains the teacher, whose kept checkpoint is the one best on dev-like. */
  teacher: z.strictObject({
    steps: count,
    pairsPerBatch: count,
    lr: rate,
    temperature: rate,
    baseTemperature: rate,
    hardRatio: fraction,
    sweep: lrSweep,
  }),
  /** The noisy student: `start` and `alpha` are the values the dev sweep chose (chosenStudent
   * in pipeline/runs.ts sets them per candidate; a different value is refused, overrides.ts);
   * its noise (Noisy Student's three) is `dropout` before the last 1x1 conv and `dropPath`, the
   * last block's stochastic-depth rate (models/noise.ts), and RandAugment on its inputs
   * (`randAugment`: `ops` operations a picture at `magnitude` of 30, data/randaugment.ts). */
  student: z.strictObject({
    steps: count,
    pairsPerBatch: count,
    pseudoPerBatch: count,
    lr: rate,
    alpha: fraction,
    beta: rate,
    start: studentStart,
    dropout: z.number().min(0).lt(1),
    dropPath: z.number().min(0).lt(1),
    randAugment: z.strictObject({ ops: z.number().int().min(0), magnitude: z.number().int().min(0).max(30) }),
    sweep: studentSweep,
  }),
  /** The whole network from `init`, on the one-shot training images with augmentation. Each
   * variant chooses on dev-like (pipeline/finetune-sweep.ts): its recipe among `recipes` by short
   * runs of `sweep.steps`, MaxEnt's gamma among `gamma` times each of `sweep.gammaScales`, then
   * its length, the checkpoint of a `steps`-long run that scores best on dev-like. */
  finetune: z.strictObject({
    steps: count,
    batch: count,
    gamma: z.number().positive().max(1),
    recipes: z.array(finetuneRecipeSchema).min(1),
    sweep: z.strictObject({ steps: count, gammaScales: z.array(z.number().positive()) }),
  }),
  embedBatch: count,
  /** Gradient-cache chunk (train/chunked.ts): embed and backpropagate a step's batch this many
   * images at a time. Unset: only when the batch does not fit the wasm heap, in the largest
   * chunks that do (`--chunk N` or RETAIL_REPR_CHUNK sets it). */
  chunk: count.optional(),
  /** Pseudolabels are written in parts of this many images: the unit of resume and of sharding. */
  pseudoPartSize: count,
  checkpointEvery: count,
  /** Data-parallel replicas on the CPU when convolutions run on XNNPACK (one thread each; 2 uses
   * both cores of a laptop). Ignored with the native OpenBLAS kernels, which use every core. */
  workers: count,
});

/** A run profile: one plain object per size of the whole method (profiles.ts). */
export const profileSchema = z.strictObject({
  name: z.enum(["smoke", "cpu", "paper"]),
  description: z.string(),
  /** Square input side in pixels for every model. */
  imageSize: count,
  /** Model preset used for teacher, student and baselines. */
  arch: z.string().min(1),
  seed: z.number().int().min(0),
  /** Where every trained model starts: "pretrained" (this profile's `pretrain` run, the stand-in
   * for ResNeXt-WSL), "random", or a checkpoint folder (e.g. made by `import-torch`). */
  init: z.string().min(1),
  /** The repeat of `--seeds N`: 0 is the profile's own run. A repeat changes the training seed
   * (new layers, batch order, augmentation), the draw of the test sets (`testDrawSeed`) and of
   * dev-like (`devDrawSeed`), so every choice is made again; the training sets and the
   * pretrained start stay. */
  repeat: z.number().int().min(0),
  engine: engineChoice,
  data: dataSizes,
  train: trainSizes,
});

// The types are the schema's (one definition), as interfaces so that TypeScript names them
// where it prints a type (a notebook kernel's declarations) instead of spelling out zod's.
export interface Profile extends z.infer<typeof profileSchema> {}
export type ProfileName = Profile["name"];
export interface DataSizes extends z.infer<typeof dataSizes> {}
export interface TrainSizes extends z.infer<typeof trainSizes> {}
export interface EngineChoice extends z.infer<typeof engineChoice> {}
export interface LrSweep extends z.infer<typeof lrSweep> {}
export interface StudentSweep extends z.infer<typeof studentSweep> {}
export type StudentStart = z.infer<typeof studentStart>;
export interface FinetuneRecipe extends z.infer<typeof finetuneRecipeSchema> {}

/** A path into an object as the dotted key a user writes (`train.teacher.lr`, `train.finetune.recipes.0.lr`). */
export const dottedKey = (path: readonly PropertyKey[]) => path.map(String).join(".");

/** The value at a dotted path, or undefined. */
export function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
  let v = obj as Record<PropertyKey, unknown> | undefined;
  for (const k of path) v = v !== null && typeof v === "object" ? (v[k] as Record<PropertyKey, unknown>) : undefined;
  return v;
}

/** Each problem of `value` against the profile schema as one line naming the key, the value
 * and what is allowed; [] when it is a valid profile. */
export function profileProblems(value: unknown): string[] {
  const r = profileSchema.safeParse(value);
  if (r.success) return [];
  return r.error.issues.map((issue) => {
    if (issue.code === "unrecognized_keys") {
      const parent = issue.path.length ? `${dottedKey(issue.path)}.` : "";
      const here = Object.keys(shapeAt(issue.path) ?? {});
      return `${issue.keys.map((k) => `'${parent}${k}'`).join(", ")}: no such key (the keys here: ${here.join(", ")})`;
    }
    const key = dottedKey(issue.path);
    return `${key}: ${JSON.stringify(valueAt(value, issue.path))} is not allowed (${issue.message.replace(/^Invalid input: /, "")})`;
  });
}

/** The object schema's shape at a path of the profile (for naming the keys that exist there). */
function shapeAt(path: readonly PropertyKey[]): Record<string, unknown> | undefined {
  let s: unknown = profileSchema;
  for (const k of path) {
    if (typeof k === "number") s = (s as { element?: unknown }).element;
    else s = (s as { shape?: Record<string, unknown> }).shape?.[String(k)];
    s = unwrap(s);
  }
  return (s as { shape?: Record<string, unknown> } | undefined)?.shape;
}

const unwrap = (s: unknown): unknown =>
  s && typeof (s as { unwrap?: unknown }).unwrap === "function" ? unwrap((s as { unwrap(): unknown }).unwrap()) : s;
