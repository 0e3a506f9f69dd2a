// The notebook harness: execute notebooks headless under a profile, write executed copies and
// HTML to reports/notebooks/<profile>/, and fail with the failing cell's own message.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ProfileName, PROFILE_ENV } from "../config/profiles";
import { ensureDir, paths } from "../util/paths";
import { checkJupyter, installKernel, jupyterEnv, KERNEL_NAME } from "./jupyter";

export interface NotebookRun {
  notebook: string;
  ok: boolean;
  seconds: number;
  html: string;
  message?: string;
}

export function listNotebooks(only: string[] = []): string[] {
  const all = fs.readdirSync(paths.notebooks).filter((f) => f.endsWith(".ipynb")).sort();
  if (only.length === 0) return all.map((f) => path.join(paths.notebooks, f));
  return only.map((o) => {
    const hit = all.find((f) => f === o || f.startsWith(o));
    if (!hit) throw new Error(`no notebook matches '${o}' in ${paths.notebooks} (have: ${all.join(", ")})`);
    return path.join(paths.notebooks, hit);
  });
}

export function runNotebooks(opts: { profile: ProfileName; only?: string[]; timeoutSec?: number; log?: (s: string) => void }): NotebookRun[] {
  const log = opts.log ?? ((s: string) => console.log(s));
  const check = checkJupyter();
  if (!check.ok) throw new Error(check.problem);
  installKernel(); // cheap, and keeps the launcher pointing at this checkout
  const outDir = ensureDir(path.join(paths.reports, "notebooks", opts.profile));
  const runs: NotebookRun[] = [];
  for (const nb of listNotebooks(opts.only)) {
    const name = path.basename(nb, ".ipynb");
    const t0 = Date.now();
    log(`notebook ${name} [${opts.profile}] ...`);
    const r = spawnSync(
      check.python,
      [paths.executeScript, nb, outDir, "--kernel", KERNEL_NAME, "--timeout", String(opts.timeoutSec ?? 1800)],
      { env: jupyterEnv({ [PROFILE_ENV]: opts.profile }), encoding: "utf8", maxBuffer: 64 << 20 },
    );
    const seconds = (Date.now() - t0) / 1000;
    const ok = r.status === 0;
    const message = ok ? undefined : (r.stderr || r.error?.message || `exit ${r.status}`).trim();
    runs.push({ notebook: name, ok, seconds, html: path.join(outDir, `${name}.html`), message });
    log(ok ? `  ok in ${seconds.toFixed(1)}s -> ${path.relative(paths.root, path.join(outDir, name + ".html"))}` : `  FAILED in ${seconds.toFixed(1)}s\n${message}`);
  }
  return runs;
}
