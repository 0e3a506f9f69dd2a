// Decoding images for the models: any format sharp reads -> RGB float32, normalised with
// ImageNet's mean/std (what ResNeXt weights expect), optionally augmented. Bad files get a
// message that names the file and the problem.
import * as fs from "fs";
import sharp from "sharp";
import { Rng, uniform } from "./rng";
import { IMAGENET_MEAN, IMAGENET_STD, InputConfig } from "./input-config";
import { resizeShorterAndCrop } from "./resample";
import { randAugment, RandAugmentConfig } from "./randaugment";

export { IMAGENET_MEAN, IMAGENET_STD };

/** Images over this many pixels are refused before they are decoded: a 16000 x 16000 PNG alone
 * would take ~770 MB to decode (measured: 850 MB RSS), and a decompression bomb far more. */
export const MAX_PIXELS = 50_000_000;

export class BadImageError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
  }
}

export interface ImageCheck {
  file: string;
  width: number;
  height: number;
  /** Conversions that decoding applies silently but a researcher may want to know about. */
  notes: string[];
}

/** Does the file start like an image (JPEG, PNG, GIF, WebP, TIFF)? Tells "truncated" from "not an image". */
function looksLikeImage(file: string): boolean {
  const fd = fs.openSync(file, "r");
  const head = Buffer.alloc(12);
  fs.readSync(fd, head, 0, 12, 0);
  fs.closeSync(fd);
  const hex = head.toString("hex");
  return (
    hex.startsWith("ffd8ff") ||
    hex.startsWith("89504e47") ||
    hex.startsWith("47494638") ||
    (hex.startsWith("52494646") && head.subarray(8, 12).toString() === "WEBP") ||
    hex.startsWith("49492a00") ||
    hex.startsWith("4d4d002a")
  );
}

/** Everything that makes an image unusable, found before a long run starts. */
export async function checkImage(file: string, minSide = 8): Promise<ImageCheck> {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    throw new BadImageError(file, `cannot read (${(e as NodeJS.ErrnoException).code}); check the path and permissions`);
  }
  if (!st.isFile()) throw new BadImageError(file, "not a file");
  if (st.size === 0) throw new BadImageError(file, "empty file");
  let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
  try {
    meta = await sharp(file, { limitInputPixels: MAX_PIXELS }).metadata();
  } catch (e) {
    if (/pixel limit/i.test((e as Error).message))
      throw new BadImageError(
        file,
        `larger than the ${MAX_PIXELS / 1e6} megapixel limit (sharp: ${(e as Error).message.split("\n")[0]}); scale it down first`,
      );
    if (looksLikeImage(file)) throw new BadImageError(file, "truncated or corrupt image data (the header does not parse)");
    throw new BadImageError(file, "not an image sharp can read (JPEG, PNG, WebP, GIF, TIFF, AVIF, SVG)");
  }
  const pixels = (meta.width ?? 0) * (meta.height ?? 0);
  if (pixels > MAX_PIXELS)
    throw new BadImageError(
      file,
      `${meta.width}x${meta.height} is larger than the ${MAX_PIXELS / 1e6} megapixel limit (it would take ${Math.round((pixels * 3) / 2 ** 20)} MB to decode); scale it down first`,
    );
  try {
    // A full decode finds truncated data that the header alone does not show.
    await sharp(file, { failOn: "truncated", limitInputPixels: MAX_PIXELS }).raw().toBuffer();
  } catch (e) {
    throw new BadImageError(file, `truncated or corrupt image data (${(e as Error).message.split("\n")[0]})`);
  }
  const w = meta.width ?? 0,
    h = meta.height ?? 0;
  if (w < minSide || h < minSide) throw new BadImageError(file, `${w}x${h} is too small (need at least ${minSide}x${minSide})`);
  const notes: string[] = [];
  if (meta.space === "cmyk") notes.push("CMYK, converted to sRGB");
  if (meta.depth && !["uchar", "char"].includes(meta.depth)) notes.push(`${meta.depth} samples (16-bit?), reduced to 8-bit`);
  if (meta.hasAlpha) notes.push("alpha channel, flattened on white");
  if ((meta.channels ?? 3) < 3 || meta.space === "b-w") notes.push("grayscale, replicated to RGB");
  return { file, width: w, height: h, notes };
}

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

/** Decode one image to `size` x `size` RGB uint8, with optional seeded augmentation; without
 * augmentation, `input` may ask for torchvision's shorter-side resize and centre crop. */
export async function decodeRgb(file: string, size: number, aug?: Augment, r?: Rng, input?: InputConfig): Promise<Buffer> {
  let img = sharp(file, { failOn: "truncated" }).toColourspace("srgb").flatten({ background: "#ffffff" });
  if (!aug && input?.resize === "shorter-side") {
    try {
      const { data, info } = await img.removeAlpha().raw().toBuffer({ resolveWithObject: true });
      return Buffer.from(resizeShorterAndCrop(data, info.width, info.height, input.resizeTo ?? size, size).buffer);
    } catch (e) {
      throw new BadImageError(file, `cannot decode (${(e as Error).message.split("\n")[0]})`);
    }
  }
  if (aug && r) {
    let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
    try {
      meta = await sharp(file).metadata();
    } catch (e) {
      throw new BadImageError(file, `cannot decode (${(e as Error).message.split("\n")[0]})`);
    }
    const W = meta.width!,
      H = meta.height!;
    const f = uniform(r, aug.cropMin, 1);
    const cw = Math.max(1, Math.round(W * f)),
      ch = Math.max(1, Math.round(H * f));
    img = img.extract({ left: Math.floor(r() * (W - cw + 1)), top: Math.floor(r() * (H - ch + 1)), width: cw, height: ch });
    img = img.resize(size, size, { fit: "fill" }).modulate({
      brightness: 1 + uniform(r, -aug.brightness, aug.brightness),
      saturation: 1 + uniform(r, -aug.saturation, aug.saturation),
      hue: Math.round(uniform(r, -aug.hue, aug.hue)),
    });
    if (r() < aug.blurProb) img = img.blur(uniform(r, 0.4, 1.2));
  } else {
    img = img.resize(size, size, { fit: "fill" });
  }
  let rgb: Buffer;
  try {
    rgb = await img.removeAlpha().raw().toBuffer();
  } catch (e) {
    throw new BadImageError(file, `cannot decode (${(e as Error).message.split("\n")[0]})`);
  }
  if (!aug?.randAugment || !r) return rgb;
  const { data } = randAugment({ data: rgb, width: size, height: size }, aug.randAugment, r).pixels;
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** uint8 RGB pixels -> normalised float32 ((x / 255 - mean) / std), written into `out` at `offset`. */
export function normalizeInto(rgb: Buffer, out: Float32Array, offset: number, mean = IMAGENET_MEAN, std = IMAGENET_STD): void {
  for (let i = 0, n = rgb.length; i < n; i++) {
    const c = i % 3;
    out[offset + i] = (rgb[i] / 255 - mean[c]) / std[c];
  }
}
