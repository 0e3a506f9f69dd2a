// The kernel where a user's own Jupyter looks (`retail-repr kernel install`), the package name
// from any folder, and the stale-build check (kernel-setup/freshness.cjs, launch.cjs).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { checkJupyter } from "../src/jupyter/kernel";
import { CHILD } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
  spawnSync(process.execPath, [path.join(ROOT, "bin", "retail-repr.cjs"), ...args], { encoding: "utf8", env, ...CHILD });
const jupyter = checkJupyter();

/** A one-cell notebook: the library by its package name, a profile with an override. */
const NOTEBOOK = {
  cells: [
    {
      cell_type: "code",
      execution_count: null,
      metadata: {},
      outputs: [],
      source: [
        'import * as rr from "retail-repr";\n',
        'const p = rr.profile("smoke", { train: { teacher: { lr: 0.02 } } });\n',
        'console.log(rr.PROFILE_NAMES.join(","), p.train.teacher.lr);',
      ],
    },
  ],
  metadata: {},
  nbformat: 4,
  nbformat_minor: 5,
};

test(
  'kernel install --prefix: `jupyter kernelspec list` lists it, it runs a notebook in a folder outside the repo that imports "retail-repr", and uninstall removes it',
  { skip: jupyter.ok ? false : jupyter.problem, timeout: 300_000 },
  () => {
    const prefix = fs.mkdtempSync(path.join(os.tmpdir(), "rr-prefix-"));
    const name = `rr-test-${process.pid}`;
    const installed = cli(["kernel", "install", "--prefix", prefix, "--name", name]);
    assert.equal(installed.status, 0, installed.stderr);
    const dir = path.join(prefix, "share", "jupyter", "kernels", name);
    assert.match(installed.stdout, new RegExp(`kernel '${name}' installed in ${dir.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    const env = { ...process.env, JUPYTER_PATH: path.join(prefix, "share", "jupyter") };
    const list = () =>
      JSON.parse(spawnSync(jupyter.python, ["-m", "jupyter", "kernelspec", "list", "--json"], { env, encoding: "utf8" }).stdout)
        .kernelspecs as Record<string, { resource_dir: string }>;
    assert.equal(list()[name]?.resource_dir, dir);

    const work = fs.mkdtempSync(path.join(os.tmpdir(), "rr-elsewhere-"));
    fs.writeFileSync(path.join(work, "copied.ipynb"), JSON.stringify(NOTEBOOK));
    const run = spawnSync(
      jupyter.python,
      [
        "-m",
        "nbconvert",
        "--to",
        "notebook",
        "--execute",
        `--ExecutePreprocessor.kernel_name=${name}`,
        "--ExecutePreprocessor.timeout=240",
        "--output",
        "ran.ipynb",
        "copied.ipynb",
      ],
      { cwd: work, env, encoding: "utf8" },
    );
    assert.equal(run.status, 0, run.stderr);
    const outputs = JSON.parse(fs.readFileSync(path.join(work, "ran.ipynb"), "utf8")).cells[0].outputs;
    assert.equal(outputs.map((o: { text?: string[] | string }) => [o.text ?? ""].flat().join("")).join(""), "smoke,cpu,paper 0.02\n");

    const removed = cli(["kernel", "uninstall", "--prefix", prefix, "--name", name]);
    assert.equal(removed.status, 0, removed.stderr);
    assert.equal(list()[name], undefined);
    assert.match(cli(["kernel", "uninstall", "--prefix", prefix, "--name", name]).stderr, /no kernel at /);
    const usage = cli(["kernel", "install", "--user", "--prefix", prefix]);
    assert.equal(usage.status, 2);
    assert.match(usage.stderr, /choose one of --user, --prefix, --sys-prefix/);
    assert.equal(cli(["kernel", "reinstall"]).status, 2);
  },
);

test("a stale build is named, and the kernel's launcher rebuilds it before tslab starts", () => {
  const { staleSources, describeStale } = require(path.join(ROOT, "kernel-setup", "freshness.cjs"));
  const { ensureFresh } = require(path.join(ROOT, "kernel-setup", "launch.cjs"));
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), "rr-stale-"));
  fs.mkdirSync(path.join(repo, "src", "sub"), { recursive: true });
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(repo, "node_modules"));
  fs.writeFileSync(
    path.join(repo, "tsconfig.json"),
    JSON.stringify({ compilerOptions: { outDir: "dist", rootDir: ".", module: "commonjs", target: "es2020" }, include: ["src"] }),
  );
  fs.writeFileSync(path.join(repo, "src", "a.ts"), "export const a: number = 1;\n");
  fs.writeFileSync(path.join(repo, "src", "sub", "b.ts"), "export const b = 2;\n");
  assert.deepEqual(staleSources(repo).sort(), ["src/a.ts", path.join("src", "sub", "b.ts")].sort(), "never built");
  assert.equal(ensureFresh(repo), undefined, "rebuilt");
  assert.deepEqual(staleSources(repo), []);
  const later = new Date(Date.now() + 5_000);
  fs.utimesSync(path.join(repo, "src", "a.ts"), later, later);
  assert.deepEqual(staleSources(repo), ["src/a.ts"]);
  assert.equal(describeStale(staleSources(repo)), "dist/ is older than src/ (src/a.ts)");
  // The CLI says so too, on stderr, for its own checkout.
  const src = path.join(ROOT, "src", "index.ts");
  const t = fs.statSync(src);
  try {
    fs.utimesSync(src, t.atime, new Date(Date.now() + 60_000));
    assert.match(cli(["--version"]).stderr, /warning: dist\/ is older than src\/ \(src\/index\.ts\); this runs the old build/);
  } finally {
    fs.utimesSync(src, t.atime, t.mtime);
  }
});
