// RandAugment (data/randaugment.ts): the pixel operations against torchvision 0.14's own, value
// for value (fixtures/randaugment_torchvision.json, made by make_randaugment_fixture.py), the
// geometric ones on hand-worked cases, the magnitude table at the profile's strength, and the
// draw: seeded, `ops` operations an image, through the student's loader.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import * as ra from "../src/data/randaugment";
import { rngFrom } from "../src/data/rng";
import { decodeRgb, studentNoiseAugment, TRAIN_AUGMENT } from "../src/data/images";
import { inTempTree } from "./helpers";

const fixture = JSON.parse(fs.readFileSync(path.join(__dirname, "..", "..", "test", "fixtures", "randaugment_torchvision.json"), "utf8"));
const input: ra.Pixels = { data: Uint8Array.from(fixture.input), width: fixture.width, height: fixture.height };

const BY_NAME: Record<string, (p: ra.Pixels, a: number) => ra.Pixels> = {
  brightness: ra.brightness,
  color: ra.color,
  contrast: ra.contrast,
  sharpness: ra.sharpness,
  posterize: ra.posterize,
  solarize: ra.solarize,
  autocontrast: (p) => ra.autocontrast(p),
  equalize: (p) => ra.equalize(p),
};

test("the pixel operations give torchvision's values, to the integer", () => {
  for (const c of fixture.cases as { op: string; amount: number; output: number[] }[]) {
    const out = BY_NAME[c.op](input, c.amount).data;
    const off = [...out].map((v, i) => Math.abs(v - c.output[i]));
    assert.equal(
      Math.max(...off),
      0,
      `${c.op}(${c.amount}) differs from torchvision ${fixture.torchvision} at ${off.findIndex((d) => d > 0)}`,
    );
    assert.ok(off.length && [...out].some((v, i) => v !== input.data[i]), `${c.op}(${c.amount}) changed nothing`);
  }
});

/** A w x h picture whose pixel (x, y) is (x, y, 7). */
function coords(w: number, h: number): ra.Pixels {
  const data = new Uint8Array(w * h * 3);
  for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) data.set([x, y, 7], 3 * (y * w + x));
  return { data, width: w, height: h };
}
const at = (p: ra.Pixels, x: number, y: number) => [...p.data.subarray(3 * (y * p.width + x), 3 * (y * p.width + x) + 3)];
const GREY = [128, 128, 128];

test("geometric operations: translation shifts by whole pixels and fills grey, a quarter turn is counter-clockwise, shear keeps the centre row", () => {
  const p = coords(5, 5);
  const right = ra.translateX(p, 2);
  assert.deepEqual(at(right, 2, 3), [0, 3, 7]);
  assert.deepEqual(at(right, 1, 3), GREY);
  const up = ra.translateY(p, -1);
  assert.deepEqual(at(up, 4, 0), [4, 1, 7]);
  assert.deepEqual(at(up, 4, 4), GREY);
  // Counter-clockwise on screen: the top-right corner goes to the top-left.
  const turned = ra.rotate(p, 90);
  assert.deepEqual(at(turned, 0, 0), [4, 0, 7]);
  assert.deepEqual(at(turned, 2, 2), [2, 2, 7]);
  assert.deepEqual(ra.rotate(p, 0).data, p.data);
  const sheared = ra.shearX(p, 0.5);
  for (let x = 0; x < 5; x++) assert.deepEqual(at(sheared, x, 2), [x, 2, 7]);
  assert.notDeepEqual(sheared.data, p.data);
  assert.deepEqual(ra.shearY(p, 0).data, p.data);
});

test("the magnitude table at torchvision's default (9 of 30) on a 64 px image", () => {
  const p = coords(64, 64);
  const amount = Object.fromEntries(ra.RAND_AUGMENT_OPS.map((o) => [o.name, o.amount(9, p)]));
  assert.equal(ra.RAND_AUGMENT_OPS.length, 14);
  assert.ok(Math.abs(amount.shearX - 0.09) < 1e-12);
  assert.ok(Math.abs(amount.translateX - ((150 / 331) * 64 * 9) / 30) < 1e-12);
  assert.ok(Math.abs(amount.rotate - 9) < 1e-12);
  assert.ok(Math.abs(amount.brightness - 0.27) < 1e-12);
  assert.equal(amount.posterize, 7);
  assert.ok(Math.abs(amount.solarize - 178.5) < 1e-9);
});

test("randAugment: `ops` operations drawn uniformly, the same for the same seed", () => {
  const p = coords(16, 16);
  const a = ra.randAugment(p, { ops: 2, magnitude: 9 }, rngFrom(5));
  const b = ra.randAugment(p, { ops: 2, magnitude: 9 }, rngFrom(5));
  assert.equal(a.applied.length, 2);
  assert.deepEqual(a.applied, b.applied);
  assert.deepEqual(a.pixels.data, b.pixels.data);
  assert.equal(ra.randAugment(p, { ops: 0, magnitude: 9 }, rngFrom(5)).pixels, p);
  // Over many draws every operation turns up, about equally often.
  const r = rngFrom(8);
  const counts = new Map<string, number>();
  for (let i = 0; i < 1400; i++)
    for (const n of ra.randAugment(coords(4, 4), { ops: 1, magnitude: 9 }, r).applied) counts.set(n, (counts.get(n) ?? 0) + 1);
  assert.equal(counts.size, 14);
  for (const [n, c] of counts) assert.ok(c > 60 && c < 140, `${n}: ${c} of 1400`);
});

test("the student's loader applies RandAugment after the teacher's augmentation, seeded", async () => {
  await inTempTree("rr-randaug-", async ({ root }) => {
    const file = path.join(root, "x.png");
    const raw = Buffer.from(coords(24, 24).data.map((v, i) => (i % 3 === 2 ? 200 : v * 9)));
    await sharp(raw, { raw: { width: 24, height: 24, channels: 3 } })
      .png()
      .toFile(file);
    const student = studentNoiseAugment({ ops: 2, magnitude: 9 });
    const [s1, s2, teacher] = await Promise.all([
      decodeRgb(file, 16, student, rngFrom(4)),
      decodeRgb(file, 16, student, rngFrom(4)),
      decodeRgb(file, 16, TRAIN_AUGMENT, rngFrom(4)),
    ]);
    assert.equal(s1.length, 16 * 16 * 3);
    assert.deepEqual(s1, s2);
    assert.notDeepEqual(s1, teacher);
  });
});
