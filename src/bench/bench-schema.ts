// The benchmark file's format (reports/bench.json): one section per benchmark, each written by
// its own run with the time it was written; Python users get it as schemas/bench.schema.json.
// Sections accept keys beyond these (loose); a change to a listed field's meaning bumps the version.
import { z } from "zod";
import type { ReportKind } from "../util/report-schema";

export const BENCH_SCHEMA_VERSION = 1;

const section = (what: string) =>
  z
    .looseObject({ written: z.string().describe("ISO time this section was measured") })
    .describe(what)
    .optional();

export const benchSchema = z.looseObject({
  schemaVersion: z.literal(BENCH_SCHEMA_VERSION),
  engine: section("img/s per backend and model beside PyTorch on the same machine (bench --only engine)"),
  onnx: section("inference img/s: native, onnxruntime-node and PyTorch (bench --only onnx)"),
  data: section("rendering and loading img/s (bench --only pipeline)"),
  training: section("img/s of the real training loops (bench --only pipeline)"),
  probe: section("logistic-regression probe fit time (bench --only pipeline)"),
  memory: section("peak memory of training steps (bench --only memory)"),
  kernels: section("one training step's time per kernel (bench --only kernels)"),
  dataParallel: section(
    "data-parallel training (c10d, Gloo) against one process, and the all-reduce per step (bench --only data-parallel)",
  ),
});

export const BENCH_REPORT: ReportKind<z.infer<typeof benchSchema>> = { kind: "bench", version: BENCH_SCHEMA_VERSION, schema: benchSchema };
