// The heavy outputs of notebooks 02, 03 and 06 built from cpu-profile-sized inputs, without
// training: each notebook's pictures and charts together stay inside its size budget, so a
// chart that grows with the profile is caught in seconds, not only at the end of `reproduce`.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { getProfile } from "../src/config/profiles";
import { galleryJpeg, thumbnails } from "../src/data/gallery";
import { renderInSitu } from "../src/data/render";
import { productSpec } from "../src/data/universe";
import {
  contrastRolesFigure,
  perAnchorLossFigure,
  similarityFigure,
  studentLossPartsFigure,
  targetCosineFigure,
  viewNames,
} from "../src/report/anatomy-figures";
import { embeddingMapsFigure, lossFigure, similarityBySameProduct, similarityHistogramFigure } from "../src/report/figures";
import { figureBundle, Figure } from "../src/report/plot";
import { NOTEBOOK_SIZE_LIMIT, DEFAULT_SIZE_LIMIT } from "../src/jupyter/harness";
import type { BatchAnatomy, StudentBatchAnatomy } from "../src/train/anatomy";
import type { HistoryRow } from "../src/train/loop";
import { rngFrom } from "../src/data/rng";

const cpu = getProfile("cpu");
/** What the rest of a notebook (sources, text, tables) may take beside the outputs built here. */
const REST = 150_000;

/** Bytes an output adds to a saved notebook: its MIME bundle as JSON (images are base64 there). */
const figureBytes = (fig: Figure, height?: number) => JSON.stringify(figureBundle(fig, height)).length;
const jpegBytes = (b: Buffer) => Math.ceil(b.length / 3) * 4;

/** `n` shelf photos at the cpu profile's stored size, from a few products (pixels like the data's). */
async function shelfPhotos(dir: string, n: number): Promise<string[]> {
  const distinct = 24;
  const files: string[] = [];
  for (let i = 0; i < distinct; i++) {
    const f = path.join(dir, `p${i}.png`);
    fs.writeFileSync(f, await renderInSitu(productSpec(cpu.seed, i), [productSpec(cpu.seed, i + 100)], i, cpu.data.storeSize));
    files.push(f);
  }
  return Array.from({ length: n }, (_, i) => files[i % distinct]);
}

function matrix(n: number, f: (i: number, j: number) => number): number[][] {
  return Array.from({ length: n }, (_, i) => Array.from({ length: n }, (_, j) => f(i, j)));
}

function history(steps: number, parts: string[]): HistoryRow[] {
  const r = rngFrom(3);
  return Array.from(
    { length: steps },
    (_, s) =>
      ({
        step: s + 1,
        lr: 0.05,
        imgPerSec: 100,
        loss: 3 * Math.exp(-s / 50) + r(),
        ...Object.fromEntries(parts.map((p) => [p, r()])),
      }) as HistoryRow,
  );
}

function assertWithin(t: { diagnostic(s: string): void }, name: string, parts: Record<string, number>): void {
  const budget = (NOTEBOOK_SIZE_LIMIT[name] ?? DEFAULT_SIZE_LIMIT) - REST;
  const total = Object.values(parts).reduce((a, b) => a + b, 0);
  const detail = Object.entries(parts)
    .map(([k, v]) => `${k} ${(v / 1e3).toFixed(0)} KB`)
    .join(", ");
  t.diagnostic(`${name}: ${(total / 1e6).toFixed(2)} MB of ${(budget / 1e6).toFixed(2)} (${detail})`);
  assert.ok(
    total <= budget,
    `${name}: outputs at cpu size ${(total / 1e6).toFixed(2)} MB, over ${(budget / 1e6).toFixed(2)} MB (${detail})`,
  );
}

test("notebook outputs at cpu-profile sizes stay within each notebook's budget (02 teacher, 03 student, 06 embeddings)", async (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-nbsize-"));
  try {
    const r = rngFrom(11);
    // 02-teacher: one batch of the teacher's pairs taken apart, then the live loss chart.
    const n2 = 2 * cpu.train.teacher.pairsPerBatch;
    const files = await shelfPhotos(dir, Math.max(n2, 600));
    const labels = Int32Array.from({ length: n2 }, (_, i) => i % (n2 / 2));
    const a: BatchAnatomy = {
      files: files.slice(0, n2),
      labels,
      embeddings: new Float32Array(n2 * 8),
      dim: 8,
      similarity: matrix(n2, () => r() * 2 - 1),
      positives: matrix(n2, (i, j) => (i !== j && labels[i] === labels[j] ? 1 : 0)),
      keptNegatives: matrix(n2, () => (r() < 0.5 ? 1 : 0)),
      perAnchor: Array.from({ length: n2 }, () => r() * 4),
      loss: 2,
      lossAfterStep: 1.9,
      lr: 0.05,
    };
    const teacherLive = lossFigure(history(cpu.train.teacher.steps, []), "teacher");
    teacherLive.data.push({ x: [10, 20, 30], y: [0.3, 0.4, 0.5], type: "scatter", yaxis: "y2" });
    assertWithin(t, "02-teacher", {
      gallery: jpegBytes(await galleryJpeg(a.files, { cols: n2 / 2, tile: 64, labels: viewNames(a) })),
      similarity: figureBytes(similarityFigure(a)),
      roles: figureBytes(contrastRolesFigure(a)),
      perAnchor: figureBytes(perAnchorLossFigure(a)),
      live: figureBytes(teacherLive),
    });

    // 03-pseudolabels-student: the pseudolabel similarity histogram, one mixed batch, live chart.
    const dim = 512;
    const pseudo = Float32Array.from({ length: cpu.data.pseudoImages * dim }, () => r() - 0.5);
    const products = Int32Array.from({ length: cpu.data.pseudoImages }, (_, i) => i % 300);
    const s = cpu.train.student;
    const sa: StudentBatchAnatomy = {
      pairFiles: files.slice(0, 2 * s.pairsPerBatch),
      pseudoFiles: files.slice(0, s.pseudoPerBatch),
      alpha: s.alpha,
      embeddings: new Float32Array((2 * s.pairsPerBatch + s.pseudoPerBatch) * 8),
      cleanEmbeddings: new Float32Array((2 * s.pairsPerBatch + s.pseudoPerBatch) * 8),
      dim: 8,
      targets: new Float32Array(s.pseudoPerBatch * 8),
      targetCosine: Array.from({ length: s.pseudoPerBatch }, () => r()),
      before: { loss: 2, supcon: 3, smoothl1: 0.1 },
      after: { loss: 1.9, supcon: 2.9, smoothl1: 0.1 },
      lr: s.lr,
    };
    assertWithin(t, "03-pseudolabels-student", {
      histogram: figureBytes(similarityHistogramFigure(similarityBySameProduct(pseudo, dim, products), "pseudolabels")),
      gallery: jpegBytes(
        await galleryJpeg([...sa.pairFiles, ...sa.pseudoFiles], { cols: Math.max(s.pairsPerBatch, s.pseudoPerBatch), tile: 56 }),
      ),
      cosine: figureBytes(targetCosineFigure(sa)),
      parts: figureBytes(studentLossPartsFigure(sa)),
      live: figureBytes(lossFigure(history(s.steps, ["supcon", "smoothl1"]), "student")),
    });

    // 06-embeddings: UMAP maps of grozi-like (one packshot per class + the shelf photos) for
    // teacher and student, hover thumbnails shared; the neighbour gallery.
    const points = cpu.data.groziClasses * (1 + cpu.data.groziTestPerClass);
    const maps = ["teacher", "student"].map((title) => ({
      title,
      points: Array.from({ length: points }, (_, i) => ({
        x: r() * 10,
        y: r() * 10,
        label: i % cpu.data.groziClasses,
        view: i < cpu.data.groziClasses ? "in-vitro" : "in-situ",
        text: `class ${i % cpu.data.groziClasses}: grozi-like/test/x${i}.png`,
        image: i,
      })),
    }));
    assertWithin(t, "06-embeddings", {
      maps: figureBytes(embeddingMapsFigure(maps, "maps", await thumbnails(files.slice(0, points))), 560),
      neighbours: jpegBytes(
        await galleryJpeg(files.slice(0, 16), { cols: 4, tile: 128, labels: files.slice(0, 16).map(() => "✓ class 12 0.93") }),
      ),
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("a chart's data is saved once: the HTML form reads it from the plotly form; numbers are rounded to 4 significant digits", () => {
  const b = figureBundle({ data: [{ x: [1, 2, 3], y: [0.123456789, 2.3456789e-7, 12345.6789], type: "scatter" }] });
  const html = String(b["text/html"]);
  const plotly = b["application/vnd.plotly.v1+json"] as { data: { y: number[] }[] };
  assert.deepEqual(plotly.data[0].y, [0.1235, 2.346e-7, 12350]);
  assert.doesNotMatch(html, /0\.1235|"y"/);
  assert.match(html, /data-rr-figure="rr-plot-[^"]+"/);
});
