// One rank of test/data-parallel.test.ts's gradient check, started by the test with RANK,
// WORLD_SIZE, MASTER_ADDR and MASTER_PORT set (as a file under test/ it is also loaded by the test
// runner, with none of them: then it does nothing). Each rank computes, from the same seeded
// model and batch, (a) one process's step on the whole batch and (b) its data-parallel step on
// its slice, and writes both updates and both models' running statistics to DP_OUT/rank-R.json,
// with the tensor count before and after three more data-parallel steps.
import * as fs from "node:fs";
import * as path from "node:path";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { joinProcessGroup, worldFromEnv } from "../src/engine/process-group";
import { createModel, disposeModel, Model } from "../src/models/model";
import type { ResNeXtConfig } from "../src/models/resnext";
import { pairLabels, supConLoss } from "../src/losses/supcon";
import { hardNegativeMask } from "../src/losses/mining";
import { Optimizer } from "../src/train/optimizer";
import { dataParallelStep } from "../src/train/data-parallel";
import { localStep } from "../src/train/step-runners";
import { embedForward } from "../src/models/model";
import { randomArray } from "./helpers";

const SMALL: ResNeXtConfig = { name: "dp_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 8, planes: [8, 8, 16, 16], stem: 8 };

/** SupCon with hard negatives on n pairs (first views, then second views): the teacher's loss. */
const objective = (n: number) => (z: tf.Tensor2D) => {
  const labels = pairLabels(n);
  const mask = tf.tidy(() => hardNegativeMask(z, labels, 0.5));
  const loss = supConLoss(z, labels, { temperature: 0.1, negativeMask: mask });
  mask.dispose();
  return { loss };
};

async function main(): Promise<void> {
  const world = worldFromEnv()!;
  await selectBackend({ force: process.env.DP_BACKEND as "native" | "wasm" | "torch" | undefined, log: null });
  const group = joinProcessGroup(world, 60);
  const pairs = Number(process.env.DP_PAIRS ?? 5); // 10 images: uneven slices for 3 ranks
  const S = 32;
  const x = tf.tensor4d(randomArray(2 * pairs * S * S * 3, 7), [2 * pairs, S, S, 3]);
  const snapshot = (m: Model) => Object.fromEntries([...m.params].map(([n, v]) => [n, Array.from(v.dataSync())]));

  const one = createModel({ arch: SMALL }, 3);
  const oneOpt = new Optimizer({ kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const oneLoss = localStep(
    one,
    oneOpt,
    () => objective(pairs)(embedForward(one, x, true)),
    0.1,
    () => undefined,
    {},
  );

  const dp = createModel({ arch: SMALL }, 3);
  const dpOpt = new Optimizer({ kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });
  const step = dataParallelStep(dp, dpOpt, group);
  const dpLoss = await step(x, objective(pairs), 0.1, () => undefined, {});
  const result = { oneLoss, dpLoss, one: snapshot(one), dp: snapshot(dp), tensorsBefore: 0, tensorsAfter: 0 };
  result.tensorsBefore = tf.memory().numTensors;
  for (let k = 0; k < 3; k++) await step(x, objective(pairs), 0.1, () => undefined, {});
  result.tensorsAfter = tf.memory().numTensors;
  fs.writeFileSync(path.join(process.env.DP_OUT!, `rank-${world.rank}.json`), JSON.stringify(result));
  [oneOpt, dpOpt].forEach((o) => o.dispose());
  [one, dp].forEach(disposeModel);
  x.dispose();
  group.shutdown();
}

if (require.main === module && process.env.RANK !== undefined)
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
