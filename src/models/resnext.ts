// ResNeXt with torchvision's exact topology and parameter names (torchvision/models/resnet.py,
// Bottleneck with groups): read top to bottom, it is the paper's table.
//
//   stem    conv1 7x7/2, 64 -> bn1 -> relu -> maxpool 3x3/2
//   layer1  blocks[0] x Bottleneck(planes  64, stride 1)
//   layer2  blocks[1] x Bottleneck(planes 128, stride 2 in the first block)
//   layer3  blocks[2] x Bottleneck(planes 256, stride 2)
//   layer4  blocks[3] x Bottleneck(planes 512, stride 2)
//   Bottleneck: conv1 1x1 -> bn1 -> relu -> conv2 3x3 grouped (stride here) -> bn2 -> relu
//               -> conv3 1x1 (planes * 4) -> bn3, + shortcut (downsample: 1x1/stride + bn), relu
//   width = planes * width_per_group / 64 * groups
// The classifier fc is not part of the backbone: heads live in heads.ts.
import { tf } from "../engine/tf";
import { convBn, maxPool3x3s2 } from "./layers";
import { countParams, ParamSpec, Params } from "./params";
import { keepMask, maskSeed, ModelNoise, survival } from "./noise";

export interface ResNeXtConfig {
  name: string;
  layers: [number, number, number, number];
  groups: number;
  widthPerGroup: number;
  /** Stage widths before expansion; torchvision fixes [64, 128, 256, 512]. Smaller values
   * exist for test fixtures, built in PyTorch from torchvision's own Bottleneck. */
  planes?: [number, number, number, number];
  /** Stem output channels (torchvision: 64). */
  stem?: number;
  /** The stem's 3x3/2 max-pool (torchvision: true). Without it the network's output stride is
   * 16, not 32: a 64 px input ends on a 4x4 map instead of 2x2, where LCA differs from GAP.
   * No parameter changes, so torchvision weights load either way. */
  stemPool?: boolean;
  /** layer4's stride (torchvision: 2). 1 is the "last stride 1" of retrieval models (Luo et al.
   * 2019): output stride 16 at a fraction of the cost of dropping the stem pool, since only
   * layer4 runs at the larger map. No parameter changes. */
  lastStride?: 1 | 2;
}

export const EXPANSION = 4;

export const PRESETS: Record<string, ResNeXtConfig> = {
  resnext101_32x8d: { name: "resnext101_32x8d", layers: [3, 4, 23, 3], groups: 32, widthPerGroup: 8 },
  resnext50_32x4d: { name: "resnext50_32x4d", layers: [3, 4, 6, 3], groups: 32, widthPerGroup: 4 },
  resnext26_32x4d: { name: "resnext26_32x4d", layers: [2, 2, 2, 2], groups: 32, widthPerGroup: 4 },
  resnext14_8x8d: { name: "resnext14_8x8d", layers: [1, 1, 1, 1], groups: 8, widthPerGroup: 8 },
  // The cpu profile's backbone: resnext14_8x8d with output stride 16 (no stem max-pool).
  resnext14_8x8d_os16: { name: "resnext14_8x8d_os16", layers: [1, 1, 1, 1], groups: 8, widthPerGroup: 8, stemPool: false },
  resnext14_8x8d_ls1: { name: "resnext14_8x8d_ls1", layers: [1, 1, 1, 1], groups: 8, widthPerGroup: 8, lastStride: 1 },
  resnext_tiny: { name: "resnext_tiny", layers: [1, 1, 1, 1], groups: 4, widthPerGroup: 4 },
};

export function getPreset(name: string): ResNeXtConfig {
  const p = PRESETS[name];
  if (!p) throw new Error(`unknown architecture '${name}'. Presets: ${Object.keys(PRESETS).join(", ")}`);
  return p;
}

export function resolveArch(arch: string | ResNeXtConfig): ResNeXtConfig {
  return typeof arch === "string" ? getPreset(arch) : arch;
}

export function archName(arch: string | ResNeXtConfig): string {
  return typeof arch === "string" ? arch : arch.name;
}

interface BlockPlan {
  prefix: string;
  inplanes: number;
  width: number;
  outplanes: number;
  stride: number;
  downsample: boolean;
}

/** The blocks in order, with their channel counts: the single source of the topology. */
export function blockPlan(cfg: ResNeXtConfig): BlockPlan[] {
  const plan: BlockPlan[] = [];
  let inplanes = cfg.stem ?? 64;
  (cfg.planes ?? [64, 128, 256, 512]).forEach((planes, li) => {
    const perGroup = Math.floor(planes * (cfg.widthPerGroup / 64));
    // torchvision's int() would give a grouped 3x3 with no channel at all, which no engine can
    // run (the native kernels divided by it): refused here, when the model is built.
    if (perGroup < 1)
      throw new Error(
        `${cfg.name}: layer${li + 1} has ${planes} planes x width per group ${cfg.widthPerGroup} / 64 = ` +
          `${(planes * cfg.widthPerGroup) / 64} channels per group, below 1 (its ${cfg.groups} groups would have none); ` +
          `raise widthPerGroup to at least ${Math.ceil(64 / planes)} or planes to at least ${Math.ceil(64 / cfg.widthPerGroup)}`,
      );
    const width = perGroup * cfg.groups;
    for (let b = 0; b < cfg.layers[li]; b++) {
      const stride = b === 0 && li > 0 ? (li === 3 ? (cfg.lastStride ?? 2) : 2) : 1;
      const outplanes = planes * EXPANSION;
      plan.push({
        prefix: `layer${li + 1}.${b}`,
        inplanes,
        width,
        outplanes,
        stride,
        downsample: b === 0 && (stride !== 1 || inplanes !== outplanes),
      });
      inplanes = outplanes;
    }
  });
  return plan;
}

export function outputChannels(cfg: ResNeXtConfig): number {
  return (cfg.planes ?? [64, 128, 256, 512])[3] * EXPANSION;
}

function convSpec(name: string, k: number, cin: number, cout: number): ParamSpec {
  return { name, shape: [k, k, cin, cout], trainable: true, init: "kaiming-fan-out" };
}

function bnSpecs(name: string, c: number): ParamSpec[] {
  return [
    { name: `${name}.weight`, shape: [c], trainable: true, init: "ones" },
    { name: `${name}.bias`, shape: [c], trainable: true, init: "zeros" },
    { name: `${name}.running_mean`, shape: [c], trainable: false, init: "zeros" },
    { name: `${name}.running_var`, shape: [c], trainable: false, init: "ones" },
  ];
}

/** Every backbone tensor with its torchvision name and our (HWIO) shape. */
export function backboneSpecs(cfg: ResNeXtConfig): ParamSpec[] {
  const stem = cfg.stem ?? 64;
  const specs: ParamSpec[] = [convSpec("conv1.weight", 7, 3, stem), ...bnSpecs("bn1", stem)];
  for (const b of blockPlan(cfg)) {
    specs.push(convSpec(`${b.prefix}.conv1.weight`, 1, b.inplanes, b.width), ...bnSpecs(`${b.prefix}.bn1`, b.width));
    specs.push(convSpec(`${b.prefix}.conv2.weight`, 3, b.width / cfg.groups, b.width), ...bnSpecs(`${b.prefix}.bn2`, b.width));
    specs.push(convSpec(`${b.prefix}.conv3.weight`, 1, b.width, b.outplanes), ...bnSpecs(`${b.prefix}.bn3`, b.outplanes));
    if (b.downsample)
      specs.push(
        convSpec(`${b.prefix}.downsample.0.weight`, 1, b.inplanes, b.outplanes),
        ...bnSpecs(`${b.prefix}.downsample.1`, b.outplanes),
      );
  }
  return specs;
}

export function backboneParamCount(cfg: ResNeXtConfig): number {
  return countParams(backboneSpecs(cfg));
}

/** Multiply-accumulates x 2 per image at a square input `size` (convs and the fc-free head). */
export function backboneFlops(cfg: ResNeXtConfig, size: number): number {
  const out = (s: number, k: number, stride: number) => Math.floor((s + 2 * Math.floor(k / 2) - k) / stride) + 1;
  const conv = (s: number, k: number, cin: number, cout: number, groups = 1) => 2 * s * s * k * k * (cin / groups) * cout;
  let s = out(size, 7, 2);
  let flops = conv(s, 7, 3, cfg.stem ?? 64);
  if (cfg.stemPool !== false) s = Math.floor((s + 2 - 3) / 2) + 1;
  for (const b of blockPlan(cfg)) {
    const so = out(s, 3, b.stride);
    flops += conv(s, 1, b.inplanes, b.width) + conv(so, 3, b.width, b.width, cfg.groups) + conv(so, 1, b.width, b.outplanes);
    if (b.downsample) flops += conv(so, 1, b.inplanes, b.outplanes);
    s = so;
  }
  return flops;
}

/** Floats of every feature map one image leaves behind in a training forward pass (each conv,
 * batch-norm and ReLU output, the shortcuts and sums), the input included: what the memory
 * estimate (models/memory.ts) scales with. */
export function activationFloats(cfg: ResNeXtConfig, size: number): number {
  const out = (s: number, k: number, stride: number) => Math.floor((s + 2 * Math.floor(k / 2) - k) / stride) + 1;
  const stem = cfg.stem ?? 64;
  let s = out(size, 7, 2);
  let floats = size * size * 3 + 3 * s * s * stem; // input; stem conv, bn, relu
  if (cfg.stemPool !== false) {
    s = Math.floor((s + 2 - 3) / 2) + 1;
    floats += s * s * stem;
  }
  for (const b of blockPlan(cfg)) {
    const so = out(s, 3, b.stride);
    floats += 3 * s * s * b.width + 3 * so * so * b.width + 2 * so * so * b.outplanes; // conv1-3 with bn (+relu)
    if (b.downsample) floats += 2 * so * so * b.outplanes;
    floats += 2 * so * so * b.outplanes; // sum, relu
    s = so;
  }
  return floats;
}

/** Spatial side of the final feature map for a square input (torchvision's stem by default). */
export function featureMapSize(size: number, cfg: Pick<ResNeXtConfig, "stemPool" | "lastStride"> = {}): number {
  let s = Math.floor((size + 6 - 7) / 2) + 1;
  if (cfg.stemPool !== false) s = Math.floor((s + 2 - 3) / 2) + 1;
  for (let i = 0; i < 3; i++) if (i < 2 || cfg.lastStride !== 1) s = Math.floor((s + 2 - 3) / 2) + 1;
  return s;
}

function bottleneck(
  params: Params,
  cfg: ResNeXtConfig,
  b: BlockPlan,
  x: tf.Tensor4D,
  training: boolean,
  noise?: { keep: number; seed: number; rows?: number[]; dropout?: { rate: number; seed: number } },
): tf.Tensor4D {
  const p = b.prefix;
  let out = convBn(params, `${p}.conv1.weight`, `${p}.bn1`, x, 1, 1, training, true);
  out = convBn(params, `${p}.conv2.weight`, `${p}.bn2`, out, b.stride, cfg.groups, training, true);
  if (noise?.dropout?.rate) out = tf.mul(out, keepMask(out.shape, 1 - noise.dropout.rate, noise.dropout.seed, noise.rows)) as tf.Tensor4D;
  const shortcut = b.downsample ? convBn(params, `${p}.downsample.0.weight`, `${p}.downsample.1`, x, b.stride, 1, training, false) : x;
  if (!noise || noise.keep >= 1) return convBn(params, `${p}.conv3.weight`, `${p}.bn3`, out, 1, 1, training, true, shortcut); // relu(bn3(conv3) + shortcut)
  const branch = convBn(params, `${p}.conv3.weight`, `${p}.bn3`, out, 1, 1, training, false);
  return tf.relu(tf.add(tf.mul(branch, keepMask([x.shape[0], 1, 1, 1], noise.keep, noise.seed, noise.rows)), shortcut)) as tf.Tensor4D;
}

/** x: [N, H, W, 3] normalised images -> final feature map F: [N, H/32, W/32, 2048]. With `noise`
 * (training only), stochastic depth in every block and dropout before the last 1x1 conv (noise.ts). */
export function backboneForward(params: Params, cfg: ResNeXtConfig, x: tf.Tensor4D, training: boolean, noise?: ModelNoise): tf.Tensor4D {
  let h = convBn(params, "conv1.weight", "bn1", x, 2, 1, training, true);
  if (cfg.stemPool !== false) h = maxPool3x3s2(h);
  const plan = blockPlan(cfg);
  const on = training && noise && (noise.dropPath > 0 || noise.dropout > 0) ? noise : undefined;
  plan.forEach((b, i) => {
    const blockNoise = on && {
      keep: survival(on.dropPath, i, plan.length),
      seed: maskSeed(on, i),
      rows: on.rows,
      dropout: i === plan.length - 1 ? { rate: on.dropout, seed: maskSeed(on, plan.length) } : undefined,
    };
    h = bottleneck(params, cfg, b, h, training, blockNoise);
  });
  return h;
}
