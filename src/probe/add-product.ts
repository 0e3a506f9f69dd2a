// The paper's practical point: a new product needs one image and a probe refit (milliseconds),
// not a new round of fine-tuning. Adds one class from a single image to a one-shot set's probe
// and reports accuracy before/after on the old classes and on the new product's test images.
import { Profile } from "../config/profiles";
import { renderInSitu, renderInVitro } from "../data/render";
import { mixSeed } from "../data/rng";
import { productSpec } from "../data/universe";
import { Model } from "../models/model";
import { Embedded, probe, ProbeScores } from "./probe";
import { argmaxRows, fitLogReg, logRegScores } from "./logreg";
import { accuracyWithInterval, Interval } from "./bootstrap";
import { embedFiles } from "../train/embed";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";

export interface AddProductResult {
  before: ProbeScores;
  /** Accuracy on the old classes' test images after the refit. */
  oldClassesAfter: number;
  oldClassesAfterCI: Interval;
  /** Accuracy on the new product's in-situ images. */
  newProduct: number;
  newProductCI: Interval;
  fitMs: number;
  newClass: number;
  trainImage: string;
  testImages: string[];
}

/** A product no dataset uses (brand range 4,000,000+), rendered as one packshot + shelf photos. */
export async function renderNewProduct(profile: Profile, index: number, tests: number): Promise<{ train: string; test: string[] }> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-new-product-"));
  const p = productSpec(profile.seed, 4_000_000 + index, 1);
  const train = path.join(dir, "train.png");
  fs.writeFileSync(train, await renderInVitro(p, profile.data.storeSize));
  const test: string[] = [];
  for (let t = 0; t < tests; t++) {
    const f = path.join(dir, `test_${t}.jpg`);
    fs.writeFileSync(
      f,
      await renderInSitu(
        p,
        [productSpec(profile.seed, 4_100_000 + t, 1), productSpec(profile.seed, 4_200_000 + t, 1)],
        mixSeed(profile.seed, "new", index, t),
        profile.data.storeSize,
      ),
    );
    test.push(f);
  }
  return { train, test };
}

export async function addProduct(
  profile: Profile,
  model: Model,
  base: Embedded,
  image: string,
  testImages: string[],
): Promise<AddProductResult> {
  const before = probe(base, 1, profile.seed);
  const o = { size: profile.imageSize, batch: profile.train.embedBatch, quiet: true };
  const zNew = await embedFiles(model, [image], o);
  const zTest = await embedFiles(model, testImages, o);
  const newClass = Math.max(...base.trainLabels) + 1;
  const train = new Float32Array(base.train.length + zNew.length);
  train.set(base.train);
  train.set(zNew, base.train.length);
  const labels = Int32Array.from([...base.trainLabels, newClass]);
  const t = process.hrtime.bigint();
  const lr = fitLogReg(train, labels, base.dim);
  const fitMs = Number(process.hrtime.bigint() - t) / 1e6;
  const predOld = argmaxRows(logRegScores(lr, base.test), lr.classes);
  const predNew = argmaxRows(logRegScores(lr, zTest), lr.classes);
  const old = accuracyWithInterval(predOld, base.testLabels, { seed: profile.seed });
  const fresh = accuracyWithInterval(predNew, new Int32Array(testImages.length).fill(newClass), { seed: profile.seed });
  return {
    before,
    oldClassesAfter: old.accuracy,
    oldClassesAfterCI: old.interval,
    newProduct: fresh.accuracy,
    newProductCI: fresh.interval,
    fitMs,
    newClass,
    trainImage: image,
    testImages,
  };
}
