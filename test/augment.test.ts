// The training augmentation (data/augment.ts): its colour and blur steps against torchvision
// 0.14's own (fixtures/augment_torchvision.json, made by make_augment_fixture.py), hue on
// hand-worked colours, the crop on a picture whose pixels say where they came from, and the
// decoded-image cache: a second decode equals the first, and a rewritten file is decoded anew.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { adjustHue, augmentPixels, cropResize, gaussianBlur } from "../src/data/augment";
import type { Pixels } from "../src/data/randaugment";
import { decodePixels, decodeRgb, TRAIN_AUGMENT } from "../src/data/images";
import { rngFrom } from "../src/data/rng";
import { inTempTree } from "./helpers";

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "test", "fixtures", "augment_torchvision.json"), "utf8"));
const input: Pixels = { data: Uint8Array.from(fixture.input), width: fixture.width, height: fixture.height };

test("hue shift and blur give torchvision's values, to the integer", () => {
  for (const c of fixture.cases as { op: string; args: number[]; output: number[] }[]) {
    const out = c.op === "hue" ? adjustHue(input, c.args[0]).data : gaussianBlur(input, c.args[0], c.args[1]).data;
    const off = [...out].map((v, i) => Math.abs(v - c.output[i]));
    assert.equal(
      Math.max(...off),
      0,
      `${c.op}(${c.args}) differs from torchvision ${fixture.torchvision} at ${off.findIndex((d) => d > 0)}`,
    );
    assert.ok(
      [...out].some((v, i) => v !== input.data[i]),
      `${c.op}(${c.args}) changed nothing`,
    );
  }
});

test("hue turns pure colours around the circle and leaves greys alone", () => {
  const px = (...rgb: number[]): Pixels => ({ data: Uint8Array.from(rgb), width: rgb.length / 3, height: 1 });
  // red -> green -> blue at a third of the circle each; a grey has no hue to turn
  assert.deepEqual([...adjustHue(px(255, 0, 0, 0, 255, 0, 90, 90, 90), 1 / 3).data], [0, 255, 0, 0, 0, 255, 90, 90, 90]);
  // a sixth back from red is magenta; a whole turn is no turn (to a level: the float round trip)
  assert.deepEqual([...adjustHue(px(255, 0, 0), -1 / 6).data], [255, 0, 255]);
  const some = px(200, 120, 40, 13, 77, 250);
  const round = adjustHue(some, 0.9999999).data;
  some.data.forEach((v, i) => assert.ok(Math.abs(round[i] - v) <= 1, `${v} -> ${round[i]}`));
});

test("the blur keeps a flat picture flat, and spreads a point by the normalised Gaussian", () => {
  const flat: Pixels = { data: new Uint8Array(9 * 7 * 3).fill(77), width: 9, height: 7 };
  assert.ok(gaussianBlur(flat, 5, 0.8).data.every((v) => v === 77));
  const point: Pixels = { data: new Uint8Array(11 * 11 * 3), width: 11, height: 11 };
  point.data.set([200, 200, 200], (5 * 11 + 5) * 3);
  const out = gaussianBlur(point, 5, 1).data;
  const g = [-2, -1, 0, 1, 2].map((x) => Math.exp(-(x * x) / 2));
  const s = g.reduce((a, b) => a + b, 0);
  for (const [dy, dx] of [
    [0, 0],
    [0, 1],
    [1, 1],
    [2, 0],
    [2, 2],
  ])
    assert.equal(out[((5 + dy) * 11 + 5 + dx) * 3], Math.round((200 * g[dy + 2] * g[dx + 2]) / (s * s)), `at (${dy}, ${dx})`);
  assert.equal(out[(5 * 11 + 8) * 3], 0, "outside the kernel");
  assert.throws(() => gaussianBlur(point, 4, 1), /odd/);
});

test("the crop takes the box it is given, and a view draws everything from its seed", () => {
  // Each pixel's red is its column, green its row: a crop resized to its own size shows the box.
  const w = 20,
    h = 16;
  const src: Pixels = { data: new Uint8Array(w * h * 3), width: w, height: h };
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) src.data.set([x * 10, y * 10, 0], (y * w + x) * 3);
  const c = cropResize(src, 5, 3, 8, 8, 8);
  assert.equal(c.width, 8);
  assert.deepEqual([c.data[0], c.data[1]], [50, 30]);
  assert.deepEqual([c.data[(7 * 8 + 7) * 3], c.data[(7 * 8 + 7) * 3 + 1]], [120, 100]);
  const a = augmentPixels(src, 12, TRAIN_AUGMENT, rngFrom(9));
  assert.deepEqual(a.data, augmentPixels(src, 12, TRAIN_AUGMENT, rngFrom(9)).data);
  assert.notDeepEqual(a.data, augmentPixels(src, 12, TRAIN_AUGMENT, rngFrom(10)).data);
  assert.equal(a.data.length, 12 * 12 * 3);
});

test("a decoded image is kept, never changed by its users, and decoded anew once rewritten", async () => {
  await inTempTree("rr-augment-", async ({ root: dir }) => {
    const file = path.join(dir, "a.png");
    const card = (v: number) =>
      sharp(Buffer.alloc(30 * 20 * 3, v), { raw: { width: 30, height: 20, channels: 3 } })
        .png()
        .toFile(file);
    await card(40);
    const first = await decodePixels(file);
    assert.equal(await decodePixels(file), first, "the second read is the kept one");
    const view = await decodeRgb(file, 16, TRAIN_AUGMENT, rngFrom(1));
    assert.equal(view.length, 16 * 16 * 3);
    assert.ok(
      first.data.every((v) => v === 40),
      "augmenting left the kept pixels as they were",
    );
    await new Promise((r) => setTimeout(r, 20));
    await card(90);
    assert.ok(
      (await decodePixels(file)).data.every((v) => v === 90),
      "a rewritten file is read again",
    );
  });
});
