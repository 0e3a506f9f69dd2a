// `npm run lab`: which Jupyter to start. JupyterLab first, wherever it is: the python named by
// RETAIL_REPR_PYTHON, an active virtualenv, a `jupyter-lab` on PATH, then the system's python;
// the classic Notebook only where no JupyterLab exists. As root, Jupyter refuses to start
// without --allow-root, so that is added there (and said).
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";

export interface LabChoice {
  app: "lab" | "notebook";
  command: string;
  args: string[];
  /** Why this one, for the start-up line. */
  why: string;
}

export interface LabProbe {
  env: NodeJS.ProcessEnv;
  uid: number;
  /** The executable `name` on PATH, or undefined. */
  which(name: string): string | undefined;
  /** Can `python` import `module`? */
  hasModule(python: string, module: string): boolean;
}

export const LAB_HINT =
  "JupyterLab with plotly's chart extension: `python3 -m venv ~/jlab && ~/jlab/bin/pip install jupyterlab plotly`, then `source ~/jlab/bin/activate` (or set RETAIL_REPR_PYTHON=~/jlab/bin/python) before `npm run lab`";

export function chooseJupyter(probe: LabProbe, root: string, extra: string[] = []): LabChoice | undefined {
  const common = ["--ip=127.0.0.1", "--no-browser", `--notebook-dir=${root}`, ...(probe.uid === 0 ? ["--allow-root"] : []), ...extra];
  const pythons: [string, string][] = [];
  if (probe.env.RETAIL_REPR_PYTHON) pythons.push([probe.env.RETAIL_REPR_PYTHON, "RETAIL_REPR_PYTHON"]);
  if (probe.env.VIRTUAL_ENV)
    pythons.push([path.join(probe.env.VIRTUAL_ENV, "bin", "python"), `the active virtualenv ${probe.env.VIRTUAL_ENV}`]);
  for (const [py, why] of pythons)
    if (probe.hasModule(py, "jupyterlab"))
      return { app: "lab", command: py, args: ["-m", "jupyterlab", ...common], why: `JupyterLab from ${why}` };
  const labExe = probe.which("jupyter-lab");
  if (labExe) return { app: "lab", command: labExe, args: common, why: `JupyterLab: ${labExe}` };
  for (const py of ["python3", "/usr/bin/python3"]) {
    const exe = py.startsWith("/") ? py : probe.which(py);
    if (exe && probe.hasModule(exe, "jupyterlab"))
      return { app: "lab", command: exe, args: ["-m", "jupyterlab", ...common], why: `JupyterLab from ${exe}` };
  }
  for (const [py, why] of [...pythons, ["/usr/bin/python3", "the system python"] as [string, string]]) {
    if (probe.hasModule(py, "notebook"))
      return {
        app: "notebook",
        command: py,
        args: ["-m", "notebook", ...common],
        why: `no JupyterLab found, so the classic Notebook from ${why}. ${LAB_HINT}`,
      };
  }
  return undefined;
}

/** The real machine's answers. */
export const machineProbe = (): LabProbe => ({
  env: process.env,
  uid: typeof process.getuid === "function" ? process.getuid() : -1,
  which(name) {
    for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
      const f = path.join(dir, name);
      try {
        fs.accessSync(f, fs.constants.X_OK);
        return f;
      } catch {
        /* not here */
      }
    }
    return undefined;
  },
  hasModule: (python, module) => spawnSync(python, ["-c", `import ${module}`], { stdio: "ignore" }).status === 0,
});
