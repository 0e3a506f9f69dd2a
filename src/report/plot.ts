// Plotly figures as self-contained HTML. Offline, a CDN script tag renders nothing, so the
// local plotly.js-dist bundle is inlined: once per notebook kernel, once per saved HTML file.
// (`require('plotly.js-dist')` fails in Node, "self is not defined", so we read the file.)
import * as fs from "fs";
import { showHtml } from "./notebook";

export interface Figure {
  data: object[];
  layout?: Record<string, unknown>;
  config?: Record<string, unknown>;
  /** Show the image whose data URI is a hovered point's `customdata` beside the plot. */
  hoverImages?: boolean;
}

let bundle: string | undefined;
function plotlyBundle(): string {
  if (!bundle) bundle = fs.readFileSync(require.resolve("plotly.js-dist/plotly.js"), "utf8");
  return bundle;
}

let counter = 0;
let bundleShown = false;

/** A `<div>` plus the script that draws `fig` into it; the bundle is prepended when asked. */
export function figureHtml(fig: Figure, opts: { withBundle: boolean; height?: number }): string {
  const id = `rr-plot-${process.pid}-${Date.now().toString(36)}-${counter++}`;
  const layout = { height: opts.height ?? 420, margin: { t: 40, l: 50, r: 20, b: 40 }, ...fig.layout };
  // `</script>` inside JSON would end the tag early.
  const json = (v: unknown) => JSON.stringify(v).replace(/<\//g, "<\\/");
  const lib = opts.withBundle ? `<script type="text/javascript">${plotlyBundle()}</script>\n` : "";
  // Plotly's hover labels are text only; a thumbnail needs a small listener of our own.
  const hover = fig.hoverImages
    ? `<img id="${id}-img" style="position:absolute;left:60px;top:40px;width:96px;height:96px;border:1px solid #888;background:#fff;display:none"/>` +
      `<script type="text/javascript">(function(){var el=document.getElementById(${json(id)}),im=document.getElementById(${json(`${id}-img`)});` +
      `el.on("plotly_hover",function(d){var c=d.points[0].customdata;if(c){im.src=c;im.style.display="block";}});` +
      `el.on("plotly_unhover",function(){im.style.display="none";});})();</script>`
    : "";
  return (
    `${lib}<div style="position:relative"><div id="${id}" class="rr-plot" style="width:100%;height:${layout.height}px"></div>\n` +
    `<script type="text/javascript">Plotly.newPlot(${json(id)}, ${json(fig.data)}, ${json(layout)}, ` +
    `${json({ responsive: true, displaylogo: false, ...fig.config })});</script>${hover}</div>`
  );
}

/** Show a figure inline in a notebook; returns false outside a kernel. */
export function showFigure(fig: Figure, height?: number): boolean {
  const html = figureHtml(fig, { withBundle: !bundleShown, height });
  const shown = showHtml(html);
  if (shown) bundleShown = true;
  return shown;
}

/** Write a figure as a standalone HTML page (for reports/ and the CLI). */
export function saveFigureHtml(fig: Figure, file: string, title = "retail-repr figure"): void {
  const body = figureHtml(fig, { withBundle: true });
  fs.writeFileSync(file, `<!doctype html><html><head><meta charset="utf-8"><title>${title}</title></head><body>${body}</body></html>\n`);
}
