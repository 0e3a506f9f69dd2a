// The metrics file's format (reports/metrics-<profile>.json), as one zod schema: what
// `evaluate` and `reproduce` write and what notebooks and `evaluate --json` read. Python users
// get it as schemas/metrics.schema.json. Objects accept keys beyond these (loose), so that a
// field added without changing the meaning of the others needs no new version; a change to a
// listed field's meaning does: bump METRICS_SCHEMA_VERSION.
import { z } from "zod";
import type { ReportKind } from "../util/report-schema";

export const METRICS_SCHEMA_VERSION = 1;

const interval = z.tuple([z.number(), z.number()]).describe("95 % interval [low, high], as fractions");
const outcomes = z
  .string()
  .regex(/^[01]*$/)
  .describe("per test image in the set's order: 1 right, 0 wrong");
const fraction = z.number().min(0).max(1);

const probeScores = z.looseObject({
  logreg: fraction,
  logregCI: interval,
  logregOutcomes: outcomes,
  C: z.number().positive(),
  knn: fraction,
  knnCI: interval,
  ncm: fraction,
  ncmCI: interval,
  fitMs: z.number(),
  iterations: z.number(),
});

const recipe = z.looseObject({ name: z.string(), lr: z.number(), backboneScale: z.number() });

const finetuneResult = z.looseObject({
  accuracy: fraction,
  accuracyCI: interval,
  outcomes,
  trainAccuracy: fraction,
  imagesSeen: z.number(),
  recipe,
  lossSlopeT: z.number().optional(),
  attempts: z.array(z.looseObject({})).optional(),
  converged: z.boolean().optional(),
});

const verdict = z.enum(["holds", "fails", "inconclusive", "not-tested"]);

const finding = z.looseObject({
  id: z.string(),
  claim: z.string(),
  paper: z.string(),
  ours: z.string(),
  verdict,
  difference: z.number(),
  differenceCI: interval,
  seeds: z.number().int().min(1),
  comparisons: z.array(
    z.looseObject({
      set: z.string(),
      winner: z.string(),
      loser: z.string(),
      difference: z.number(),
      differenceCI: interval,
      mcnemarP: z.number(),
      verdict: verdict.exclude(["not-tested"]),
    }),
  ),
  reason: z.string().optional(),
});

const bySet = <T extends z.ZodType>(v: T) => z.record(z.string(), v);

export const metricsSchema = z.looseObject({
  schemaVersion: z.literal(METRICS_SCHEMA_VERSION),
  written: z.string().optional(),
  profile: z.string(),
  arch: z.string(),
  imageSize: z.number().int().positive(),
  datasets: bySet(z.string()),
  probes: bySet(bySet(probeScores)).describe("set -> representation (random-init, pretrained, teacher, student) -> scores"),
  finetune: bySet(bySet(finetuneResult)).describe("set -> variant (gap, lca, lca-maxent) -> result"),
  findings: z.array(finding),
  meta: z.looseObject({
    init: z.string(),
    featureMap: z.tuple([z.number(), z.number()]),
    seeds: z.number().int().min(1),
    backend: z.object({ engine: z.string(), detail: z.string() }).optional(),
    stageSeconds: z.record(z.string(), z.number()),
    selection: z.looseObject({
      probeC: z.looseObject({}),
      finetune: z.looseObject({}),
      teacher: z.looseObject({}),
      student: z.looseObject({}),
      checkpoints: z.looseObject({}),
    }),
  }),
  seeds: z
    .array(z.looseObject({ set: z.string(), row: z.string(), values: z.array(z.number()), mean: z.number(), sd: z.number() }))
    .optional(),
  inputs: z.record(z.string(), z.unknown()).describe("what the numbers were computed from (fingerprints, profile values)"),
});

export const METRICS_REPORT: ReportKind<z.infer<typeof metricsSchema>> = {
  kind: "metrics",
  version: METRICS_SCHEMA_VERSION,
  schema: metricsSchema,
};
