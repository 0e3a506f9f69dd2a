// Generate the four synthetic datasets of a profile under datasets/<name>/, cached by the hash
// of everything that decides their content (a second run with the same spec does nothing).
import { createHash } from "crypto";
import * as fs from "fs";
import * as path from "path";
import { Profile } from "../config/profiles";
import { ensureDir, paths } from "../util/paths";
import { memoOnFile } from "../util/memo";
import { Progress } from "../util/progress";
import { Item, Manifest, manifestPath, readManifest, resolveItem, writeManifest } from "./manifest";
import type { Freshness } from "../util/fingerprint";
import { renderInSitu, renderInVitro } from "./render";
import { domainOf } from "./domains";
import { mixSeed, rngFrom } from "./rng";
import { hashtagVocabulary, noisyHashtags } from "./hashtags";
import { productSpec, ProductSpec } from "./universe";

export const DATASET_NAMES = ["pretrain-corpus", "teacher-pairs", "student-pseudo", "dev-like", "grozi-like", "capg-like"] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/** Brand-id ranges keep the datasets' products disjoint (add-product draws from 4,000,000 on);
 * the pretraining corpus also has logos of its own (universe.ts, logoPool). */
const BRAND_OFFSET: Record<DatasetName, number> = {
  "teacher-pairs": 0,
  "student-pseudo": 1_000_000,
  "grozi-like": 2_000_000,
  "capg-like": 3_000_000,
  "pretrain-corpus": 5_000_000,
  "dev-like": 6_000_000,
};
// 2: the pretraining corpus, and logos split between it and the other sets. 3: in-situ photos
// really are down-scaled (the effect was lost to sharp's one-resize-per-pipeline rule). 4: test
// photos from a held-out domain (domains.ts), one teacher pair per product, the dev-like set.
const GENERATOR_VERSION = 4;

interface Job {
  file: string;
  render: () => Promise<Buffer>;
  item: Item;
}

function product(seed: number, name: DatasetName, brand: number, variant: number, variants: number): ProductSpec {
  return productSpec(seed, (BRAND_OFFSET[name] + brand) * variants + variant, variants, name === "pretrain-corpus" ? "pretrain" : "main");
}

/** The one-shot test sets the paper's tables report: drawn apart from the rest (`testDrawSeed`). */
export const TEST_SETS = ["capg-like", "grozi-like"] as const;

/** The seed the test sets are drawn from: `data.testSeed` (else the profile's `seed`), plus 1000
 * per repeat, so that each repeat of `--seeds N` scores its own draw of test products and photos
 * and the spread between draws is in the repeats' spread. */
export function testDrawSeed(profile: Profile): number {
  return (profile.data.testSeed ?? profile.seed) + 1000 * profile.repeat;
}

/** The seed dev-like is drawn from: the profile's `seed` plus 1000 per repeat. Each repeat makes
 * every choice on its own draw of dev products, so the spread of what dev chose is in the
 * repeats' spread too; repeat 0's is the profile's own. The training sets and the pretraining
 * corpus keep the profile's seed in every repeat. */
export function devDrawSeed(profile: Profile): number {
  return profile.seed + 1000 * profile.repeat;
}

/** The seed dataset `name` is drawn from: its draw's for a test set and dev-like, else the profile's. */
const drawSeed = (name: string, profile: Profile) =>
  (TEST_SETS as readonly string[]).includes(name) ? testDrawSeed(profile) : name === "dev-like" ? devDrawSeed(profile) : profile.seed;

function plan(name: DatasetName, profile: Profile): { spec: Record<string, unknown>; jobs: Job[] } {
  const d = profile.data;
  const seed = drawSeed(name, profile);
  const size = d.storeSize;
  const r = rngFrom(mixSeed(seed, name, "plan"));
  const other = (k: number) => [
    product(seed, name, 900_000 + ((k * 2) % 5000), 0, 1),
    product(seed, name, 900_001 + ((k * 2) % 5000), 0, 1),
  ];
  const jobs: Job[] = [];
  // File names are given without extension: packshots are PNG, shelf photos JPEG.
  const add = (stem: string, p: ProductSpec, view: Item["view"], split: Item["split"], viewSeed: number, extra: Partial<Item> = {}) => {
    const file = `${stem}.${view === "in-vitro" ? "png" : "jpg"}`;
    const domain = view === "in-situ" ? domainOf(split) : undefined;
    jobs.push({
      file,
      item: { file, product: p.id, brand: p.brandId, view, split, ...(domain ? { domain } : {}), ...extra },
      render: () =>
        view === "in-vitro" ? renderInVitro(p, size) : renderInSitu(p, other(viewSeed), mixSeed(seed, name, viewSeed), size, { domain }),
    });
  };
  let spec: Record<string, unknown>;
  switch (name) {
    case "pretrain-corpus": {
      // Photos "from the web": packshots and shelf photos of many products, each with noisy
      // hashtags. About three photos per product, two variants per brand.
      const vocabulary = hashtagVocabulary();
      const index = new Map(vocabulary.map((t, i) => [t, i]));
      const products = Math.max(2, Math.ceil(d.pretrainImages / 3));
      const tp = profile.train.pretrain;
      for (let i = 0; i < d.pretrainImages; i++) {
        const k = Math.floor(r() * products);
        const p = product(seed, name, k >> 1, k & 1, 2);
        add(`w/${i}`, p, r() < 0.4 ? "in-vitro" : "in-situ", "train", i, {
          tags: noisyHashtags(p, index, seed, i, tp.tagDrop, tp.tagNoise),
        });
      }
      spec = { images: d.pretrainImages, products, tagDrop: tp.tagDrop, tagNoise: tp.tagNoise, vocabulary };
      break;
    }
    case "teacher-pairs": {
      // Pairs of two images of one product (a packshot or a shelf photo, and a shelf photo);
      // two variants per brand so some negatives are fine-grained. One pair per product, as in
      // a catalogue of many products: two pairs of one product in a batch would be each other's
      // false negatives (losses are labelled by pair, as the paper's are).
      const products = d.teacherPairs;
      for (let i = 0; i < d.teacherPairs; i++) {
        const p = product(seed, name, i >> 1, i & 1, 2);
        add(`a/${i}`, p, r() < 0.5 ? "in-vitro" : "in-situ", "pair", 2 * i, { pair: i });
        add(`b/${i}`, p, "in-situ", "pair", 2 * i + 1, { pair: i });
      }
      spec = { pairs: d.teacherPairs, products };
      break;
    }
    case "student-pseudo": {
      const products = Math.max(2, Math.ceil(d.pseudoImages / 2));
      for (let i = 0; i < d.pseudoImages; i++) {
        const k = Math.floor(r() * products);
        add(`u/${i}`, product(seed, name, k >> 1, k & 1, 2), r() < 0.25 ? "in-vitro" : "in-situ", "unlabeled", i);
      }
      spec = { images: d.pseudoImages, products };
      break;
    }
    case "dev-like":
    case "grozi-like":
    case "capg-like": {
      // One in-vitro training image per class, several in-situ test images (one-shot protocol).
      // dev-like, where every setting is chosen, mixes both: two variants of each brand.
      const brands = name === "grozi-like" ? d.groziClasses : name === "capg-like" ? d.capgBrands : d.devBrands;
      const variants = name === "grozi-like" ? 1 : name === "capg-like" ? d.capgVariants : 2;
      const tests = name === "grozi-like" ? d.groziTestPerClass : name === "capg-like" ? d.capgTestPerClass : d.devTestPerClass;
      let c = 0;
      for (let b = 0; b < brands; b++) {
        for (let v = 0; v < variants; v++, c++) {
          const p = product(seed, name, b, v, variants);
          add(`train/${c}`, p, "in-vitro", "train", 1000 * c);
          for (let t = 0; t < tests; t++) add(`test/${c}_${t}`, p, "in-situ", "test", 1000 * c + t + 1);
        }
      }
      spec = { brands, variants, classes: c, testPerClass: tests };
      break;
    }
  }
  // Class ids are 0..K-1 in manifest order for the one-shot sets.
  if (name === "grozi-like" || name === "capg-like" || name === "dev-like") {
    const ids = new Map<number, number>();
    for (const j of jobs) {
      if (!ids.has(j.item.product)) ids.set(j.item.product, ids.size);
      j.item.product = ids.get(j.item.product)!;
    }
  }
  return { spec: { generator: GENERATOR_VERSION, dataset: name, seed, storeSize: size, ...spec }, jobs };
}

export function datasetDir(name: string, profileName: string): string {
  return path.join(paths.datasets, profileName, name);
}

/** Where this profile's dataset `name` lives: datasets/<profile>/<name>, and a test set or dev-like
 * drawn from another seed than the profile's beside it, in datasets/<profile>/test-draw-<seed>/<name>
 * or dev-draw-<seed>/dev-like. A set imported under that name (a real one) has one draw: it is
 * always read from the first. */
export function datasetDirOf(profile: Profile, name: string): string {
  const own = datasetDir(name, profile.name);
  const seed = drawSeed(name, profile);
  if (seed === profile.seed || isImported(own)) return own;
  return path.join(paths.datasets, profile.name, `${name === "dev-like" ? "dev" : "test"}-draw-${seed}`, name);
}

const isImported = (dir: string) => fs.existsSync(manifestPath(dir)) && readManifest(dir).specHash === "imported";

/** Run `fn` over `items` with at most `limit` in flight (sharp works on libuv's thread pool). */
export async function pool<T>(items: T[], limit: number, fn: (t: T, i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

export interface GenerateResult {
  name: DatasetName;
  dir: string;
  images: number;
  cached: boolean;
  seconds: number;
}

/** Whether dataset `name` is there for this profile: generated from today's spec with every image
 * present, or imported (a real dataset imported under this name is never overwritten). */
export function datasetState(name: DatasetName, profile: Profile): Freshness {
  const dir = datasetDirOf(profile, name);
  if (!fs.existsSync(manifestPath(dir))) return { fresh: false, why: "not generated yet" };
  // Planning the spec and checking every image is most of a cached run's time: once per version
  // of the manifest and of the profile.
  return memoOnFile(manifestPath(dir), `state ${name} ${JSON.stringify(profile)}`, () => {
    const m = readManifest(dir);
    if (m.specHash === "imported") return { fresh: true };
    if (m.specHash !== specHashOf(plan(name, profile).spec)) return { fresh: false, why: "inputs changed (spec)" };
    const missing = m.items.filter((it) => !fs.existsSync(resolveItem(dir, it))).length;
    return missing ? { fresh: false, why: `${missing} image(s) missing` } : { fresh: true };
  });
}

const specHashOf = (spec: unknown) => createHash("sha256").update(JSON.stringify(spec)).digest("hex").slice(0, 16);

export async function generateDataset(name: DatasetName, profile: Profile, opts: { quiet?: boolean } = {}): Promise<GenerateResult> {
  const dir = datasetDirOf(profile, name);
  const t0 = Date.now();
  if (datasetState(name, profile).fresh) return { name, dir, images: readManifest(dir).items.length, cached: true, seconds: 0 };
  const { spec, jobs } = plan(name, profile);
  const specHash = specHashOf(spec);
  fs.rmSync(dir, { recursive: true, force: true });
  ensureDir(dir);
  const bar = opts.quiet ? undefined : new Progress({ label: `generate ${name}`, total: jobs.length, unit: "img" });
  await pool(jobs, 4, async (job) => {
    const out = path.join(dir, job.file);
    ensureDir(path.dirname(out));
    fs.writeFileSync(out, await job.render());
    bar?.tick();
  });
  const manifest: Manifest = { name, specHash, spec, created: new Date().toISOString(), items: jobs.map((j) => j.item) };
  writeManifest(dir, manifest); // written last: a killed run leaves no manifest and is redone
  return { name, dir, images: jobs.length, cached: false, seconds: (Date.now() - t0) / 1000 };
}

export async function generateAll(profile: Profile, only?: DatasetName[], opts: { quiet?: boolean } = {}): Promise<GenerateResult[]> {
  const out: GenerateResult[] = [];
  for (const n of only ?? DATASET_NAMES) out.push(await generateDataset(n, profile, opts));
  return out;
}
