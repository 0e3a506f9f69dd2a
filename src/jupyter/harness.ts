// The notebook harness: execute notebooks headless under a profile, write executed copies and
// HTML to reports/notebooks/<profile>/, and fail with the failing cell's own message.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { INIT_ENV, ProfileName, PROFILE_ENV } from "../config/profiles";
import { CONFIG_ENV, Overrides, SET_ENV } from "../config/overrides";
import { ensureDir, paths, writeJsonAtomic } from "../util/paths";
import { hashOf, keptResult } from "../util/fingerprint";
import { checkJupyter, installKernel, jupyterEnv, KERNEL_NAME } from "./kernel";

export interface NotebookRun {
  notebook: string;
  ok: boolean;
  seconds: number;
  html: string;
  message?: string;
  /** Not executed: its source, the library and its inputs are those of its last run. */
  reused?: boolean;
  /** Results computed, but the executed notebook is over its size budget (with `oversize: "warn"`). */
  warning?: string;
}

export function listNotebooks(only: string[] = []): string[] {
  const all = fs
    .readdirSync(paths.notebooks)
    .filter((f) => f.endsWith(".ipynb"))
    .sort();
  if (only.length === 0) return all.map((f) => path.join(paths.notebooks, f));
  return only.map((o) => {
    const hit = all.find((f) => f === o || f.startsWith(o));
    if (!hit) throw new Error(`no notebook matches '${o}' in ${paths.notebooks} (have: ${all.join(", ")})`);
    return path.join(paths.notebooks, hit);
  });
}

/** Where a notebook's last successful run under `reproduce` records what it was made from. */
export function notebookStamp(profile: string, notebook: string): string {
  return path.join(paths.reports, "notebooks", profile, `${path.basename(notebook, ".ipynb")}.inputs.json`);
}

/** The compiled library's fingerprint: a notebook's output depends on it. */
function libraryFingerprint(): string {
  const files: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const f = path.join(d, e.name);
      if (e.isDirectory()) walk(f);
      else if (f.endsWith(".js")) files.push(f);
    }
  };
  walk(path.join(paths.root, "dist", "src"));
  return hashOf(
    files
      .sort()
      .map((f) => hashOf(fs.readFileSync(f, "latin1")))
      .join(""),
  );
}

/** What an executed notebook may weigh: it is a file people save, diff and commit. 02-teacher,
 * the step-by-step one, is held to 1 MB; the galleries of 01-data need more. */
export const NOTEBOOK_SIZE_LIMIT: Record<string, number> = { "02-teacher": 1e6 };
export const DEFAULT_SIZE_LIMIT = 2 * 2 ** 20;

function oversized(file: string, name: string): string | undefined {
  const limit = NOTEBOOK_SIZE_LIMIT[name] ?? DEFAULT_SIZE_LIMIT;
  const size = fs.existsSync(file) ? fs.statSync(file).size : 0;
  return size > limit
    ? `${name}.ipynb is ${(size / 1e6).toFixed(2)} MB executed, over its ${(limit / 1e6).toFixed(2)} MB: an output too large for a notebook people save (draw less, or show it in the HTML report only)`
    : undefined;
}

/** `inputs`: what the notebooks' results are made from (e.g. the metrics' inputs). With it, a
 * notebook whose source, library and inputs are those of its last successful run is not run
 * again (reproduce's second run); without it, every notebook runs (tests). `oversize`: a notebook
 * over its size budget fails the run ("fail", the tests and `notebooks`), or is reported as a
 * warning beside its results ("warn", `reproduce`: a finished reproduction is not thrown away). */
export function runNotebooks(opts: {
  profile: ProfileName;
  init?: string;
  only?: string[];
  timeoutSec?: number;
  log?: (s: string) => void;
  inputs?: unknown;
  oversize?: "fail" | "warn";
  /** Profile values the command was run with (`--set`, `--config`): the notebooks get them too. */
  overrides?: Overrides;
}): NotebookRun[] {
  const log = opts.log ?? ((s: string) => console.log(s));
  const check = checkJupyter();
  if (!check.ok) throw new Error(check.problem);
  installKernel(); // cheap, and keeps the launcher pointing at this checkout
  const outDir = ensureDir(path.join(paths.reports, "notebooks", opts.profile));
  const runs: NotebookRun[] = [];
  const library = opts.inputs === undefined ? "" : libraryFingerprint();
  for (const nb of listNotebooks(opts.only)) {
    const name = path.basename(nb, ".ipynb");
    const t0 = Date.now();
    const stamp = notebookStamp(opts.profile, nb);
    const made =
      opts.inputs === undefined ? undefined : { source: hashOf(fs.readFileSync(nb, "utf8")), library, inputs: hashOf(opts.inputs) };
    const kept = made ? keptResult<{ warning?: string }>(stamp, made) : undefined;
    const last = kept && "result" in kept ? kept.result : undefined;
    if (last && fs.existsSync(path.join(outDir, `${name}.html`))) {
      log(
        `notebook ${name} [${opts.profile}]: unchanged since its last run -> ${path.relative(paths.root, path.join(outDir, name + ".html"))}`,
      );
      if (last.warning) log(`  warning: ${last.warning}`);
      runs.push({ notebook: name, ok: true, seconds: 0, reused: true, html: path.join(outDir, `${name}.html`), warning: last.warning });
      continue;
    }
    fs.rmSync(stamp, { force: true });
    log(`notebook ${name} [${opts.profile}] ...`);
    const r = spawnSync(
      check.python,
      [
        paths.executeScript,
        nb,
        outDir,
        "--kernel",
        KERNEL_NAME,
        "--timeout",
        String(opts.timeoutSec ?? 1800),
        "--plotly",
        require.resolve("plotly.js-cartesian-dist-min/plotly-cartesian.min.js"),
      ],
      {
        env: jupyterEnv({
          [PROFILE_ENV]: opts.profile,
          ...(opts.init ? { [INIT_ENV]: opts.init } : {}),
          ...(opts.overrides && Object.keys(opts.overrides).length ? { [CONFIG_ENV]: JSON.stringify(opts.overrides), [SET_ENV]: "" } : {}),
        }),
        encoding: "utf8",
        maxBuffer: 64 << 20,
      },
    );
    const seconds = (Date.now() - t0) / 1000;
    const tooLarge = r.status === 0 ? oversized(path.join(outDir, `${name}.ipynb`), name) : undefined;
    const warning = opts.oversize === "warn" ? tooLarge : undefined;
    const ok = r.status === 0 && (!tooLarge || warning !== undefined);
    const message = ok ? undefined : (tooLarge ?? (r.stderr || r.error?.message || `exit ${r.status}`)).trim();
    const html = path.join(outDir, `${name}.html`);
    runs.push({ notebook: name, ok, seconds, html, message, warning });
    if (ok && made) writeJsonAtomic(stamp, { inputs: made, result: warning ? { warning } : {} });
    log(
      ok
        ? `  ok in ${seconds.toFixed(1)}s -> ${path.relative(paths.root, html)}${warning ? `\n  warning: ${warning}` : ""}`
        : `  FAILED in ${seconds.toFixed(1)}s\n${message}`,
    );
  }
  return runs;
}
