// Figures the notebooks and reports share: loss curves, bar charts, embedding maps.
import type { HistoryRow } from "../train/loop";
import type { Figure } from "./plot";

/** Loss (and any named parts) per step; a moving average keeps noisy curves readable, and a
 * long run is drawn at `maxPoints` evenly spaced steps (the last included): a chart a few hundred
 * pixels wide cannot show more. */
export function lossFigure(history: HistoryRow[], title: string, smooth = 5, maxPoints = 400): Figure {
  const keys = Object.keys(history[0] ?? {}).filter((k) => !["step", "lr", "imgPerSec"].includes(k));
  const avg = (ys: number[]) =>
    ys.map((_, i) => {
      const w = ys.slice(Math.max(0, i - smooth + 1), i + 1);
      return w.reduce((a, b) => a + b, 0) / w.length;
    });
  const keep = evenlySpaced(history.length, maxPoints);
  return {
    data: keys.map((k) => {
      const y = avg(history.map((h) => h[k]));
      return { x: keep.map((i) => history[i].step), y: keep.map((i) => y[i]), type: "scatter", mode: "lines", name: k };
    }),
    layout: {
      title: { text: title },
      xaxis: { title: { text: "step" } },
      yaxis: { title: { text: `loss (moving average of ${smooth})` } },
    },
  };
}

/** At most `max` indices of 0..n-1, evenly spaced, the first and the last included. */
export function evenlySpaced(n: number, max: number): number[] {
  if (n <= max) return [...Array(n).keys()];
  return [...new Set(Array.from({ length: max }, (_, k) => Math.round((k * (n - 1)) / (max - 1))))];
}

/** Several curves on one pair of axes, each drawn with its points marked (a few checkpoints each). */
export function curvesFigure(curves: { name: string; x: number[]; y: number[] }[], title: string, xTitle: string, yTitle: string): Figure {
  return {
    data: curves.map((c) => ({ x: c.x, y: c.y, type: "scatter", mode: "lines+markers", name: c.name })),
    layout: { title: { text: title }, xaxis: { title: { text: xTitle } }, yaxis: { title: { text: yTitle } } },
  };
}

/** Grouped bars; `intervals` (same units as values) draw as asymmetric error bars. */
export function barFigure(
  labels: string[],
  series: { name: string; values: number[]; intervals?: [number, number][] }[],
  title: string,
  yTitle: string,
): Figure {
  return {
    data: series.map((s) => ({
      x: labels,
      y: s.values,
      type: "bar",
      name: s.name,
      ...(s.intervals
        ? {
            error_y: {
              type: "data",
              symmetric: false,
              array: s.intervals.map((c, i) => c[1] - s.values[i]),
              arrayminus: s.intervals.map((c, i) => s.values[i] - c[0]),
            },
          }
        : {}),
    })),
    layout: { title: { text: title }, barmode: "group", yaxis: { title: { text: yTitle } } },
  };
}

/** A matrix as a heatmap with its values written in the cells (row 0 at the top). */
export function heatmapFigure(values: number[][], title: string, digits = 3): Figure {
  return {
    data: [
      {
        z: values,
        type: "heatmap",
        colorscale: "Viridis",
        text: values.map((r) => r.map((v) => v.toFixed(digits))),
        texttemplate: "%{text}",
        hovertemplate: "row %{y}, column %{x}: %{z}<extra></extra>",
      },
    ],
    layout: { title: { text: title }, yaxis: { autorange: "reversed", scaleanchor: "x" }, width: 480, height: 460 },
  };
}

export interface MapPoint {
  x: number;
  y: number;
  label: number;
  view: string;
  text: string;
  /** The index of this point's thumbnail in the figure's `images`, shown while it is hovered. */
  image?: number;
}

/** Embedding maps side by side (one subplot per map), coloured by product, marker by view;
 * `images` (data URIs, e.g. `thumbnails(files)`) are stored once and shared by every map. */
export function embeddingMapsFigure(maps: { title: string; points: MapPoint[] }[], title: string, images?: string[]): Figure {
  const data: object[] = [];
  maps.forEach((m, i) => {
    for (const view of [...new Set(m.points.map((p) => p.view))]) {
      const pts = m.points.filter((p) => p.view === view);
      data.push({
        x: pts.map((p) => p.x),
        y: pts.map((p) => p.y),
        text: pts.map((p) => p.text),
        mode: "markers",
        type: "scatter",
        name: `${m.title}: ${view}`,
        xaxis: `x${i + 1}`,
        yaxis: `y${i + 1}`,
        marker: {
          color: pts.map((p) => p.label),
          colorscale: "Rainbow",
          size: view === "in-vitro" ? 11 : 6,
          symbol: view === "in-vitro" ? "star" : "circle",
          line: { width: view === "in-vitro" ? 1 : 0 },
        },
        ...(images ? { customdata: pts.map((p) => p.image ?? null) } : {}),
        hovertemplate: "%{text}<extra></extra>",
      });
    }
  });
  const layout: Record<string, unknown> = {
    title: { text: title },
    grid: { rows: 1, columns: maps.length, pattern: "independent" },
    showlegend: true,
    height: 520,
  };
  maps.forEach((m, i) => {
    layout[`xaxis${i + 1}`] = { title: { text: m.title }, showticklabels: false };
    layout[`yaxis${i + 1}`] = { showticklabels: false };
  });
  return { data, layout, ...(images ? { hoverImages: images } : {}) };
}

/** Cosine similarities between unit embeddings, split by whether the two images show the same
 * product (all pairs among the first `limit` images; images of unknown product, -1, are left
 * out): do the embeddings group products? */
export function similarityBySameProduct(
  data: Float32Array,
  dim: number,
  products: ArrayLike<number>,
  limit = 400,
): { same: number[]; different: number[] } {
  const n = Math.min(products.length, limit);
  const same: number[] = [];
  const different: number[] = [];
  for (let i = 0; i < n; i++) {
    if (products[i] < 0) continue;
    for (let j = i + 1; j < n; j++) {
      if (products[j] < 0) continue;
      let s = 0;
      for (let c = 0; c < dim; c++) s += data[i * dim + c] * data[j * dim + c];
      (products[i] === products[j] ? same : different).push(s);
    }
  }
  return { same, different };
}

/** The two similarity distributions as overlaid density histograms, binned here (`bins` bars
 * over the range of both) so that the chart holds the bars, not every pair's value. */
export function similarityHistogramFigure(s: { same: number[]; different: number[] }, title: string, bins = 60): Figure {
  let lo = Infinity;
  let hi = -Infinity;
  for (const x of [s.same, s.different].flat()) [lo, hi] = [Math.min(lo, x), Math.max(hi, x)];
  if (!(hi > lo)) [lo, hi] = [lo - 0.5, lo + 0.5];
  const width = (hi - lo) / bins;
  const centres = Array.from({ length: bins }, (_, b) => lo + (b + 0.5) * width);
  const density = (xs: number[]) => {
    const counts = new Array<number>(bins).fill(0);
    for (const x of xs) counts[Math.min(bins - 1, Math.floor((x - lo) / width))]++;
    return counts.map((c) => (xs.length ? c / (xs.length * width) : 0));
  };
  const trace = (xs: number[], name: string) => ({
    x: centres,
    y: density(xs),
    width,
    type: "bar",
    name: `${name} (${xs.length} pairs)`,
    opacity: 0.6,
  });
  return {
    data: [trace(s.different, "different products"), trace(s.same, "same product")],
    layout: {
      title: { text: title },
      barmode: "overlay",
      bargap: 0,
      xaxis: { title: { text: "cosine similarity" } },
      yaxis: { title: { text: "probability density" } },
    },
  };
}
