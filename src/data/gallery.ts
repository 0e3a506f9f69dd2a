// Contact sheets of dataset images, for notebooks, composed with sharp. JPEG: they are photo
// mosaics, and a PNG of one (~3 bytes a pixel) made a saved notebook weigh megabytes.
import sharp from "sharp";
import { Augment, decodeRgb } from "./images";
import { rngFrom } from "./rng";

export async function galleryJpeg(
  files: string[],
  opts: { cols: number; tile: number; labels?: string[]; quality?: number },
): Promise<Buffer> {
  const { tile } = opts;
  const label = (s: string) =>
    Buffer.from(
      `<svg xmlns="http://www.w3.org/2000/svg" width="${tile}" height="14"><rect width="100%" height="100%" fill="#000" opacity="0.6"/><text x="3" y="11" font-family="DejaVu Sans" font-size="10" fill="#fff">${s.replace(/[<&>]/g, "")}</text></svg>`,
    );
  const tiles = await Promise.all(
    files.map(async (f, i) => {
      let img = sharp(f).resize(tile, tile).removeAlpha();
      if (opts.labels?.[i]) img = sharp(await img.png().toBuffer()).composite([{ input: label(opts.labels[i]), left: 0, top: tile - 14 }]);
      return img.png().toBuffer();
    }),
  );
  return contactSheet(tiles, opts);
}

/** PNG tiles laid out `cols` to a row, `tile` px each, on white, as one JPEG. */
async function contactSheet(tiles: Buffer[], opts: { cols: number; tile: number; quality?: number }): Promise<Buffer> {
  const { cols, tile } = opts;
  const rows = Math.ceil(tiles.length / cols);
  return sharp({ create: { width: cols * tile, height: rows * tile, channels: 3, background: "#ffffff" } })
    .composite(tiles.map((input, i) => ({ input, left: (i % cols) * tile, top: Math.floor(i / cols) * tile })))
    .jpeg({ quality: opts.quality ?? 85 })
    .toBuffer();
}

/** Small JPEG data URIs of images (hover thumbnails in plots). */
export async function thumbnails(files: string[], side = 48): Promise<string[]> {
  return Promise.all(
    files.map(
      async (f) =>
        `data:image/jpeg;base64,${(await sharp(f).resize(side, side).removeAlpha().jpeg({ quality: 70 }).toBuffer()).toString("base64")}`,
    ),
  );
}

/** One image decoded `seeds.length` times through `augment` (each seed its own draw), as a grid:
 * what a training step's input noise does to a picture. */
export async function augmentedGalleryJpeg(
  file: string,
  augment: Augment,
  seeds: number[],
  opts: { cols: number; tile: number; quality?: number },
): Promise<Buffer> {
  const { tile } = opts;
  const tiles = await Promise.all(
    seeds.map(async (seed) =>
      sharp(await decodeRgb(file, tile, augment, rngFrom(seed)), { raw: { width: tile, height: tile, channels: 3 } })
        .png()
        .toBuffer(),
    ),
  );
  return contactSheet(tiles, opts);
}
