// How an image becomes a model's input, kept with the model as timm keeps its pretrained configs:
// the side the network sees, how the image is brought to it, and the normalisation.

/** ImageNet's channel statistics: what ResNeXt weights expect. */
export const IMAGENET_MEAN = [0.485, 0.456, 0.406];
export const IMAGENET_STD = [0.229, 0.224, 0.225];

export interface InputConfig {
  /** The square side the network sees, in pixels. */
  size: number;
  /** "fill": both sides resized to `size`, PIL bilinear (this workbench's own training and probes).
   * "shorter-side": the shorter side resized to `resizeTo` (aspect kept), then a centre crop of
   * `size` (torchvision's Resize(resizeTo) + CenterCrop(size), PIL bilinear). */
  resize: "fill" | "shorter-side";
  resizeTo?: number;
  mean: number[];
  std: number[];
}

/** Our loaders' rule at `size`. */
export const defaultInputConfig = (size: number): InputConfig => ({ size, resize: "fill", mean: IMAGENET_MEAN, std: IMAGENET_STD });

/** torchvision's ImageNet evaluation transform at `size` (256 -> 224: crop fraction 0.875). */
export const torchvisionInputConfig = (size: number): InputConfig => ({
  size,
  resize: "shorter-side",
  resizeTo: Math.floor(size / 0.875),
  mean: IMAGENET_MEAN,
  std: IMAGENET_STD,
});

/** The same rule at another side (torchvision's resize keeps its 0.875 crop fraction). */
export function atSize(c: InputConfig, size: number): InputConfig {
  return c.resize === "shorter-side" ? { ...c, size, resizeTo: Math.floor(size / 0.875) } : { ...c, size };
}

/** The input config a checkpoint records, else `fill` at the size its run trained at. */
export function checkpointInputConfig(extra: Record<string, unknown>): InputConfig | undefined {
  if (extra.input) return extra.input as InputConfig;
  const size = trainedImageSize(extra);
  return size ? defaultInputConfig(size) : undefined;
}

/** The image size a checkpoint's run trained at (its recorded inputs), if it says. */
export function trainedImageSize(extra: Record<string, unknown>): number | undefined {
  return (extra.inputs as { imageSize?: number } | undefined)?.imageSize;
}

/** One line for logs and metadata: "224 px, shorter side to 256 + centre crop, ImageNet mean/std". */
export function describeInput(c: InputConfig): string {
  return `${c.size} px, ${c.resize === "fill" ? "both sides resized to it" : `shorter side to ${c.resizeTo} + centre crop`}, mean ${c.mean.join("/")}, std ${c.std.join("/")}`;
}
