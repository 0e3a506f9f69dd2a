// Starts the retail-repr notebook kernel (tslab) for an installed kernelspec. Before tslab runs:
//  - dist/ is rebuilt when src/ is newer, so a notebook never runs code older than src/; when the
//    rebuild fails, the first `import ... from "retail-repr"` fails with that, in the cell;
//  - the package name `retail-repr` resolves to this checkout from any folder: at run time by
//    Node's resolver, and at compile time by mapping <folder>/node_modules/retail-repr onto the
//    repo in the file system TypeScript sees (the way tslab maps its own package).
const path = require("path");
const Module = require("module");
const { staleSources, describeStale, rebuild } = require("./freshness.cjs");

const PACKAGE = "retail-repr";

function ensureFresh(repo) {
  const stale = staleSources(repo);
  if (stale.length === 0) return undefined;
  process.stderr.write(`retail-repr kernel: ${describeStale(stale)}; rebuilding (npm run build) ...\n`);
  const r = rebuild(repo);
  const left = staleSources(repo);
  if (left.length === 0) return undefined;
  return `${describeStale(left)} and the rebuild failed${r.output ? `:\n${r.output.split("\n").slice(0, 5).join("\n")}` : ""}\nFix the error and run \`npm run build\` in ${repo}, then restart the kernel.`;
}

function aliasAtRunTime(repo, problem) {
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, parent, ...rest) {
    if (request === PACKAGE || request.startsWith(`${PACKAGE}/`)) {
      if (problem) throw new Error(`retail-repr: ${problem}`);
      request = path.join(repo, request.slice(PACKAGE.length));
    }
    return resolve.call(this, request, parent, ...rest);
  };
}

function aliasAtCompileTime(repo, cwd) {
  const tslabDir = path.dirname(require.resolve("tslab/package.json", { paths: [repo] }));
  const ts = require(require.resolve("@tslab/typescript-for-tslab", { paths: [tslabDir] }));
  const alias = new RegExp(`^(.*?)[\\\\/]node_modules[\\\\/]${PACKAGE}(?=[\\\\/]|$)(.*)$`);
  const mapped = (p) => {
    const m = typeof p === "string" ? alias.exec(p) : null;
    return m ? path.join(repo, m[2]) : p;
  };
  const localModules = path.join(cwd, "node_modules");
  for (const name of [
    "fileExists",
    "readFile",
    "directoryExists",
    "realpath",
    "getModifiedTime",
    "readDirectory",
    "watchFile",
    "watchDirectory",
  ]) {
    const original = ts.sys[name];
    if (typeof original !== "function") continue;
    ts.sys[name] = function (p, ...rest) {
      // TypeScript looks into <folder>/node_modules only when it exists.
      if (name === "directoryExists" && p === localModules) return true;
      return original.call(this, mapped(p), ...rest);
    };
  }
}

exports.ensureFresh = ensureFresh;

exports.start = function start({ repo }) {
  const problem = ensureFresh(repo);
  if (problem) process.stderr.write(`retail-repr kernel: ${problem}\n`);
  aliasAtRunTime(repo, problem);
  aliasAtCompileTime(repo, process.cwd());
  require(require.resolve("tslab/dist/main.js", { paths: [repo] })).main();
};
