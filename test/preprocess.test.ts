// torchvision's evaluation transform (Resize(256) + CenterCrop(224) on PIL images) computed here:
// equal to torchvision's own on non-square JPEG and PNG files within 1/255 per pixel, Pillow's
// bilinear weights against a direct double-precision computation, Python's rounding of the crop,
// and an imported checkpoint that carries the transform to the embedding.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import sharp from "sharp";
import { decodeRgb } from "../src/data/images";
import { torchvisionInputConfig } from "../src/data/input-config";
import { pyRound, resizeBilinearPil, shorterSideSize } from "../src/data/resample";
import { createModel, disposeModel } from "../src/models/model";
import { loadCheckpoint } from "../src/models/checkpoint";
import { importTorchToCheckpoint } from "../src/models/import-torch";
import { torchStateDict } from "../src/models/export-torch";
import { serializeSafetensors } from "../src/models/safetensors";
import { defaultInputConfig } from "../src/data/input-config";
import { torchPythonCandidates } from "../src/bench/torch-reference";

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "rr-pre-"));
const TV = torchPythonCandidates().find((py) => spawnSync(py, ["-c", "import torchvision, PIL"], { encoding: "utf8" }).status === 0);

/** A w x h RGB test card: gradients, hard edges and noise, so that every filter tap shows. */
function card(w: number, h: number, seed: number): Buffer {
  const b = Buffer.alloc(w * h * 3);
  let s = seed;
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      s = (s * 1103515245 + 12345) >>> 0;
      const i = (y * w + x) * 3;
      b[i] = (x * 255) / w;
      b[i + 1] = ((x >> 3) + (y >> 3)) % 2 ? 230 : 20;
      b[i + 2] = (s >>> 24) & 0xff;
    }
  return b;
}

test("Python's round (half to even), torchvision's resize size, and an identity resize", () => {
  assert.deepEqual([0.5, 1.5, 2.5, -0.5, 2.4999, 2.5001].map(pyRound), [0, 2, 2, 0, 2, 3]);
  assert.deepEqual(shorterSideSize(640, 480, 256), [341, 256]);
  assert.deepEqual(shorterSideSize(199, 301, 256), [256, 387]);
  const img = new Uint8Array(card(5, 4, 1));
  assert.deepEqual(Array.from(resizeBilinearPil(img, 5, 4, 5, 4)), Array.from(img));
});

test("Pillow's bilinear resize: within one level of the same filter in double precision", () => {
  const [w, h, ow, oh] = [37, 23, 11, 17];
  const src = new Uint8Array(card(w, h, 2));
  const ours = resizeBilinearPil(src, w, h, ow, oh);
  // Direct separable filtering in doubles, no intermediate rounding.
  const weights = (inSize: number, outSize: number, i: number) => {
    const scale = inSize / outSize,
      fs_ = Math.max(scale, 1),
      c = (i + 0.5) * scale;
    const ws: [number, number][] = [];
    for (let x = 0; x < inSize; x++) {
      const t = Math.abs((x + 0.5 - c) / fs_);
      if (t < 1) ws.push([x, 1 - t]);
    }
    const total = ws.reduce((a, [, v]) => a + v, 0);
    return ws.map(([x, v]) => [x, v / total] as [number, number]);
  };
  let worst = 0;
  for (let y = 0; y < oh; y++)
    for (let x = 0; x < ow; x++)
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (const [sy, wy] of weights(h, oh, y)) for (const [sx, wx] of weights(w, ow, x)) v += wy * wx * src[(sy * w + sx) * 3 + c];
        worst = Math.max(worst, Math.abs(v - ours[(y * ow + x) * 3 + c]));
      }
  assert.ok(worst <= 1.5, `max |fixed-point - double| ${worst}`);
});

const PIL_SCRIPT = `
import sys, torch, torchvision.transforms as T
from PIL import Image
t = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])(Image.open(sys.argv[1]).convert("RGB"))
sys.stdout.buffer.write(bytes(t.mul(255).round().to(torch.uint8).permute(1, 2, 0).flatten().tolist()))
`;

test(
  "torchvision's Resize(256) + CenterCrop(224) on PIL equals ours within 1/255 per pixel (non-square JPEG and PNG)",
  { skip: TV ? false : "no Python with torchvision and PIL here (Debian: python3-torchvision)" },
  async () => {
    const dir = tmp();
    const cases = [
      { file: path.join(dir, "wide.jpg"), w: 401, h: 263, make: (s: ReturnType<typeof sharp>) => s.jpeg({ quality: 90 }) },
      { file: path.join(dir, "tall.png"), w: 233, h: 347, make: (s: ReturnType<typeof sharp>) => s.png() },
      {
        file: path.join(dir, "odd.jpg"),
        w: 300,
        h: 257,
        make: (s: ReturnType<typeof sharp>) => s.jpeg({ quality: 75, chromaSubsampling: "4:4:4" }),
      },
    ];
    for (const c of cases) {
      await c.make(sharp(card(c.w, c.h, c.w), { raw: { width: c.w, height: c.h, channels: 3 } })).toFile(c.file);
      const ours = await decodeRgb(c.file, 224, undefined, undefined, torchvisionInputConfig(224));
      const r = spawnSync(TV!, ["-c", PIL_SCRIPT, c.file], { maxBuffer: 1 << 24 });
      assert.equal(r.status, 0, r.stderr?.toString());
      const theirs = r.stdout;
      assert.equal(ours.length, theirs.length, `${path.basename(c.file)}: ${ours.length} vs ${theirs.length} bytes`);
      let worst = 0,
        at = -1;
      for (let i = 0; i < ours.length; i++) if (Math.abs(ours[i] - theirs[i]) > worst) [worst, at] = [Math.abs(ours[i] - theirs[i]), i];
      assert.ok(worst <= 1, `${path.basename(c.file)}: max |ours - torchvision| ${worst}/255 at pixel ${Math.floor(at / 3)}`);
    }
  },
);

test("import-torch records torchvision's input config; a loaded checkpoint carries it to the embedding", () => {
  const dir = tmp();
  const m = createModel({ arch: "resnext_tiny", pooling: "lca" }, 1);
  const { tensors, metadata } = torchStateDict(m, defaultInputConfig(32));
  disposeModel(m);
  fs.writeFileSync(path.join(dir, "w.safetensors"), serializeSafetensors(tensors, metadata));
  importTorchToCheckpoint({
    config: { arch: "resnext_tiny", pooling: "lca", projDim: 0, classes: 0 },
    weights: path.join(dir, "w.safetensors"),
    out: path.join(dir, "c"),
  });
  const { model } = loadCheckpoint(path.join(dir, "c"));
  assert.deepEqual(model.input, {
    size: 224,
    resize: "shorter-side",
    resizeTo: 256,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
  });
  disposeModel(model);
});
