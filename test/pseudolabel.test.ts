// Pseudolabels in parts: resume part by part, damage named and redone, shards across processes
// giving the same bytes as one process, and an incomplete or mixed set refused by name.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { spawn } from "node:child_process";
import { tf } from "../src/engine/tf";
import { createModel, disposeModel, embeddingDim } from "../src/models/model";
import { ResNeXtConfig } from "../src/models/resnext";
import { getProfile } from "../src/config/profiles";
import { datasetDir, generateDataset } from "../src/data/generate";
import { filesOf } from "../src/data/sets";
import {
  describeIncomplete,
  exportPseudolabels,
  partDataFile,
  partMetaFile,
  partProblem,
  PseudoSpec,
  pseudoStatus,
  readPseudolabels,
  specOnDisk,
  writePseudolabels,
} from "../src/train/pseudolabel";
import { parseShard, partsOfShard, shardFrom, sliceOfShard } from "../src/util/shard";

const SMALL: ResNeXtConfig = { name: "pl_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 32, planes: [4, 8, 8, 8], stem: 4 };
const ROOT = path.join(__dirname, "..", "..");
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), "rr-pseudo-"));

function quietly<T>(f: () => Promise<T>): Promise<{ value: T; lines: string[] }> {
  const lines: string[] = [];
  const log = console.log;
  console.log = (...a: unknown[]) => void lines.push(a.join(" "));
  return f()
    .then((value) => ({ value, lines }))
    .finally(() => (console.log = log));
}

test("shards: K/N parsing, the Indexed Job's environment, parts and slices cover everything once", () => {
  assert.deepEqual(parseShard("2/4"), { index: 2, count: 4 });
  assert.throws(() => parseShard("4/4"), /--shard: '4\/4' needs 0 <= K < N/);
  assert.throws(() => parseShard("1-4"), /is not K\/N .*K counts from 0/);
  assert.deepEqual(shardFrom(undefined, { JOB_COMPLETION_INDEX: "3", RETAIL_REPR_SHARDS: "8" }), { index: 3, count: 8 });
  assert.equal(shardFrom(undefined, {}), undefined);
  assert.throws(() => shardFrom(undefined, { JOB_COMPLETION_INDEX: "3" }), /JOB_COMPLETION_INDEX is 3 but RETAIL_REPR_SHARDS is not set/);
  assert.deepEqual(shardFrom("0/2", { JOB_COMPLETION_INDEX: "1", RETAIL_REPR_SHARDS: "2" }), { index: 0, count: 2 }, "the flag wins");
  assert.deepEqual(sliceOfShard(100, { index: 1, count: 3 }, 32), [32, 64], "boundaries on whole batches");
  for (const n of [1, 7, 10, 100])
    for (const N of [1, 2, 3, 4])
      for (const align of [1, 3, 32]) {
        const parts = Array.from({ length: N }, (_, k) => partsOfShard(n, { index: k, count: N }))
          .flat()
          .sort((a, b) => a - b);
        assert.deepEqual(
          parts,
          Array.from({ length: n }, (_, i) => i),
        );
        const slices = Array.from({ length: N }, (_, k) => sliceOfShard(n, { index: k, count: N }, align));
        for (const [b] of slices) assert.ok(b % align === 0 || b === n);
        assert.equal(slices[0][0], 0);
        assert.equal(slices[N - 1][1], n);
        for (let k = 1; k < N; k++) assert.equal(slices[k][0], slices[k - 1][1]);
      }
});

test("pseudolabel parts: resume, damage named and redone, another teacher redone, shards equal one run, incomplete and mixed sets refused", async () => {
  await tf.setBackend("cpu");
  const profile = getProfile("smoke");
  await generateDataset("student-pseudo", profile, { quiet: true });
  const files = filesOf(datasetDir("student-pseudo", profile.name)).files.slice(0, 10);
  const m = createModel({ arch: SMALL }, 5);
  const spec: PseudoSpec = { teacher: "t1", list: "l1", count: files.length, dim: embeddingDim(m.config), partSize: 4 };
  const opts = { spec, size: 32, batch: 4, quiet: true };
  const whole = tmp(),
    broken = tmp(),
    sharded = tmp();
  await writePseudolabels(m, files, whole, opts);
  const st1 = await writePseudolabels(m, files, broken, { ...opts, stopAfterParts: 1 });
  assert.deepEqual(st1.done, [0]);
  assert.equal(st1.problems.size, 2);
  assert.throws(
    () => readPseudolabels(broken, spec),
    /1 of 3 parts sound\n\s+missing parts: 1 \(images 4-7\), 2 \(images 8-9\)\n\s+run `retail-repr pseudolabel`/,
  );
  assert.deepEqual((await writePseudolabels(m, files, broken, opts)).done, [0, 1, 2]);
  assert.deepEqual([...readPseudolabels(broken, spec).data], [...readPseudolabels(whole, spec).data]);

  // A part truncated, another spoiled with a NaN, after they were written: named, then redone.
  fs.truncateSync(partDataFile(broken, 0), 100);
  const spoiled = fs.readFileSync(partDataFile(broken, 1));
  spoiled.writeFloatLE(NaN, 4 * spec.dim * 2 + 8); // row 2 of part 1: image 6
  fs.writeFileSync(partDataFile(broken, 1), spoiled);
  assert.equal(
    partProblem(broken, spec, 0)!.replace(broken, "DIR"),
    `DIR/part-00000.f32: 100 bytes, expected ${4 * spec.dim * 4} (truncated?)`,
  );
  assert.equal(
    partProblem(broken, spec, 1)!.replace(broken, "DIR"),
    "DIR/part-00001.f32: a non-finite value in row 2 (image 6 of the list)",
  );
  const redo = await quietly(() => writePseudolabels(m, files, broken, { ...opts, quiet: false }));
  assert.equal(redo.lines.filter((l) => /redoing that part/.test(l)).length, 2, redo.lines.join("\n"));
  assert.deepEqual([...readPseudolabels(broken, spec).data], [...readPseudolabels(whole, spec).data]);
  // A corrupt record names its file.
  fs.writeFileSync(partMetaFile(broken, 2), '{"teacher": "t1", "cou');
  assert.match(partProblem(broken, spec, 2)!, /part-00002\.json: corrupt/);

  // Shards 0/2 and 1/2 into one folder: the parts of one unsharded run, byte for byte.
  const s0 = await writePseudolabels(m, files, sharded, { ...opts, shard: { index: 0, count: 2 } });
  assert.deepEqual(s0.done, [0, 2]);
  assert.match(
    describeIncomplete(sharded, spec, s0),
    /missing parts: 1 \(images 4-7\)\n\s+they belong to shard\(s\) 1\/2: run `retail-repr pseudolabel --shard K\/2`/,
  );
  await writePseudolabels(m, files, sharded, { ...opts, shard: { index: 1, count: 2 } });
  const a = path.join(whole, "all.npy"),
    b = path.join(sharded, "all.npy");
  exportPseudolabels(whole, a);
  exportPseudolabels(sharded, b, spec);
  assert.ok(fs.readFileSync(a).equals(fs.readFileSync(b)), "sharded export is byte-identical");

  // Another teacher: its parts are not read, and not reused by a writer.
  const t2 = { ...spec, teacher: "t2" };
  assert.throws(() => readPseudolabels(whole, t2), /made by another teacher \(t1, not t2\)/);
  const meta = JSON.parse(fs.readFileSync(partMetaFile(sharded, 1), "utf8"));
  fs.writeFileSync(partMetaFile(sharded, 1), JSON.stringify({ ...meta, teacher: "t0" }));
  assert.throws(
    () => specOnDisk(sharded),
    /parts come from different teachers or image lists: 2 part\(s\) from teacher t1 .*1 part\(s\) from teacher t0/,
  );
  const other = await writePseudolabels(m, files, whole, { ...opts, spec: t2, stopAfterParts: 0 });
  assert.equal(other.done.length, 0, "another teacher's labels are not reused");
  assert.equal(pseudoStatus(whole, t2).problems.size, 3);
  disposeModel(m);
});

/** Run the CLI with runs and datasets in `root`; resolves with its exit code and output. */
function cli(root: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, [path.join(ROOT, "bin", "retail-repr.cjs"), ...args], {
      env: { ...process.env, RETAIL_REPR_RUNS: path.join(root, "runs"), RETAIL_REPR_DATASETS: path.join(root, "datasets"), ...env },
      cwd: root,
    });
    let out = "";
    p.stdout.on("data", (d) => (out += d));
    p.stderr.on("data", (d) => (out += d));
    p.on("close", (code) => resolve({ code: code ?? -1, out }));
  });
}

test("two shard processes (--shard and the Indexed Job's variables) export the bytes one process does; gaps named by export and the student", async () => {
  const root = tmp();
  const dir = path.join(root, "runs", "smoke", "pseudolabels");
  const ok = async (args: string[], env?: Record<string, string>) => {
    const r = await cli(root, args, env);
    assert.equal(r.code, 0, `${args.join(" ")}:\n${r.out}`);
    return r.out;
  };
  // A shard worker trains nothing: without a teacher it stops, saying what to run.
  await ok(["generate", "--profile", "smoke"]);
  const early = await cli(root, ["pseudolabel", "--profile", "smoke", "--shard", "0/2"]);
  assert.equal(early.code, 1);
  assert.match(
    early.out,
    /is not trained for profile smoke .*run `retail-repr (pretrain|train-teacher) --profile smoke` first: a shard worker only labels/,
  );

  await ok(["pseudolabel", "--profile", "smoke"]);
  await ok(["pseudolabel", "--profile", "smoke", "--export", path.join(root, "one.npy")]);
  for (const f of fs.readdirSync(dir)) if (f.startsWith("part-")) fs.rmSync(path.join(dir, f));
  const [w0, w1] = await Promise.all([
    ok(["pseudolabel", "--profile", "smoke", "--shard", "0/2"]),
    ok(["pseudolabel", "--profile", "smoke"], { JOB_COMPLETION_INDEX: "1", RETAIL_REPR_SHARDS: "2" }),
  ]);
  assert.match(w0, /2 of 3 parts done \(1 left to other shards\)|3 of 3 parts done/);
  assert.match(w1, /shard 1\/2 \(from JOB_COMPLETION_INDEX and RETAIL_REPR_SHARDS\)/);
  await ok(["pseudolabel", "--profile", "smoke", "--export", path.join(root, "two.npy")]);
  const one = fs.readFileSync(path.join(root, "one.npy")),
    two = fs.readFileSync(path.join(root, "two.npy"));
  assert.ok(one.equals(two), "sharded export is byte-identical to the unsharded one");
  const count = getProfile("smoke").data.pseudoImages;
  assert.equal(one.length, 128 + count * 2048 * 4, "N x D float32 after a 128-byte .npy header");

  // A missing part: export and the student both refuse, naming the part and its shard.
  fs.rmSync(path.join(dir, "part-00001.json"));
  const exp = await cli(root, ["pseudolabel", "--profile", "smoke", "--export", path.join(root, "three.npy")]);
  assert.equal(exp.code, 1);
  assert.match(exp.out, /missing parts: 1 \(images 16-31\)\n\s+they belong to shard\(s\) 1\/2/);
  assert.ok(!fs.existsSync(path.join(root, "three.npy")));
  const student = await cli(root, ["train-student", "--profile", "smoke"]);
  assert.equal(student.code, 1);
  assert.match(student.out, /not complete for this teacher: 2 of 3 parts sound[\s\S]*retail-repr pseudolabel --shard K\/2/);

  // embed: three shards and a merge give the unsharded .npy and file list.
  const model = path.join(root, "runs", "smoke", "teacher", "checkpoint");
  const input = path.join(root, "datasets", "smoke", "student-pseudo");
  await ok(["embed", "--model", model, "--input", input, "--out", path.join(root, "e1.npy"), "--batch", "8"]);
  const e3 = path.join(root, "e3.npy");
  await Promise.all([0, 1].map((k) => ok(["embed", "--model", model, "--input", input, "--out", e3, "--shard", `${k}/3`, "--batch", "8"])));
  const gap = await cli(root, ["embed", "--merge", "--out", e3]);
  assert.equal(gap.code, 1);
  assert.match(gap.out, /1 of 3 shards missing: 2\/3/);
  await ok(["embed", "--model", model, "--input", input, "--out", e3, "--shard", "2/3", "--batch", "8"]);
  await ok(["embed", "--merge", "--out", e3]);
  assert.ok(fs.readFileSync(path.join(root, "e1.npy")).equals(fs.readFileSync(e3)), "merged shards equal one embed run");
  assert.equal(fs.readFileSync(path.join(root, "e1.files.txt"), "utf8"), fs.readFileSync(path.join(root, "e3.files.txt"), "utf8"));
  fs.rmSync(root, { recursive: true, force: true });
});
