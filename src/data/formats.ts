// Readers for real datasets a researcher may hold, producing the same manifest the generated
// sets have (absolute paths, read in place):
//   class-folders  ROOT/<class>/<image>            (Klasson's Grocery Store, Freiburg, CAPG-GP exports)
//                  split by ROOT/train/<class>/ + ROOT/test/<class>/, or by `split` (a CSV of
//                  file,class,split rows), else the first usable image of each class trains
//   grozi120       ROOT/inVitro/<id>/web/JPEG/*.jpg (train)  ROOT/inSitu/<id>/video/*.png (test)
//   pairs-csv      FILE with rows "a,b" (paths relative to the CSV; quoted as CSV where they hold
//                  commas or quotes), optional header
//   unlabeled      ROOT/**/<image>
// Every image is checked first; a bad one is skipped and reported, or stops the import
// (`onBad: "stop"`), always with the file's path and what is wrong with it.
import * as fs from "fs";
import * as path from "path";
import { BadImageError, checkImage } from "./images";
import { Progress } from "../util/progress";
import { Item, Manifest, writeManifest } from "./manifest";
import { ensureDir } from "../util/paths";
import { parse } from "csv-parse/sync";

export const FORMATS = ["class-folders", "grozi120", "pairs-csv", "unlabeled"] as const;
export type Format = (typeof FORMATS)[number];
export type BadPolicy = "skip" | "stop";

export interface ImportReport {
  items: Item[];
  /** One line per problem: "<file>: <what is wrong>". */
  problems: string[];
  /** Files that load, with conversions applied (CMYK, 16-bit, alpha, grayscale). */
  notes: string[];
  /** How the one-shot split was made (class folders and Grozi-120). */
  rule?: string;
}

/** The records of a CSV file (RFC 4180: quoted fields may hold commas, quotes and line breaks),
 * each with the line it starts on; blank lines skipped, fields trimmed. */
function csvRecords(file: string): { line: number; fields: string[] }[] {
  try {
    const rows = parse(fs.readFileSync(file, "utf8"), {
      relax_column_count: true,
      skip_empty_lines: true,
      trim: true,
      info: true,
      bom: true,
    }) as unknown as { record: string[]; info: { lines: number } }[];
    return rows.map((r) => ({ line: r.info.lines, fields: r.record }));
  } catch (e) {
    throw new Error(`${file}: not a readable CSV (${(e as Error).message}); quote fields that hold commas or quotes`);
  }
}

/** Class folders with an explicit split: a file,class,split CSV (paths relative to ROOT, or
 * absolute; split train or test), or ROOT/train/<class>/ and ROOT/test/<class>/. */
function explicitSplit(
  root: string,
  splitFile: string | undefined,
  report: ImportReport,
  policy: BadPolicy,
): { candidates: Item[]; classes: string[] } | undefined {
  const rows: { file: string; cls: string; split: "train" | "test" }[] = [];
  if (splitFile) {
    const file = path.resolve(splitFile);
    const records = csvRecords(file);
    const header = records[0]?.fields.map((f) => f.toLowerCase());
    const start = header && header[0] === "file" ? 1 : 0;
    for (const { line, fields } of records.slice(start)) {
      const [f, cls, split] = fields;
      if (!f || !cls || (split !== "train" && split !== "test")) {
        problem(report, policy, `${file}:${line}: expected file,class,split with split train or test, got '${fields.join(",")}'`);
        continue;
      }
      const abs = path.isAbsolute(f) ? f : path.join(root, f);
      if (!fs.existsSync(abs)) {
        problem(report, policy, `${file}:${line}: ${abs}: no such file`);
        continue;
      }
      rows.push({ file: abs, cls, split });
    }
    report.rule = `split from ${file} (${rows.filter((r) => r.split === "train").length} train, ${rows.filter((r) => r.split === "test").length} test rows)`;
  } else if (["train", "test"].every((d) => fs.existsSync(path.join(root, d)) && fs.statSync(path.join(root, d)).isDirectory())) {
    for (const split of ["train", "test"] as const) {
      for (const cls of listDir(path.join(root, split)).filter((n) => fs.statSync(path.join(root, split, n)).isDirectory())) {
        for (const f of walk(path.join(root, split, cls))) rows.push({ file: f, cls, split });
      }
    }
    report.rule = `split by folder: ${path.join(root, "train")}/<class>/ trains, ${path.join(root, "test")}/<class>/ tests`;
  } else return undefined;
  const classes = [...new Set(rows.map((r) => r.cls))].sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  const id = new Map(classes.map((c, k) => [c, k]));
  return { candidates: rows.map((r) => ({ file: r.file, product: id.get(r.cls)!, split: r.split })), classes };
}

const IMAGE_EXT = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;

function listDir(dir: string): string[] {
  try {
    return fs.readdirSync(dir).sort((a, b) => a.localeCompare(b, "en", { numeric: true }));
  } catch (e) {
    throw new Error(`${dir}: cannot read (${(e as NodeJS.ErrnoException).code}); check the path`);
  }
}

function walk(dir: string): string[] {
  return listDir(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return fs.statSync(p).isDirectory() ? walk(p) : IMAGE_EXT.test(n) ? [p] : [];
  });
}

/** Files under `dir` that are not images by their extension, for "no images" messages. */
function otherFiles(dir: string): string[] {
  return listDir(dir).flatMap((n) => {
    const p = path.join(dir, n);
    return fs.statSync(p).isDirectory() ? otherFiles(p) : IMAGE_EXT.test(n) ? [] : [n];
  });
}

function noImages(dir: string): string {
  const other = otherFiles(dir);
  return other.length
    ? `no image files (${other.length} file${other.length > 1 ? "s" : ""} with an unknown extension: ${other.slice(0, 3).join(", ")}${other.length > 3 ? ", ..." : ""})`
    : "empty (no files)";
}

/** A problem that is not one image's: reported under "skip", the end of the import under "stop". */
function problem(report: ImportReport, policy: BadPolicy, line: string): void {
  if (policy === "stop") throw new Error(`${line} (import stopped: --on-bad stop; use --on-bad skip to leave it out)`);
  report.problems.push(line);
}

/** One-shot sets after the checks: the first surviving image of a class is its training image
 * (class folders), a class with no training image leaves the test set too (it could only count
 * as errors), and class ids are renumbered 0..K-1 in order. */
function oneShotClasses(report: ImportReport, name: (product: number) => string, assignTrain: boolean): void {
  if (assignTrain) {
    const seen = new Set<number>();
    for (const it of report.items) {
      it.split = seen.has(it.product) ? "test" : "train";
      seen.add(it.product);
    }
  }
  const trained = new Set(report.items.filter((it) => it.split === "train").map((it) => it.product));
  const orphans = new Map<number, number>();
  for (const it of report.items) if (!trained.has(it.product)) orphans.set(it.product, (orphans.get(it.product) ?? 0) + 1);
  for (const [p, n] of orphans)
    report.problems.push(`${name(p)}: no usable training image; its ${n} test image${n > 1 ? "s" : ""} left out of the test set`);
  report.items = report.items.filter((it) => trained.has(it.product));
  const ids = new Map<number, number>();
  for (const it of report.items) {
    if (!ids.has(it.product)) ids.set(it.product, ids.size);
    it.product = ids.get(it.product)!;
  }
}

/** Folders at least this large show a progress bar while every image is decoded and checked. */
const CHECK_PROGRESS_FROM = 100;

async function checked(candidates: Item[], policy: BadPolicy, report: ImportReport): Promise<void> {
  const bar =
    candidates.length >= CHECK_PROGRESS_FROM ? new Progress({ label: "check images", total: candidates.length, unit: "img" }) : undefined;
  for (const it of candidates) {
    bar?.tick();
    try {
      const c = await checkImage(it.file);
      if (c.notes.length) report.notes.push(`${it.file}: ${c.notes.join("; ")}`);
      report.items.push(it);
    } catch (e) {
      if (!(e instanceof BadImageError)) throw e;
      if (policy === "stop") throw new Error(`${e.message} (import stopped: --on-bad stop; use --on-bad skip to leave such files out)`);
      report.problems.push(e.message);
    }
  }
}

export async function readDataset(
  format: Format,
  source: string,
  policy: BadPolicy = "skip",
  opts: { split?: string } = {},
): Promise<ImportReport> {
  const report: ImportReport = { items: [], problems: [], notes: [] };
  const root = path.resolve(source);
  const candidates: Item[] = [];
  let classNames: ((product: number) => string) | undefined;
  let assignTrain = false;
  if (opts.split && format !== "class-folders")
    throw new Error(`--split is for --format class-folders (the ${format} format has its own split)`);
  switch (format) {
    case "class-folders": {
      const explicit = explicitSplit(root, opts.split, report, policy);
      if (explicit) {
        candidates.push(...explicit.candidates);
        classNames = (p) => `class '${explicit.classes[p]}'`;
        break;
      }
      assignTrain = true;
      report.rule =
        "no split given (no --split file, no train/ and test/ folders): the first usable image of each class, in name order, trains; the rest test";
      const classes = listDir(root).filter((n) => fs.statSync(path.join(root, n)).isDirectory());
      if (classes.length === 0) throw new Error(`${root}: no class folders (expected ROOT/<class>/<image>)`);
      classes.forEach((c, id) => {
        const files = walk(path.join(root, c));
        if (files.length === 0) problem(report, policy, `${path.join(root, c)}: ${noImages(path.join(root, c))}; class '${c}' left out`);
        // Splits are given after the checks: the first usable image trains, the rest test.
        files.forEach((f) => candidates.push({ file: f, product: id, split: "test" }));
      });
      classNames = (p) => `class '${classes[p]}' (${path.join(root, classes[p])})`;
      break;
    }
    case "grozi120": {
      for (const part of ["inVitro", "inSitu"])
        if (!fs.existsSync(path.join(root, part))) throw new Error(`${root}: not a Grozi-120 folder (missing ${part}/)`);
      const ids = listDir(path.join(root, "inVitro")).filter((n) => /^\d+$/.test(n));
      for (const id of listDir(path.join(root, "inSitu")).filter((n) => /^\d+$/.test(n) && !ids.includes(n))) {
        problem(
          report,
          policy,
          `${path.join(root, "inSitu", id)}: product ${id} is only under inSitu/ (no inVitro/${id}/ to train on); left out`,
        );
      }
      ids.forEach((id, k) => {
        const web = path.join(root, "inVitro", id, "web", "JPEG");
        const video = path.join(root, "inSitu", id, "video");
        const train = fs.existsSync(web) ? walk(web) : [];
        const test = fs.existsSync(video) ? walk(video) : [];
        if (train.length === 0) problem(report, policy, `${web}: no in-vitro images for product ${id}`);
        train.forEach((f) => candidates.push({ file: f, product: k, split: "train", view: "in-vitro" }));
        test.forEach((f) => candidates.push({ file: f, product: k, split: "test", view: "in-situ" }));
      });
      classNames = (p) => `product ${ids[p]}`;
      report.rule = "Grozi-120's own: inVitro/<id>/web/JPEG trains, inSitu/<id>/video tests";
      break;
    }
    case "pairs-csv": {
      const base = path.dirname(root);
      csvRecords(root).forEach(({ line, fields }, i) => {
        if (i === 0 && !IMAGE_EXT.test(fields[0] ?? "")) return; // a header
        if (fields.length < 2 || !fields[0] || !fields[1]) {
          report.problems.push(`${root}:${line}: expected "a,b", got '${fields.join(",")}'`);
          return;
        }
        for (const c of fields.slice(0, 2)) candidates.push({ file: path.resolve(base, c), product: i, split: "pair", pair: i });
      });
      break;
    }
    case "unlabeled":
      walk(root).forEach((f) => candidates.push({ file: f, product: -1, split: "unlabeled" }));
      break;
  }
  await checked(candidates, policy, report);
  if (classNames) oneShotClasses(report, classNames, assignTrain);
  if (format === "pairs-csv") {
    // A pair with one bad image is no pair: drop its partner too.
    const counts = new Map<number, number>();
    report.items.forEach((it) => counts.set(it.pair!, (counts.get(it.pair!) ?? 0) + 1));
    const broken = [...counts].filter(([, n]) => n !== 2).map(([p]) => p);
    if (broken.length) report.problems.push(`${broken.length} pair(s) lost an image and were left out`);
    report.items = report.items.filter((it) => counts.get(it.pair!) === 2);
  }
  return report;
}

/** Read a real dataset and write its manifest to `dir`, where the pipeline looks for it. */
export async function importDataset(
  format: Format,
  source: string,
  dir: string,
  policy: BadPolicy = "skip",
  opts: { split?: string } = {},
): Promise<ImportReport> {
  const report = await readDataset(format, source, policy, opts);
  if (report.items.length === 0)
    throw new Error(`${source}: no usable images${report.problems.length ? `:\n  ${report.problems.slice(0, 10).join("\n  ")}` : ""}`);
  const manifest: Manifest = {
    name: path.basename(dir),
    specHash: "imported",
    spec: { source: path.resolve(source), format, ...(opts.split ? { split: path.resolve(opts.split) } : {}) },
    created: new Date().toISOString(),
    items: report.items,
  };
  ensureDir(dir);
  writeManifest(dir, manifest);
  return report;
}
