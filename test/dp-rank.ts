// One rank of test/data-parallel.test.ts's gradient check, started by the test with RANK,
// WORLD_SIZE, MASTER_ADDR and MASTER_PORT set (as a file under test/ it is also loaded by the test
// runner, with none of them: then it does nothing). For one stage's objective (DP_TASK: the
// teacher's SupCon with hard negatives, the student's SupCon + Smooth L1 under its noise inside the network
// (each image's masks drawn as its row of the whole batch, on whichever rank computes it),
// or the LCA + MaxEnt fine-tune's on class logits), each rank computes from the same seeded model
// and batch (a) one process's step on the whole batch and (b) its data-parallel step on its
// slice, and writes both models (weights and running statistics) to DP_OUT/rank-R.json, with the
// tensor count before and after three more data-parallel steps.
import * as fs from "node:fs";
import * as path from "node:path";
import { tf } from "../src/engine/tf";
import { selectBackend } from "../src/engine/backend";
import { joinProcessGroup, worldFromEnv } from "../src/engine/process-group";
import { getProfile } from "../src/config/profiles";
import type { OneShot, Pair } from "../src/data/sets";
import { createModel, disposeModel, Model, ModelConfig } from "../src/models/model";
import type { ModelNoise } from "../src/models/noise";
import type { ResNeXtConfig } from "../src/models/resnext";
import type { LossFromEmbeddings } from "../src/train/embedding-grad";
import { Optimizer } from "../src/train/optimizer";
import { dataParallelStep, rankRows } from "../src/train/data-parallel";
import { forwardOf } from "../src/train/forward";
import { finetuneTask } from "../src/train/finetune";
import { localStep } from "../src/train/step-runners";
import { studentTask } from "../src/train/student";
import { pairLossFromEmbeddings } from "../src/train/teacher";
import { randomArray } from "./helpers";

const SMALL: ResNeXtConfig = { name: "dp_small", layers: [1, 1, 1, 1], groups: 2, widthPerGroup: 8, planes: [8, 8, 16, 16], stem: 8 };
const profile = getProfile("smoke");
const IMAGES = 10; // uneven slices for 3 ranks
const S = 32;

/** A stage's objective on the network's outputs for IMAGES images, its model, and what to free. */
function stage(kind: string): { config: Partial<ModelConfig>; objective: LossFromEmbeddings; free: tf.Tensor[]; noise?: ModelNoise } {
  if (kind === "teacher")
    return {
      config: { arch: SMALL },
      objective: (z) => ({ loss: pairLossFromEmbeddings(z, IMAGES / 2, profile.train.teacher) }),
      free: [],
    };
  if (kind === "student") {
    // n pairs (2n images) then m unlabeled images, as the student's batch lays them out.
    const [m, dim] = [4, 16];
    const n = (IMAGES - m) / 2;
    const pairs = Array.from({ length: n }, (_, i) => ({ a: `a${i}`, b: `b${i}`, product: i })) as unknown as Pair[];
    const task = studentTask(pairs, ["u0", "u1", "u2", "u3"], { dim, data: randomArray(m * dim, 4) }, profile);
    const targets = tf.tidy(() => tf.div(tf.tensor2d(randomArray(m * dim, 4), [m, dim]), 3) as tf.Tensor2D);
    const empty = () => tf.zeros([0, 1, 1, 3]) as tf.Tensor4D;
    const batch = { pairs: empty(), pseudo: empty(), targets, files: [] };
    return {
      config: { arch: SMALL, projDim: dim },
      objective: (z) => task.objective(z, batch),
      free: [batch.pairs, batch.pseudo, targets],
      noise: { dropPath: 0.3, dropout: 0.3, seed: 5 },
    };
  }
  // The LCA + MaxEnt fine-tune: logits of 3 classes, the images labelled 0, 1, 2, 0, ...
  const data = { classes: 3, train: { files: ["x"], labels: Int32Array.from([0]) } } as unknown as OneShot;
  const task = finetuneTask(data, "lca-maxent", profile);
  const labels = Int32Array.from({ length: IMAGES }, (_, i) => i % 3);
  return {
    config: { arch: SMALL, pooling: "lca", classes: 3 },
    objective: (logits) => task.objective(logits, { x: undefined as unknown as tf.Tensor4D, labels, files: [] }),
    free: [],
  };
}

async function main(): Promise<void> {
  const world = worldFromEnv()!;
  await selectBackend({ force: process.env.DP_BACKEND as "native" | "wasm" | "torch" | undefined, log: null });
  const group = joinProcessGroup(world, 60);
  const kind = process.env.DP_TASK ?? "teacher";
  const output = kind === "finetune" ? "logits" : "embedding";
  const forward = forwardOf(output);
  const x = tf.tensor4d(randomArray(IMAGES * S * S * 3, 7), [IMAGES, S, S, 3]);
  const { config, objective, free, noise } = stage(kind);
  const snapshot = (m: Model) => Object.fromEntries([...m.params].map(([n, v]) => [n, Array.from(v.dataSync())]));
  const sgd = () => new Optimizer({ kind: "sgd", lr: 0.1, momentum: 0.9, weightDecay: 1e-4 });

  const one = createModel(config, 3);
  const oneOpt = sgd();
  const oneLoss = localStep(
    one,
    oneOpt,
    () => objective(forward(one, x, true, noise)),
    0.1,
    () => undefined,
    {},
  );

  const dp = createModel(config, 3);
  const dpOpt = sgd();
  const step = dataParallelStep(dp, dpOpt, group, IMAGES, output);
  const [begin, end] = rankRows(IMAGES, world.rank, world.size);
  const mine = tf.slice(x, [begin, 0, 0, 0], [end - begin, -1, -1, -1]) as tf.Tensor4D;
  const dpLoss = await step(mine, objective, 0.1, () => undefined, {}, noise);
  const result = { oneLoss, dpLoss, one: snapshot(one), dp: snapshot(dp), tensorsBefore: tf.memory().numTensors, tensorsAfter: 0 };
  for (let k = 0; k < 3; k++) await step(mine, objective, 0.1, () => undefined, {}, noise);
  result.tensorsAfter = tf.memory().numTensors;
  fs.writeFileSync(path.join(process.env.DP_OUT!, `rank-${world.rank}.json`), JSON.stringify(result));
  [oneOpt, dpOpt].forEach((o) => o.dispose());
  [one, dp].forEach(disposeModel);
  tf.dispose([x, mine, ...free]);
  group.shutdown();
}

if (require.main === module && process.env.RANK !== undefined)
  main().catch((e) => {
    console.error(e);
    process.exit(1);
  });
