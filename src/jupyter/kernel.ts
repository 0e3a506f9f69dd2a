// The project's Jupyter kernel (tslab). `npm run setup` registers it in a project-local data dir,
// which every Jupyter process we start finds through JUPYTER_PATH (absolute: a relative path
// breaks {resource_dir}); `retail-repr kernel install` puts it where the user's own Jupyter looks.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { ensureDir, paths } from "../util/paths";

export const KERNEL_NAME = "retail-repr-ts";

export const JUPYTER_INSTALL_HINT =
  "Install Jupyter and nbconvert: on Debian/Ubuntu `sudo apt-get install jupyter-notebook python3-nbconvert`; " +
  "elsewhere `python3 -m pip install jupyterlab nbconvert`. Set RETAIL_REPR_PYTHON to the python that has them.";

/** The python that has Jupyter: RETAIL_REPR_PYTHON, else Debian's, else the first on PATH. */
export function findPython(): string {
  if (process.env.RETAIL_REPR_PYTHON) return process.env.RETAIL_REPR_PYTHON;
  for (const p of ["/usr/bin/python3", "python3"]) {
    if (spawnSync(p, ["-c", "import nbconvert, nbclient"], { stdio: "ignore" }).status === 0) return p;
  }
  return "/usr/bin/python3";
}

export interface JupyterCheck {
  ok: boolean;
  python: string;
  nbconvert?: string;
  lab: boolean;
  notebook: boolean;
  problem?: string;
}

export function checkJupyter(python = findPython()): JupyterCheck {
  const probe = spawnSync(
    python,
    [
      "-c",
      "import importlib.util as u, nbconvert, nbclient; print(nbconvert.__version__, bool(u.find_spec('jupyterlab')), bool(u.find_spec('notebook')))",
    ],
    { encoding: "utf8" },
  );
  if (probe.error || probe.status !== 0) {
    const why = probe.error ? probe.error.message : probe.stderr.trim().split("\n").pop();
    return {
      ok: false,
      python,
      lab: false,
      notebook: false,
      problem: `${python} has no nbconvert/nbclient (${why}). ${JUPYTER_INSTALL_HINT}`,
    };
  }
  const [nbconvert, lab, notebook] = probe.stdout.trim().split(" ");
  return { ok: true, python, nbconvert, lab: lab === "True", notebook: notebook === "True" };
}

/** Where a kernelspec goes: the project's own Jupyter dir (what `npm run lab` and the harness
 * use), the user's Jupyter data dir, or a prefix's share/jupyter (a virtualenv, JupyterHub). */
export type KernelPlace = { project: true } | { user: true } | { prefix: string } | { sysPrefix: true };

/** The kernels/ folder of a place (`jupyter kernelspec install`'s rules: --user is Jupyter's
 * data dir, --prefix DIR is DIR/share/jupyter, --sys-prefix is Jupyter's python's prefix). */
export function kernelsDir(place: KernelPlace, python = findPython()): string {
  if ("project" in place) return path.join(paths.jupyterData, "kernels");
  if ("prefix" in place) return path.join(path.resolve(place.prefix), "share", "jupyter", "kernels");
  const ask = (code: string) => {
    const r = spawnSync(python, ["-c", code], { encoding: "utf8" });
    return r.status === 0 ? r.stdout.trim() : undefined;
  };
  if ("sysPrefix" in place) {
    const prefix = ask("import sys; print(sys.prefix)");
    if (!prefix) throw new Error(`--sys-prefix: ${python} did not run (set RETAIL_REPR_PYTHON to the python that has Jupyter)`);
    return path.join(prefix, "share", "jupyter", "kernels");
  }
  const data = ask("from jupyter_core.paths import jupyter_data_dir; print(jupyter_data_dir())") ?? userDataDirByRule();
  return path.join(data, "kernels");
}

/** Jupyter's user data dir by its documented rule, for a machine where its python is absent. */
function userDataDirByRule(): string {
  if (process.env.JUPYTER_DATA_DIR) return process.env.JUPYTER_DATA_DIR;
  const home = require("os").homedir();
  if (process.platform === "darwin") return path.join(home, "Library", "Jupyter");
  if (process.platform === "win32") return path.join(process.env.APPDATA ?? home, "jupyter");
  return path.join(process.env.XDG_DATA_HOME ?? path.join(home, ".local", "share"), "jupyter");
}

/** Write <kernels>/<name>/{kernel.json,launcher.cjs}; returns the kernel's folder. The launcher
 * starts kernel-setup/launch.cjs of this checkout (rebuild when stale, the package name). */
export function installKernel(opts: { place?: KernelPlace; name?: string; displayName?: string } = {}): string {
  const name = opts.name ?? KERNEL_NAME;
  if (!/^[a-zA-Z0-9._-]+$/.test(name)) throw new Error(`--name '${name}': a kernel name is letters, digits, '.', '_' and '-' only`);
  const dir = ensureDir(path.join(kernelsDir(opts.place ?? { project: true }), name));
  fs.writeFileSync(path.join(dir, "launcher.cjs"), launcherSource());
  const spec = {
    argv: [process.execPath, "{resource_dir}/launcher.cjs", "kernel", "--config-path", "{connection_file}"],
    display_name: opts.displayName ?? (name === KERNEL_NAME ? "TypeScript (retail-repr)" : `TypeScript (retail-repr, ${name})`),
    language: "typescript",
    metadata: { "retail-repr": { repo: paths.root } },
  };
  fs.writeFileSync(path.join(dir, "kernel.json"), JSON.stringify(spec, null, 2) + "\n");
  return dir;
}

/** Remove a kernel this project installed; refuses a folder whose kernel.json is not ours. */
export function uninstallKernel(opts: { place?: KernelPlace; name?: string } = {}): string {
  const dir = path.join(kernelsDir(opts.place ?? { project: true }), opts.name ?? KERNEL_NAME);
  const spec = path.join(dir, "kernel.json");
  if (!fs.existsSync(spec)) throw new Error(`no kernel at ${dir} (\`jupyter kernelspec list\` shows where kernels are)`);
  const ours = JSON.parse(fs.readFileSync(spec, "utf8"))?.metadata?.["retail-repr"];
  if (!ours) throw new Error(`${spec} was not installed by retail-repr; leaving it (remove it with \`jupyter kernelspec remove\`)`);
  fs.rmSync(dir, { recursive: true, force: true });
  return dir;
}

/** tslab only prints errors thrown in timers or unawaited promises to the kernel's stderr,
 * which no cell shows; the harness names a file in KERNEL_ERRORS_ENV and fails on its content. */
export const KERNEL_ERRORS_ENV = "RETAIL_REPR_KERNEL_ERRORS";

/** JavaScript source of a predicate: is this error tslab's own zeromq loop (heartbeat, shell)
 * rejecting "Socket is closed" while the kernel shuts down? A race inside tslab, seen once in a
 * cpu-profile run after every cell had finished; it is not an error of the notebook. */
export const TSLAB_SHUTDOWN_RACE = `(e) => !!e && e.message === "Socket is closed" && /tslab[\\/]dist[\\/]jupyter\\.js/.test(e.stack || "")`;

function launcherSource(): string {
  return `// Written by retail-repr (kernel install / npm run setup): starts this checkout's kernel.
const file = process.env.${KERNEL_ERRORS_ENV};
if (file) {
  const fs = require("fs");
  const shutdownRace = ${TSLAB_SHUTDOWN_RACE};
  const record = (kind, e) => shutdownRace(e) || fs.appendFileSync(file, kind + ": " + ((e && e.stack) || String(e)) + "\\n");
  process.on("uncaughtException", (e) => record("uncaught exception", e));
  process.on("unhandledRejection", (e) => record("unhandled rejection", e));
}
require(${JSON.stringify(path.join(paths.root, "kernel-setup", "launch.cjs"))}).start({ repo: ${JSON.stringify(paths.root)} });
`;
}

export function jupyterEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const prior = process.env.JUPYTER_PATH;
  return { ...process.env, JUPYTER_PATH: prior ? `${paths.jupyterData}${path.delimiter}${prior}` : paths.jupyterData, ...extra };
}

export function kernelInstalled(): boolean {
  return fs.existsSync(path.join(paths.jupyterData, "kernels", KERNEL_NAME, "kernel.json"));
}
