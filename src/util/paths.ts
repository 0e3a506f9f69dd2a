// Where things live. Compiled code sits in dist/src/..., so the repo root is found by walking
// up to the package.json that names this package, wherever the repo was cloned.
import * as fs from "fs";
import * as path from "path";

function findRoot(start: string): string {
  let dir = start;
  for (;;) {
    const pkg = path.join(dir, "package.json");
    if (fs.existsSync(pkg) && JSON.parse(fs.readFileSync(pkg, "utf8")).name === "retail-repr") return dir;
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the retail-repr package.json above ${start}`);
    dir = up;
  }
}

export const REPO_ROOT = findRoot(__dirname);
/** Where runs and datasets live when not in the clone: shared storage for shard workers; and
 * where reports go (a scratch run that should leave the clone's reports alone). */
export const RUNS_ENV = "RETAIL_REPR_RUNS";
export const DATASETS_ENV = "RETAIL_REPR_DATASETS";
export const REPORTS_ENV = "RETAIL_REPR_REPORTS";
export const paths = {
  root: REPO_ROOT,
  notebooks: path.join(REPO_ROOT, "notebooks"),
  reports: path.resolve(process.env[REPORTS_ENV] || path.join(REPO_ROOT, "reports")),
  datasets: path.resolve(process.env[DATASETS_ENV] || path.join(REPO_ROOT, "datasets")),
  runs: path.resolve(process.env[RUNS_ENV] || path.join(REPO_ROOT, "runs")),
  jupyterData: path.join(REPO_ROOT, "kernel-setup", "jupyter"),
  executeScript: path.join(REPO_ROOT, "kernel-setup", "execute_notebook.py"),
};

export function ensureDir(dir: string): string {
  fs.mkdirSync(dir, { recursive: true });
  return dir;
}

/** Write through a temporary file (named by this process) and a rename: a kill never leaves
 * half a file, and processes writing beside each other on shared storage never collide. */
export function writeFileAtomic(file: string, bytes: string | Buffer): void {
  ensureDir(path.dirname(file));
  const tmp = `${file}.tmp-${process.pid}`;
  fs.writeFileSync(tmp, bytes);
  fs.renameSync(tmp, file);
}

export function writeJsonAtomic(file: string, value: unknown, indent = 1): void {
  writeFileAtomic(file, JSON.stringify(value, null, indent) + "\n");
}
