// RandAugment (Cubuk et al. 2020), the noisy student's input noise (Xie et al. 2020): each image
// gets `ops` operations drawn uniformly from the fourteen below, all at one `magnitude` on a 0-30
// scale (torchvision's 31 bins), signed at random where an operation has a direction. Operations
// and magnitude ranges are torchvision 0.14's `RandAugment`; the pixel operations follow its
// uint8 tensor functions to the integer (test/randaugment.test.ts compares them with fixtures it
// made). Geometric operations sample the nearest pixel, filling what enters from outside grey.
//
// Pixels are uint8 RGB, row-major HWC, as decodeRgb returns them.
import type { Rng } from "./rng";

export interface RandAugmentConfig {
  /** Operations per image (torchvision: 2). */
  ops: number;
  /** 0-30 (torchvision: 9). */
  magnitude: number;
}

/** One image's pixels with its side lengths. */
export interface Pixels {
  data: Uint8Array;
  width: number;
  height: number;
}

const FILL = 128;
const clampByte = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : Math.trunc(v));
// torchvision computes in float32: each product and sum rounded to it (Math.fround), or a
// value on a byte's edge truncates to the byte below.
const f32 = Math.fround;

/** (0.2989 R + 0.587 G + 0.114 B), truncated to a byte: torchvision's rgb_to_grayscale on uint8. */
function grey(p: Pixels): Uint8Array {
  const n = p.width * p.height;
  const g = new Uint8Array(n);
  for (let i = 0; i < n; i++)
    g[i] = Math.trunc(
      f32(f32(f32(f32(0.2989) * p.data[3 * i]) + f32(f32(0.587) * p.data[3 * i + 1])) + f32(f32(0.114) * p.data[3 * i + 2])),
    );
  return g;
}

/** factor * img + (1 - factor) * other(i), clamped then truncated: torchvision's _blend. */
function blend(p: Pixels, factor: number, other: (i: number) => number): Pixels {
  const out = new Uint8Array(p.data.length);
  const [a, b] = [f32(factor), f32(1 - factor)];
  for (let i = 0; i < out.length; i++) out[i] = clampByte(f32(f32(a * p.data[i]) + f32(b * other(i))));
  return { ...p, data: out };
}

export const brightness = (p: Pixels, f: number) => blend(p, f, () => 0);

export function color(p: Pixels, f: number): Pixels {
  const g = grey(p);
  return blend(p, f, (i) => g[Math.floor(i / 3)]);
}

export function contrast(p: Pixels, f: number): Pixels {
  const g = grey(p);
  const mean = g.reduce((a, b) => a + b, 0) / g.length;
  return blend(p, f, () => mean);
}

/** Blend with the image smoothed by [[1 1 1] [1 5 1] [1 1 1]] / 13 (rounded), the border kept. */
export function sharpness(p: Pixels, f: number): Pixels {
  const { width: W, height: H, data } = p;
  if (W <= 2 || H <= 2) return p;
  const smooth = Uint8Array.from(data);
  for (let y = 1; y < H - 1; y++)
    for (let x = 1; x < W - 1; x++)
      for (let c = 0; c < 3; c++) {
        let s = 4 * data[3 * (y * W + x) + c];
        for (let dy = -1; dy <= 1; dy++) for (let dx = -1; dx <= 1; dx++) s += data[3 * ((y + dy) * W + x + dx) + c];
        smooth[3 * (y * W + x) + c] = Math.round(s / 13);
      }
  return blend(p, f, (i) => smooth[i]);
}

/** Keep the top `bits` bits of every value. */
export function posterize(p: Pixels, bits: number): Pixels {
  const mask = (0xff << (8 - bits)) & 0xff;
  return { ...p, data: p.data.map((v) => v & mask) };
}

/** Invert every value at or above `threshold`. */
export function solarize(p: Pixels, threshold: number): Pixels {
  return { ...p, data: p.data.map((v) => (v >= threshold ? 255 - v : v)) };
}

/** Each channel stretched to 0-255 (a flat channel left as it is). */
export function autocontrast(p: Pixels): Pixels {
  const out = new Uint8Array(p.data.length);
  for (let c = 0; c < 3; c++) {
    let lo = 255,
      hi = 0;
    for (let i = c; i < p.data.length; i += 3) ((lo = Math.min(lo, p.data[i])), (hi = Math.max(hi, p.data[i])));
    const scale = hi > lo ? f32(255 / (hi - lo)) : 1;
    const min = hi > lo ? lo : 0;
    for (let i = c; i < p.data.length; i += 3) out[i] = clampByte(f32((p.data[i] - min) * scale));
  }
  return { ...p, data: out };
}

/** Each channel's histogram equalised (PIL's rule, as torchvision's _scale_channel). */
export function equalize(p: Pixels): Pixels {
  const out = Uint8Array.from(p.data);
  for (let c = 0; c < 3; c++) {
    const hist = new Array(256).fill(0);
    for (let i = c; i < p.data.length; i += 3) hist[p.data[i]]++;
    const nonzero = hist.filter((h) => h > 0);
    const step = Math.floor((nonzero.reduce((a, b) => a + b, 0) - nonzero[nonzero.length - 1]) / 255);
    if (step === 0) continue;
    const lut = new Array(256);
    let cum = 0;
    for (let v = 0; v < 256; v++) {
      lut[v] = Math.min(255, Math.floor((cum + Math.floor(step / 2)) / step));
      cum += hist[v];
    }
    for (let i = c; i < p.data.length; i += 3) out[i] = lut[p.data[i]];
  }
  return { ...p, data: out };
}

/** Output pixel (x, y) reads input pixel inverse(x, y) (coordinates of pixel centres, origin at
 * the image's centre), the nearest one, grey where that lies outside. */
function warp(p: Pixels, inverse: (x: number, y: number) => [number, number]): Pixels {
  const { width: W, height: H, data } = p;
  const out = new Uint8Array(data.length);
  const cx = (W - 1) / 2,
    cy = (H - 1) / 2;
  for (let y = 0; y < H; y++)
    for (let x = 0; x < W; x++) {
      const [sx, sy] = inverse(x - cx, y - cy);
      const ix = Math.round(sx + cx),
        iy = Math.round(sy + cy);
      const inside = ix >= 0 && ix < W && iy >= 0 && iy < H;
      for (let c = 0; c < 3; c++) out[3 * (y * W + x) + c] = inside ? data[3 * (iy * W + ix) + c] : FILL;
    }
  return { ...p, data: out };
}

/** Rotated `degrees` counter-clockwise about the centre. */
export function rotate(p: Pixels, degrees: number): Pixels {
  const a = (degrees * Math.PI) / 180;
  const [c, s] = [Math.cos(a), Math.sin(a)];
  // y points down: a counter-clockwise turn on screen moves input (u, v) to (u c + v s, -u s + v c),
  // so output (x, y) reads the input at the inverse, (x c - y s, x s + y c).
  return warp(p, (x, y) => [x * c - y * s, x * s + y * c]);
}

export const shearX = (p: Pixels, k: number) => warp(p, (x, y) => [x - k * y, y]);
export const shearY = (p: Pixels, k: number) => warp(p, (x, y) => [x, y - k * x]);
export const translateX = (p: Pixels, dx: number) => warp(p, (x, y) => [x - Math.round(dx), y]);
export const translateY = (p: Pixels, dy: number) => warp(p, (x, y) => [x, y - Math.round(dy)]);

interface Op {
  name: string;
  /** The operation's strength at magnitude m (0-30) on an image of this size. */
  amount: (m: number, p: Pixels) => number;
  signed: boolean;
  apply: (p: Pixels, amount: number) => Pixels;
}

const lin = (hi: number) => (m: number) => (hi * m) / 30;

/** torchvision 0.14's RandAugment space, in its order. */
export const RAND_AUGMENT_OPS: Op[] = [
  { name: "identity", amount: () => 0, signed: false, apply: (p) => p },
  { name: "shearX", amount: lin(0.3), signed: true, apply: shearX },
  { name: "shearY", amount: lin(0.3), signed: true, apply: shearY },
  { name: "translateX", amount: (m, p) => ((150 / 331) * p.width * m) / 30, signed: true, apply: translateX },
  { name: "translateY", amount: (m, p) => ((150 / 331) * p.height * m) / 30, signed: true, apply: translateY },
  { name: "rotate", amount: lin(30), signed: true, apply: rotate },
  { name: "brightness", amount: lin(0.9), signed: true, apply: (p, a) => brightness(p, 1 + a) },
  { name: "color", amount: lin(0.9), signed: true, apply: (p, a) => color(p, 1 + a) },
  { name: "contrast", amount: lin(0.9), signed: true, apply: (p, a) => contrast(p, 1 + a) },
  { name: "sharpness", amount: lin(0.9), signed: true, apply: (p, a) => sharpness(p, 1 + a) },
  { name: "posterize", amount: (m) => 8 - Math.round(m / 7.5), signed: false, apply: posterize },
  { name: "solarize", amount: (m) => 255 * (1 - m / 30), signed: false, apply: solarize },
  { name: "autoContrast", amount: () => 0, signed: false, apply: (p) => autocontrast(p) },
  { name: "equalize", amount: () => 0, signed: false, apply: (p) => equalize(p) },
];

/** `cfg.ops` operations drawn from `r`, applied in turn; returns the new pixels and their names. */
export function randAugment(p: Pixels, cfg: RandAugmentConfig, r: Rng): { pixels: Pixels; applied: string[] } {
  const applied: string[] = [];
  let out = p;
  for (let k = 0; k < cfg.ops; k++) {
    const op = RAND_AUGMENT_OPS[Math.floor(r() * RAND_AUGMENT_OPS.length)];
    const amount = op.amount(cfg.magnitude, out) * (op.signed && r() < 0.5 ? -1 : 1);
    out = op.apply(out, amount);
    applied.push(op.name);
  }
  return { pixels: out, applied };
}
