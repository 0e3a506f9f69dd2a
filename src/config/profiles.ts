// Run profiles: one plain object per size of the whole method. `cpu`, the default reproduction
// on a 2-core machine, is the base; `smoke` (CI: minutes, tiny) and `paper` (the paper's own
// sizes) are its differences, laid over it.
import { applyOverrides, changedKeys, CONFIG_ENV, envOverrides, mergeOverrides, Overrides, parseSet, SET_ENV } from "./overrides";
import { FinetuneRecipe, Profile, ProfileName, profileSchema, StudentSweep } from "./schema";

export type {
  DataSizes,
  EngineChoice,
  FinetuneRecipe,
  LrSweep,
  Profile,
  ProfileName,
  StudentStart,
  StudentSweep,
  TrainSizes,
} from "./schema";

export const PROFILE_NAMES: ProfileName[] = profileSchema.shape.name.options;
export const PROFILE_ENV = "RETAIL_REPR_PROFILE";

/** The candidates every profile's dev sweep tries, at a base rate `lr`: the whole network at
 * one rate, and the backbone at a tenth of the head's, each at `lr` and at lr / 5. */
export function finetuneRecipes(lr: number): FinetuneRecipe[] {
  return [
    { name: "uniform", lr, backboneScale: 1 },
    { name: "backbone-tenth", lr, backboneScale: 0.1 },
    { name: "low-backbone-tenth", lr: lr / 5, backboneScale: 0.1 },
  ];
}

/** Half, the base and twice the base rate: the teacher's candidates (the student's second stage
 * tries the two that are not its first stage's). */
export const LR_SCALES = [0.5, 1, 2];

/** Both starts at alpha 0.5 (the paper's mix) and at 0.1 (Smooth L1 weighted up: at the start
 * its gradient on the embeddings is the smaller by an order of magnitude; the sweep logs both). */
export function studentCandidates(): StudentSweep["candidates"] {
  return [
    { name: "teacher-a0.5", start: "teacher", alpha: 0.5 },
    { name: "pretrained-a0.5", start: "pretrained", alpha: 0.5 },
    { name: "teacher-a0.1", start: "teacher", alpha: 0.1 },
    { name: "pretrained-a0.1", start: "pretrained", alpha: 0.1 },
  ];
}

/** A profile's differences from the base: any subset of its keys, at any depth. */
type Delta<T> = { [K in keyof T]?: T[K] extends unknown[] ? T[K] : T[K] extends object ? Delta<T[K]> : T[K] };

/** The base every profile is laid over: the `cpu` profile, the default. */
const BASE: Profile = {
  name: "cpu",
  description: "default: the whole reproduction on a 2-core machine in about 36 min",
  imageSize: 64,
  // Output stride 16 by "last stride 1" (layer4 keeps its input's resolution): a 4x4 final
  // map at 64 px, where LCA is not GAP. Measured against dropping the stem max-pool and against
  // 128 px with torchvision's stem (both also 4x4): 2.5x faster to train (README, "Profiles").
  arch: "resnext14_8x8d_ls1",
  seed: 7,
  init: "pretrained",
  repeat: 0,
  engine: { backend: "auto", device: null },
  // Paper's proportions: unlabeled images = 4x the teacher's images (2M vs 250k pairs);
  // test sets of 480 / 420 in-situ images so that 95 % intervals are about +-4 points.
  data: {
    storeSize: 72,
    pretrainImages: 3000,
    teacherPairs: 600,
    pseudoImages: 4800,
    groziClasses: 120,
    groziTestPerClass: 4,
    capgBrands: 12,
    capgVariants: 5,
    capgTestPerClass: 7,
    devBrands: 30,
    devTestPerClass: 4,
    testSeed: null,
  },
  train: {
    pretrain: { steps: 200, batch: 64, lr: 0.1, tagDrop: 0.25, tagNoise: 0.3 },
    teacher: {
      steps: 150,
      pairsPerBatch: 32,
      lr: 0.05,
      temperature: 0.1,
      baseTemperature: 0.07,
      hardRatio: 0.5,
      sweep: { steps: 40, lrScales: LR_SCALES },
    },
    // Half of each batch pairs (2 x 16 images), half pseudolabels (32): the paper's mix; 300
    // steps are two passes over the 4,800 unlabeled images (Noisy Student trains over its pool
    // several times), twice the images the teacher saw. The noise: Noisy Student's stochastic
    // depth (the last block kept with probability 0.8) and RandAugment at torchvision's default
    // (2 operations at magnitude 9, the RandAugment paper's ResNet-50 setting).
    student: {
      steps: 300,
      pairsPerBatch: 16,
      pseudoPerBatch: 32,
      lr: 0.05,
      alpha: 0.5,
      beta: 1,
      start: "teacher",
      dropout: 0.3,
      dropPath: 0.2,
      randAugment: { ops: 2, magnitude: 9 },
      sweep: { steps: 40, candidates: studentCandidates(), lrScales: [0.5, 2] },
    },
    // As many images as the teacher saw (300 x 32 = 150 x 64); the sweep's runs are as long,
    // against their main run, as the teacher's (80 / 300 ~ 40 / 150).
    finetune: { steps: 300, batch: 32, gamma: 0.5, recipes: finetuneRecipes(0.1), sweep: { steps: 80, gammaScales: [0.5, 2] } },
    embedBatch: 64,
    pseudoPartSize: 1024,
    checkpointEvery: 20,
    workers: 2,
  },
};

/** `delta` laid over the base (objects merged key by key, lists replaced), keys in the base's order. */
function profileOf(delta: Delta<Profile>): Profile {
  return mergeOverrides(BASE as unknown as Overrides, delta as unknown as Overrides) as unknown as Profile;
}

export const PROFILES: Record<ProfileName, Profile> = {
  smoke: profileOf({
    name: "smoke",
    description: "CI: every notebook end to end in minutes, tiny sizes",
    imageSize: 32,
    arch: "resnext_tiny",
    data: {
      storeSize: 40,
      pretrainImages: 64,
      teacherPairs: 48,
      pseudoImages: 48,
      groziClasses: 12,
      groziTestPerClass: 2,
      capgBrands: 4,
      capgVariants: 3,
      capgTestPerClass: 2,
      devBrands: 4,
      devTestPerClass: 2,
    },
    train: {
      pretrain: { steps: 12, batch: 16, lr: 0.05 },
      teacher: { steps: 40, pairsPerBatch: 8, lr: 0.03, sweep: { steps: 8 } },
      student: { steps: 30, pairsPerBatch: 4, pseudoPerBatch: 8, lr: 0.03, sweep: { steps: 8 } },
      finetune: { steps: 10, batch: 12, recipes: finetuneRecipes(0.03), sweep: { steps: 4 } },
      embedBatch: 32,
      pseudoPartSize: 16,
      checkpointEvery: 10,
      workers: 1,
    },
  }),
  cpu: BASE,
  paper: profileOf({
    name: "paper",
    description: "the paper's sizes and backbone (ResNeXt-101 32x8d), for GPU machines",
    imageSize: 224,
    arch: "resnext101_32x8d",
    // The paper: 250k pairs, 2M unlabeled images; Grozi-120 has 4,973 in-situ frames (~41 per class).
    data: {
      storeSize: 256,
      pretrainImages: 1_000_000,
      teacherPairs: 250_000,
      pseudoImages: 2_000_000,
      groziClasses: 120,
      groziTestPerClass: 41,
      capgBrands: 30,
      capgVariants: 8,
      capgTestPerClass: 5,
      devBrands: 60,
      devTestPerClass: 10,
    },
    train: {
      pretrain: { steps: 50_000, batch: 128 },
      teacher: { steps: 20_000, pairsPerBatch: 64, sweep: { steps: 2_000 } },
      student: { steps: 40_000, pairsPerBatch: 64, pseudoPerBatch: 64, sweep: { steps: 4_000 } },
      finetune: { steps: 2_000, batch: 64, recipes: finetuneRecipes(0.01), sweep: { steps: 500 } },
      embedBatch: 128,
      pseudoPartSize: 4096,
      checkpointEvery: 500,
      workers: 1,
    },
  }),
};

export const INIT_ENV = "RETAIL_REPR_INIT";
export const CHUNK_ENV = "RETAIL_REPR_CHUNK";

/** The profile named by `name`, else by RETAIL_REPR_PROFILE, else `cpu`; with the overrides of
 * RETAIL_REPR_CONFIG / RETAIL_REPR_SET, then `overrides` (each layer checked by the schema,
 * errors naming its source); its init from `init`, else RETAIL_REPR_INIT, else the profile's. */
export function getProfile(name?: string, init?: string, overrides: OverrideLayer[] = []): Profile {
  const raw = name ?? process.env[PROFILE_ENV] ?? "cpu";
  const p = PROFILES[raw as ProfileName];
  if (!p) {
    const src = name ? "profile" : PROFILE_ENV;
    throw new Error(`${src}: unknown profile '${raw}'. Use one of: ${PROFILE_NAMES.join(", ")}.`);
  }
  const configured = [{ source: `${CONFIG_ENV} / ${SET_ENV}`, values: envOverrides() }, ...overrides].reduce(
    (q, l) => applyOverrides(q, l.values, l.source),
    p,
  );
  const i = init ?? process.env[INIT_ENV];
  const withInit = i ? withRun(configured, { init: i }) : configured;
  const chunk = process.env[CHUNK_ENV];
  return chunk ? withChunk(withInit, Number(chunk), CHUNK_ENV) : withInit;
}

/** A set of overrides and where they came from (`--config FILE`, `--set k=v`, a notebook). */
export interface OverrideLayer {
  source: string;
  values: Overrides;
}

/** A profile with some of its values changed, as a notebook asks for one:
 * `rr.profile("cpu", { train: { teacher: { lr: 0.1 } } })`. Checked like `--set`. */
export function profile(name: ProfileName, overrides: Overrides = {}): Profile {
  return getProfile(name, undefined, [{ source: "profile()", values: overrides }]);
}

/** The same profile training in gradient-cache chunks of `chunk` images (train/chunked.ts). */
export function withChunk(p: Profile, chunk: number, source = "--chunk"): Profile {
  if (!Number.isInteger(chunk) || chunk < 1)
    throw new Error(`${source}: the chunk size must be a whole number of images >= 1 (got ${chunk})`);
  return { ...p, train: { ...p.train, chunk } };
}

/** What `p` changes of its named profile, as overrides (`RETAIL_REPR_CONFIG` reads them back):
 * how a child process, e.g. a notebook, is given the profile a command was run with. The init
 * and the repeat are not among them. */
export function overridesOf(p: Profile): Overrides {
  const { init: _i, repeat: _r, ...base } = PROFILES[p.name];
  const { init: _pi, repeat: _pr, ...mine } = p;
  return changedKeys(base, mine).reduce<Overrides>((o, line) => mergeOverrides(o, parseSet(line, "overridesOf")), {});
}

/** The same profile for another init or repeat (its runs live in their own folder). */
export function withRun(p: Profile, run: { init?: string; repeat?: number }): Profile {
  return { ...p, init: run.init ?? p.init, repeat: run.repeat ?? p.repeat };
}

/** The seed of everything a training run draws (new layers, batch order, augmentation). */
export function trainSeed(p: Profile): number {
  return p.seed + 1000 * p.repeat;
}
