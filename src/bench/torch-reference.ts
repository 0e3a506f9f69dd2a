// The PyTorch side of every speed comparison, run on the same machine in the same run.
import { spawnSync } from "child_process";
import * as fs from "fs";
import * as path from "path";
import { paths } from "../util/paths";

export interface TorchResult {
  engine: string;
  params: number;
  train_img_s: number;
  infer_img_s: number;
  [k: string]: unknown;
}

/** The reference script: RETAIL_REPR_TORCH_REFERENCE, else ../shared/bench/ beside the repo. */
export function torchReferenceScript(): string | undefined {
  const candidates = [process.env.RETAIL_REPR_TORCH_REFERENCE, path.join(paths.root, "..", "shared", "bench", "torch_reference.py")];
  return candidates.find((c): c is string => !!c && fs.existsSync(c));
}

export function torchAvailable(python = "/usr/bin/python3"): { ok: boolean; why?: string } {
  if (!torchReferenceScript()) return { ok: false, why: "torch_reference.py not found (set RETAIL_REPR_TORCH_REFERENCE)" };
  const r = spawnSync(python, ["-c", "import torch, torchvision"], { encoding: "utf8" });
  if (r.error || r.status !== 0) return { ok: false, why: `${python} has no torch/torchvision (Debian: apt-get install python3-torch python3-torchvision)` };
  return { ok: true };
}

export function runTorchReference(args: { layers: number[]; groups: number; widthPerGroup: number; size: number; batch: number; threads: number; repeats?: number }, python = "/usr/bin/python3"): TorchResult {
  const script = torchReferenceScript();
  if (!script) throw new Error("torch_reference.py not found");
  const argv = [
    script,
    "--layers", args.layers.join(","),
    "--groups", String(args.groups),
    "--width-per-group", String(args.widthPerGroup),
    "--size", String(args.size),
    "--batch", String(args.batch),
    "--threads", String(args.threads),
    "--repeats", String(args.repeats ?? 5),
    "--device", "cpu",
  ];
  const r = spawnSync(python, argv, { encoding: "utf8", maxBuffer: 16 << 20 });
  if (r.status !== 0) throw new Error(`torch reference failed: ${(r.stderr || r.error?.message || "").trim().split("\n").pop()}`);
  const line = r.stdout.trim().split("\n").pop()!;
  return JSON.parse(line) as TorchResult;
}
