// One schema for a profile, so that a value from a config file, a `--set` or a notebook is
// checked the same way before any work starts: unknown keys are refused (a typo never silently
// runs the default), numbers carry their ranges, and enumerations their choices.
import { z } from "zod";

const count = z.number().int().positive();
const rate = z.number().positive();
const fraction = z.number().min(0).max(1);

const lrSweep = z.strictObject({ steps: count, lrScales: z.array(z.number().positive()).min(1) });
const studentStart = z.enum(["teacher", "pretrained"]);

export const profileSchema = z.strictObject({
  name: z.enum(["smoke", "cpu", "paper"]),
  description: z.string(),
  imageSize: count,
  arch: z.string().min(1),
  seed: z.number().int().min(0),
  init: z.string().min(1),
  repeat: z.number().int().min(0),
  data: z.strictObject({
    storeSize: count,
    pretrainImages: count,
    teacherPairs: count,
    pseudoImages: count,
    groziClasses: count,
    groziTestPerClass: count,
    capgBrands: count,
    capgVariants: count,
    capgTestPerClass: count,
    devBrands: count,
    devTestPerClass: count,
  }),
  train: z.strictObject({
    pretrain: z.strictObject({ steps: count, batch: count, lr: rate, tagDrop: fraction, tagNoise: fraction }),
    teacher: z.strictObject({
      steps: count,
      pairsPerBatch: count,
      lr: rate,
      temperature: rate,
      baseTemperature: rate,
      hardRatio: fraction,
      sweep: lrSweep,
    }),
    student: z.strictObject({
      steps: count,
      pairsPerBatch: count,
      pseudoPerBatch: count,
      lr: rate,
      alpha: fraction,
      beta: rate,
      start: studentStart,
      dropout: z.number().min(0).lt(1),
      sweep: z.strictObject({
        steps: count,
        candidates: z.array(z.strictObject({ name: z.string().min(1), start: studentStart, alpha: fraction })).min(1),
        lrScales: z.array(z.number().positive()),
      }),
    }),
    finetune: z.strictObject({
      steps: count,
      batch: count,
      gamma: z.number().positive().max(1),
      recipes: z.array(z.strictObject({ name: z.string().min(1), lr: rate, backboneScale: z.number().positive().max(1) })).min(1),
    }),
    embedBatch: count,
    chunk: count.optional(),
    pseudoPartSize: count,
    checkpointEvery: count,
    workers: count,
  }),
});

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
