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
}

export const PROFILES: Record<ProfileName, Profile> = {
  smoke: {
    name: "smoke",
    description: "CI: every notebook end to end in minutes, tiny sizes",
    imageSize: 32,
    arch: "resnext_tiny",
    seed: 7,
  },
  cpu: {
    name: "cpu",
    description: "default: the whole reproduction on a 2-core machine in <= 30 min",
    imageSize: 64,
    arch: "resnext14_8x8d",
    seed: 7,
  },
  paper: {
    name: "paper",
    description: "the paper's sizes and backbone (ResNeXt-101 32x8d), for GPU machines",
    imageSize: 224,
    arch: "resnext101_32x8d",
    seed: 7,
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
