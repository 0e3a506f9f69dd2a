// The kernel's patch to tslab (kernel-setup/tslab-<version>.patch, what it changes is written at
// its top), applied to node_modules/tslab by `npm run setup` with patch(1). `npm ci` puts the
// original back, so setup checks each time whether the patch is already there.
import * as fs from "fs";
import * as path from "path";
import { spawnSync } from "child_process";
import { paths } from "../util/paths";

export const TSLAB_VERSION = "1.0.22";
export const tslabPatchFile = path.join(paths.root, "kernel-setup", `tslab-${TSLAB_VERSION}.patch`);

function tslabDir(): string {
  return path.dirname(require.resolve("tslab/package.json"));
}

function patchRun(args: string[]): { ok: boolean; out: string } {
  const r = spawnSync("patch", ["-p1", "-s", "-f", "-d", tslabDir(), "-i", tslabPatchFile, ...args], { encoding: "utf8" });
  if (r.error) throw new Error(`cannot run patch(1) to patch tslab: ${r.error.message} (install Debian's 'patch' package)`);
  return { ok: r.status === 0, out: (r.stdout + r.stderr).trim() };
}

/** Whether node_modules/tslab carries the patch (it reverses cleanly). */
export function tslabPatched(): boolean {
  return patchRun(["--dry-run", "-R"]).ok;
}

/** Apply the patch unless it is there; returns which. Throws naming the version on a mismatch. */
export function applyTslabPatch(): "applied" | "already applied" {
  const version = JSON.parse(fs.readFileSync(path.join(tslabDir(), "package.json"), "utf8")).version;
  if (version !== TSLAB_VERSION) {
    throw new Error(
      `tslab ${version} is installed but kernel-setup/ patches ${TSLAB_VERSION}: run \`npm ci\` (package-lock.json pins ${TSLAB_VERSION})`,
    );
  }
  if (tslabPatched()) return "already applied";
  const dry = patchRun(["--dry-run", "--forward"]);
  if (!dry.ok)
    throw new Error(
      `the tslab patch ${path.relative(paths.root, tslabPatchFile)} does not apply to node_modules/tslab (edited by hand? \`npm ci\` restores it): ${dry.out}`,
    );
  const r = patchRun(["--forward"]);
  if (!r.ok) throw new Error(`patching tslab failed: ${r.out}`);
  return "applied";
}
