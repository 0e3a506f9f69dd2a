// Product images with sharp: a package is drawn as SVG (shape, palette, pattern, Twemoji logo,
// brand and variant text in DejaVu Sans), then rendered either in vitro (clean packshot on
// white, like Grozi-120's web images) or in situ (on a shelf among neighbours, then camera
// effects). Every effect is seeded and scaled by one `strength` knob in [0, 1]; which shelves,
// lights, occluders and camera a shelf photo gets is its domain's (domains.ts).
import * as fs from "fs";
import * as path from "path";
import sharp from "sharp";
import { mixSeed, normal, pick, rngFrom, uniform } from "./rng";
import { ProductSpec, twemojiDir } from "./universe";
import { CONDITIONS, Domain } from "./domains";

const FONT = "DejaVu Sans, Verdana, sans-serif";
const esc = (s: string) => s.replace(/[&<>"]/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;" })[c]!);

const logoCache = new Map<string, string>();
/** The inner markup of a Twemoji SVG (viewBox 0 0 36 36), to nest as a group. */
function logoMarkup(name: string): string {
  let m = logoCache.get(name);
  if (!m) {
    const svg = fs.readFileSync(path.join(twemojiDir(), `${name}.svg`), "utf8");
    m = svg.replace(/^<svg[^>]*>/, "").replace(/<\/svg>\s*$/, "");
    logoCache.set(name, m);
  }
  return m;
}

/** The package outline for a w x h box, as an SVG path. */
function outline(shape: ProductSpec["shape"], w: number, h: number): string {
  switch (shape) {
    case "box":
      return `M0,${h * 0.06} L${w * 0.06},0 L${w},0 L${w},${h * 0.94} L${w * 0.94},${h} L0,${h} Z`;
    case "bottle":
      return `M${w * 0.38},0 L${w * 0.62},0 L${w * 0.62},${h * 0.14} Q${w},${h * 0.22} ${w},${h * 0.36} L${w},${h * 0.96} Q${w},${h} ${w * 0.9},${h} L${w * 0.1},${h} Q0,${h} 0,${h * 0.96} L0,${h * 0.36} Q0,${h * 0.22} ${w * 0.38},${h * 0.14} Z`;
    case "can":
      return `M0,${h * 0.05} Q${w / 2},${-h * 0.03} ${w},${h * 0.05} L${w},${h * 0.95} Q${w / 2},${h * 1.03} 0,${h * 0.95} Z`;
    case "jar":
      return `M${w * 0.1},0 L${w * 0.9},0 L${w * 0.9},${h * 0.12} Q${w},${h * 0.14} ${w},${h * 0.24} L${w},${h * 0.92} Q${w},${h} ${w * 0.88},${h} L${w * 0.12},${h} Q0,${h} 0,${h * 0.92} L0,${h * 0.24} Q0,${h * 0.14} ${w * 0.1},${h * 0.12} Z`;
    case "pouch":
      return `M${w * 0.04},0 L${w * 0.96},0 L${w * 0.92},${h * 0.08} Q${w * 1.02},${h * 0.5} ${w * 0.96},${h} L${w * 0.04},${h} Q${-w * 0.02},${h * 0.5} ${w * 0.08},${h * 0.08} Z`;
    case "carton":
      return `M0,${h * 0.18} L${w * 0.5},0 L${w},${h * 0.18} L${w},${h} L0,${h} Z`;
  }
}

/** A package drawn in a w x h box at the origin. `uid` keeps gradient ids unique in a scene. */
export function packageSvg(p: ProductSpec, w: number, h: number, uid: string): string {
  const clip = `clip-${uid}`;
  const grad = `grad-${uid}`;
  const shape = outline(p.shape, w, h);
  let pattern = "";
  switch (p.pattern) {
    case "stripes":
      for (let x = -h; x < w; x += w * 0.18)
        pattern += `<path d="M${x},${h} L${x + h},0" stroke="${p.secondary}" stroke-width="${w * 0.05}" opacity="0.35"/>`;
      break;
    case "dots":
      for (let y = h * 0.1; y < h; y += h * 0.09)
        for (let x = w * 0.08; x < w; x += w * 0.16)
          pattern += `<circle cx="${x}" cy="${y}" r="${w * 0.025}" fill="${p.secondary}" opacity="0.4"/>`;
      break;
    case "gradient":
      pattern = `<rect width="${w}" height="${h}" fill="url(#${grad})"/>`;
      break;
    case "band":
      pattern = `<rect y="${h * 0.62}" width="${w}" height="${h * 0.16}" fill="${p.secondary}"/>`;
      break;
  }
  const fs1 = Math.max(6, w * 0.17);
  const logo = w * 0.42 * p.logoScale;
  return (
    `<defs><clipPath id="${clip}"><path d="${shape}"/></clipPath>` +
    `<linearGradient id="${grad}" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="${p.primary}"/><stop offset="1" stop-color="${p.secondary}"/></linearGradient></defs>` +
    `<g clip-path="url(#${clip})">` +
    `<rect width="${w}" height="${h}" fill="${p.primary}"/>${pattern}` +
    `<rect y="${h * 0.8}" width="${w}" height="${h * 0.2}" fill="${p.accent}"/>` +
    `<text x="${w / 2}" y="${h * 0.3}" font-family="${FONT}" font-weight="bold" font-size="${fs1}" fill="${p.text}" text-anchor="middle">${esc(p.name)}</text>` +
    `<g transform="translate(${(w - logo) / 2},${h * 0.34}) scale(${logo / 36})">${logoMarkup(p.logo)}</g>` +
    `<text x="${w / 2}" y="${h * 0.9}" font-family="${FONT}" font-size="${fs1 * 0.62}" fill="#ffffff" stroke="#000000" stroke-width="${fs1 * 0.02}" text-anchor="middle">${esc(p.flavour)}</text>` +
    `<text x="${w * 0.95}" y="${h * 0.78}" font-family="${FONT}" font-size="${fs1 * 0.45}" fill="${p.text}" text-anchor="end">${esc(p.size)}</text>` +
    `<path d="M${w * 0.12},${h * 0.05} L${w * 0.2},${h * 0.05} L${w * 0.2},${h * 0.95} L${w * 0.12},${h * 0.95} Z" fill="#ffffff" opacity="0.18"/>` +
    `</g><path d="${shape}" fill="none" stroke="#000000" stroke-opacity="0.35" stroke-width="${w * 0.012}"/>`
  );
}

function packageSize(p: ProductSpec, box: number): { w: number; h: number } {
  const tall = p.shape === "bottle" || p.shape === "can" || p.shape === "carton" ? 1.45 : p.shape === "box" ? 1.2 : 1.25;
  const h = box * 0.86;
  return { w: (h / tall) * p.aspect, h };
}

/** Clean packshot on white, product centred: `size` x `size` PNG. */
export async function renderInVitro(p: ProductSpec, size: number): Promise<Buffer> {
  const { w, h } = packageSize(p, size);
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}"><rect width="100%" height="100%" fill="#ffffff"/><g transform="translate(${(size - w) / 2},${(size - h) / 2})">${packageSvg(p, w, h, `v${p.id}`)}</g></svg>`;
  return sharp(Buffer.from(svg)).png().toBuffer();
}

export interface InSituOptions {
  /** Overall effect strength in [0, 1]. */
  strength?: number;
  /** JPEG output (true) or PNG. */
  jpeg?: boolean;
  /** Whose shelves, lights, occluders and camera (domains.ts); `catalogue` unless said. */
  domain?: Domain;
}

/** On a shelf among `neighbours`, cropped around the product, with camera effects. */
export async function renderInSitu(
  p: ProductSpec,
  neighbours: ProductSpec[],
  seed: number,
  size: number,
  opts: InSituOptions = {},
): Promise<Buffer> {
  const s = opts.strength ?? 0.7;
  const c = CONDITIONS[opts.domain ?? "catalogue"];
  const r = rngFrom(mixSeed(seed, "insitu", p.id));
  const S = size * 2; // draw at twice the resolution, crop, then degrade
  const W = S * 3,
    H = S * 1.6;
  const shelf = pick(r, c.shelves);
  const back = `<rect width="${W}" height="${H}" fill="${shelf}"/><rect y="${H * 0.86}" width="${W}" height="${H * 0.14}" fill="#555555"/>`;
  // Neighbours left and right, then the product in the middle (drawn last: in front).
  const slots = [W * 0.17, W * 0.83];
  const beside = neighbours.slice(0, 2).map((n, i) => {
    const { w, h } = packageSize(n, S * uniform(r, 0.85, 1.05));
    return {
      x0: slots[i] - w * 0.51,
      x1: slots[i] + w * 0.51,
      svg: `<g transform="translate(${slots[i] - w / 2},${H * 0.86 - h})">${packageSvg(n, w, h, `n${i}-${n.id}`)}</g>`,
    };
  });
  let scene = "";
  const scale = uniform(r, 0.85, 1.05);
  const { w, h } = packageSize(p, S * scale);
  const angle = normal(r) * 8 * s;
  const skew = normal(r) * 12 * s; // a cheap stand-in for perspective
  const cx = W / 2,
    base = H * 0.86;
  const tilt = c.skew === "vertical" ? `skewY(${skew})` : `skewX(${skew})`;
  scene += `<g transform="translate(${cx},${base - h / 2}) rotate(${angle}) ${tilt} translate(${-w / 2},${-h / 2})">${packageSvg(p, w, h, `t${p.id}`)}</g>`;
  // Price tag on the shelf edge and, sometimes, an occluder (a hand, another tag) over the product.
  scene += `<rect x="${cx - S * 0.2}" y="${H * 0.88}" width="${S * 0.4}" height="${H * 0.08}" fill="#ffee55" stroke="#333" stroke-width="2"/>`;
  if (r() < 0.5 * s + 0.1) {
    const kind = pick(r, c.occluders);
    const ow = w * uniform(r, 0.2, 0.5) * s,
      oh = h * uniform(r, 0.15, 0.4) * s;
    const ox = cx + uniform(r, -0.6, 0.6) * w - ow / 2,
      oy = base - h * uniform(r, 0.1, 0.9) - oh / 2;
    if (kind === "hand-or-tag")
      scene += `<rect x="${ox}" y="${oy}" width="${ow}" height="${oh}" rx="${ow * 0.3}" fill="${pick(r, ["#e0ac69", "#8d5524", "#ffffff", "#ffcc00"])}" opacity="0.95"/>`;
    else if (kind === "sticker")
      scene += `<circle cx="${ox + ow / 2}" cy="${oy + oh / 2}" r="${Math.max(ow, oh) * 0.45}" fill="${pick(r, ["#e02020", "#ff7f00", "#1e90ff"])}" stroke="#ffffff" stroke-width="${w * 0.02}"/>`;
    else
      scene += `<rect x="${ox}" y="0" width="${w * uniform(r, 0.06, 0.12)}" height="${H}" fill="${pick(r, ["#9a9a9a", "#3a3a3a"])}" opacity="0.9"/>`;
  }
  // Glare, colour cast and a light gradient across the scene.
  const gx = uniform(r, 0.3, 0.7) * W,
    gy = uniform(r, 0.2, 0.8) * H;
  scene +=
    `<defs><radialGradient id="glare"><stop offset="0" stop-color="#ffffff" stop-opacity="${0.75 * s}"/><stop offset="1" stop-color="#ffffff" stop-opacity="0"/></radialGradient>` +
    `<linearGradient id="light" x1="0" y1="0" x2="${r() < 0.5 ? 1 : 0}" y2="1"><stop offset="0" stop-color="#000" stop-opacity="0"/><stop offset="1" stop-color="#000" stop-opacity="${0.45 * s}"/></linearGradient></defs>` +
    `<ellipse cx="${gx}" cy="${gy}" rx="${S * uniform(r, 0.2, 0.5)}" ry="${S * uniform(r, 0.1, 0.3)}" fill="url(#glare)"/>` +
    `<rect width="${W}" height="${H}" fill="url(#light)"/>` +
    `<rect width="${W}" height="${H}" fill="hsl(${Math.floor(uniform(r, c.castHue[0], c.castHue[1]))},80%,50%)" opacity="${0.18 * s * r()}"/>`;
  // Crop a square around the product (with jitter), then degrade like a phone camera would.
  const side = Math.round(Math.max(w, h) * uniform(r, 1.05, 1.3));
  const left = Math.round(Math.min(Math.max(0, cx - side / 2 + normal(r) * 0.06 * side * s), W - side));
  const top = Math.round(Math.min(Math.max(0, base - h / 2 - side / 2 + normal(r) * 0.06 * side * s), H - side));
  const low = Math.max(8, Math.round(size * uniform(r, 1 - 0.6 * s, 1)));
  // The crop is the SVG's viewBox: only the pixels kept are rasterised (the same image as
  // rasterising the whole scene and cutting it out, at a third of the cost).
  // Neighbours wholly outside the crop are left out: drawing them changed no pixel.
  const visible = beside
    .filter((b) => b.x1 > left && b.x0 < left + side)
    .map((b) => b.svg)
    .join("");
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${side}" height="${side}" viewBox="${left} ${top} ${side} ${side}">${back}${visible}${scene}</svg>`;
  // Down-scale to `low` and back up, blocky, as a distant or cheap camera would. Two steps: sharp
  // keeps only the last resize of a pipeline.
  const cam = c.camera;
  const small = await sharp(Buffer.from(svg)).resize(low, low).removeAlpha().raw().toBuffer();
  let img = sharp(small, { raw: { width: low, height: low, channels: 3 } }).resize(size, size, {
    kernel: cam.downscale === "nearest" ? "nearest" : "cubic",
  });
  const blur = uniform(r, 0, 1.5 * s);
  if (cam.blur === "gaussian") img = img.blur(blur > 0.3 ? blur : undefined);
  else if (blur > 0.3) {
    // A hand moving sideways while the shutter is open: a horizontal box kernel.
    // sharp takes kernels of 3 x 3 and up: the middle row averages, the others are zero.
    const k = Math.max(3, 2 * Math.round(blur * 1.5) + 1);
    const zeros = Array<number>(k).fill(0);
    img = img.convolve({ width: k, height: 3, kernel: [...zeros, ...Array<number>(k).fill(1 / k), ...zeros] });
  }
  const raw = await img.removeAlpha().raw().toBuffer();
  const sigma = 12 * s * r();
  const nr = rngFrom(mixSeed(seed, "noise", p.id));
  if (cam.noise === "grey") for (let i = 0; i < raw.length; i++) raw[i] = Math.max(0, Math.min(255, raw[i] + normal(nr) * sigma));
  else {
    // Dim light, high gain: darker, with noise drawn per channel and larger in the blue channel.
    const gain = uniform(r, 1 - 0.35 * s, 1);
    for (let i = 0; i < raw.length; i++)
      raw[i] = Math.max(0, Math.min(255, raw[i] * gain + normal(nr) * sigma * (i % 3 === 2 ? 1.4 : 0.9)));
  }
  img = sharp(raw, { raw: { width: size, height: size, channels: 3 } });
  return opts.jpeg === false
    ? img.png().toBuffer()
    : img.jpeg({ quality: Math.round(uniform(r, 90 - 60 * s, 92)), chromaSubsampling: cam.chroma }).toBuffer();
}
