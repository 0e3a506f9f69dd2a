// The synthetic retail product universe. A brand fixes package shape, palette, pattern, logo
// artwork and layout; a product is one variant of a brand (flavour text, accent colour, pack
// size), so products of one brand are fine-grained neighbours, like CAPG-GP's. Everything is a
// pure function of (universe seed, id).
import * as fs from "fs";
import * as path from "path";
import { intIn, mixSeed, pick, Rng, rngFrom, uniform } from "./rng";

/** Logos are split between the pretraining corpus and every other set, so that pretraining
 * shares no logo (as no brand or product) with what the method is evaluated on. */
export type LogoPool = "pretrain" | "main";

export const SHAPES = ["box", "bottle", "can", "jar", "pouch", "carton"] as const;
export type Shape = (typeof SHAPES)[number];
export const PATTERNS = ["plain", "stripes", "dots", "gradient", "band"] as const;

export interface BrandSpec {
  brandId: number;
  name: string;
  shape: Shape;
  primary: string;
  secondary: string;
  text: string;
  pattern: (typeof PATTERNS)[number];
  /** Twemoji file name (without .svg) used as the logo. */
  logo: string;
  logoScale: number;
  aspect: number;
}

export interface ProductSpec extends BrandSpec {
  id: number;
  variant: number;
  flavour: string;
  accent: string;
  size: string;
}

export const SYLLABLES = [
  "ka",
  "lo",
  "mi",
  "ra",
  "ve",
  "no",
  "ti",
  "zu",
  "pa",
  "be",
  "do",
  "fi",
  "gra",
  "sto",
  "lu",
  "ne",
  "cor",
  "via",
  "mar",
  "sol",
  "ber",
  "qui",
  "dan",
  "tex",
];
export const FLAVOURS = [
  "Original",
  "Lemon",
  "Cherry",
  "Mint",
  "Vanilla",
  "Cocoa",
  "Berry",
  "Apple",
  "Mango",
  "Honey",
  "Salted",
  "Spicy",
  "Light",
  "Zero",
  "Classic",
  "Orange",
  "Peach",
  "Coconut",
  "Caramel",
  "Lime",
];
export const SIZES = ["100 g", "150 g", "200 g", "250 g", "330 ml", "500 ml", "750 ml", "1 L", "6 x 50 g", "400 g"];

/** Twemoji artwork (CC-BY 4.0): single-codepoint emoji, sorted, so indices are stable. */
let logos: string[] | undefined;
export function twemojiDir(): string {
  return path.dirname(require.resolve("@twemoji/svg/package.json"));
}
export function logoNames(): string[] {
  if (!logos)
    logos = fs
      .readdirSync(twemojiDir())
      .filter((f) => f.endsWith(".svg") && !f.includes("-"))
      .map((f) => f.slice(0, -4))
      .sort();
  return logos;
}

/** Every fourth logo (in sorted order) belongs to the pretraining corpus, the rest to the
 * other sets. */
export function logoPool(pool: LogoPool): string[] {
  return logoNames().filter((_, i) => (i % 4 === 0) === (pool === "pretrain"));
}

function colour(r: Rng, light: boolean): string {
  const h = Math.floor(r() * 360);
  const s = intIn(r, 45, 90);
  const l = light ? intIn(r, 70, 90) : intIn(r, 25, 55);
  return `hsl(${h},${s}%,${l}%)`;
}

function brandName(r: Rng): string {
  const n = intIn(r, 2, 3);
  const w = Array.from({ length: n }, () => pick(r, SYLLABLES)).join("");
  return w[0].toUpperCase() + w.slice(1);
}

export function brandSpec(universeSeed: number, brandId: number, pool: LogoPool = "main"): BrandSpec {
  const r = rngFrom(mixSeed(universeSeed, "brand", brandId));
  const dark = r() < 0.5;
  const names = logoPool(pool);
  return {
    brandId,
    name: brandName(r),
    shape: pick(r, SHAPES),
    primary: colour(r, !dark),
    secondary: colour(r, dark),
    text: dark ? "#ffffff" : "#1a1a1a",
    pattern: pick(r, PATTERNS),
    logo: names[Math.floor(r() * names.length)],
    logoScale: uniform(r, 0.8, 1.2),
    aspect: uniform(r, 0.9, 1.1),
  };
}

/** Product `id` of a universe where each brand has `variantsPerBrand` products. */
export function productSpec(universeSeed: number, id: number, variantsPerBrand = 1, pool: LogoPool = "main"): ProductSpec {
  const brandId = Math.floor(id / variantsPerBrand);
  const variant = id % variantsPerBrand;
  const brand = brandSpec(universeSeed, brandId, pool);
  // Variants of one brand step through flavours and accent hues so that no two are identical
  // (7 is coprime with the 20 flavours; 47 degrees of hue per variant).
  const b = rngFrom(mixSeed(universeSeed, "brand-variants", brandId));
  const flavour0 = Math.floor(b() * FLAVOURS.length);
  const hue0 = Math.floor(b() * 360);
  const r = rngFrom(mixSeed(universeSeed, "variant", brandId, variant));
  return {
    ...brand,
    id,
    variant,
    flavour: FLAVOURS[(flavour0 + variant * 7) % FLAVOURS.length],
    accent: `hsl(${(hue0 + variant * 47) % 360},${intIn(r, 60, 90)}%,${intIn(r, 35, 60)}%)`,
    size: pick(r, SIZES),
  };
}
