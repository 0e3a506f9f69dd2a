// The notebook workbench as a researcher meets it: JupyterLab in Chromium. The test serves the
// repo on 127.0.0.1, opens 02-teacher, runs all its cells through JupyterLab's own "Run All"
// command (smoke profile, fresh runs and datasets), saves, reloads the page, and counts the
// charts plotly drew in the reloaded page: every chart the notebook holds, without re-running.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { ChildProcess, spawn, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as net from "node:net";
import * as os from "node:os";
import * as path from "node:path";
import { installKernel, jupyterEnv } from "../src/jupyter/kernel";
import { getProfile, INIT_ENV, PROFILE_ENV } from "../src/config/profiles";
import { generateAll } from "../src/data/generate";
import { DATASETS_ENV, paths, RUNS_ENV } from "../src/util/paths";
import { Browser, CHROMIUM } from "./browser";

/** A Python with JupyterLab and plotly (whose JupyterLab extension draws plotly's MIME type). */
const LAB_PYTHON = [
  process.env.RETAIL_REPR_PYTHON,
  process.env.VIRTUAL_ENV && path.join(process.env.VIRTUAL_ENV, "bin", "python"),
  "/usr/bin/python3",
].find((p) => p && spawnSync(p, ["-c", "import jupyterlab, plotly"], { stdio: "ignore" }).status === 0);
const LAB_SKIP = !CHROMIUM
  ? "no Chromium here (Debian: apt-get install chromium)"
  : !LAB_PYTHON
    ? "no JupyterLab with plotly here (pip install jupyterlab plotly; RETAIL_REPR_PYTHON or an active virtualenv)"
    : false;

const PLOTLY_MIME = "application/vnd.plotly.v1+json";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** JupyterLab serving the repo, tokenless on 127.0.0.1, its app object exposed to the page
 * (`window.jupyterapp`) so the test can run JupyterLab's own commands. */
async function startLab(env: NodeJS.ProcessEnv, log: string): Promise<{ proc: ChildProcess; url: string }> {
  const port = await freePort();
  const out = fs.openSync(log, "w");
  const proc = spawn(
    LAB_PYTHON!,
    [
      "-m",
      "jupyterlab",
      "--no-browser",
      "--ip=127.0.0.1",
      `--port=${port}`,
      "--allow-root",
      `--ServerApp.root_dir=${paths.root}`,
      "--ServerApp.token=",
      "--ServerApp.password=",
      "--LabApp.expose_app_in_browser=True",
    ],
    { env, stdio: ["ignore", out, out] },
  );
  const url = `http://127.0.0.1:${port}`;
  const t0 = Date.now();
  while (
    !(await fetch(`${url}/api`).then(
      (r) => r.ok,
      () => false,
    ))
  ) {
    if (proc.exitCode !== null || Date.now() - t0 > 120_000)
      throw new Error(
        `JupyterLab did not start (${proc.exitCode === null ? "no answer in 120 s" : `exit ${proc.exitCode}`}):\n${fs.readFileSync(log, "utf8").slice(-3000)}`,
      );
    await new Promise((res) => setTimeout(res, 500));
  }
  return { proc, url };
}

// Expressions evaluated in the page. The notebook panel is found among the main area's widgets
// (a headless page has no focus, so JupyterLab's "current widget" can be unset).
const PANEL = `[...(window.jupyterapp?.shell.widgets("main") ?? [])].find((w) => w.context?.path?.endsWith(".ipynb"))`;
const NOTEBOOK_READY = `(() => { const p = ${PANEL}; const k = p?.sessionContext?.session?.kernel; return !!(p?.content?.model && p.context.isReady && k && k.status === "idle"); })()`;
/** Run All has finished: the kernel idle, the first cell run, none queued ("[*]"). Cells after a
 * failed one are aborted and keep no count, so the test looks for errors next. */
const ALL_RUN = `(() => { const p = ${PANEL}; if (p.sessionContext.session?.kernel?.status !== "idle") return false;
  const cells = [...p.content.widgets].filter((c) => c.model.type === "code");
  return cells[0].model.executionCount !== null && cells.every((c) => c.promptNode?.textContent !== "[*]:"); })()`;
/** What the notebook's model holds: error outputs (with their text) and outputs of plotly's MIME type. */
const OUTPUTS = `(() => { const p = ${PANEL}; const errors = []; let charts = 0;
  for (const c of p.content.widgets) { if (c.model.type !== "code") continue;
    for (let i = 0; i < c.model.outputs.length; i++) { const o = c.model.outputs.get(i).toJSON();
      if (o.output_type === "error") errors.push(o.ename + ": " + o.evalue);
      if (o.data && o.data["${PLOTLY_MIME}"]) charts++; } }
  return { errors, charts }; })()`;
/** Charts plotly has drawn in the page: its graph, with an SVG inside, in plotly's output widget. */
const DRAWN = `[...document.querySelectorAll(".jp-RenderedPlotly")].filter((d) => d.querySelector(".plot-container .main-svg")).length`;
/** plotly's JupyterLab renderer keeps a PNG of each chart in the saved output and, on reopen,
 * shows that picture until the pointer enters it, then draws the live chart: move the pointer
 * over every picture (a mouseenter each), as a reader does. Returns the number of pictures. */
const HOVER_PICTURES = `(() => { const imgs = [...document.querySelectorAll(".jp-RenderedPlotly img.plot-img")].filter((i) => i.style.display !== "none" && i.src.startsWith("data:image/png"));
  for (const i of imgs) i.dispatchEvent(new MouseEvent("mouseenter")); return imgs.length; })()`;

test(
  "JupyterLab: 02-teacher runs all in Chromium; after save and reload every chart is drawn without re-running",
  { skip: LAB_SKIP, timeout: 900_000 },
  async () => {
    installKernel();
    // A copy of the notebook in a folder of its own (it imports the library by its package name).
    const rel = `browser-test-${process.pid}`;
    const dir = path.join(paths.root, rel);
    const state = fs.mkdtempSync(path.join(os.tmpdir(), "rr-lab-"));
    fs.mkdirSync(dir, { recursive: true });
    fs.copyFileSync(path.join(paths.notebooks, "02-teacher.ipynb"), path.join(dir, "02-teacher.ipynb"));
    const env = jupyterEnv({
      [PROFILE_ENV]: "smoke",
      [INIT_ENV]: "",
      [RUNS_ENV]: path.join(state, "runs"),
      [DATASETS_ENV]: path.join(state, "datasets"),
      // JupyterLab's settings and workspaces of its own: no user's state, nothing written to theirs.
      JUPYTERLAB_SETTINGS_DIR: path.join(state, "lab-settings"),
      JUPYTERLAB_WORKSPACES_DIR: path.join(state, "lab-workspaces"),
      JUPYTER_CONFIG_DIR: path.join(state, "jupyter-config"),
    });
    // Every cell stays in the page (JupyterLab's windowing would drop cells scrolled out of view,
    // and their charts with them, which is not what this test is about).
    const settings = path.join(state, "lab-settings", "@jupyterlab", "notebook-extension");
    fs.mkdirSync(settings, { recursive: true });
    fs.writeFileSync(path.join(settings, "tracker.jupyterlab-settings"), JSON.stringify({ windowingMode: "none" }));
    const log = path.join(state, "jupyterlab.log");
    let lab: ChildProcess | undefined;
    let browser: Browser | undefined;
    const saved = { datasets: paths.datasets };
    try {
      // The datasets 01-data makes, made here: 02-teacher starts from them.
      paths.datasets = env[DATASETS_ENV]!;
      await generateAll(getProfile("smoke"), undefined, { quiet: true });
      const started = await startLab(env, log);
      lab = started.proc;
      browser = await Browser.launch();
      const notebookUrl = `${started.url}/lab/tree/${rel}/02-teacher.ipynb`;
      await browser.goto(notebookUrl);
      await browser.waitFor("JupyterLab to open 02-teacher with an idle kernel", NOTEBOOK_READY, 180_000);

      // JupyterLab's commands act on the active notebook.
      await browser.evaluate(`window.jupyterapp.shell.activateById(${PANEL}.id)`);
      await browser.evaluate(`window.jupyterapp.commands.execute("notebook:run-all-cells")`);
      await browser.waitFor("Run All to finish", ALL_RUN, 600_000);
      const ran = await browser.evaluate<{ errors: string[]; charts: number }>(OUTPUTS);
      assert.deepEqual(ran.errors, [], "no cell failed");
      const counts = await browser.evaluate<(number | null)[]>(
        `[...${PANEL}.content.widgets].filter((c) => c.model.type === "code").map((c) => c.model.executionCount)`,
      );
      assert.ok(
        counts.every((n) => n !== null),
        `every cell ran: ${JSON.stringify(counts)}`,
      );
      assert.ok(ran.charts >= 4, `02-teacher draws its batch (similarity, roles, per-anchor loss) and its training: ${ran.charts} charts`);
      assert.equal(await browser.waitFor("every chart drawn", `(${DRAWN}) >= ${ran.charts} && (${DRAWN})`, 60_000), ran.charts);
      // File > Save (docmanager:save) with no current widget: the panel's own save, which it calls.
      await browser.evaluate(`${PANEL}.context.save()`);
      const file = path.join(dir, "02-teacher.ipynb");
      await browser.waitFor("the save", `!${PANEL}.context.model.dirty`, 30_000);
      const saved = JSON.parse(fs.readFileSync(file, "utf8"));
      const savedCharts = saved.cells
        .flatMap((c: { outputs?: { data?: Record<string, unknown> }[] }) => c.outputs ?? [])
        .filter((o: { data?: Record<string, unknown> }) => o.data?.[PLOTLY_MIME]).length;
      assert.equal(savedCharts, ran.charts, "the saved notebook holds every chart");
      assert.ok(fs.statSync(file).size < 1_000_000, `saved 02-teacher.ipynb is ${fs.statSync(file).size} bytes`);

      if (process.env.RR_KEEP) fs.copyFileSync(file, process.env.RR_KEEP);
      // A reload: a fresh page that draws what the saved outputs hold; nothing is run again.
      browser.console.length = 0;
      await browser.reload();
      await browser.waitFor("the reloaded notebook", `${PANEL}?.context?.isReady && ${PANEL}.content.widgets.length > 0`, 180_000);
      await browser.waitFor(
        "every chart's output after the reload",
        `document.querySelectorAll(".jp-RenderedPlotly").length >= ${ran.charts}`,
        120_000,
      );
      const pictures = await browser.evaluate<number>(HOVER_PICTURES);
      const drawn = await browser.waitFor<number>(
        `every chart drawn after the reload (${pictures} shown as plotly's saved picture until hovered)`,
        `(${DRAWN}) >= ${ran.charts} && (${DRAWN})`,
        120_000,
      );
      assert.equal(drawn, ran.charts);
      const after = await browser.evaluate<{ errors: string[]; charts: number }>(OUTPUTS);
      assert.equal(after.charts, ran.charts);
      assert.ok(!browser.console.some((l) => /Plotly is not defined/.test(l)), browser.console.join("\n"));
    } catch (e) {
      (e as Error).message += `\nJupyterLab's log (end):\n${fs.existsSync(log) ? fs.readFileSync(log, "utf8").slice(-2000) : "(none)"}`;
      throw e;
    } finally {
      Object.assign(paths, saved);
      try {
        await browser?.close();
      } finally {
        // The server goes whatever the browser's cleanup did (a failed close left it running).
        lab?.kill("SIGTERM");
        if (lab && lab.exitCode === null) await new Promise((res) => lab!.once("exit", res));
        fs.rmSync(dir, { recursive: true, force: true });
        fs.rmSync(state, { recursive: true, force: true });
      }
    }
  },
);
