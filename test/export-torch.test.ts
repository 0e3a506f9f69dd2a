// export-torch against PyTorch itself: a model exported here, built by python/retail_repr_torch.py
// from the file alone, gives our embeddings (and logits) to 1e-4 on the same inputs; a
// torchvision architecture's backbone loads with strict=True into torchvision's own model.
// Runs wherever a Python with torch is found (RETAIL_REPR_TORCH_PYTHON, the active virtualenv,
// Debian's /usr/bin/python3); skips elsewhere, saying so.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { tf } from "../src/engine/tf";
import { createModel, disposeModel, embedForward, logitsForward, ModelConfig } from "../src/models/model";
import { exportTorch, torchStateDict } from "../src/models/export-torch";
import { defaultInputConfig } from "../src/data/input-config";
import { saveCheckpoint } from "../src/models/checkpoint";
import { serializeSafetensors } from "../src/models/safetensors";
import { readWeights } from "../src/models/import-torch";
import { paths } from "../src/util/paths";
import { torchPythonCandidates } from "../src/bench/torch-reference";
import { maxAbsDiff, perturbBatchNorms, randomArray } from "./helpers";

/** The first of the places torch may be (the bench's list) where `modules` import. */
const pythonWith = (modules: string) =>
  torchPythonCandidates().find((py) => spawnSync(py, ["-c", `import ${modules}`], { encoding: "utf8" }).status === 0);
const PY = pythonWith("torch");
const skip = PY ? false : "no Python with torch here (set RETAIL_REPR_TORCH_PYTHON, or activate a virtualenv with torch)";
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "rr-export-"));

function runPython(script: string, args: string[], py = PY!): void {
  const r = spawnSync(py, ["-c", script, ...args], {
    encoding: "utf8",
    env: { ...process.env, PYTHONPATH: path.join(paths.root, "python") },
  });
  assert.equal(r.status, 0, r.stderr);
}

const EMBED = `
import sys, torch, retail_repr_torch as rr
model, inp = rr.load(sys.argv[1])
x, _ = rr.read_safetensors(sys.argv[2])
with torch.no_grad():
    z = model(x["x"])
torch.save({"z": z.contiguous(), "size": torch.tensor(inp["size"])}, sys.argv[3])
`;

async function compare(config: ModelConfig, size: number, seed: number, ext = "safetensors"): Promise<void> {
  const dir = tmp();
  const model = createModel(config, seed);
  perturbBatchNorms(model, seed);
  const ckpt = path.join(dir, "ckpt");
  saveCheckpoint(ckpt, model, { step: 0, extra: { inputs: { imageSize: size } } });
  const file = path.join(dir, `model.${ext}`);
  const r = exportTorch(ckpt, file);
  assert.equal(r.size, size);
  const n = 3;
  const x = tf.tensor4d(randomArray(n * size * size * 3, seed + 1), [n, size, size, 3]);
  const ours = tf.tidy(() => (config.classes ? logitsForward(model, x, false) : embedForward(model, x, false)));
  const nchw = tf.transpose(x, [0, 3, 1, 2]);
  fs.writeFileSync(
    path.join(dir, "x.safetensors"),
    serializeSafetensors(new Map([["x", { shape: nchw.shape, data: nchw.dataSync() as Float32Array }]])),
  );
  runPython(EMBED, [file, path.join(dir, "x.safetensors"), path.join(dir, "z.pth")]);
  const theirs = readWeights(path.join(dir, "z.pth")).tensors.get("z")!;
  assert.deepEqual(theirs.shape, ours.shape);
  const { diff, at } = maxAbsDiff(ours.dataSync(), theirs.data);
  assert.ok(diff <= 1e-4, `${config.arch} ${config.pooling}: max |ours - torch| ${diff} at ${at}`);
  tf.dispose([x, ours, nchw]);
  disposeModel(model);
}

test(
  "export-torch: the cpu profile's embedding model (last stride 1, LCA on a 4x4 map) equals ours in PyTorch to 1e-4",
  { skip },
  async () => {
    await compare({ arch: "resnext14_8x8d_ls1", pooling: "lca", projDim: 0, classes: 0 }, 64, 3);
  },
);

test("export-torch: a GAP classifier with a projection (fc and proj transposed) equals ours in PyTorch to 1e-4", { skip }, async () => {
  await compare({ arch: "resnext_tiny", pooling: "gap", projDim: 8, classes: 5 }, 32, 5);
});

test(
  "export-torch: the same model as a .pth (torch.save's zip format, read with weights_only=True) equals ours to 1e-4",
  { skip },
  async () => {
    await compare({ arch: "resnext14_8x8d_ls1", pooling: "lca", projDim: 0, classes: 0 }, 64, 6, "pth");
  },
);

test("export-torch: a .pth reads back here tensor for tensor, under the same names", () => {
  const dir = tmp();
  const model = createModel({ arch: "resnext_tiny", pooling: "gap", projDim: 8, classes: 3 }, 4);
  saveCheckpoint(path.join(dir, "c"), model, { step: 0, extra: { inputs: { imageSize: 32 } } });
  const { tensors } = torchStateDict(model, defaultInputConfig(32));
  disposeModel(model);
  exportTorch(path.join(dir, "c"), path.join(dir, "m.pth"));
  const back = readWeights(path.join(dir, "m.pth")).tensors;
  assert.deepEqual([...back.keys()].sort(), [...tensors.keys()].sort(), "every tensor, nothing else");
  for (const [name, t] of back) {
    assert.deepEqual(t.shape, tensors.get(name)!.shape, name);
    assert.deepEqual(Array.from(t.data, Number), Array.from(tensors.get(name)!.data as ArrayLike<number | bigint>, Number), name);
  }
});

const TV = pythonWith("torch, torchvision");
test(
  "export-torch: resnext50_32x4d's backbone loads with strict=True into torchvision.models.resnext50_32x4d()",
  { skip: TV ? false : "no Python with both torch and torchvision here (Debian: python3-torchvision)" },
  async () => {
    const dir = tmp();
    const model = createModel({ arch: "resnext50_32x4d", pooling: "lca", projDim: 0, classes: 0 }, 1);
    const { tensors, metadata } = torchStateDict(model, defaultInputConfig(224));
    disposeModel(model);
    const file = path.join(dir, "r50.safetensors");
    fs.writeFileSync(file, serializeSafetensors(tensors, metadata));
    runPython(
      `
import sys, torchvision, retail_repr_torch as rr
m = torchvision.models.resnext50_32x4d()
del m.fc
m.fc = None
sd = rr.backbone_state_dict(sys.argv[1])
missing, unexpected = m.load_state_dict(sd, strict=True)
print(len(sd))
`,
      [file],
      TV,
    );
  },
);

test("export-torch refuses what it cannot write, naming it", () => {
  assert.throws(() => exportTorch(tmp(), "x.safetensors"), /no checkpoint\.json/);
  const dir = tmp();
  const model = createModel({ arch: "resnext_tiny", pooling: "lca", projDim: 0, classes: 0 }, 1);
  saveCheckpoint(dir, model, { step: 0 });
  disposeModel(model);
  assert.throws(() => exportTorch(dir, path.join(dir, "m.bin")), /write a \.safetensors or \.pth file/);
  assert.throws(() => exportTorch(dir, path.join(dir, "m.safetensors")), /records no input size; give it with --size/);
});

test("CLI: export-torch writes the file from a checkpoint folder, and names a model it cannot find", () => {
  const dir = tmp();
  const model = createModel({ arch: "resnext_tiny", pooling: "lca", projDim: 0, classes: 0 }, 2);
  const ckpt = path.join(dir, "ckpt");
  saveCheckpoint(ckpt, model, { step: 3, extra: { inputs: { imageSize: 32 } } });
  disposeModel(model);
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [path.join(paths.root, "bin", "retail-repr.cjs"), ...args], { encoding: "utf8" });
  const out = path.join(dir, "m.safetensors");
  const ok = cli(["export-torch", "--model", ckpt, "--out", out]);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /tensors .* input 32 px\) written to/);
  const f = readWeights(out);
  assert.equal(f.metadata.format, "retail-repr-torch/1");
  assert.equal(JSON.parse(f.metadata.input).size, 32);
  assert.ok(!f.tensors.has("optim/conv1.weight"));
  const missing = cli(["export-torch", "--model", "no-such-step", "--out", out, "--profile", "smoke"]);
  assert.notEqual(missing.status, 0);
  assert.match(missing.stderr, /--model no-such-step: neither a checkpoint folder nor a finished step/);
});
