// A dataset imported under a synthetic set's name (issue #12's first report): the steps trained
// on the synthetic set are not resumed or reused. The fine-tune retrains on the imported images,
// with their class count, says in one line that its data changed, and the title names the folder.
import { test } from "node:test";
import * as assert from "node:assert/strict";
import * as fs from "node:fs";
import * as path from "node:path";
import sharp from "sharp";
import { selectBackend } from "../src/engine/backend";
import { getProfile, withRun } from "../src/config/profiles";
import { datasetDir } from "../src/data/generate";
import { importDataset } from "../src/data/formats";
import { finetune, runDir } from "../src/pipeline/steps";
import { datasetTitle } from "../src/pipeline/evaluate";
import { inTempTree } from "./helpers";

/** A Grozi-120-style folder: one packshot per product under inVitro/, two shelf crops under inSitu/. */
async function groziFolder(root: string, products: number): Promise<string> {
  const dir = path.join(root, "my-grozi");
  for (let id = 1; id <= products; id++) {
    const colour = { r: (id * 70) % 256, g: (id * 130) % 256, b: (id * 200) % 256 };
    const img = (shift: number) =>
      sharp({ create: { width: 40, height: 40, channels: 3, background: { r: colour.r, g: (colour.g + shift) % 256, b: colour.b } } })
        .png()
        .toBuffer();
    fs.mkdirSync(path.join(dir, "inVitro", String(id), "web", "JPEG"), { recursive: true });
    fs.mkdirSync(path.join(dir, "inSitu", String(id), "video"), { recursive: true });
    fs.writeFileSync(path.join(dir, "inVitro", String(id), "web", "JPEG", "web1.png"), await img(0));
    for (const k of [1, 2]) fs.writeFileSync(path.join(dir, "inSitu", String(id), "video", `video${k}.png`), await img(10 * k));
  }
  return dir;
}

test("data imported as grozi-like: the fine-tune retrains on it (data changed, its class count), the title names the folder", async () => {
  await selectBackend({ force: "wasm", log: null });
  await inTempTree("rr-imported-", async ({ root, logs }) => {
    const profile = withRun(getProfile("smoke"), { init: "random" });
    const synthetic = await finetune(profile, "grozi-like", "gap", { quiet: true });
    assert.match(datasetTitle(profile, "grozi-like"), /^grozi-like \(synthetic\)$/);
    const resultFile = path.join(runDir(profile, "finetune-grozi-like-gap"), "result.json");
    const recorded = JSON.parse(fs.readFileSync(resultFile, "utf8"));
    const syntheticClasses = recorded.inputs.model.classes;

    // Six products: fewer classes than the synthetic set had (the case that once stopped on a
    // class-count mismatch), so neither resuming nor reusing the old result can pass.
    const folder = await groziFolder(root, 6);
    await importDataset("grozi120", folder, datasetDir("grozi-like", profile.name));
    assert.notEqual(syntheticClasses, 6);
    logs.length = 0;
    const imported = await finetune(profile, "grozi-like", "gap", { quiet: false });
    assert.ok(
      logs.some((l) => /^finetune-grozi-like-gap: inputs changed \(data, model\); training from scratch$/.test(l)),
      logs.join("\n"),
    );
    assert.ok(!logs.some((l) => /resuming from step/.test(l)), logs.join("\n"));
    const after = JSON.parse(fs.readFileSync(resultFile, "utf8"));
    assert.equal(after.inputs.model.classes, 6);
    assert.notEqual(after.inputs.data, recorded.inputs.data);
    assert.ok(imported.accuracy >= 0 && imported.accuracy <= 1);
    assert.notDeepEqual(imported.accuracyCI, synthetic.accuracyCI);
    assert.equal(datasetTitle(profile, "grozi-like"), "grozi-like (imported from my-grozi)");

    // Asked again with nothing changed: the result is reused, nothing trains.
    logs.length = 0;
    const again = await finetune(profile, "grozi-like", "gap", { quiet: false });
    const { result: _loop, ...kept } = imported;
    assert.deepEqual(again, kept);
    assert.equal(logs.filter((l) => /finetune-grozi-like-gap/.test(l)).length, 0, logs.join("\n"));
  });
});
