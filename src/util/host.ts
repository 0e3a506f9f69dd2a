// The host the library runs in: a tslab notebook kernel or a terminal. Rich output (HTML, images,
// displays updated in place) goes to the notebook when there is one. The library and the notebook
// share one `tslab` module (both resolve it from the repo's node_modules), so library code can
// display directly; outside a kernel tslab throws "Not ready", these helpers return false and
// callers fall back to text.
type Display = { html(s: string): void; text(s: string): void; png(b: Uint8Array): void; jpeg(b: Uint8Array): void };

function tslab(): { display: Display; newDisplay(): Display } | undefined {
  try {
    return require("tslab");
  } catch {
    return undefined;
  }
}

let kernelChecked: boolean | undefined;

/** True when running inside a tslab kernel (a notebook), false in the CLI or tests. */
export function inNotebook(): boolean {
  if (kernelChecked !== undefined) return kernelChecked;
  try {
    const jupyter = require("tslab/dist/jupyter");
    kernelChecked = jupyter.lastWriteDisplayData != null;
  } catch {
    kernelChecked = false;
  }
  return kernelChecked;
}

/** The way out an error names, in the words of where the user is: a command in a terminal, a
 * library call in a notebook (`rr` is the notebooks' name for the library). */
export function wayOut(command: string, call: string): string {
  return inNotebook() ? `\`${call}\`` : `\`${command}\``;
}

export function showHtml(html: string): boolean {
  if (!inNotebook()) return false;
  tslab()!.display.html(html);
  return true;
}

/** One display with several MIME forms of the same thing; the front end draws the richest it
 * can (tslab's own display API sends a single type per output). */
export function showBundle(data: Record<string, unknown>): boolean {
  if (!inNotebook()) return false;
  require("tslab/dist/jupyter").lastWriteDisplayData({ data, metadata: {}, transient: {} }, false);
  return true;
}

/** One output that later calls replace (by display id): a chart redrawn while training runs.
 * Undefined outside a notebook. */
export function liveBundle(): { show(data: Record<string, unknown>): void } | undefined {
  if (!inNotebook()) return undefined;
  const id = require("crypto").randomBytes(8).toString("hex");
  let shown = false;
  return {
    show(data) {
      require("tslab/dist/jupyter").lastWriteDisplayData({ data, metadata: {}, transient: { display_id: id } }, shown);
      shown = true;
    },
  };
}

export function showPng(png: Uint8Array): boolean {
  if (!inNotebook()) return false;
  tslab()!.display.png(png);
  return true;
}

export function showJpeg(jpeg: Uint8Array): boolean {
  if (!inNotebook()) return false;
  tslab()!.display.jpeg(jpeg);
  return true;
}

/** An output cell entry that can be overwritten in place (live progress, growing loss curves). */
export function liveDisplay(): Display | undefined {
  return inNotebook() ? tslab()!.newDisplay() : undefined;
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}
