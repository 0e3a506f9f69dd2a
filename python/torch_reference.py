#!/usr/bin/env python3
"""PyTorch's side of `npm run bench`: the same ResNeXt (python/retail_repr_torch.py builds it from
the project's config) timed the way src/bench/model-bench.ts times ours, in the same run.

  python3 python/torch_reference.py --layers 1,1,1,1 --groups 8 --width-per-group 8 --size 64 --batch 64

Train: one SGD step (lr 0.01) on mean(features^2) in train mode; inference: a forward pass in
eval mode without autograd; fp32; median of --repeats after two warm-up calls, waited for on
CUDA. Prints one JSON line. Runs on any torch from 1.13 (Debian's) on, CPU or CUDA.

With --serve it prints {"ready": ...} after the warm-up, then times one step per line read from
stdin ("train" or "infer") and answers each with its seconds: the bench interleaves these with its
own steps (src/bench/paired-bench.ts).
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from retail_repr_torch import ResNeXt  # noqa: E402


def images_per_second(fn, batch, repeats, sync):
    for _ in range(2):
        fn()
    sync()
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        sync()
        seconds.append(time.perf_counter() - start)
    return batch / statistics.median(seconds)


def serve(model, steps, sync):
    for mode, step in steps.items():
        model.train(mode == "train")
        for _ in range(2):
            step()
    sync()
    print(json.dumps({"ready": True, "engine": f"torch {torch.__version__}"}), flush=True)
    for line in sys.stdin:
        mode = line.strip()
        model.train(mode == "train")
        start = time.perf_counter()
        steps[mode]()
        sync()
        print(time.perf_counter() - start, flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--layers", default="1,1,1,1")
    ap.add_argument("--groups", type=int, default=8)
    ap.add_argument("--width-per-group", type=int, default=8)
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    ap.add_argument("--serve", action="store_true", help="time one step per stdin line (train|infer)")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    device = torch.device(a.device)
    sync = (lambda: torch.cuda.synchronize(device)) if device.type == "cuda" else (lambda: None)

    layers = [int(n) for n in a.layers.split(",")]
    model = ResNeXt({"layers": layers, "groups": a.groups, "widthPerGroup": a.width_per_group}).to(device)
    x = torch.randn(a.batch, 3, a.size, a.size, device=device)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)

    def train_step():
        opt.zero_grad()
        model(x).mean((2, 3)).pow(2).mean().backward()
        opt.step()

    def infer_step():
        with torch.no_grad():
            model(x)

    if a.serve:
        serve(model, {"train": train_step, "infer": infer_step}, sync)
        return
    model.train()
    train = images_per_second(train_step, a.batch, a.repeats, sync)
    model.eval()
    infer = images_per_second(infer_step, a.batch, a.repeats, sync)
    print(json.dumps({
        "engine": f"torch {torch.__version__} {device.type}",
        "layers": layers, "groups": a.groups, "width_per_group": a.width_per_group,
        "size": a.size, "batch": a.batch, "threads": a.threads,
        "params": sum(p.numel() for p in model.parameters()),
        "train_img_s": round(train, 2), "infer_img_s": round(infer, 2),
    }))


if __name__ == "__main__":
    main()
