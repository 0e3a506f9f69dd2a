import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { batchPixels, BatchOptions } from "../src/data/batch-pixels";
import { BadImageError, studentNoiseAugment, TRAIN_AUGMENT } from "../src/data/images";
import { loadBatch } from "../src/data/loader";
import { defaultLoaderThreads, LOADER_THREADS_ENV, LoaderPool, loaderThreads } from "../src/data/loader-pool";
import { rngFrom } from "../src/data/rng";
import { tf } from "../src/engine/tf";

/** `n` photos of random pixels and uneven sizes (a JPEG, then PNGs), as a loader meets them. */
async function photos(n: number): Promise<string[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-pool-"));
  const r = rngFrom(3);
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const w = 40 + 7 * i,
      h = 52 - 3 * i;
    const px = Buffer.alloc(w * h * 3);
    for (let k = 0; k < px.length; k++) px[k] = Math.floor(r() * 256);
    const file = path.join(dir, `p${i}.${i === 0 ? "jpg" : "png"}`);
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).toFile(file);
    files.push(file);
  }
  return files;
}

const same = (a: Float32Array, b: Float32Array) => a.length === b.length && Buffer.from(a.buffer).equals(Buffer.from(b.buffer));

test("loader threads: every row's pixels are the main thread's, bit for bit, for each augmentation, a rank's rows and blocks of uneven size", async () => {
  const files = await photos(7);
  const pool = new LoaderPool(3);
  try {
    const cases: [string, BatchOptions][] = [
      ["training augmentation", { size: 24, augment: TRAIN_AUGMENT, seed: 11 }],
      ["the student's noise (RandAugment)", { size: 24, augment: studentNoiseAugment({ ops: 2, magnitude: 9 }), seed: 11 }],
      [
        "no augmentation, shorter-side resize",
        { size: 16, seed: 0, input: { size: 16, resize: "shorter-side", resizeTo: 20, mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] } },
      ],
    ];
    for (const [what, opts] of cases)
      for (const rows of [
        [0, 7],
        [2, 6],
        [5, 6],
      ] as const) {
        const main = await batchPixels(files, opts, 4, rows);
        const threads = await pool.pixels(files, opts, 4, rows);
        assert.ok(same(main, threads), `${what}, rows ${rows}`);
      }
    // The batch index changes the augmentation (so the check above is not of a constant).
    const a = await pool.pixels(files, cases[0][1], 4, [0, 7]);
    const b = await pool.pixels(files, cases[0][1], 5, [0, 7]);
    assert.ok(!same(a, b));
  } finally {
    await pool.close();
  }
});

test("loader threads: a bad image is a BadImageError naming its file, and the pool goes on", async () => {
  const files = await photos(3);
  const bad = path.join(path.dirname(files[0]), "truncated.jpg");
  fs.writeFileSync(bad, fs.readFileSync(files[0]).subarray(0, 200));
  // The main thread too: an augmented decode reads the header first, and that failure names the file.
  await assert.rejects(batchPixels([bad], { size: 16, seed: 1, augment: TRAIN_AUGMENT }, 0, [0, 1]), /truncated\.jpg: cannot decode/);
  const pool = new LoaderPool(2);
  try {
    await assert.rejects(pool.pixels([files[1], bad, files[2]], { size: 16, seed: 1, augment: TRAIN_AUGMENT }, 0, [0, 3]), (e: Error) => {
      assert.ok(e instanceof BadImageError, String(e));
      assert.equal(e.file, bad);
      assert.match(e.message, /truncated\.jpg: /);
      return true;
    });
    assert.equal(pool.isBroken, false);
    assert.equal((await pool.pixels(files, { size: 16, seed: 1 }, 0, [0, 3])).length, 3 * 16 * 16 * 3);
  } finally {
    await pool.close();
  }
});

test("loader threads: how many, from the environment or the machine's cores; a bad setting is named", () => {
  assert.equal(loaderThreads({ [LOADER_THREADS_ENV]: "3" }, 2), 3);
  assert.equal(loaderThreads({ [LOADER_THREADS_ENV]: "0" }, 64), 0);
  assert.equal(loaderThreads({}, 2), defaultLoaderThreads(2));
  assert.equal(loaderThreads({ [LOADER_THREADS_ENV]: " " }, 16), defaultLoaderThreads(16));
  assert.throws(() => loaderThreads({ [LOADER_THREADS_ENV]: "two" }, 2), /RETAIL_REPR_LOADER_THREADS=two: expected a whole number/);
  assert.throws(() => loaderThreads({ [LOADER_THREADS_ENV]: "-1" }, 2), /RETAIL_REPR_LOADER_THREADS=-1/);
  assert.deepEqual([1, 2, 3, 4, 16, 64].map(defaultLoaderThreads), [0, 0, 1, 2, 8, 8]);
});

test("loadBatch: the same tensor with and without loader threads, one tensor made", async () => {
  const files = await photos(5);
  const opts = { size: 20, augment: TRAIN_AUGMENT, seed: 2 };
  const before = process.env[LOADER_THREADS_ENV];
  try {
    process.env[LOADER_THREADS_ENV] = "0";
    const main = await loadBatch(files, opts, 1, [1, 5]);
    process.env[LOADER_THREADS_ENV] = "2";
    const n = tf.memory().numTensors;
    const threads = await loadBatch(files, opts, 1, [1, 5]);
    assert.equal(tf.memory().numTensors, n + 1);
    assert.deepEqual(threads.shape, [4, 20, 20, 3]);
    assert.ok(same(main.dataSync() as Float32Array, threads.dataSync() as Float32Array));
    tf.dispose([main, threads]);
  } finally {
    if (before === undefined) delete process.env[LOADER_THREADS_ENV];
    else process.env[LOADER_THREADS_ENV] = before;
  }
});

test("loader threads: an idle pool does not keep the process alive", async () => {
  const files = await photos(2);
  const loader = path.join(__dirname, "..", "src", "data", "loader.js");
  const script = `require(${JSON.stringify(loader)}).loadBatch(${JSON.stringify(files)}, { size: 16, seed: 1 }).then((x) => console.log("loaded", x.shape.join("x")))`;
  const r = spawnSync(process.execPath, ["-e", script], {
    env: { ...process.env, [LOADER_THREADS_ENV]: "2" },
    encoding: "utf8",
    timeout: 60_000,
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /loaded 2x16x16x3/);
});
