import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { getProfile } from "../src/config/profiles";
import { DATASET_NAMES, generateDataset } from "../src/data/generate";
import { readManifest, resolveItem } from "../src/data/manifest";
import { checkImage } from "../src/data/images";
import { readDataset } from "../src/data/formats";
import { batchAt, loadBatch } from "../src/data/loader";
import { CONDITIONS } from "../src/data/domains";
import { datasetDir, datasetDirOf, testDrawSeed, devDrawSeed } from "../src/data/generate";
import { withRun } from "../src/config/profiles";
import { inTempTree } from "./helpers";
import { applyOverrides, parseSet } from "../src/config/overrides";
import { pairsOf } from "../src/data/sets";
import { falseNegativesPerBatch } from "../src/train/teacher";
import { productSpec } from "../src/data/universe";
import { tf } from "../src/engine/tf";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "rr-data-"));

test("products are pure functions of (seed, id); variants of a brand differ in flavour and accent", () => {
  assert.deepEqual(productSpec(7, 123, 4), productSpec(7, 123, 4));
  const variants = [0, 1, 2, 3].map((v) => productSpec(7, 40 + v, 4));
  assert.equal(new Set(variants.map((v) => v.brandId)).size, 1);
  assert.equal(new Set(variants.map((v) => v.name)).size, 1);
  assert.equal(new Set(variants.map((v) => v.flavour)).size, 4);
  assert.equal(new Set(variants.map((v) => v.accent)).size, 4);
});

test("smoke datasets: six manifests (the pretraining corpus too), disjoint products, every file opens in an independent reader (PIL), cached on rerun", async () => {
  const profile = getProfile("smoke");
  const brands = new Map<string, Set<number>>();
  const files: string[] = [];
  for (const name of DATASET_NAMES) {
    const r = await generateDataset(name, profile, { quiet: true });
    const m = readManifest(r.dir);
    assert.equal(m.items.length, r.images);
    brands.set(name, new Set(m.items.map((it) => it.brand!)));
    files.push(...m.items.map((it) => resolveItem(r.dir, it)));
    const again = await generateDataset(name, profile, { quiet: true });
    assert.equal(again.cached, true, `${name} regenerated although nothing changed`);
  }
  const names = [...brands.keys()];
  for (let i = 0; i < names.length; i++)
    for (let j = i + 1; j < names.length; j++) {
      const shared = [...brands.get(names[i])!].filter((b) => brands.get(names[j])!.has(b));
      assert.deepEqual(shared, [], `${names[i]} and ${names[j]} share brands`);
    }
  const list = path.join(tmp(), "files.txt");
  fs.writeFileSync(list, files.join("\n"));
  const r = spawnSync(
    "/usr/bin/python3",
    [
      "-c",
      "import sys\nfrom PIL import Image\nn=0\nfor f in open(sys.argv[1]).read().split('\\n'):\n  im=Image.open(f); im.load(); assert im.size[0] > 8, f; n+=1\nprint(n)",
      list,
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(Number(r.stdout.trim()), files.length);
});

test("each repeat draws its own test sets and dev-like (products and photos) beside the profile's; the training sets stay; an imported test set has one draw", async () => {
  await inTempTree("rr-draws-", async () => {
    const profile = getProfile("smoke");
    const repeat1 = withRun(profile, { repeat: 1 });
    assert.equal(testDrawSeed(profile), profile.seed);
    assert.equal(testDrawSeed(repeat1), profile.seed + 1000);
    assert.equal(testDrawSeed(applyOverrides(repeat1, parseSet("data.testSeed=11"), "--set")), 1011);
    assert.equal(devDrawSeed(profile), profile.seed);
    assert.equal(
      devDrawSeed(applyOverrides(repeat1, parseSet("data.testSeed=11"), "--set")),
      profile.seed + 1000,
      "testSeed draws tests only",
    );
    for (const name of ["pretrain-corpus", "teacher-pairs", "student-pseudo"])
      assert.equal(datasetDirOf(repeat1, name), datasetDirOf(profile, name));
    const dev0 = await generateDataset("dev-like", profile, { quiet: true });
    const dev1 = await generateDataset("dev-like", repeat1, { quiet: true });
    assert.equal(dev1.dir, path.join(path.dirname(dev0.dir), `dev-draw-${profile.seed + 1000}`, "dev-like"));
    // Products are drawn from (seed, id): the same ids, other products; no packshot repeats.
    const packshots = (dir: string) =>
      new Set(
        readManifest(dir)
          .items.filter((it) => it.view === "in-vitro")
          .map((it) => fs.readFileSync(resolveItem(dir, it)).toString("base64")),
      );
    const before = packshots(dev0.dir);
    assert.equal([...packshots(dev1.dir)].filter((b) => before.has(b)).length, 0, "a repeat's dev-like has products of its own");
    const own = await generateDataset("grozi-like", profile, { quiet: true });
    const other = await generateDataset("grozi-like", repeat1, { quiet: true });
    assert.equal(other.dir, path.join(path.dirname(own.dir), `test-draw-${profile.seed + 1000}`, "grozi-like"));
    const [m0, m1] = [readManifest(own.dir), readManifest(other.dir)];
    assert.equal(m1.items.length, m0.items.length, "the same sizes");
    assert.equal(m1.spec.seed, profile.seed + 1000);
    const test0 = m0.items.find((it) => it.split === "test")!;
    const test1 = m1.items.find((it) => it.split === "test")!;
    assert.notDeepEqual(fs.readFileSync(resolveItem(other.dir, test1)), fs.readFileSync(resolveItem(own.dir, test0)), "other photos");
    assert.equal((await generateDataset("grozi-like", repeat1, { quiet: true })).cached, true);
    // A real set imported as grozi-like is read by every repeat.
    const manifest = JSON.parse(fs.readFileSync(path.join(own.dir, "manifest.json"), "utf8"));
    fs.writeFileSync(path.join(own.dir, "manifest.json"), JSON.stringify({ ...manifest, specHash: "imported" }));
    assert.equal(datasetDirOf(repeat1, "grozi-like"), own.dir);
  });
});

test("held-out shelf domain: no training set holds a held-out photo, every scored photo is one; the two domains share no condition; one teacher pair per product", async () => {
  const profile = getProfile("smoke");
  for (const name of DATASET_NAMES) {
    const m = readManifest((await generateDataset(name, profile, { quiet: true })).dir);
    for (const it of m.items) {
      if (it.view !== "in-situ") assert.equal(it.domain, undefined, `${name}/${it.file}: a packshot has no shelf domain`);
      else if (it.split === "test")
        assert.equal(it.domain, "held-out", `${name}/${it.file}: a scored shelf photo from the training domain`);
      else assert.equal(it.domain, "catalogue", `${name}/${it.file}: a training image (${it.split}) from the held-out domain`);
    }
    if (["pretrain-corpus", "teacher-pairs", "student-pseudo"].includes(name))
      assert.ok(
        m.items.some((it) => it.domain === "catalogue"),
        `${name} has no shelf photos`,
      );
  }
  const [a, b] = [CONDITIONS.catalogue, CONDITIONS["held-out"]];
  assert.deepEqual(
    a.shelves.filter((x) => b.shelves.includes(x)),
    [],
  );
  assert.deepEqual(
    a.occluders.filter((x) => b.occluders.includes(x)),
    [],
  );
  assert.ok(a.castHue[1] <= b.castHue[0] || b.castHue[1] <= a.castHue[0], "colour-cast hue ranges overlap");
  assert.notEqual(a.skew, b.skew);
  for (const k of Object.keys(a.camera) as (keyof typeof a.camera)[]) assert.notEqual(a.camera[k], b.camera[k], `camera ${k}`);
  // One pair per product: a batch of pairs holds no two of one product (no false negatives).
  const pairs = pairsOf(datasetDir("teacher-pairs", profile.name));
  assert.equal(new Set(pairs.map((p) => p.product)).size, pairs.length);
  assert.equal(falseNegativesPerBatch(pairs, 8, 7, 20), 0);
  const dup = pairs.slice(0, 8).map((p, i) => ({ ...p, product: i % 4 })); // a batch of all 8 holds 2 of each of 4 products
  assert.equal(falseNegativesPerBatch(dup, 8, 7, 1), 4);
});

async function badFiles(dir: string): Promise<Record<string, string>> {
  const rgb = sharp({ create: { width: 24, height: 20, channels: 3, background: "#3366aa" } });
  const f = (n: string) => path.join(dir, n);
  const good = await rgb.clone().jpeg().toBuffer();
  fs.writeFileSync(f("good.jpg"), good);
  fs.writeFileSync(f("truncated.jpg"), good.subarray(0, Math.floor(good.length / 2)));
  fs.writeFileSync(f("notes.jpg"), "these are not pixels");
  fs.writeFileSync(f("empty.png"), "");
  await rgb.clone().toColourspace("cmyk").jpeg().toFile(f("cmyk.jpg"));
  await rgb.clone().toColourspace("rgb16").png().toFile(f("deep16.png"));
  await sharp({ create: { width: 24, height: 20, channels: 4, background: { r: 0, g: 0, b: 0, alpha: 0.5 } } })
    .png()
    .toFile(f("alpha.png"));
  await rgb.clone().toColourspace("b-w").png().toFile(f("gray.png"));
  await sharp({ create: { width: 1, height: 1, channels: 3, background: "#000" } })
    .png()
    .toFile(f("tiny.png"));
  return {
    good: f("good.jpg"),
    truncated: f("truncated.jpg"),
    notes: f("notes.jpg"),
    empty: f("empty.png"),
    cmyk: f("cmyk.jpg"),
    deep16: f("deep16.png"),
    alpha: f("alpha.png"),
    gray: f("gray.png"),
    tiny: f("tiny.png"),
  };
}

test("bad images: each problem named with its file; convertible ones load with a note", async () => {
  const b = await badFiles(tmp());
  await assert.rejects(checkImage(b.truncated), new RegExp(`${b.truncated}: truncated or corrupt image data`));
  await assert.rejects(checkImage(b.notes), new RegExp(`${b.notes}: not an image sharp can read`));
  await assert.rejects(checkImage(b.empty), new RegExp(`${b.empty}: empty file`));
  await assert.rejects(checkImage(b.tiny), new RegExp(`${b.tiny}: 1x1 is too small`));
  await assert.rejects(checkImage("/no/such/dir/x.jpg"), /\/no\/such\/dir\/x\.jpg: cannot read \(ENOENT\)/);
  assert.deepEqual((await checkImage(b.good)).notes, []);
  assert.match((await checkImage(b.cmyk)).notes.join(), /CMYK/);
  assert.match((await checkImage(b.deep16)).notes.join(), /16-bit/);
  assert.match((await checkImage(b.alpha)).notes.join(), /alpha/);
  assert.match((await checkImage(b.gray)).notes.join(), /grayscale/);
  // The convertible ones decode to 3-channel tensors.
  const x = await loadBatch([b.cmyk, b.deep16, b.alpha, b.gray], { size: 16, seed: 0 });
  assert.deepEqual(x.shape, [4, 16, 16, 3]);
  assert.ok(x.dataSync().every(Number.isFinite));
  x.dispose();
});

test("class-folder import: skip-and-report or stop, empty class folders reported, class ids contiguous after the checks", async () => {
  const root = tmp();
  for (const c of ["aa-all-bad", "apples", "beans", "empty", "words"]) fs.mkdirSync(path.join(root, c));
  const a = await badFiles(path.join(root, "apples"));
  fs.copyFileSync(a.truncated, path.join(root, "aa-all-bad", "t.jpg"));
  fs.copyFileSync(a.good, path.join(root, "beans", "b1.jpg"));
  fs.copyFileSync(a.good, path.join(root, "beans", "b2.jpg"));
  fs.writeFileSync(path.join(root, "words", "w.txt"), "not an image");
  const r = await readDataset("class-folders", root, "skip");
  assert.ok(r.problems.includes(`${path.join(root, "empty")}: empty (no files); class 'empty' left out`), r.problems.join("\n"));
  assert.ok(
    r.problems.includes(`${path.join(root, "words")}: no image files (1 file with an unknown extension: w.txt); class 'words' left out`),
    r.problems.join("\n"),
  );
  assert.ok(r.problems.some((p) => p.startsWith(`${a.truncated}: truncated`)));
  assert.ok(r.problems.some((p) => p.startsWith(`${a.tiny}: 1x1`)));
  // aa-all-bad lost its only image: apples and beans are classes 0 and 1, not 1 and 2.
  assert.deepEqual([...new Set(r.items.map((it) => it.product))], [0, 1]);
  assert.equal(r.items.filter((it) => it.product === 1).length, 2);
  assert.equal(r.items.filter((it) => it.split === "train").length, 2, "one training image per class");
  assert.ok(r.notes.some((n) => n.includes("CMYK")));
  // --on-bad stop stops on an empty class folder too (before reading any image).
  await assert.rejects(
    readDataset("class-folders", root, "stop"),
    /empty: empty \(no files\); class 'empty' left out \(import stopped: --on-bad stop/,
  );
  fs.rmSync(path.join(root, "empty"), { recursive: true });
  fs.rmSync(path.join(root, "words"), { recursive: true });
  await assert.rejects(readDataset("class-folders", root, "stop"), /t\.jpg: truncated .*\(import stopped: --on-bad stop/);
  await assert.rejects(readDataset("class-folders", path.join(root, "nothing")), /cannot read \(ENOENT\)/);
});

test("an image over the pixel limit is refused by name before it is decoded", async () => {
  const big = path.join(tmp(), "big.png");
  await sharp({ create: { width: 8000, height: 8000, channels: 3, background: "#123" } })
    .png({ compressionLevel: 9 })
    .toFile(big);
  await assert.rejects(
    checkImage(big),
    (e: Error) => e.message.startsWith(`${big}: `) && /larger than the 50 megapixel limit/.test(e.message),
  );
});

test("Grozi-120 layout and a pairs CSV are read into manifests", async () => {
  const root = tmp();
  const img = await sharp({ create: { width: 20, height: 20, channels: 3, background: "#a00" } })
    .jpeg()
    .toBuffer();
  for (const id of ["1", "2"]) {
    fs.mkdirSync(path.join(root, "inVitro", id, "web", "JPEG"), { recursive: true });
    fs.mkdirSync(path.join(root, "inSitu", id, "video"), { recursive: true });
    fs.writeFileSync(path.join(root, "inVitro", id, "web", "JPEG", "web1.jpg"), img);
    for (const k of [1, 2]) fs.writeFileSync(path.join(root, "inSitu", id, "video", `video${k}.png`), img);
  }
  const g = await readDataset("grozi120", root);
  assert.equal(g.items.filter((it) => it.split === "train").length, 2);
  assert.equal(g.items.filter((it) => it.split === "test" && it.product === 1).length, 2);
  // Product 3 with a broken packshot, product 4 only under inSitu/: both reported, neither in
  // the test set, and the ids stay 0..K-1.
  fs.mkdirSync(path.join(root, "inVitro", "3", "web", "JPEG"), { recursive: true });
  fs.writeFileSync(path.join(root, "inVitro", "3", "web", "JPEG", "web1.jpg"), img.subarray(0, 40));
  for (const id of ["3", "4"]) {
    fs.mkdirSync(path.join(root, "inSitu", id, "video"), { recursive: true });
    fs.writeFileSync(path.join(root, "inSitu", id, "video", "video1.png"), img);
  }
  const g2 = await readDataset("grozi120", root);
  assert.ok(g2.problems.includes("product 3: no usable training image; its 1 test image left out of the test set"), g2.problems.join("\n"));
  assert.ok(
    g2.problems.includes(`${path.join(root, "inSitu", "4")}: product 4 is only under inSitu/ (no inVitro/4/ to train on); left out`),
    g2.problems.join("\n"),
  );
  assert.deepEqual([...new Set(g2.items.map((it) => it.product))], [0, 1]);
  assert.equal(g2.items.length, 6);
  fs.rmSync(path.join(root, "inVitro", "3"), { recursive: true });
  fs.rmSync(path.join(root, "inSitu", "3"), { recursive: true });
  fs.rmSync(path.join(root, "inSitu", "4"), { recursive: true });
  await assert.rejects(readDataset("grozi120", path.join(root, "inSitu")), /not a Grozi-120 folder \(missing inVitro\/\)/);

  const csv = path.join(root, "pairs.csv");
  fs.writeFileSync(path.join(root, "x.jpg"), img);
  fs.writeFileSync(csv, "a,b\ninVitro/1/web/JPEG/web1.jpg,inSitu/1/video/video1.png\nx.jpg,missing.jpg\nonly-one-column\n");
  const p = await readDataset("pairs-csv", csv);
  assert.equal(p.items.length, 2);
  assert.ok(p.problems.some((l) => l.includes("missing.jpg: cannot read (ENOENT)")));
  assert.ok(p.problems.some((l) => l.includes('pairs.csv:4: expected "a,b"')));
  assert.ok(p.problems.some((l) => l.includes("1 pair(s) lost an image")));
});

test("real splits: a file,class,split CSV and a train/ + test/ layout, each named in the report; awkward names (commas, quotes, spaces) read as CSV", async () => {
  const root = tmp();
  const img = await sharp({ create: { width: 20, height: 20, channels: 3, background: "#0a0" } })
    .jpeg()
    .toBuffer();
  const files = ["Cola, Zero/front shot.jpg", "Cola, Zero/shelf 1.jpg", 'Tea "Green"/a.jpg', 'Tea "Green"/b b.jpg', 'Tea "Green"/c.jpg'];
  for (const f of files) {
    fs.mkdirSync(path.dirname(path.join(root, f)), { recursive: true });
    fs.writeFileSync(path.join(root, f), img);
  }
  // Without a split: the first image of each class by name trains, and the report says so.
  const plain = await readDataset("class-folders", root);
  assert.match(plain.rule!, /first usable image of each class, in name order, trains/);
  assert.deepEqual(
    plain.items.filter((it) => it.split === "train").map((it) => path.relative(root, it.file)),
    ["Cola, Zero/front shot.jpg", 'Tea "Green"/a.jpg'],
  );

  // A split file chooses otherwise: quoted fields, a header, two training images for one class.
  const split = path.join(root, "split.csv");
  const rows = [
    "file,class,split",
    '"Cola, Zero/shelf 1.jpg","Cola, Zero",train',
    '"Cola, Zero/front shot.jpg","Cola, Zero",test',
    '"Tea ""Green""/c.jpg",tea,train',
    '"Tea ""Green""/b b.jpg",tea,train',
    '"Tea ""Green""/a.jpg",tea,test',
    "not-there.jpg,tea,test",
    '"Tea ""Green""/a.jpg",tea,validation',
  ];
  fs.writeFileSync(split, rows.join("\n") + "\n");
  const r = await readDataset("class-folders", root, "skip", { split });
  assert.equal(r.rule, `split from ${split} (3 train, 2 test rows)`);
  const named = (s: string) =>
    r.items
      .filter((it) => it.split === s)
      .map((it) => path.relative(root, it.file))
      .sort();
  assert.deepEqual(named("train"), ["Cola, Zero/shelf 1.jpg", 'Tea "Green"/b b.jpg', 'Tea "Green"/c.jpg']);
  assert.deepEqual(named("test"), ["Cola, Zero/front shot.jpg", 'Tea "Green"/a.jpg']);
  assert.deepEqual([...new Set(r.items.map((it) => it.product))].sort(), [0, 1]);
  assert.ok(
    r.problems.some((l) => l.startsWith(`${split}:7: ${path.join(root, "not-there.jpg")}: no such file`)),
    r.problems.join("\n"),
  );
  assert.ok(
    r.problems.some((l) => l.startsWith(`${split}:8: expected file,class,split with split train or test`)),
    r.problems.join("\n"),
  );
  await assert.rejects(
    readDataset("class-folders", root, "stop", { split }),
    /split\.csv:7: .*no such file \(import stopped: --on-bad stop/,
  );
  await assert.rejects(readDataset("grozi120", root, "skip", { split }), /--split is for --format class-folders/);

  // A train/ + test/ layout is used as it is.
  const tt = tmp();
  for (const [s, cls, name] of [
    ["train", "b, c", "x 1.jpg"],
    ["test", "b, c", "y.jpg"],
    ["test", "b, c", "z.jpg"],
    ["train", "a", "p.jpg"],
    ["test", "a", "q.jpg"],
  ]) {
    fs.mkdirSync(path.join(tt, s, cls), { recursive: true });
    fs.writeFileSync(path.join(tt, s, cls, name), img);
  }
  const t = await readDataset("class-folders", tt);
  assert.equal(t.rule, `split by folder: ${path.join(tt, "train")}/<class>/ trains, ${path.join(tt, "test")}/<class>/ tests`);
  assert.equal(t.items.filter((it) => it.split === "train").length, 2);
  assert.equal(t.items.filter((it) => it.split === "test").length, 3);
  assert.deepEqual(
    t.items.filter((it) => it.file.endsWith("q.jpg")).map((it) => it.product),
    [0],
    "classes numbered by name: a is 0",
  );

  // Pairs whose paths hold commas, quotes and spaces, quoted as CSV.
  const pairs = path.join(root, "pairs.csv");
  fs.writeFileSync(
    pairs,
    ['"Cola, Zero/front shot.jpg","Cola, Zero/shelf 1.jpg"', '"Tea ""Green""/a.jpg", "Tea ""Green""/b b.jpg"'].join("\n") + "\n",
  );
  const p = await readDataset("pairs-csv", pairs);
  assert.deepEqual(p.problems, []);
  assert.deepEqual(
    p.items.map((it) => path.relative(root, it.file)),
    ["Cola, Zero/front shot.jpg", "Cola, Zero/shelf 1.jpg", 'Tea "Green"/a.jpg', 'Tea "Green"/b b.jpg'],
  );
  fs.writeFileSync(pairs, '"unterminated,x.jpg\n');
  await assert.rejects(readDataset("pairs-csv", pairs), /pairs\.csv: not a readable CSV .*quote fields that hold commas or quotes/);
});

test("batch order is a seeded shuffle: reproducible, a permutation per epoch", () => {
  const e0 = [0, 1, 2].flatMap((s) => batchAt(12, 4, 5, s));
  assert.deepEqual(
    [...e0].sort((a, b) => a - b),
    [...Array(12).keys()],
  );
  assert.deepEqual(batchAt(12, 4, 5, 4), batchAt(12, 4, 5, 4));
  assert.notDeepEqual(e0, [...Array(12).keys()]);
  assert.throws(() => batchAt(3, 4, 5, 0), /smaller than one batch/);
  void tf;
});

test("a truncated manifest is reported with its path and the way out", () => {
  const dir = tmp();
  fs.writeFileSync(path.join(dir, "manifest.json"), '{"name": "x", "items": [{"fi');
  assert.throws(
    () => readManifest(dir),
    (e: Error) =>
      e.message.startsWith(path.join(dir, "manifest.json")) && /corrupt manifest/.test(e.message) && /retail-repr generate/.test(e.message),
  );
});
