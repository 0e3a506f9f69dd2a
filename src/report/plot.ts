// Plotly figures in notebooks and in standalone HTML.
//
// In a notebook a figure is one display of two forms, and the front end draws the richest it can:
//   application/vnd.plotly.v1+json  the figure as data: JupyterLab with plotly's extension draws
//                                   it natively, after a reload or in a new tab too;
//   text/html                       a <div> and a small script that draws it with the page's
//                                   Plotly, loading plotly.js from the Jupyter server's own files
//                                   (node_modules/plotly.js-dist) when the page has none yet.
// The figure's data is saved once, in the first form: the script of the second finds it in the
// classic Notebook's own copy of the output, and the HTML report (execute_notebook.py) writes it
// into the page beside the script. Neither holds the plotly bundle, so a chart adds its data
// (numbers rounded to what a chart can show) and ~2 KB to a saved notebook.
// Standalone pages and exported reports inline one minified plotly (the cartesian build:
// scatter, bar, heatmap, histogram, box, ...) in their head, and the same <div> draws from it.
import * as fs from "fs";
import { showBundle } from "../util/host";

export interface Figure {
  data: object[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
  /** Hover thumbnails: a hovered point whose `customdata` is k shows `hoverImages[k]` (a data
   * URI) beside the plot. Each image is stored once, however many points or traces show it. */
  hoverImages?: string[];
}

export const PLOTLY_MIME = "application/vnd.plotly.v1+json";
/** Served by Jupyter from the repo (its root folder): the full bundle, every trace type. */
export const PLOTLY_SERVED_PATH = "files/node_modules/plotly.js-dist/plotly.js";

let minBundle: string | undefined;
/** The minified cartesian plotly.js that reports inline (1.4 MB). */
export function plotlyMinBundle(): string {
  if (!minBundle) minBundle = fs.readFileSync(require.resolve("plotly.js-cartesian-dist-min/plotly-cartesian.min.js"), "utf8");
  return minBundle;
}

let counter = 0;
// `</script>` inside JSON would end the tag early.
const json = (v: unknown) => JSON.stringify(v).replace(/<\//g, "<\\/");

/** `v` to `digits` significant digits: a chart cannot show more, and the saved notebook is
 * mostly numbers. */
export function roundSignificant(v: number, digits = 4): number {
  if (!Number.isFinite(v) || v === 0 || Number.isInteger(v)) return v;
  return Number(v.toPrecision(digits));
}

/** The figure's data with every number rounded (roundSignificant), strings and structure kept. */
export function compactData(data: object[], digits = 4): object[] {
  const walk = (v: unknown): unknown => {
    if (typeof v === "number") return roundSignificant(v, digits);
    if (Array.isArray(v)) return v.map(walk);
    if (ArrayBuffer.isView(v)) return Array.from(v as unknown as ArrayLike<number>, (x) => roundSignificant(x, digits));
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return data.map((t) => walk(t) as object);
}

function withDefaults(fig: Figure, height?: number): { layout: Record<string, unknown>; config: Record<string, unknown> } {
  const layout = { height: height ?? 420, margin: { t: 40, l: 50, r: 20, b: 40 }, ...fig.layout };
  return { layout, config: { responsive: true, displaylogo: false, ...fig.config } };
}

/** Marks the HTML form of a figure whose data travels in the plotly MIME form of the same output
 * (execute_notebook.py looks for it to write the data into the HTML report). */
export const DATA_ELSEWHERE = "data-rr-figure";

/** A `<div>` plus the script that draws `fig` into it with the page's Plotly, fetching plotly.js
 * from the Jupyter server first when the page has none (classic Notebook's require.js is set
 * aside while it loads, or plotly would register as an AMD module instead of window.Plotly).
 * With `dataElsewhere`, the script holds no data: it reads the figure from a
 * `<script type="application/json">` beside it (the HTML report), else from the classic
 * Notebook's copy of this output's plotly MIME form. */
export function figureHtml(fig: Figure, opts: { height?: number; dataElsewhere?: boolean } = {}): string {
  const id = `rr-plot-${process.pid}-${Date.now().toString(36)}-${counter++}`;
  const { layout, config } = withDefaults(fig, opts.height);
  // Plotly's hover labels are text only; a thumbnail needs a small listener of our own.
  const hover = fig.hoverImages
    ? `var ims=${json(fig.hoverImages)},im=document.getElementById(${json(`${id}-img`)});` +
      `el.on("plotly_hover",function(d){var c=d.points[0].customdata;if(c!=null&&ims[c]){im.src=ims[c];im.style.display="block";}});` +
      `el.on("plotly_unhover",function(){im.style.display="none";});`
    : "";
  const figure = opts.dataElsewhere
    ? // The classic Notebook records an output after drawing it: look again for a moment.
      `function figure(then,tries){var s=document.getElementById(${json(`${id}-data`)});` +
      `if(s&&s.textContent.trim()){then(JSON.parse(s.textContent));return;}` +
      `var nb=window.Jupyter&&window.Jupyter.notebook,cells=nb?nb.get_cells():[];` +
      `for(var i=0;i<cells.length;i++){var outs=(cells[i].output_area||{}).outputs||[];` +
      `for(var j=0;j<outs.length;j++){var d=outs[j].data;` +
      `if(d&&d[${json(PLOTLY_MIME)}]&&String(d["text/html"]).indexOf(${json(id)})>=0){then(d[${json(PLOTLY_MIME)}]);return;}}}` +
      `if(tries>0){setTimeout(function(){figure(then,tries-1);},100);return;}` +
      `document.getElementById(${json(id)}).textContent="This chart's data is in its plotly form: open the notebook in JupyterLab with plotly's extension (pip install plotly), in the classic Notebook, or the exported HTML report";}`
    : `function figure(then){then({data:${json(fig.data)},layout:${json(layout)},config:${json(config)}});}`;
  const draw = `${figure}function draw(){figure(function(f){var el=document.getElementById(${json(id)});window.Plotly.newPlot(el,f.data,f.layout,f.config).then(function(){${hover}});},30);}`;
  const load =
    `function base(){var b=document.body&&document.body.getAttribute("data-base-url");if(b)return b;` +
    `var c=document.getElementById("jupyter-config-data");try{return JSON.parse(c.textContent).baseUrl||"/";}catch(e){return "/";}}` +
    `if(window.Plotly){draw();return;}` +
    `var q=window.__rrPlotlyQueue;if(q){q.push(draw);return;}q=window.__rrPlotlyQueue=[draw];` +
    `var d=window.define;window.define=undefined;var s=document.createElement("script");` +
    `s.src=base()+${json(PLOTLY_SERVED_PATH)};` +
    `s.onload=function(){window.define=d;q.forEach(function(f){f();});window.__rrPlotlyQueue=null;};` +
    `s.onerror=function(){window.define=d;document.getElementById(${json(id)}).textContent="plotly.js could not be loaded from the Jupyter server: start Jupyter with npm run lab, or open the exported HTML report";};` +
    `document.head.appendChild(s);`;
  const img = fig.hoverImages
    ? `<img id="${id}-img" style="position:absolute;left:60px;top:40px;width:96px;height:96px;border:1px solid #888;background:#fff;display:none"/>`
    : "";
  const slot = opts.dataElsewhere ? `<script type="application/json" id="${id}-data"></script>` : "";
  return (
    `<div style="position:relative" ${opts.dataElsewhere ? `${DATA_ELSEWHERE}="${id}"` : ""}><div id="${id}" class="rr-plot" style="width:100%;height:${layout.height}px"></div>${img}${slot}` +
    `<script type="text/javascript">(function(){${draw}${load}})();</script></div>`
  );
}

/** The display bundle of a figure: plotly's own MIME type with the (rounded) data, and the HTML
 * form, which reads the data from it. A figure with hover thumbnails is HTML only (plotly's own
 * renderer would not show them), its data inside. */
export function figureBundle(fig: Figure, height?: number): Record<string, unknown> {
  const compact: Figure = { ...fig, data: compactData(fig.data) };
  const { layout, config } = withDefaults(compact, height);
  const title = (layout.title as { text?: string } | string | undefined) ?? "";
  const text = `<plotly figure${typeof title === "string" ? (title ? `: ${title}` : "") : title.text ? `: ${title.text}` : ""}>`;
  if (compact.hoverImages) return { "text/html": figureHtml(compact, { height }), "text/plain": text };
  return {
    [PLOTLY_MIME]: { data: compact.data, layout, config },
    "text/html": figureHtml(compact, { height, dataElsewhere: true }),
    "text/plain": text,
  };
}

/** Show a figure inline in a notebook; returns false outside a kernel. */
export function showFigure(fig: Figure, height?: number): boolean {
  return showBundle(figureBundle(fig, height));
}

/** A standalone HTML page: one minified plotly inlined in its head, then the figure. */
export function saveFigureHtml(fig: Figure, file: string, title = "retail-repr figure"): void {
  fs.writeFileSync(
    file,
    `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title><script type="text/javascript">${plotlyMinBundle()}</script></head><body>${figureHtml(fig)}</body></html>\n`,
  );
}
