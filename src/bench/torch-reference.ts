// The PyTorch side of every speed comparison, run on the same machine in the same run.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { getPreset } from "../models/resnext";
import { paths } from "../util/paths";

export interface TorchResult {
  engine: string;
  params: number;
  train_img_s: number;
  infer_img_s: number;
  [k: string]: unknown;
}

/** The reference script: RETAIL_REPR_TORCH_REFERENCE, else the repo's python/torch_reference.py. */
export function torchReferenceScript(): string | undefined {
  const candidates = [process.env.RETAIL_REPR_TORCH_REFERENCE, path.join(paths.root, "python", "torch_reference.py")];
  return candidates.find((c): c is string => !!c && fs.existsSync(c));
}

/** Where torch may be: RETAIL_REPR_TORCH_PYTHON, the active virtualenv (where pip puts the
 * current CPU wheel), Debian's python (python3-torch, 1.13). */
export function torchPythonCandidates(): string[] {
  const venv = process.env.VIRTUAL_ENV ? path.join(process.env.VIRTUAL_ENV, "bin", "python") : undefined;
  return [...new Set([process.env.RETAIL_REPR_TORCH_PYTHON, venv, "/usr/bin/python3"].filter((p): p is string => !!p && fs.existsSync(p)))];
}

/** The first candidate whose torch imports (the script defines the model itself when there is
 * no torchvision), with its version; or why none. */
export function torchAvailable(
  candidates = torchPythonCandidates(),
): { ok: true; python: string; version: string } | { ok: false; why: string } {
  if (!torchReferenceScript()) return { ok: false, why: "torch_reference.py not found (set RETAIL_REPR_TORCH_REFERENCE)" };
  for (const python of candidates) {
    const r = spawnSync(python, ["-c", "import torch; print(torch.__version__)"], { encoding: "utf8" });
    if (!r.error && r.status === 0) return { ok: true, python, version: r.stdout.trim() };
  }
  return {
    ok: false,
    why: `no torch in ${candidates.join(", ") || "any python"} (pip install torch in a virtualenv and activate it, or set RETAIL_REPR_TORCH_PYTHON; Debian: apt-get install python3-torch)`,
  };
}

export interface TorchReferenceArgs {
  layers: number[];
  groups: number;
  widthPerGroup: number;
  size: number;
  batch: number;
  threads: number;
  repeats?: number;
}

/** The reference's arguments for one of the project's ResNeXt presets, on 2 threads. */
export function presetReferenceArgs(c: { arch: string; size: number; batch: number }, repeats?: number): TorchReferenceArgs {
  const p = getPreset(c.arch);
  return { layers: p.layers, groups: p.groups, widthPerGroup: p.widthPerGroup, size: c.size, batch: c.batch, threads: 2, repeats };
}

/** The reference script and its arguments for one configuration, on the CPU. */
export function torchReferenceArgv(args: TorchReferenceArgs): string[] {
  const script = torchReferenceScript();
  if (!script) throw new Error("torch_reference.py not found");
  return [
    script,
    ...["--layers", args.layers.join(","), "--groups", String(args.groups), "--width-per-group", String(args.widthPerGroup)],
    ...["--size", String(args.size), "--batch", String(args.batch), "--threads", String(args.threads)],
    ...["--repeats", String(args.repeats ?? 5), "--device", "cpu"],
  ];
}

export function runTorchReference(args: TorchReferenceArgs, python: string): TorchResult {
  const r = spawnSync(python, torchReferenceArgv(args), { encoding: "utf8", maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`torch reference failed: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()}`);
  const line = r.stdout.trim().split("\n").pop()!;
  return JSON.parse(line) as TorchResult;
}
