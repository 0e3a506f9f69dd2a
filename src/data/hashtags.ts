// Weak labels for pretraining, the stand-in for the Instagram hashtags of ResNeXt-WSL (Mahajan
// et al. 2018): words a person might attach to a product photo — its package shape, pattern,
// colours, logo, the words of its brand name, its flavour and pack size. Like real hashtags they
// are noisy: some true tags are left out, and unrelated ones are added.
import { mixSeed, rngFrom } from "./rng";
import { FLAVOURS, logoPool, PATTERNS, ProductSpec, SHAPES, SIZES, SYLLABLES } from "./universe";

const HUES = ["red", "orange", "yellow", "lime", "green", "teal", "cyan", "azure", "blue", "violet", "magenta", "pink"];

/** Every tag there is, in a fixed order (the classifier's outputs). */
export function hashtagVocabulary(): string[] {
  return [
    ...SHAPES.map((s) => `shape:${s}`),
    ...PATTERNS.map((p) => `pattern:${p}`),
    ...HUES.flatMap((h) => [`colour:light-${h}`, `colour:dark-${h}`]),
    ...SYLLABLES.map((w) => `word:${w}`),
    ...FLAVOURS.map((f) => `flavour:${f.toLowerCase()}`),
    ...SIZES.map((z) => `size:${z.replace(/ /g, "")}`),
    ...logoPool("pretrain").map((l) => `logo:${l}`),
  ];
}

/** "hsl(h,s%,l%)" -> a colour tag: one of 12 hue names, light or dark. */
function colourTag(hsl: string): string {
  const [h, , l] = hsl.match(/[\d.]+/g)!.map(Number);
  return `colour:${l >= 62 ? "light" : "dark"}-${HUES[Math.floor(((h + 15) % 360) / 30)]}`;
}

/** The brand name's syllables, greedily matched (brand names are 2-3 syllables joined). */
function brandWords(name: string): string[] {
  const words: string[] = [];
  let rest = name.toLowerCase();
  while (rest.length) {
    const w = [...SYLLABLES].sort((a, b) => b.length - a.length).find((s) => rest.startsWith(s));
    if (!w) break;
    words.push(`word:${w}`);
    rest = rest.slice(w.length);
  }
  return words;
}

/** The tags that truly describe a product. */
export function trueHashtags(p: ProductSpec): string[] {
  const tags = [
    `shape:${p.shape}`,
    `pattern:${p.pattern}`,
    colourTag(p.primary),
    colourTag(p.secondary),
    ...brandWords(p.name),
    `flavour:${p.flavour.toLowerCase()}`,
    `size:${p.size.replace(/ /g, "")}`,
    `logo:${p.logo}`,
  ];
  return [...new Set(tags)];
}

/** The tags one photo carries, as vocabulary indices: each true tag kept with probability
 * 1 - drop (at least one kept), and with probability `noise` one random unrelated tag added.
 * A pure function of (seed, image). */
export function noisyHashtags(
  p: ProductSpec,
  vocabulary: Map<string, number>,
  seed: number,
  image: number,
  drop: number,
  noise: number,
): number[] {
  const r = rngFrom(mixSeed(seed, "hashtags", image));
  const truth = trueHashtags(p).map((t) => {
    const i = vocabulary.get(t);
    if (i === undefined) throw new Error(`hashtag '${t}' is not in the vocabulary (a product outside the pretraining pool?)`);
    return i;
  });
  const kept = truth.filter(() => r() >= drop);
  if (kept.length === 0) kept.push(truth[Math.floor(r() * truth.length)]);
  if (r() < noise) {
    const extra = Math.floor(r() * vocabulary.size);
    if (!kept.includes(extra)) kept.push(extra);
  }
  return kept.sort((a, b) => a - b);
}
