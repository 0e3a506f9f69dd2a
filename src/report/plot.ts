// Plotly figures in notebooks and in standalone HTML.
//
// In a notebook a figure is one display of two forms, and the front end draws the richest it can:
//   application/vnd.plotly.v1+json  the figure as data: JupyterLab with plotly's extension draws
//                                   it natively, after a reload or in a new tab too;
//   text/html                       a <div> and a small script that draws it with the page's
//                                   Plotly, loading plotly.js from the Jupyter server's own files
//                                   (node_modules/plotly.js-dist) when the page has none yet.
// Neither holds the plotly bundle, so a chart adds its data and ~1 KB to a saved notebook.
// Standalone pages and exported reports inline one minified plotly (the cartesian build:
// scatter, bar, heatmap, histogram, box, ...) in their head, and the same <div> draws from it.
import * as fs from "fs";
import { showBundle } from "./notebook";

export interface Figure {
  data: object[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
  /** Show the image whose data URI is a hovered point's `customdata` beside the plot. */
  hoverImages?: boolean;
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

function withDefaults(fig: Figure, height?: number): { layout: Record<string, unknown>; config: Record<string, unknown> } {
  const layout = { height: height ?? 420, margin: { t: 40, l: 50, r: 20, b: 40 }, ...fig.layout };
  return { layout, config: { responsive: true, displaylogo: false, ...fig.config } };
}

/** A `<div>` plus the script that draws `fig` into it with the page's Plotly, fetching plotly.js
 * from the Jupyter server first when the page has none (classic Notebook's require.js is set
 * aside while it loads, or plotly would register as an AMD module instead of window.Plotly). */
export function figureHtml(fig: Figure, opts: { height?: number } = {}): string {
  const id = `rr-plot-${process.pid}-${Date.now().toString(36)}-${counter++}`;
  const { layout, config } = withDefaults(fig, opts.height);
  // Plotly's hover labels are text only; a thumbnail needs a small listener of our own.
  const hover = fig.hoverImages
    ? `var im=document.getElementById(${json(`${id}-img`)});` +
      `el.on("plotly_hover",function(d){var c=d.points[0].customdata;if(c){im.src=c;im.style.display="block";}});` +
      `el.on("plotly_unhover",function(){im.style.display="none";});`
    : "";
  const draw = `function draw(){var el=document.getElementById(${json(id)});window.Plotly.newPlot(el,${json(fig.data)},${json(layout)},${json(config)}).then(function(){${hover}});}`;
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
  const img = fig.hoverImages ? `<img id="${id}-img" style="position:absolute;left:60px;top:40px;width:96px;height:96px;border:1px solid #888;background:#fff;display:none"/>` : "";
  return (
    `<div style="position:relative"><div id="${id}" class="rr-plot" style="width:100%;height:${layout.height}px"></div>${img}` +
    `<script type="text/javascript">(function(){${draw}${load}})();</script></div>`
  );
}

/** The display bundle of a figure: plotly's own MIME type (not for hover thumbnails, which only
 * the HTML form draws) and the HTML form. */
export function figureBundle(fig: Figure, height?: number): Record<string, unknown> {
  const { layout, config } = withDefaults(fig, height);
  const title = (layout.title as { text?: string } | string | undefined) ?? "";
  const bundle: Record<string, unknown> = { "text/html": figureHtml(fig, { height }), "text/plain": `<plotly figure${typeof title === "string" ? (title ? `: ${title}` : "") : title.text ? `: ${title.text}` : ""}>` };
  if (!fig.hoverImages) bundle[PLOTLY_MIME] = { data: fig.data, layout, config };
  return bundle;
}

/** Show a figure inline in a notebook; returns false outside a kernel. */
export function showFigure(fig: Figure, height?: number): boolean {
  return showBundle(figureBundle(fig, height));
}

/** A standalone HTML page: one minified plotly inlined in its head, then the figure. */
export function saveFigureHtml(fig: Figure, file: string, title = "retail-repr figure"): void {
  fs.writeFileSync(file, `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title><script type="text/javascript">${plotlyMinBundle()}</script></head><body>${figureHtml(fig)}</body></html>\n`);
}
