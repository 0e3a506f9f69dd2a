// Two shelf-photo domains with disjoint rendering conditions. The paper trains on pairs crawled
// from e-commerce sites and tests on frames filmed in stores (Grozi-120) and shelf photos
// (CAPG-GP): the test images come from cameras, stores and lighting its training data never saw.
// Here every in-situ image drawn for training (the pretraining corpus, the teacher's pairs, the
// unlabeled set) comes from the `catalogue` domain, and every in-situ image a score is computed
// on (the test images of grozi-like, capg-like and dev-like) from the `held-out` domain. The
// one-shot training images are clean packshots and the fine-tune's augmentation (images.ts)
// never renders a shelf, so no held-out condition reaches any training step.
//
// | condition  | catalogue (training sets)              | held-out (dev and test sets)                 |
// | ---------- | -------------------------------------- | -------------------------------------------- |
// | shelf      | wood, grey metal, cream, dark wood     | fridge green, black, blue metal, white tile  |
// | light      | neutral shade, cool casts (hue 180-300)| warm tungsten / green fluorescent (hue 20-140)|
// | occluder   | a hand or a tag (rounded rectangle)    | a round sale sticker, a fridge-door bar      |
// | geometry   | rotation and vertical skew             | rotation and horizontal skew (another camera |
// |            |                                        | height)                                      |
// | camera     | pixelated down-scale, Gaussian blur,   | smooth down-scale, horizontal motion blur,   |
// |            | Gaussian noise, JPEG 4:2:0             | dim-light gain (noise per channel), JPEG 4:4:4|
export const DOMAINS = ["catalogue", "held-out"] as const;
export type Domain = (typeof DOMAINS)[number];

export interface DomainConditions {
  shelves: string[];
  /** Hue range of the colour cast of the light, in degrees. */
  castHue: [number, number];
  occluders: ("hand-or-tag" | "sticker" | "door-bar")[];
  skew: "vertical" | "horizontal";
  camera: { downscale: "nearest" | "smooth"; blur: "gaussian" | "motion"; noise: "grey" | "per-channel"; chroma: "4:2:0" | "4:4:4" };
}

export const CONDITIONS: Record<Domain, DomainConditions> = {
  catalogue: {
    shelves: ["#c8a27a", "#b0b7bf", "#e6e1d8", "#8a6a4f", "#d9d9d9"],
    castHue: [180, 300],
    occluders: ["hand-or-tag"],
    skew: "vertical",
    camera: { downscale: "nearest", blur: "gaussian", noise: "grey", chroma: "4:2:0" },
  },
  "held-out": {
    shelves: ["#2f5d50", "#262626", "#6d8fa8", "#f2f2ee"],
    castHue: [20, 140],
    occluders: ["sticker", "door-bar"],
    skew: "horizontal",
    camera: { downscale: "smooth", blur: "motion", noise: "per-channel", chroma: "4:4:4" },
  },
};

/** Which domain a generated in-situ image comes from: held-out for the images scored, catalogue for the rest. */
export function domainOf(split: string): Domain {
  return split === "test" ? "held-out" : "catalogue";
}
