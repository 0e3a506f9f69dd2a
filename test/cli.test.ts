// The CLI commands that leave the workbench: embed (to .npy / .json) and add-product.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { getProfile } from "../src/config/profiles";
import { datasetDir, generateDataset } from "../src/data/generate";
import { createModel, disposeModel } from "../src/models/model";
import { saveCheckpoint } from "../src/models/checkpoint";
import { npyBytes } from "../src/util/npy";
import { CHILD } from "./helpers";

const ROOT = path.join(__dirname, "..", "..");
const cli = (args: string[]) =>
  spawnSync(process.execPath, [path.join(ROOT, "bin", "retail-repr.cjs"), ...args], {
    encoding: "utf8",
    env: { ...process.env, RETAIL_REPR_BACKEND: "wasm" },
    ...CHILD,
  });

test(".npy bytes: magic, version, 64-byte aligned header, little-endian float32", () => {
  const b = npyBytes(Float32Array.from([1, -2.5, 3, 4, 5, 6]), [2, 3]);
  assert.equal(b.subarray(0, 6).toString("latin1"), "\x93NUMPY");
  const hlen = b.readUInt16LE(8);
  assert.equal((10 + hlen) % 64, 0);
  assert.match(b.subarray(10, 10 + hlen).toString("latin1"), /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(2, 3\), \} *\n$/);
  assert.equal(b.readFloatLE(10 + hlen + 4), -2.5);
});

test("embed: a folder of images to .npy and .json with the same numbers; bad files skipped by name", async () => {
  const profile = getProfile("smoke");
  await generateDataset("grozi-like", profile, { quiet: true });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-cli-"));
  const input = path.join(datasetDir("grozi-like", profile.name), "train");
  const ckpt = path.join(dir, "model");
  const m = createModel(
    { arch: { name: "cli_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 32, planes: [4, 8, 8, 8], stem: 4 } },
    3,
  );
  saveCheckpoint(ckpt, m, { step: 0 });
  disposeModel(m);
  const imgs = path.join(dir, "imgs");
  fs.mkdirSync(imgs);
  for (const f of fs.readdirSync(input).slice(0, 5)) fs.copyFileSync(path.join(input, f), path.join(imgs, f));
  fs.writeFileSync(path.join(imgs, "broken.png"), "not a png");
  const npy = cli(["embed", "--model", ckpt, "--input", imgs, "--out", path.join(dir, "z.npy"), "--size", "32"]);
  assert.equal(npy.status, 0, npy.stderr);
  assert.match(npy.stderr, /skipped .*broken\.png: not an image/);
  const json = cli(["embed", "--model", ckpt, "--input", imgs, "--out", path.join(dir, "z.json"), "--size", "32"]);
  assert.equal(json.status, 0, json.stderr);
  const j = JSON.parse(fs.readFileSync(path.join(dir, "z.json"), "utf8"));
  assert.equal(j.files.length, 5);
  assert.equal(j.dim, 32); // planes[3] * 4
  const b = fs.readFileSync(path.join(dir, "z.npy"));
  const off = 10 + b.readUInt16LE(8);
  const first = Array.from({ length: 32 }, (_, k) => b.readFloatLE(off + 4 * k));
  first.forEach((v, k) => assert.ok(Math.abs(v - j.embeddings[0][k]) < 1e-6));
  assert.ok(Math.abs(Math.hypot(...first) - 1) < 1e-4, "embeddings are unit vectors");
  assert.deepEqual(fs.readFileSync(path.join(dir, "z.files.txt"), "utf8").trim().split("\n"), j.files);
  assert.match(cli(["embed", "--model", ckpt, "--input", imgs, "--out", path.join(dir, "z.csv")]).stderr, /must end in \.npy or \.json/);

  // A model whose run recorded its training size is embedded at that size by default; another
  // --size is allowed with a one-line warning.
  const m32 = createModel(
    { arch: { name: "cli_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 32, planes: [4, 8, 8, 8], stem: 4 } },
    3,
  );
  const ckpt32 = path.join(dir, "model32");
  saveCheckpoint(ckpt32, m32, { step: 1, extra: { inputs: { imageSize: 32 } } });
  disposeModel(m32);
  const byDefault = cli(["embed", "--model", ckpt32, "--input", imgs, "--out", path.join(dir, "d.json")]);
  assert.equal(byDefault.status, 0, byDefault.stderr);
  assert.doesNotMatch(byDefault.stderr, /differs|records no/);
  assert.deepEqual(
    JSON.parse(fs.readFileSync(path.join(dir, "d.json"), "utf8")).embeddings,
    j.embeddings,
    "default size = the recorded 32 px",
  );
  const other = cli(["embed", "--model", ckpt32, "--input", imgs, "--out", path.join(dir, "o.json"), "--size", "40"]);
  assert.equal(other.status, 0, other.stderr);
  assert.match(other.stderr, /--size 40 differs from the 32 px of this model's input config/);
  assert.match(
    cli(["embed", "--model", ckpt, "--input", imgs, "--out", path.join(dir, "n.json")]).stderr,
    /records no input size; using 64 px/,
  );
});

test("deploy/pseudolabel-job.yaml: its shard count equals its completions, and its command is one the CLI accepts", () => {
  const yaml = fs.readFileSync(path.join(ROOT, "deploy", "pseudolabel-job.yaml"), "utf8");
  const completions = /^\s*completions:\s*(\d+)/m.exec(yaml)?.[1];
  const shards = /name: RETAIL_REPR_SHARDS[^\n]*\n\s*value:\s*"(\d+)"/.exec(yaml)?.[1];
  assert.ok(completions && shards, "completions and RETAIL_REPR_SHARDS are both set");
  assert.equal(shards, completions);
  assert.match(yaml, /completionMode: Indexed/);
  const command = JSON.parse(/command:\s*(\[.*\])/.exec(yaml)![1]) as string[];
  assert.deepEqual(command.slice(0, 3), ["node", "bin/retail-repr.cjs", "pseudolabel"]);
  const help = cli([...command.slice(2), "--help"]);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /--shard K\/N/);
  for (const flag of command.slice(3).filter((a) => a.startsWith("--")))
    assert.ok(help.stdout.includes(flag), `${flag} is a pseudolabel option`);
});

test("deploy/train-job.yaml: WORLD_SIZE equals its completions and parallelism, MASTER_ADDR names rank 0's pod through its headless Service, each pod's rank is its index, and its command is one the CLI accepts", async () => {
  const { parseAllDocuments } = await import("yaml");
  const docs = parseAllDocuments(fs.readFileSync(path.join(ROOT, "deploy", "train-job.yaml"), "utf8")).map((d) => d.toJS());
  const service = docs.find((d) => d.kind === "Service");
  const job = docs.find((d) => d.kind === "Job");
  assert.ok(service && job, "a Service and a Job");
  const pod = job.spec.template.spec;
  const container = pod.containers[0];
  const env = Object.fromEntries(container.env.map((e: { name: string; value: string }) => [e.name, e.value]));
  assert.equal(job.spec.completionMode, "Indexed");
  assert.equal(Number(env.WORLD_SIZE), job.spec.completions);
  assert.equal(job.spec.parallelism, job.spec.completions, "every rank runs at once");
  assert.equal(service.spec.clusterIP, "None", "headless");
  assert.equal(service.spec.selector["job-name"], job.metadata.name);
  assert.equal(pod.subdomain, service.metadata.name);
  assert.equal(env.MASTER_ADDR, `${job.metadata.name}-0.${service.metadata.name}`);
  assert.equal(Number(env.MASTER_PORT), service.spec.ports[0].port);
  assert.equal(Number(env.MASTER_PORT), container.ports[0].containerPort);
  assert.equal(container.resources.requests["nvidia.com/gpu"], 1);
  const { worldFromEnv } = await import("../src/engine/process-group");
  assert.deepEqual(worldFromEnv({ ...env, JOB_COMPLETION_INDEX: "3" }), {
    rank: 3,
    size: job.spec.completions,
    localRank: 0,
    localSize: 1,
    addr: env.MASTER_ADDR,
    port: Number(env.MASTER_PORT),
  });
  const command = container.command as string[];
  assert.deepEqual(command.slice(0, 2), ["node", "bin/retail-repr.cjs"]);
  const help = cli([...command.slice(2, 3), "--help"]);
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /--nproc N/);
  for (const flag of command.slice(3).filter((a) => a.startsWith("--")))
    assert.ok(help.stdout.includes(flag), `${flag} is a ${command[2]} option`);
});

test("every command's --help lists each of its options with a default or placeholder and an example; each invalid choice is a usage error before any work", async () => {
  const { COMMAND_SPECS, main } = await import("../src/cli");
  const log = console.log;
  const printed: string[] = [];
  console.log = (...a: unknown[]) => void printed.push(a.join(" "));
  try {
    for (const spec of COMMAND_SPECS) {
      printed.length = 0;
      assert.equal(await main([spec.name, "--help"]), 0, spec.name);
      const help = printed.join("\n");
      assert.match(help, new RegExp(`^usage: retail-repr ${spec.name}`, "m"));
      assert.ok(
        spec.examples.length > 0 && spec.examples.every((e) => e.startsWith(`retail-repr ${spec.name}`) && help.includes(e)),
        `${spec.name}: an example of itself`,
      );
      for (const [name, o] of Object.entries(spec.options)) {
        const line = help.split("\n").find((l) => l.startsWith(`  --${name}`));
        assert.ok(line, `${spec.name} --help lists --${name}`);
        if (o.type === "string")
          assert.ok(
            (o.value || o.choices) && line.startsWith(`  --${name} ${o.value ?? o.choices!.join("|")} `),
            `${spec.name} --${name}: its values`,
          );
        if (o.default !== undefined) assert.ok(line.includes(`default: ${o.default}`), `${spec.name} --${name}: its default`);
      }
      // The required options filled in, then each enumerated option given a value it does not take.
      const required = Object.entries(spec.options)
        .filter(([, o]) => o.required)
        .flatMap(([n, o]) => [`--${n}`, o.choices?.[0] ?? "x"]);
      for (const [name, o] of Object.entries(spec.options).filter(([, o]) => o.choices)) {
        await assert.rejects(
          main([spec.name, ...required, `--${name}`, "bogus"]),
          (e: Error) =>
            e.name === "Error" &&
            e.constructor.name === "UsageError" &&
            e.message.includes(`--${name} 'bogus' is not one of ${o.choices!.join(", ")}`),
          `${spec.name} --${name}`,
        );
      }
    }
  } finally {
    console.log = log;
  }
  // Through the real entry: usage errors exit 2 with a pointer to --help, nothing on stdout.
  const typo = cli(["add-product", "--image", "x.png", "--model", "tacher"]);
  assert.equal(typo.status, 2);
  assert.equal(typo.stdout, "");
  assert.match(
    typo.stderr,
    /add-product: --model 'tacher' is not one of teacher, student\n\(`retail-repr add-product --help` lists the options\)/,
  );
  const ambiguous = cli(["embed", "--out", "--merge"]);
  assert.equal(ambiguous.status, 2);
  assert.match(ambiguous.stderr, /Option '--out' argument is ambiguous/);
  assert.equal(cli(["frobnicate"]).status, 2);
  const v = cli(["--version"]);
  assert.equal(v.stdout.trim(), JSON.parse(fs.readFileSync(path.join(ROOT, "package.json"), "utf8")).version);
});
