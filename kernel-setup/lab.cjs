#!/usr/bin/env node
// `npm run lab`: JupyterLab if installed, else the classic Notebook, on 127.0.0.1, with the
// project's kernel visible and the repo as the root folder.
const { spawn } = require("child_process");
const path = require("path");
const j = require(path.join(__dirname, "..", "dist", "src", "notebooks", "jupyter.js"));
const { paths } = require(path.join(__dirname, "..", "dist", "src", "util", "paths.js"));

if (!j.kernelInstalled()) j.installKernel();
const check = j.checkJupyter();
if (!check.ok || !(check.lab || check.notebook)) {
  console.error(check.problem || `no JupyterLab or Notebook for ${check.python}. ${j.JUPYTER_INSTALL_HINT}`);
  process.exit(1);
}
const app = check.lab ? "lab" : "notebook";
const args = ["-m", "jupyter", app, "--ip=127.0.0.1", "--no-browser", `--notebook-dir=${paths.root}`, ...process.argv.slice(2)];
console.log(`starting: ${check.python} ${args.join(" ")}`);
const child = spawn(check.python, args, { stdio: "inherit", env: j.jupyterEnv() });
child.on("exit", (code) => process.exit(code ?? 0));
