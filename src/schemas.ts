// The report and config formats as JSON Schema files in schemas/, for readers in other languages
// (Python's `jsonschema`, editors validating a YAML config). Generated from the zod schemas the
// code checks with, so they cannot drift: test/schemas.test.ts compares the committed files with
// a fresh generation, and `npm run schemas` rewrites them.
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { metricsSchema } from "./pipeline/metrics";
import { benchSchema } from "./bench/bench-schema";
import { profileSchema } from "./config/schema";
import { ensureDir, paths } from "./util/paths";

const SCHEMAS: Record<string, { title: string; schema: z.ZodType }> = {
  "metrics.schema.json": { title: "retail-repr metrics (reports/metrics-<profile>.json)", schema: metricsSchema },
  "bench.schema.json": { title: "retail-repr benchmarks (reports/bench.json)", schema: benchSchema },
  "profile.schema.json": { title: "retail-repr profile (retail-repr config; --config FILE)", schema: profileSchema },
};

export const SCHEMA_DIR = path.join(paths.root, "schemas");

/** Each file's text as the generator writes it. */
export function jsonSchemaFiles(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(SCHEMAS).map(([file, { title, schema }]) => {
      // "input": optional keys stay optional, as a reader of the file sees them.
      const json = { title, ...z.toJSONSchema(schema, { target: "draft-2020-12", io: "input" }) };
      return [file, JSON.stringify(json, null, 2) + "\n"];
    }),
  );
}

export function writeJsonSchemas(dir = SCHEMA_DIR): string[] {
  ensureDir(dir);
  return Object.entries(jsonSchemaFiles()).map(([file, text]) => {
    fs.writeFileSync(path.join(dir, file), text);
    return path.join(dir, file);
  });
}
