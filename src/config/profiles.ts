// Run profiles: one plain object per size of the whole method. `smoke` is for CI (minutes,
// tiny), `cpu` the default reproduction on a 2-core machine, `paper` the paper's own sizes.
export type ProfileName = "smoke" | "cpu" | "paper";
export const PROFILE_NAMES: ProfileName[] = ["smoke", "cpu", "paper"];
export const PROFILE_ENV = "RETAIL_REPR_PROFILE";

export interface Profile {
  name: ProfileName;
  description: string;
  /** Square input side in pixels for every model. */
  imageSize: number;
  /** Model preset used for teacher, student and baselines. */
  arch: string;
  seed: number;
  data: DataSizes;
  train: TrainSizes;
}

/** Steps and batch sizes of every training run, and the method's hyper-parameters. */
export interface TrainSizes {
  teacher: { steps: number; pairsPerBatch: number; lr: number; temperature: number; baseTemperature: number; hardRatio: number };
  student: { steps: number; pairsPerBatch: number; pseudoPerBatch: number; lr: number; alpha: number; beta: number };
  finetune: { steps: number; batch: number; lr: number; gamma: number };
  embedBatch: number;
  checkpointEvery: number;
  /** Data-parallel replicas on the CPU when convolutions run on XNNPACK (one thread each; 2 uses
   * both cores of a laptop). Ignored with the native OpenBLAS kernels, which use every core. */
  workers: number;
}

/** How many products and images each dataset gets (DESIGN.md, "Data"). */
export interface DataSizes {
  /** Images are stored at this side; loaders crop/resize to imageSize. */
  storeSize: number;
  teacherPairs: number;
  pseudoImages: number;
  groziClasses: number;
  groziTestPerClass: number;
  capgBrands: number;
  capgVariants: number;
  capgTestPerClass: number;
}

export const PROFILES: Record<ProfileName, Profile> = {
  smoke: {
    name: "smoke",
    description: "CI: every notebook end to end in minutes, tiny sizes",
    imageSize: 32,
    arch: "resnext_tiny",
    seed: 7,
    data: { storeSize: 40, teacherPairs: 48, pseudoImages: 48, groziClasses: 12, groziTestPerClass: 2, capgBrands: 4, capgVariants: 3, capgTestPerClass: 2 },
    train: {
      teacher: { steps: 40, pairsPerBatch: 8, lr: 0.03, temperature: 0.1, baseTemperature: 0.07, hardRatio: 0.5 },
      student: { steps: 30, pairsPerBatch: 4, pseudoPerBatch: 8, lr: 0.03, alpha: 0.5, beta: 1 },
      finetune: { steps: 10, batch: 12, lr: 0.03, gamma: 0.5 },
      embedBatch: 32,
      checkpointEvery: 10,
      workers: 1,
    },
  },
  cpu: {
    name: "cpu",
    description: "default: the whole reproduction on a 2-core machine in <= 30 min",
    imageSize: 64,
    arch: "resnext14_8x8d",
    seed: 7,
    data: { storeSize: 72, teacherPairs: 1500, pseudoImages: 2000, groziClasses: 120, groziTestPerClass: 3, capgBrands: 12, capgVariants: 5, capgTestPerClass: 3 },
    train: {
      teacher: { steps: 140, pairsPerBatch: 32, lr: 0.1, temperature: 0.1, baseTemperature: 0.07, hardRatio: 0.5 },
      student: { steps: 140, pairsPerBatch: 16, pseudoPerBatch: 32, lr: 0.1, alpha: 0.5, beta: 1 },
      finetune: { steps: 25, batch: 64, lr: 0.05, gamma: 0.5 },
      embedBatch: 64,
      checkpointEvery: 20,
      workers: 2,
    },
  },
  paper: {
    name: "paper",
    description: "the paper's sizes and backbone (ResNeXt-101 32x8d), for GPU machines",
    imageSize: 224,
    arch: "resnext101_32x8d",
    seed: 7,
    // The paper: 250k pairs, 2M unlabeled images; Grozi-120 has 4,973 in-situ frames (~41 per class).
    data: { storeSize: 256, teacherPairs: 250_000, pseudoImages: 2_000_000, groziClasses: 120, groziTestPerClass: 41, capgBrands: 30, capgVariants: 8, capgTestPerClass: 5 },
    train: {
      teacher: { steps: 20_000, pairsPerBatch: 64, lr: 0.05, temperature: 0.1, baseTemperature: 0.07, hardRatio: 0.5 },
      student: { steps: 40_000, pairsPerBatch: 32, pseudoPerBatch: 64, lr: 0.05, alpha: 0.5, beta: 1 },
      finetune: { steps: 2_000, batch: 64, lr: 0.01, gamma: 0.5 },
      embedBatch: 128,
      checkpointEvery: 500,
      workers: 1,
    },
  },
};

/** The profile named by `name`, else by RETAIL_REPR_PROFILE, else `cpu`. */
export function getProfile(name?: string): Profile {
  const raw = name ?? process.env[PROFILE_ENV] ?? "cpu";
  const p = PROFILES[raw as ProfileName];
  if (!p) {
    const src = name ? "--profile" : PROFILE_ENV;
    throw new Error(`${src}: unknown profile '${raw}'. Use one of: ${PROFILE_NAMES.join(", ")}.`);
  }
  return p;
}
