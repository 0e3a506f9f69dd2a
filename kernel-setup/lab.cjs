#!/usr/bin/env node
// `npm run lab`: JupyterLab wherever it is installed (src/jupyter/lab.ts says where it looks),
// else the classic Notebook, on 127.0.0.1, with the project's kernel visible and the repo as the
// root folder (the charts load plotly.js from it).
const { spawn } = require("child_process");
const path = require("path");
const j = require(path.join(__dirname, "..", "dist", "src", "jupyter", "kernel.js"));
const { chooseJupyter, machineProbe, LAB_HINT } = require(path.join(__dirname, "..", "dist", "src", "jupyter", "lab.js"));
const { paths } = require(path.join(__dirname, "..", "dist", "src", "util", "paths.js"));

if (!j.kernelInstalled()) j.installKernel();
const choice = chooseJupyter(machineProbe(), paths.root, process.argv.slice(2));
if (!choice) {
  console.error(`no JupyterLab or Jupyter Notebook found. ${LAB_HINT}; or on Debian/Ubuntu \`sudo apt-get install jupyter-notebook\`.`);
  process.exit(1);
}
console.log(`${choice.why}${choice.args.includes("--allow-root") ? " (as root: --allow-root)" : ""}`);
console.log(`starting: ${choice.command} ${choice.args.join(" ")}`);
const child = spawn(choice.command, choice.args, { stdio: "inherit", env: j.jupyterEnv() });
child.on("exit", (code) => process.exit(code ?? 0));
