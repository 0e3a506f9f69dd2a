// Views of a manifest that the training steps need: pairs, unlabeled images, one-shot splits.
import { Item, readManifest, resolveItem } from "./manifest";

export interface Pair {
  pair: number;
  /** The product both images show. */
  product: number;
  a: string;
  b: string;
}

export function pairsOf(dir: string): Pair[] {
  const m = readManifest(dir);
  const byPair = new Map<number, { files: string[]; product: number }>();
  for (const it of m.items) {
    if (it.pair === undefined) continue;
    const entry = byPair.get(it.pair) ?? { files: [], product: it.product };
    entry.files.push(resolveItem(dir, it));
    byPair.set(it.pair, entry);
  }
  const pairs: Pair[] = [];
  for (const [pair, { files, product }] of byPair) {
    if (files.length !== 2) throw new Error(`${dir}/manifest.json: pair ${pair} has ${files.length} images, expected 2`);
    pairs.push({ pair, product, a: files[0], b: files[1] });
  }
  if (pairs.length === 0) throw new Error(`${dir}/manifest.json: no pairs (items need a 'pair' field)`);
  return pairs;
}

export function filesOf(dir: string, filter: (it: Item) => boolean = () => true): { files: string[]; items: Item[] } {
  const m = readManifest(dir);
  const items = m.items.filter(filter);
  return { files: items.map((it) => resolveItem(dir, it)), items };
}

export interface OneShot {
  train: { files: string[]; labels: Int32Array };
  test: { files: string[]; labels: Int32Array };
  classes: number;
}

export function oneShotOf(dir: string): OneShot {
  const m = readManifest(dir);
  const part = (split: string) => {
    const items = m.items.filter((it) => it.split === split);
    return { files: items.map((it) => resolveItem(dir, it)), labels: Int32Array.from(items.map((it) => it.product)) };
  };
  const train = part("train"),
    test = part("test");
  if (train.files.length === 0 || test.files.length === 0) throw new Error(`${dir}: a one-shot set needs 'train' and 'test' items`);
  return { train, test, classes: Math.max(...train.labels, ...test.labels) + 1 };
}
