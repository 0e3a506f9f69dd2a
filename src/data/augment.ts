// The training augmentation, computed on decoded pixels in this thread: a random crop resized to
// the model's side, colour jitter (brightness, saturation, hue, in that order) and, sometimes, a
// Gaussian blur: torchvision's RandomResizedCrop / ColorJitter / GaussianBlur operations. The
// resize is Pillow's bilinear (resample.ts), the colour and blur steps follow torchvision 0.14's
// uint8 tensor functions (test/augment.test.ts compares them with fixtures it made), as
// RandAugment's operations do. On the 72-px pictures of the cpu profile this costs a fraction of
// a millisecond per image, where a libvips pipeline per image cost ~5 ms of a 2-core machine.
import { brightness, color, Pixels, randAugment, RandAugmentConfig } from "./randaugment";
import { pyRound, resizeBilinearPil } from "./resample";
import { Rng, uniform } from "./rng";

export interface Augment {
  /** Random crop keeping this fraction of the side, in [min, 1]. */
  cropMin: number;
  brightness: number;
  saturation: number;
  hue: number;
  blurProb: number;
  /** RandAugment after the rest (data/randaugment.ts): the noisy student's input noise. */
  randAugment?: RandAugmentConfig;
}

/** Every training step's augmentation (pretraining, teacher, fine-tunes). */
export const TRAIN_AUGMENT: Augment = { cropMin: 0.7, brightness: 0.3, saturation: 0.4, hue: 20, blurProb: 0.3 };
/** The noisy student's (Xie et al. 2020): the teacher's augmentation, then RandAugment at the
 * profile's strength; the teacher saw TRAIN_AUGMENT alone and labels clean images. */
export function studentNoiseAugment(randAugment: RandAugmentConfig): Augment {
  return { ...TRAIN_AUGMENT, randAugment };
}

const f32 = Math.fround;
const clamp01 = (x: number) => (x < 0 ? 0 : x > 1 ? 1 : x);

/** Shift every pixel's hue by `factor` of the colour circle (-0.5..0.5): torchvision's
 * adjust_hue on uint8 (RGB -> HSV in float32, h + factor mod 1, back, truncated to a byte). */
export function adjustHue(p: Pixels, factor: number): Pixels {
  const out = new Uint8Array(p.data.length);
  const k = f32(factor);
  for (let i = 0; i < p.data.length; i += 3) {
    const r = f32(p.data[i] / 255),
      g = f32(p.data[i + 1] / 255),
      b = f32(p.data[i + 2] / 255);
    const maxc = Math.max(r, g, b),
      minc = Math.min(r, g, b);
    const eq = maxc === minc;
    const cr = f32(maxc - minc);
    const s = f32(cr / (eq ? 1 : maxc));
    const div = eq ? 1 : cr;
    const rc = f32(f32(maxc - r) / div),
      gc = f32(f32(maxc - g) / div),
      bc = f32(f32(maxc - b) / div);
    let h: number;
    if (maxc === r) h = f32(bc - gc);
    else if (maxc === g) h = f32(f32(2 + rc) - bc);
    else h = f32(f32(4 + gc) - rc);
    h = f32(f32(f32(h / 6) + 1) % 1);
    // (h + factor) % 1.0 on a float: Python's sign rule (the result takes the divisor's sign).
    h = f32(h + k);
    h = f32(h - Math.floor(h));
    const v = maxc;
    const h6 = f32(h * 6);
    const j = Math.floor(h6);
    const f = f32(h6 - j);
    const pp = clamp01(f32(v * f32(1 - s)));
    const q = clamp01(f32(v * f32(1 - f32(s * f))));
    const t = clamp01(f32(v * f32(1 - f32(s * f32(1 - f)))));
    let R: number, G: number, B: number;
    switch (((j % 6) + 6) % 6) {
      case 0:
        [R, G, B] = [v, t, pp];
        break;
      case 1:
        [R, G, B] = [q, v, pp];
        break;
      case 2:
        [R, G, B] = [pp, v, t];
        break;
      case 3:
        [R, G, B] = [pp, q, v];
        break;
      case 4:
        [R, G, B] = [t, pp, v];
        break;
      default:
        [R, G, B] = [v, pp, q];
    }
    out[i] = Math.trunc(f32(R * 255));
    out[i + 1] = Math.trunc(f32(G * 255));
    out[i + 2] = Math.trunc(f32(B * 255));
  }
  return { ...p, data: out };
}

/** A Gaussian blur of odd `kernelSize` and `sigma`, reflecting at the borders, rounded to bytes
 * (half to even): torchvision's gaussian_blur on uint8. torchvision convolves once with the 2-d
 * kernel in float32; this makes the two 1-d passes in float64, ~4x faster at 9 taps: the sums
 * differ by ~1e-5 of a level, which moves a rounding only where a sum sits that close to a half. */
export function gaussianBlur(p: Pixels, kernelSize: number, sigma: number): Pixels {
  if (kernelSize % 2 !== 1) throw new Error(`gaussianBlur: the kernel size must be odd, got ${kernelSize}`);
  const half = (kernelSize - 1) / 2;
  const pdf = Array.from({ length: kernelSize }, (_, i) => Math.exp(-0.5 * ((i - half) / sigma) ** 2));
  const sum = pdf.reduce((a, b) => a + b, 0);
  const k = pdf.map((v) => v / sum);
  const { width: w, height: h } = p;
  const reflect = (x: number, n: number) => (x < 0 ? -x : x >= n ? 2 * (n - 1) - x : x);
  const rows = new Float64Array(p.data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let d = -half; d <= half; d++) acc += k[d + half] * p.data[(y * w + reflect(x + d, w)) * 3 + c];
        rows[(y * w + x) * 3 + c] = acc;
      }
  const out = new Uint8Array(p.data.length);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let c = 0; c < 3; c++) {
        let acc = 0;
        for (let d = -half; d <= half; d++) acc += k[d + half] * rows[(reflect(y + d, h) * w + x) * 3 + c];
        out[(y * w + x) * 3 + c] = Math.min(255, Math.max(0, pyRound(acc)));
      }
  return { ...p, data: out };
}

/** Pixels [left, left + cw) x [top, top + ch) of `p`, resized to `size` x `size` (Pillow's bilinear). */
export function cropResize(p: Pixels, left: number, top: number, cw: number, ch: number, size: number): Pixels {
  const crop = new Uint8Array(cw * ch * 3);
  for (let y = 0; y < ch; y++)
    crop.set(p.data.subarray(((top + y) * p.width + left) * 3, ((top + y) * p.width + left + cw) * 3), y * cw * 3);
  return { data: resizeBilinearPil(crop, cw, ch, size, size), width: size, height: size };
}

/** The blur's kernel: odd, reaching 3 sigma either side (torchvision asks for it explicitly). */
export const blurKernelSize = (sigma: number) => 2 * Math.ceil(3 * sigma) + 1;

/** One training view of `p` at `size` x `size`, every random choice drawn from `r`: the crop
 * (a fraction of each side in [cropMin, 1], placed uniformly), the jitter factors, the blur,
 * then RandAugment where `aug` asks for it. */
export function augmentPixels(p: Pixels, size: number, aug: Augment, r: Rng): Pixels {
  const f = uniform(r, aug.cropMin, 1);
  const cw = Math.max(1, Math.round(p.width * f)),
    ch = Math.max(1, Math.round(p.height * f));
  const left = Math.floor(r() * (p.width - cw + 1)),
    top = Math.floor(r() * (p.height - ch + 1));
  let out = cropResize(p, left, top, cw, ch, size);
  out = brightness(out, 1 + uniform(r, -aug.brightness, aug.brightness));
  out = color(out, 1 + uniform(r, -aug.saturation, aug.saturation));
  out = adjustHue(out, uniform(r, -aug.hue, aug.hue) / 360);
  if (r() < aug.blurProb) {
    const sigma = uniform(r, 0.4, 1.2);
    out = gaussianBlur(out, blurKernelSize(sigma), sigma);
  }
  return aug.randAugment ? randAugment(out, aug.randAugment, r).pixels : out;
}
