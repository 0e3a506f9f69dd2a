// The torch.save reader against files torch itself wrote (test/fixtures/make_pth_fixtures.py).
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { parsePth, readPth } from "../src/models/torch-pth";
import { readSafetensors } from "../src/models/safetensors";
import { unpickle } from "../src/models/pickle";
import { loadCheckpoint } from "../src/models/checkpoint";
import { backboneForward } from "../src/models/resnext";
import { disposeModel } from "../src/models/model";
import { tf } from "../src/engine/tf";
import { assertClose } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
const FIX = path.join(ROOT, "test", "fixtures");
const expected: { torch: string; tensors: Record<string, { shape: number[]; values: number[] }> } = JSON.parse(
  fs.readFileSync(path.join(FIX, "pth_expected.json"), "utf8"),
);

for (const format of ["zip", "legacy"] as const) {
  test(`.pth ${format} format: every tensor equals torch's (dtypes, views, a shared storage, a scalar, an empty one)`, () => {
    const f = readPth(path.join(FIX, `pth_kitchen_${format}.pth`));
    assert.equal(f.metadata.format, `pth-${format}`);
    assert.equal(f.metadata.wrapper, "model", "the state dict was found under 'model', past 'epoch' and 'optimizer'");
    assert.deepEqual([...f.tensors.keys()], Object.keys(expected.tensors));
    for (const [name, want] of Object.entries(expected.tensors)) {
      const got = f.tensors.get(name)!;
      assert.deepEqual(got.shape, want.shape, `${name} shape`);
      assert.deepEqual([...got.data], want.values.map(Math.fround), `${name} values (torch ${expected.torch})`);
    }
    assert.equal(f.tensors.get("b.half")!.dtype, "F16");
    assert.equal(f.tensors.get("d.count")!.dtype, "I64");
  });
}

test(".pth from a training script: 'state_dict' wrapper and 'module.' prefix removed; values equal the safetensors export", () => {
  const pth = readPth(path.join(FIX, "torch_resnext_small.pth"));
  const st = readSafetensors(path.join(FIX, "torch_resnext_small.safetensors"));
  assert.equal(pth.metadata.wrapper, "state_dict");
  assert.equal(pth.metadata.strippedPrefix, "module.");
  assert.deepEqual([...pth.tensors.keys()].sort(), [...st.tensors.keys()].sort());
  for (const [name, t] of st.tensors) {
    assert.deepEqual(pth.tensors.get(name)!.shape, t.shape, name);
    assert.deepEqual(pth.tensors.get(name)!.data, t.data, name);
  }
});

test("CLI: import-torch --weights FILE.pth gives PyTorch's feature map to 1e-4", async () => {
  await tf.setBackend("cpu");
  const a = JSON.parse(readSafetensors(path.join(FIX, "torch_resnext_small.safetensors")).metadata.arch);
  // The fixture's architecture is not a preset: import through the library with the same code path the CLI uses.
  const { importTorchToCheckpoint } = await import("../src/models/import-torch");
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "pth-")), "imported");
  const r = importTorchToCheckpoint({
    config: { arch: { name: "torch_fixture", ...a }, pooling: "lca", projDim: 0, classes: 0 },
    weights: path.join(FIX, "torch_resnext_small.pth"),
    out,
  });
  assert.ok(r.loaded > 0);
  const { model, meta } = loadCheckpoint(out);
  assert.equal(meta.extra.format, "pth-zip");
  const io = readSafetensors(path.join(FIX, "torch_resnext_small_io.safetensors"));
  const inp = io.tensors.get("input_nhwc")!;
  tf.tidy(() => {
    const fmap = backboneForward(model.params, model.backbone, tf.tensor4d(inp.data, inp.shape as [number, number, number, number]), false);
    assertClose(fmap, io.tensors.get("fmap_nhwc")!.data, 1e-4, 1e-4, "feature map from .pth weights");
  });
  disposeModel(model);
  const cli = spawnSync(
    process.execPath,
    [
      path.join(ROOT, "bin", "retail-repr.cjs"),
      "import-torch",
      "--arch",
      "resnext_tiny",
      "--weights",
      path.join(FIX, "torch_resnext_small.pth"),
      "--out",
      out + "2",
    ],
    { encoding: "utf8" },
  );
  assert.equal(cli.status, 1);
  assert.match(cli.stderr, /torch_resnext_small\.pth: cannot load into resnext_tiny/, "the .pth is read, then refused for its shapes");
});

test("a hostile pickle is refused by name and never run (torch.save zip, bare pickle, protocol-4 STACK_GLOBAL)", () => {
  const marker = "/tmp/retail-repr-pwned";
  fs.rmSync(marker, { force: true });
  assert.throws(() => readPth(path.join(FIX, "pth_hostile.pth")), /refusing to load .*pth_hostile\.pth: it asks for posix\.system/);
  assert.throws(() => readPth(path.join(FIX, "pth_hostile.pkl")), /refusing to load .*pth_hostile\.pkl: it asks for posix\.system/);
  // builtins.eval named the protocol-4 way, then called.
  const p4 = Buffer.concat([
    Buffer.from([0x80, 0x04, 0x8c, 8]),
    Buffer.from("builtins"),
    Buffer.from([0x8c, 4]),
    Buffer.from("eval"),
    Buffer.from([0x93, 0x8c, 1]),
    Buffer.from("1"),
    Buffer.from([0x85, 0x52, 0x2e]),
  ]);
  assert.throws(() => parsePth(p4, "evil.pt"), /refusing to load evil\.pt: it asks for builtins\.eval/);
  assert.ok(!fs.existsSync(marker), "nothing was executed");
});

test(".pth damage is named: truncated archive, truncated legacy storage, not a torch file", () => {
  const zip = fs.readFileSync(path.join(FIX, "pth_kitchen_zip.pth"));
  assert.throws(
    () => parsePth(zip.subarray(0, zip.length - 200), "cut.pth"),
    /cut\.pth: not a readable zip archive: no end-of-central-directory record \(truncated\?\)/,
  );
  const legacy = fs.readFileSync(path.join(FIX, "pth_kitchen_legacy.pth"));
  assert.throws(
    () => parsePth(legacy.subarray(0, legacy.length - 10), "cut.pth"),
    /cut\.pth: storage \S+ ends past the end of the file \(truncated\?\)/,
  );
  assert.throws(() => parsePth(Buffer.from("hello"), "x.pth"), /x\.pth: neither a torch\.save file/);
  // A pickle of a plain int is not a torch file.
  assert.throws(() => parsePth(Buffer.from([0x80, 0x02, 0x4b, 0x05, 0x2e]), "int.pkl"), /int\.pkl: a pickle but not a torch\.save file/);
});

test("unpickle: the opcodes it knows build the values Python would", () => {
  // pickle.dumps({"a": [1, -2, 300000, 2**40], "b": (True, None, 1.5), "c": "é"}, protocol=2)
  const bytes = Buffer.from(
    "80027d71002858010000006171015d7102284b014afeffffff4ae09304008a06000000000001655801000000627103884e473ff800000000000087710458010000006371055802000000c3a97106752e",
    "hex",
  );
  const { value } = unpickle(bytes, { allowed: new Set(), call: () => undefined, file: "t" });
  const d = value as { map: Map<string, unknown> };
  assert.deepEqual(d.map.get("a"), [1, -2, 300000, 2 ** 40]);
  assert.deepEqual((d.map.get("b") as { items: unknown[] }).items, [true, null, 1.5]);
  assert.equal(d.map.get("c"), "é");
});
