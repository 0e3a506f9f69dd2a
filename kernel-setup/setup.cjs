#!/usr/bin/env node
// `npm run setup` (after `npm run build`): patch tslab (see kernel-setup/*.patch), register the project's tslab kernel in
// kernel-setup/jupyter/, check that Jupyter + nbconvert are reachable, build the native library.
const path = require("path");
const { installKernel, checkJupyter, KERNEL_NAME } = require(path.join(__dirname, "..", "dist", "src", "jupyter", "kernel.js"));
const { paths } = require(path.join(__dirname, "..", "dist", "src", "util", "paths.js"));

const { applyTslabPatch } = require(path.join(__dirname, "..", "dist", "src", "jupyter", "tslab-patch.js"));
console.log(`tslab patch (kernel-setup/tslab-1.0.22.patch): ${applyTslabPatch()}`);
const dir = installKernel();
console.log(`kernel '${KERNEL_NAME}' written to ${dir}`);
const check = checkJupyter();
if (check.ok) {
  const ui = check.lab ? "JupyterLab" : check.notebook ? "Jupyter Notebook" : "no notebook UI (nbconvert only)";
  console.log(`jupyter: ${check.python} with nbconvert ${check.nbconvert}; ${ui}`);
  console.log(`list kernels with: JUPYTER_PATH=${paths.jupyterData} ${check.python} -m jupyter kernelspec list`);
} else {
  console.warn(`warning: ${check.problem}`);
  console.warn("The library and CLI work without Jupyter; notebooks and `npm test`'s notebook step need it.");
}

// Compile the native convolution library now (it would be on first use) and say which engine
// training will run on.
const { loadNative } = require(path.join(__dirname, "..", "dist", "src", "engine", "native.js"));
const native = loadNative();
if (native.ok) console.log(`native convolutions: ${native.detail}`);
else console.warn(`native convolutions off (training falls back to XNNPACK alone, ~5x slower): ${native.why}`);
