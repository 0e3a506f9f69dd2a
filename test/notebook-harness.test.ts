import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { checkJupyter, installKernel, jupyterEnv, KERNEL_NAME, TSLAB_SHUTDOWN_RACE } from "../src/jupyter/kernel";
import { paths } from "../src/util/paths";
import { CHILD } from "./helpers";
import { CHROMIUM } from "./browser";

function execute(fixture: string, extra: string[] = []) {
  const check = checkJupyter();
  assert.ok(check.ok, check.problem);
  installKernel();
  const out = fs.mkdtempSync(path.join(os.tmpdir(), "rr-nb-"));
  const r = spawnSync(
    check.python,
    [paths.executeScript, path.join(paths.root, "test", "fixtures", fixture), out, "--kernel", KERNEL_NAME, ...extra],
    {
      env: jupyterEnv(),
      encoding: "utf8",
      ...CHILD,
    },
  );
  return { ...r, out };
}

test("a throwing cell fails the run with the cell's number and its own message", () => {
  const r = execute("throws.ipynb");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /throws: cell 2 \(`throw new Error/);
  assert.match(r.stderr, /the cell says: bad input in widgets\.csv/);
  // The executed copy and its HTML are written even when a cell fails.
  assert.ok(fs.existsSync(path.join(r.out, "throws.ipynb")));
  assert.ok(fs.readFileSync(path.join(r.out, "throws.html"), "utf8").includes("before"));
});

test("an error thrown in a timer, which tslab hides from nbconvert, fails the run", () => {
  const r = execute("timer-error.ipynb");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /thrown outside any cell/);
  assert.match(r.stderr, /late failure in a timer/);
});

test("the kernel launcher ignores only tslab's own 'Socket is closed' at shutdown", () => {
  const isRace = new Function(`return ${TSLAB_SHUTDOWN_RACE}`)() as (e: unknown) => boolean;
  const err = (message: string, frame: string) => Object.assign(new Error(message), { stack: `Error: ${message}\n    at ${frame}` });
  assert.equal(isRace(err("Socket is closed", "/repo/node_modules/tslab/dist/jupyter.js:510:33")), true);
  assert.equal(isRace(err("Socket is closed", "/repo/notebooks/cell.ts:3:9")), false, "the same message from notebook code still counts");
  assert.equal(isRace(err("bad input in widgets.csv", "/repo/node_modules/tslab/dist/jupyter.js:510:33")), false);
  assert.equal(isRace(undefined), false);
});

test("npm run lab: JupyterLab first (RETAIL_REPR_PYTHON, a virtualenv, jupyter-lab on PATH), the Notebook as fallback, --allow-root as root", async () => {
  const { chooseJupyter } = await import("../src/jupyter/lab");
  const probe = (o: { env?: NodeJS.ProcessEnv; uid?: number; path?: Record<string, string>; modules?: Record<string, string[]> }) => ({
    env: o.env ?? {},
    uid: o.uid ?? 1000,
    which: (n: string) => o.path?.[n],
    hasModule: (py: string, m: string) => (o.modules?.[py] ?? []).includes(m),
  });
  const sys = { "/usr/bin/python3": ["notebook"] };
  const venv = chooseJupyter(probe({ env: { VIRTUAL_ENV: "/v" }, modules: { ...sys, "/v/bin/python": ["jupyterlab"] } }), "/repo");
  assert.equal(venv?.app, "lab");
  assert.equal(venv?.command, "/v/bin/python");
  assert.deepEqual(venv?.args.slice(0, 4), ["-m", "jupyterlab", "--ip=127.0.0.1", "--no-browser"]);
  assert.equal(
    chooseJupyter(
      probe({
        env: { RETAIL_REPR_PYTHON: "/p/python", VIRTUAL_ENV: "/v" },
        modules: { "/p/python": ["jupyterlab"], "/v/bin/python": ["jupyterlab"] },
      }),
      "/repo",
    )?.command,
    "/p/python",
  );
  const onPath = chooseJupyter(probe({ path: { "jupyter-lab": "/opt/bin/jupyter-lab" }, modules: sys }), "/repo");
  assert.equal(onPath?.command, "/opt/bin/jupyter-lab");
  const classic = chooseJupyter(probe({ modules: sys, uid: 0 }), "/repo");
  assert.equal(classic?.app, "notebook");
  assert.ok(classic?.args.includes("--allow-root"));
  assert.match(classic!.why, /no JupyterLab found, so the classic Notebook .*pip install jupyterlab plotly/);
  assert.ok(!venv!.args.includes("--allow-root"));
  assert.equal(chooseJupyter(probe({}), "/repo"), undefined);
});

const PLOTLY_MIN = require.resolve("plotly.js-cartesian-dist-min/plotly-cartesian.min.js");
let charts: ReturnType<typeof execute> | undefined;
const chartsRun = () => (charts ??= execute("charts.ipynb", ["--plotly", PLOTLY_MIN]));

test("charts: one display with plotly's MIME type and an HTML fallback, a few KB each in the saved notebook; the report inlines one minified plotly and no system paths", () => {
  const r = chartsRun();
  assert.equal(r.status, 0, r.stderr);
  const saved = fs.readFileSync(path.join(r.out, "charts.ipynb"), "utf8");
  assert.ok(saved.length < 50_000, `saved notebook ${saved.length} bytes`);
  const outputs = JSON.parse(saved)
    .cells.flatMap((c: { outputs: { output_type: string; data?: Record<string, unknown> }[] }) => c.outputs)
    .filter((o: { output_type: string }) => o.output_type === "display_data");
  assert.equal(outputs.length, 2);
  for (const o of outputs) {
    assert.ok(o.data!["application/vnd.plotly.v1+json"], "plotly's own MIME type");
    assert.match(String(o.data!["text/html"]), /rr-plot/);
    assert.doesNotMatch(String(o.data!["text/html"]), /Copyright|plotly\.js v\d/, "no plotly bundle inside a chart");
    assert.doesNotMatch(String(o.data!["text/html"]), /"y":/, "the data is saved once, in the plotly form, not again in the HTML form");
    assert.ok(JSON.stringify(o).length < 200_000);
  }
  const html = fs.readFileSync(path.join(r.out, "charts.html"), "utf8");
  assert.ok(html.length <= 5_000_000, `report ${html.length} bytes`);
  const head = fs.readFileSync(PLOTLY_MIN, "utf8").slice(0, 60);
  assert.equal(html.split(head).length - 1, 1, "exactly one plotly bundle in the report");
  assert.doesNotMatch(html, /file:\/\/|\/usr\/share\//);
  assert.match(html, /"y": \[3, 1, 2\]/, "the report holds the chart's data beside its script");
});

const chromium = CHROMIUM;
test(
  "charts: the exported report draws every chart in headless Chromium, offline",
  { skip: chromium ? false : "no Chromium here (Debian: apt-get install chromium)" },
  () => {
    const r = chartsRun();
    const dom = spawnSync(
      chromium!,
      [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--virtual-time-budget=5000",
        "--dump-dom",
        `file://${path.join(r.out, "charts.html")}`,
      ],
      { encoding: "utf8", timeout: 60_000, maxBuffer: 64 << 20 },
    );
    assert.equal(dom.status, 0, dom.stderr);
    const drawn = dom.stdout.match(/class="rr-plot[^"]*js-plotly-plot/g) ?? [];
    assert.equal(drawn.length, 2, "both charts drawn by plotly");
    assert.ok((dom.stdout.match(/class="main-svg"/g) ?? []).length >= 2);
  },
);

/** Serve the repo with the classic Notebook on a free port, open the executed charts notebook the
 * way a reload does (a fresh page, no kernel), and count the charts plotly drew. */
async function chartsDrawnInNotebook(command: string, args: string[]): Promise<number> {
  const { spawn } = await import("node:child_process");
  const r = chartsRun();
  const rel = path.join("reports", `browser-test-${process.pid}`);
  const dir = path.join(paths.root, rel);
  fs.mkdirSync(dir, { recursive: true });
  fs.copyFileSync(path.join(r.out, "charts.ipynb"), path.join(dir, "charts.ipynb"));
  const port = 20000 + (process.pid % 20000);
  const tokenless = ["--NotebookApp.token=", "--NotebookApp.password="];
  const server = spawn(
    command,
    [...args, "--no-browser", "--ip=127.0.0.1", `--port=${port}`, "--allow-root", `--notebook-dir=${paths.root}`, ...tokenless],
    { env: jupyterEnv(), stdio: "ignore" },
  );
  try {
    for (let i = 0; i < 60; i++) {
      const up = await fetch(`http://127.0.0.1:${port}/api`).then(
        (x) => x.ok,
        () => false,
      );
      if (up) break;
      await new Promise((res) => setTimeout(res, 500));
    }
    const url = `http://127.0.0.1:${port}/notebooks/${rel}/charts.ipynb`;
    const dom = spawnSync(chromium!, ["--headless", "--no-sandbox", "--disable-gpu", "--virtual-time-budget=30000", "--dump-dom", url], {
      encoding: "utf8",
      timeout: 120_000,
      maxBuffer: 64 << 20,
    });
    return (dom.stdout.match(/<div[^>]*class="[^"]*js-plotly-plot/g) ?? []).length;
  } finally {
    server.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const classic = checkJupyter();
test(
  "charts survive a reload in the classic Notebook: a fresh page draws them without the kernel",
  {
    skip: !chromium
      ? "no Chromium here (Debian: apt-get install chromium)"
      : !classic.notebook
        ? `no classic Notebook for ${classic.python}`
        : false,
  },
  async () => {
    assert.equal(await chartsDrawnInNotebook(classic.python, ["-m", "notebook"]), 2);
  },
);
// JupyterLab: lab.test.ts runs 02-teacher in it, reloads, and finds every chart drawn.
