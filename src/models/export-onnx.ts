// A model out to ONNX: the embedding network (backbone, LCA or GAP pooling, projection, L2
// normalisation) as an inference graph, written with ONNX's own protobuf definition (onnx-proto).
// Batch norms are folded into the convolutions before them (inference mode, as our eval path
// computes them); the input is NCHW, normalised as the metadata's input config says, with a
// dynamic batch; the spatial size is fixed, because the LCA kernel depends on the feature map.
import * as fs from "fs";
import * as path from "path";
import { onnx } from "onnx-proto";
import { tf } from "../engine/tf";
import { disposeModel, embeddingDim, Model } from "./model";
import { BN_EPS } from "./layers";
import { lcaKernel } from "./lca";
import { blockPlan, featureMapSize, outputChannels, resolveArch } from "./resnext";
import { modelForExport } from "./export-torch";
import { describeInput, InputConfig } from "../data/input-config";

export const ONNX_EXPORT_FORMAT = "retail-repr-onnx/1";
export const ONNX_OPSET = 13;
/** The L2 normalisation's floor on the norm, as heads.ts l2Normalize (torch's F.normalize). */
const NORM_EPS = 1e-12;

const FLOAT = onnx.TensorProto.DataType.FLOAT;
const INT64 = onnx.TensorProto.DataType.INT64;

type Attr = number | number[] | string;

/** The graph as it is built: nodes in order, constant tensors, and a counter for names. */
class GraphBuilder {
  nodes: onnx.INodeProto[] = [];
  initializers: onnx.ITensorProto[] = [];
  private n = 0;

  constant(name: string, dims: number[], data: Float32Array | BigInt64Array): string {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    this.initializers.push({ name, dims, dataType: data instanceof Float32Array ? FLOAT : INT64, rawData: bytes.slice() });
    return name;
  }

  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, name = `${opType.toLowerCase()}_${this.n++}`): string {
    const attribute = Object.entries(attrs).map(([key, v]) =>
      typeof v === "string"
        ? { name: key, type: onnx.AttributeProto.AttributeType.STRING, s: new TextEncoder().encode(v) }
        : Array.isArray(v)
          ? { name: key, type: onnx.AttributeProto.AttributeType.INTS, ints: v }
          : Number.isInteger(v)
            ? { name: key, type: onnx.AttributeProto.AttributeType.INT, i: v }
            : { name: key, type: onnx.AttributeProto.AttributeType.FLOAT, f: v },
    );
    this.nodes.push({ opType, input: inputs, output: [name], name, attribute });
    return name;
  }
}

/** conv -> batch norm in inference mode, folded: W' = W * scale per output channel and
 * b = beta - mean * scale, with scale = gamma / sqrt(var + eps). Our filters are HWIO; ONNX's OIHW. */
function foldedConv(g: GraphBuilder, model: Model, x: string, conv: string, bn: string, stride: number, groups: number): string {
  const p = (n: string) => model.params.get(n)!;
  const [w, b] = tf.tidy(() => {
    const scale = tf.mul(p(`${bn}.weight`), tf.rsqrt(tf.add(p(`${bn}.running_var`), BN_EPS)));
    const bias = tf.sub(p(`${bn}.bias`), tf.mul(p(`${bn}.running_mean`), scale));
    return [tf.transpose(tf.mul(p(conv), scale), [3, 2, 0, 1]), bias];
  });
  const [cout, cin, k] = w.shape;
  const wName = g.constant(conv.replace(/\.weight$/, ".folded_weight"), [cout, cin, k, k], w.dataSync() as Float32Array);
  const bName = g.constant(conv.replace(/\.weight$/, ".folded_bias"), [cout], b.dataSync() as Float32Array);
  tf.dispose([w, b]);
  const pad = Math.floor(k / 2);
  return g.op("Conv", [x, wName, bName], {
    kernel_shape: [k, k],
    strides: [stride, stride],
    pads: [pad, pad, pad, pad],
    group: groups,
    dilations: [1, 1],
  });
}

/** The embedding network of `model` as an ONNX ModelProto's bytes, for `input` images. */
export function onnxModelBytes(model: Model, input: InputConfig, opts: { producer?: string } = {}): Uint8Array {
  const pooling = model.config.pooling;
  const cfg = resolveArch(model.config.arch);
  const g = new GraphBuilder();
  // stem: conv1 7x7/2 -> bn1 -> relu -> maxpool 3x3/2
  let h = g.op("Relu", [foldedConv(g, model, "images", "conv1.weight", "bn1", 2, 1)]);
  if (cfg.stemPool !== false) h = g.op("MaxPool", [h], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  for (const b of blockPlan(cfg)) {
    const q = b.prefix;
    let out = g.op("Relu", [foldedConv(g, model, h, `${q}.conv1.weight`, `${q}.bn1`, 1, 1)]);
    out = g.op("Relu", [foldedConv(g, model, out, `${q}.conv2.weight`, `${q}.bn2`, b.stride, cfg.groups)]);
    out = foldedConv(g, model, out, `${q}.conv3.weight`, `${q}.bn3`, 1, 1);
    const shortcut = b.downsample ? foldedConv(g, model, h, `${q}.downsample.0.weight`, `${q}.downsample.1`, b.stride, 1) : h;
    h = g.op("Relu", [g.op("Add", [out, shortcut])]);
  }
  // pooling: F [N, C, H, W] -> [N, C]; LCA is one fixed kernel K [H, W] (lca.ts).
  const side = featureMapSize(input.size, cfg);
  let pooled: string;
  if (pooling === "lca") {
    const K = g.constant("lca.kernel", [1, 1, side, side], lcaKernel(side, side));
    pooled = g.op("ReduceSum", [g.op("Mul", [h, K]), g.constant("lca.axes", [2], new BigInt64Array([2n, 3n]))], { keepdims: 0 });
  } else pooled = g.op("Flatten", [g.op("GlobalAveragePool", [h])], { axis: 1 });
  if (model.config.projDim) {
    const w = g.constant(
      "proj.weight",
      model.params.get("proj.weight")!.shape,
      model.params.get("proj.weight")!.dataSync() as Float32Array,
    );
    const bias = g.constant("proj.bias", model.params.get("proj.bias")!.shape, model.params.get("proj.bias")!.dataSync() as Float32Array);
    pooled = g.op("Gemm", [pooled, w, bias]); // weight [in, out]: no transpose
  }
  // z / max(||z||, eps), as l2Normalize.
  const norm = g.op("Max", [
    g.op("ReduceL2", [pooled], { axes: [1], keepdims: 1 }),
    g.constant("norm.eps", [], new Float32Array([NORM_EPS])),
  ]);
  g.op("Div", [pooled, norm], {}, "embedding");

  const dim = embeddingDim(model.config);
  const tensorType = (dims: (number | string)[]) => ({
    tensorType: { elemType: FLOAT, shape: { dim: dims.map((d) => (typeof d === "number" ? { dimValue: d } : { dimParam: d })) } },
  });
  const graph: onnx.IGraphProto = {
    name: `${cfg.name}-${pooling}`,
    node: g.nodes,
    initializer: g.initializers,
    input: [{ name: "images", type: tensorType(["batch", 3, input.size, input.size]) }],
    output: [{ name: "embedding", type: tensorType(["batch", dim]) }],
  };
  const metadata: Record<string, string> = {
    format: ONNX_EXPORT_FORMAT,
    model: JSON.stringify({ ...model.config, arch: cfg }),
    input: JSON.stringify(input),
    preprocessing: `RGB, NCHW, ${describeInput(input)}; pixel values in [0, 1] before (x - mean) / std`,
    output: `embedding [batch, ${dim}], L2-normalised (${pooling.toUpperCase()} pooling over a ${side}x${side} map of ${outputChannels(cfg)} channels)`,
  };
  const proto: onnx.IModelProto = {
    irVersion: 8,
    producerName: opts.producer ?? "retail-repr",
    opsetImport: [{ domain: "", version: ONNX_OPSET }],
    graph,
    metadataProps: Object.entries(metadata).map(([key, value]) => ({ key, value })),
  };
  return onnx.ModelProto.encode(onnx.ModelProto.create(proto)).finish();
}

/** The metadata an exported file carries (format, model, input config...), read back. */
export function onnxMetadata(bytes: Uint8Array): Record<string, string> {
  const m = onnx.ModelProto.decode(bytes);
  return Object.fromEntries((m.metadataProps ?? []).map((p) => [p.key ?? "", p.value ?? ""]));
}

/** `retail-repr export-onnx`: a checkpoint folder's embedding model as an .onnx file. */
export function exportOnnx(checkpointDir: string, out: string, size?: number): { bytes: number; size: number; input: InputConfig } {
  if (!out.endsWith(".onnx")) throw new Error(`--out ${out}: write an .onnx file`);
  const { model, input } = modelForExport(checkpointDir, size);
  try {
    const bytes = onnxModelBytes(model, input);
    fs.mkdirSync(path.dirname(path.resolve(out)), { recursive: true });
    fs.writeFileSync(out, bytes);
    return { bytes: bytes.length, size: input.size, input };
  } finally {
    disposeModel(model);
  }
}
