// OpenBLAS's kernel set from the CPU's flags, on fake CPU descriptions: AVX-512 machines get
// SkylakeX's kernels, AVX2 + FMA machines Haswell's, older ones OpenBLAS's own detection, and a
// user's OPENBLAS_CORETYPE is never replaced.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import { chooseOpenBlasCore, cpuFlags } from "../src/engine/openblas-core";

const cpu = (flags: string) =>
  `processor\t: 0\nvendor_id\t: AuthenticAMD\nflags\t\t: fpu sse sse2 ${flags}\n\nprocessor\t: 1\nflags\t\t: fpu\n`;
const ZEN5 = cpu("avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl avx512_bf16 avx512_vnni");
const ZEN2 = cpu("avx avx2 fma bmi2");
const SANDY_BRIDGE = cpu("avx");
// AVX-512 foundation without the Skylake-X subset (Knights Landing): not enough for SkylakeX.
const KNL = cpu("avx avx2 fma avx512f avx512cd avx512er avx512pf");

test("the first processor's flags are read", () => {
  assert.ok(cpuFlags(ZEN5).has("avx512bw"));
  assert.ok(!cpuFlags(ZEN5).has("nonsense"));
  assert.equal(cpuFlags("").size, 0);
});

test("AVX-512 (Skylake-X subset) -> SkylakeX; AVX2 + FMA -> Haswell; less -> OpenBLAS decides", () => {
  assert.deepEqual(chooseOpenBlasCore({}, ZEN5).core, "SkylakeX");
  assert.equal(chooseOpenBlasCore({}, ZEN5).source, "cpu flags");
  assert.equal(chooseOpenBlasCore({}, ZEN2).core, "Haswell");
  assert.equal(chooseOpenBlasCore({}, KNL).core, "Haswell");
  const old = chooseOpenBlasCore({}, SANDY_BRIDGE);
  assert.equal(old.core, undefined);
  assert.equal(old.source, "openblas");
  assert.equal(chooseOpenBlasCore({}, undefined).source, "openblas");
});

test("a user's OPENBLAS_CORETYPE wins over the flags", () => {
  const c = chooseOpenBlasCore({ OPENBLAS_CORETYPE: "Haswell" }, ZEN5);
  assert.deepEqual(c, { core: "Haswell", source: "environment", why: "OPENBLAS_CORETYPE=Haswell was set" });
  assert.equal(chooseOpenBlasCore({ OPENBLAS_CORETYPE: " " }, ZEN5).core, "SkylakeX");
});
