// Decoding images for the models: any format sharp reads -> RGB float32, normalised with
// ImageNet's mean/std (what ResNeXt weights expect), optionally augmented. Bad files get a
// message that names the file and the problem.
import * as fs from "fs";
import sharp from "sharp";
import type { Rng } from "./rng";
import { IMAGENET_MEAN, IMAGENET_STD, InputConfig } from "./input-config";
import { resizeBilinearPil, resizeShorterAndCrop } from "./resample";
import type { Pixels } from "./randaugment";
import { augmentPixels, type Augment } from "./augment";

export { studentNoiseAugment, TRAIN_AUGMENT, type Augment } from "./augment";

export { IMAGENET_MEAN, IMAGENET_STD };

/** What a model's pixels are made by, an input of every run that trains or scores (a change
 * retrains): 1, libvips's resize and colour operations per image; 2, one decode kept per file,
 * Pillow's bilinear resize and torchvision's colour and blur arithmetic (augment.ts). */
export const PIXELS_VERSION = 2;

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

/** One image's pixels as decoded: sRGB, alpha flattened on white, 8-bit, 3 channels. */
async function decodeFile(file: string): Promise<Pixels> {
  try {
    const { data, info } = await sharp(file, { failOn: "truncated" })
      .toColourspace("srgb")
      .flatten({ background: "#ffffff" })
      .removeAlpha()
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`${info.channels} channels after conversion to sRGB`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height };
  } catch (e) {
    throw new BadImageError(file, `cannot decode (${(e as Error).message.split("\n")[0]})`);
  }
}

/** Decoded images kept by file, size and mtime (a training run reads each one many times), the
 * least recently used dropped past DECODED_CACHE_BYTES. */
export const DECODED_CACHE_BYTES = 512 * 2 ** 20;
const decoded = new Map<string, Pixels>();
let decodedBytes = 0;

export async function decodePixels(file: string): Promise<Pixels> {
  let key = file;
  try {
    const st = fs.statSync(file);
    key = `${file}\0${st.size}\0${st.mtimeMs}`;
  } catch {
    // decodeFile names the file and the problem
  }
  const hit = decoded.get(key);
  if (hit) {
    decoded.delete(key);
    decoded.set(key, hit);
    return hit;
  }
  const p = await decodeFile(file);
  if (p.data.byteLength <= DECODED_CACHE_BYTES) {
    decoded.set(key, p);
    decodedBytes += p.data.byteLength;
    for (const [k, v] of decoded) {
      if (decodedBytes <= DECODED_CACHE_BYTES) break;
      decoded.delete(k);
      decodedBytes -= v.data.byteLength;
    }
  }
  return p;
}

/** Decode one image to `size` x `size` RGB uint8, with optional seeded augmentation
 * (augment.ts); without it, both sides resized to `size` (Pillow's bilinear), or, when `input`
 * asks for it, torchvision's shorter-side resize and centre crop. */
export async function decodeRgb(file: string, size: number, aug?: Augment, r?: Rng, input?: InputConfig): Promise<Buffer> {
  const p = await decodePixels(file);
  let out: Uint8Array;
  if (aug && r) out = augmentPixels(p, size, aug, r).data;
  else if (input?.resize === "shorter-side") out = resizeShorterAndCrop(p.data, p.width, p.height, input.resizeTo ?? size, size);
  else out = resizeBilinearPil(p.data, p.width, p.height, size, size);
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

/** uint8 RGB pixels -> normalised float32 ((x / 255 - mean) / std), written into `out` at `offset`. */
export function normalizeInto(rgb: Buffer, out: Float32Array, offset: number, mean = IMAGENET_MEAN, std = IMAGENET_STD): void {
  for (let i = 0, n = rgb.length; i < n; i++) {
    const c = i % 3;
    out[offset + i] = (rgb[i] / 255 - mean[c]) / std[c];
  }
}
