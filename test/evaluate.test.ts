// evaluate keeps what it computed: each probe is written as soon as it is done, so a failure
// later in the run (here: a student checkpoint that will not load) loses nothing already done.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import { selectBackend } from "../src/engine/backend";
import { getProfile } from "../src/config/profiles";
import { paths } from "../src/util/paths";
import { evaluate } from "../src/pipeline/evaluate";
import { representationNames } from "../src/pipeline/stages/registry";
import { ckptDir, ONE_SHOT_SETS, runDir } from "../src/pipeline/steps";
import { metricsName } from "../src/pipeline/evaluate";
import { inTempTree } from "./helpers";

test("evaluate: probes computed before a failure are kept and not recomputed; the rerun gives the same metrics", async () => {
  await selectBackend({ force: "wasm", log: null });
  await inTempTree(
    "rr-evaluate-",
    async () => {
      const profile = getProfile("smoke");
      const first = await evaluate(profile, { quiet: true });
      const probeFile = (set: string, which: string) => path.join(runDir(profile, "probes"), `${set}-${which}.json`);
      const mtimes = () =>
        Object.fromEntries(
          ONE_SHOT_SETS.flatMap((set) =>
            representationNames().map((w) => [
              `${set}-${w}`,
              fs.existsSync(probeFile(set, w)) ? fs.statSync(probeFile(set, w)).mtimeMs : 0,
            ]),
          ),
        );
      for (const [k, t] of Object.entries(mtimes())) assert.ok(t > 0, `${k} kept`);

      // The student's probes and the metrics gone, and its weights unreadable: evaluate fails...
      for (const set of ONE_SHOT_SETS) fs.rmSync(probeFile(set, "student"));
      fs.rmSync(path.join(paths.reports, `${metricsName(profile)}.json`));
      const weights = path.join(ckptDir(profile, "student"), "weights.safetensors");
      const good = fs.readFileSync(weights);
      const bad = Buffer.from(good);
      bad[bad.length - 5] ^= 0xff;
      fs.writeFileSync(weights, bad);
      const before = mtimes();
      await assert.rejects(evaluate(profile, { quiet: true }), /weights\.safetensors: .*truncated or corrupt/);
      // ... and everything else it had is still there, untouched.
      assert.deepEqual(mtimes(), before);

      fs.writeFileSync(weights, good);
      const again = await evaluate(profile, { quiet: true });
      const after = mtimes();
      for (const set of ONE_SHOT_SETS)
        for (const w of representationNames()) {
          if (w === "student") assert.ok(after[`${set}-${w}`] > 0, "student probe computed");
          else assert.equal(after[`${set}-${w}`], before[`${set}-${w}`], `${set}-${w} was not recomputed`);
        }
      const scores = (m: typeof first) => JSON.parse(JSON.stringify(m.probes, (k, v) => (k === "fitMs" ? undefined : v))); // fit time is a timing
      assert.deepEqual(scores(again), scores(first));
      assert.deepEqual(again.finetune, first.finetune);
    },
    { reports: true },
  );
});
