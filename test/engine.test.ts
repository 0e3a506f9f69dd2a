import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import { BACKEND_ENV, BACKEND_ORDER, BackendName, AvailabilityCheck, selectBackend } from "../src/engine/backend";
import { defaultChecks } from "../src/engine/availability";
import { configuredEngine, DEVICE_ENV } from "../src/engine/configured";
import { CHILD } from "./helpers";

/** Simulated machine: each backend either starts (recording its activation) or fails with a reason. */
function machine(works: Partial<Record<BackendName, true | string>>) {
  const activated: BackendName[] = [];
  const checks = {} as Record<BackendName, AvailabilityCheck>;
  for (const name of BACKEND_ORDER) {
    const w = works[name] ?? `${name} unavailable (simulated)`;
    checks[name] = async () =>
      w === true ? { ok: true, detail: `sim ${name}`, activate: async () => void activated.push(name) } : { ok: false, why: w };
  }
  return { checks, activated };
}

test("a CUDA machine with libtorch picks torch and skips nothing; without libtorch, tfjs-node-gpu", async () => {
  const m = machine({ torch: true, "tensorflow-gpu": true, tensorflow: true, webgpu: true, wasm: true, cpu: true });
  const sel = await selectBackend({ checks: m.checks, log: null, force: undefined });
  assert.equal(sel.chosen, "torch");
  assert.deepEqual(sel.skipped, []);
  assert.deepEqual(m.activated, ["torch"]);
  const n = machine({ torch: "no libtorch", "tensorflow-gpu": true, cpu: true });
  const sel2 = await selectBackend({ checks: n.checks, log: null });
  assert.equal(sel2.chosen, "tensorflow-gpu");
  assert.deepEqual(sel2.skipped, [{ name: "torch", why: "no libtorch" }]);
});

test("auto leaves torch to CUDA machines: on a CPU it is skipped with the reason, and taken when asked for by name", async () => {
  if (fs.existsSync("/proc/driver/nvidia/version")) return; // a GPU machine: auto may take torch there
  const auto = await defaultChecks.torch({ forced: false });
  assert.equal(auto.ok, false);
  assert.match((auto as { why: string }).why, /chosen automatically on CUDA only .*--backend torch runs it on the CPU/);
});

test("a Vulkan GPU without CUDA or libtensorflow picks webgpu and says why the others were skipped", async () => {
  const m = machine({
    "tensorflow-gpu": "no NVIDIA driver",
    tensorflow: "@tensorflow/tfjs-node is not installed",
    webgpu: true,
    wasm: true,
    cpu: true,
  });
  const lines: string[] = [];
  const sel = await selectBackend({ checks: m.checks, log: (l) => lines.push(l) });
  assert.equal(sel.chosen, "webgpu");
  assert.deepEqual(
    sel.skipped.map((s) => [s.name, s.why]),
    [
      ["torch", "torch unavailable (simulated)"],
      ["tensorflow-gpu", "no NVIDIA driver"],
      ["tensorflow", "@tensorflow/tfjs-node is not installed"],
    ],
  );
  assert.equal(lines.length, 1);
  assert.match(
    lines[0],
    /backend: webgpu .*skipped torch: torch unavailable \(simulated\); tensorflow-gpu: no NVIDIA driver; tensorflow: @tensorflow\/tfjs-node is not installed/,
  );
});

test("a laptop CPU without GPU falls through to wasm", async () => {
  const m = machine({ webgpu: "no GPU adapter", wasm: true, cpu: true });
  const sel = await selectBackend({ checks: m.checks, log: null });
  assert.equal(sel.chosen, "wasm");
  assert.equal(sel.skipped.length, 4);
  assert.deepEqual(m.activated, ["wasm"]);
});

test("only cpu left: cpu is chosen", async () => {
  const m = machine({ cpu: true });
  const sel = await selectBackend({ checks: m.checks, log: null });
  assert.equal(sel.chosen, "cpu");
  assert.equal(sel.skipped.length, 5);
});

test("a probe that throws is skipped with its message, not fatal", async () => {
  const m = machine({ wasm: true });
  m.checks.webgpu = async () => {
    throw new Error("dawn.node: cannot open shared object");
  };
  const sel = await selectBackend({ checks: m.checks, log: null });
  assert.equal(sel.chosen, "wasm");
  assert.equal(sel.skipped.find((s) => s.name === "webgpu")?.why, "probe failed: dawn.node: cannot open shared object");
});

test("forcing an available backend skips the order", async () => {
  const m = machine({ "tensorflow-gpu": true, cpu: true });
  const sel = await selectBackend({ checks: m.checks, log: null, force: "cpu" });
  assert.equal(sel.chosen, "cpu");
  assert.equal(sel.forced, true);
  assert.deepEqual(m.activated, ["cpu"]);
});

test("forcing an unavailable backend is an error naming the reason", async () => {
  const m = machine({ cpu: true, webgpu: "no GPU adapter" });
  await assert.rejects(
    selectBackend({ checks: m.checks, log: null, force: "webgpu" }),
    /backend 'webgpu' was forced \(option\) but cannot start: no GPU adapter/,
  );
  assert.deepEqual(m.activated, []);
});

test("the environment variable forces too, and a bad name lists the valid ones", async () => {
  const m = machine({ wasm: true, cpu: true });
  const before = process.env[BACKEND_ENV];
  try {
    process.env[BACKEND_ENV] = "CPU";
    assert.equal((await selectBackend({ checks: m.checks, log: null })).chosen, "cpu");
    process.env[BACKEND_ENV] = "tpu";
    await assert.rejects(
      selectBackend({ checks: m.checks, log: null }),
      /RETAIL_REPR_BACKEND: unknown backend 'tpu'. Use one of: torch, tensorflow-gpu, tensorflow, webgpu, wasm, cpu, native, auto/,
    );
  } finally {
    if (before === undefined) delete process.env[BACKEND_ENV];
    else process.env[BACKEND_ENV] = before;
  }
});

/** Run `fn` with some environment variables set (undefined: unset), then put them back. */
async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T> | T): Promise<T> {
  const before = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  const put = (v: Record<string, string | undefined>) => {
    for (const [k, x] of Object.entries(v))
      if (x === undefined) delete process.env[k];
      else process.env[k] = x;
  };
  put(vars);
  try {
    return await fn();
  } finally {
    put(before);
  }
}

test("the profile's engine keys choose when neither the call nor the environment does; a bad value names its key", async () => {
  const none = { [BACKEND_ENV]: undefined, [DEVICE_ENV]: undefined, RETAIL_REPR_CONFIG: undefined };
  const m = machine({ wasm: true, cpu: true });
  // The profile's default (auto) forces nothing.
  await withEnv({ ...none, RETAIL_REPR_SET: undefined }, async () => {
    assert.deepEqual(configuredEngine(), { backend: undefined, device: undefined });
    assert.equal((await selectBackend({ checks: m.checks, log: null })).forced, false);
  });
  await withEnv({ ...none, RETAIL_REPR_SET: "engine.backend=cpu engine.device=cuda:1" }, async () => {
    const sel = await selectBackend({ checks: m.checks, log: null });
    assert.equal(sel.chosen, "cpu");
    assert.equal(sel.forced, true);
    assert.deepEqual(configuredEngine().device, { value: "cuda:1", source: "engine.device (RETAIL_REPR_CONFIG / RETAIL_REPR_SET)" });
    // What cannot start is named with the key that asked for it.
    await assert.rejects(
      selectBackend({ checks: machine({ wasm: true }).checks, log: null }),
      /backend 'cpu' was forced \(engine\.backend \(RETAIL_REPR_CONFIG \/ RETAIL_REPR_SET\)\) but cannot start/,
    );
    // The environment (what --backend and --device set) wins, `auto` included; the call's option wins over both.
    await withEnv({ [BACKEND_ENV]: "auto", [DEVICE_ENV]: "cpu" }, async () => {
      assert.equal((await selectBackend({ checks: m.checks, log: null })).chosen, "wasm");
      assert.deepEqual(configuredEngine().device, { value: "cpu", source: DEVICE_ENV });
    });
    assert.equal((await selectBackend({ checks: m.checks, log: null, force: "wasm" })).chosen, "wasm");
  });
  await withEnv({ ...none, RETAIL_REPR_CONFIG: '{"engine": {"backend": "tpu"}}', RETAIL_REPR_SET: undefined }, async () => {
    assert.throws(() => configuredEngine(), /engine\.backend: "tpu" is not allowed/);
  });
});

test("the real probes start a backend on this machine", async () => {
  const sel = await selectBackend({ log: null });
  assert.ok(["tensorflow-gpu", "tensorflow", "webgpu", "wasm", "cpu"].includes(sel.chosen));
  // Every backend ahead of the chosen one must have a reason.
  for (const s of sel.skipped) assert.ok(s.why.length > 5, `${s.name} skipped without a reason`);
});

test("clean start: no tfjs-node banner, no Dawn warning; a missing Vulkan loader or GPU device is one line in the report", async () => {
  const fs = await import("node:fs");
  const os = await import("node:os");
  const path = await import("node:path");
  const { spawnSync } = await import("node:child_process");
  const { gpuDevicePresent, vulkanLoaderPresent } = await import("../src/engine/availability");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rr-vk-"));
  if (process.platform === "linux") {
    assert.equal(
      vulkanLoaderPresent({ LD_LIBRARY_PATH: dir }),
      fs.existsSync("/usr/lib/x86_64-linux-gnu/libvulkan.so.1") ||
        fs.existsSync("/usr/lib64/libvulkan.so.1") ||
        fs.existsSync("/usr/lib/libvulkan.so.1") ||
        fs.existsSync("/usr/local/lib/libvulkan.so.1") ||
        fs.existsSync("/usr/lib/aarch64-linux-gnu/libvulkan.so.1") ||
        fs.existsSync("/lib/x86_64-linux-gnu/libvulkan.so.1"),
    );
    fs.writeFileSync(path.join(dir, "libvulkan.so.1"), "");
    assert.equal(vulkanLoaderPresent({ LD_LIBRARY_PATH: dir }), true);
    // A GPU is a DRM render node or NVIDIA's driver; a machine with neither has only a software Vulkan.
    assert.equal(gpuDevicePresent(dir), false);
    fs.mkdirSync(path.join(dir, "dev", "dri"), { recursive: true });
    fs.writeFileSync(path.join(dir, "dev", "dri", "card0"), "");
    assert.equal(gpuDevicePresent(dir), false, "a display card without a render node");
    fs.writeFileSync(path.join(dir, "dev", "dri", "renderD128"), "");
    assert.equal(gpuDevicePresent(dir), true);
    fs.rmSync(path.join(dir, "dev"), { recursive: true });
    fs.mkdirSync(path.join(dir, "proc", "driver", "nvidia"), { recursive: true });
    fs.writeFileSync(path.join(dir, "proc", "driver", "nvidia", "version"), "NVRM");
    assert.equal(gpuDevicePresent(dir), true);
  }
  const root = path.join(__dirname, "..", "..");
  const r = spawnSync(process.execPath, [path.join(root, "bin", "retail-repr.cjs"), "info"], { encoding: "utf8", ...CHILD });
  assert.equal(r.status, 0, r.stderr);
  const all = r.stdout + r.stderr;
  assert.doesNotMatch(all, /Hi, looks like you are running TensorFlow\.js in Node\.js/);
  if (!vulkanLoaderPresent()) {
    assert.doesNotMatch(all, /Couldn't load Vulkan|BackendVk\.cpp/);
    assert.match(all, /webgpu: no Vulkan loader \(libvulkan\.so\.1/);
  } else if (!gpuDevicePresent()) {
    // A software Vulkan only (e.g. Mesa's lavapipe, which chromium's packages bring): Dawn is not started.
    assert.doesNotMatch(all, /shaderUniform|ArrayDynamicIndexing|BackendVk\.cpp/);
    assert.match(all, /webgpu: no GPU device/);
  }
  const cpu = spawnSync(
    process.execPath,
    ["-e", `const { tf } = require(${JSON.stringify(path.join(root, "dist", "src", "engine", "tf"))}); tf.tensor([1, 2]).print();`],
    { encoding: "utf8", ...CHILD },
  );
  assert.doesNotMatch(cpu.stdout + cpu.stderr, /install our node backend/);
});
