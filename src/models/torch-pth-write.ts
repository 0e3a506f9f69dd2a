// PyTorch's zip checkpoint format written from TypeScript (what torch.save makes since 1.6): an
// archive with <prefix>/data.pkl, a pickle (protocol 2) of an OrderedDict of tensors, each
// rebuilt by torch._utils._rebuild_tensor_v2 from a storage that a persistent id names
// ("storage", torch.FloatStorage, key, "cpu", numel) and whose bytes are the entry
// <prefix>/data/<key>; plus <prefix>/version and <prefix>/byteorder. torch.load reads it with
// weights_only=True (every global it names is on torch's allow-list); torch-pth.ts reads it back.
import { zipStored } from "./zip";

/** The few pickle opcodes a state dict needs. */
const OP = {
  PROTO: 0x80,
  STOP: 0x2e,
  MARK: 0x28,
  GLOBAL: 0x63,
  REDUCE: 0x52,
  BINPERSID: 0x51,
  EMPTY_TUPLE: 0x29,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  BININT: 0x4a,
  BINUNICODE: 0x58,
  NEWFALSE: 0x89,
  SETITEMS: 0x75,
  LONG1: 0x8a,
};

/** A pickle under construction: opcodes appended in order. */
class Pickler {
  private parts: Buffer[] = [Buffer.from([OP.PROTO, 2])];
  op(...codes: number[]): this {
    this.parts.push(Buffer.from(codes));
    return this;
  }
  global(module: string, name: string): this {
    return this.op(OP.GLOBAL).raw(`${module}\n${name}\n`);
  }
  str(s: string): this {
    const b = Buffer.from(s, "utf8");
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    this.parts.push(Buffer.from([OP.BINUNICODE]), len, b);
    return this;
  }
  int(n: number): this {
    if (n >= -(2 ** 31) && n < 2 ** 31) {
      const b = Buffer.alloc(5);
      b[0] = OP.BININT;
      b.writeInt32LE(n, 1);
      this.parts.push(b);
      return this;
    }
    // LONG1: little-endian two's complement in 8 bytes (sizes and offsets past 2^31).
    const b = Buffer.alloc(10);
    b[0] = OP.LONG1;
    b[1] = 8;
    b.writeBigInt64LE(BigInt(n), 2);
    this.parts.push(b);
    return this;
  }
  tuple(items: (() => void)[]): this {
    if (items.length === 0) return this.op(OP.EMPTY_TUPLE);
    this.op(OP.MARK);
    for (const item of items) item();
    return this.op(OP.TUPLE);
  }
  raw(s: string): this {
    this.parts.push(Buffer.from(s, "latin1"));
    return this;
  }
  done(): Buffer {
    this.op(OP.STOP);
    return Buffer.concat(this.parts);
  }
}

export interface PthTensor {
  shape: number[];
  data: Float32Array | BigInt64Array;
}

/** torch.save(state_dict) of `tensors` (float32 and int64), with `extra` files beside data.pkl
 * in the archive (e.g. a JSON of the model's config, which torch.load does not read). */
export function serializePth(tensors: Map<string, PthTensor>, extra: Record<string, string> = {}, prefix = "archive"): Buffer {
  const p = new Pickler();
  p.global("collections", "OrderedDict").op(OP.EMPTY_TUPLE, OP.REDUCE, OP.MARK);
  const storages: { name: string; data: Uint8Array }[] = [];
  let key = 0;
  for (const [name, t] of tensors) {
    const storageType = t.data instanceof Float32Array ? "FloatStorage" : "LongStorage";
    const k = String(key++);
    storages.push({ name: `${prefix}/data/${k}`, data: new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength) });
    // Contiguous row-major strides.
    const stride = t.shape.map((_, i) => t.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    p.str(name);
    p.global("torch._utils", "_rebuild_tensor_v2");
    p.tuple([
      () =>
        p
          .tuple([
            () => p.str("storage"),
            () => p.global("torch", storageType),
            () => p.str(k),
            () => p.str("cpu"),
            () => p.int(t.data.length),
          ])
          .op(OP.BINPERSID),
      () => p.int(0),
      () => p.tuple(t.shape.map((d) => () => p.int(d))),
      () => p.tuple(stride.map((s) => () => p.int(s))),
      () => p.op(OP.NEWFALSE),
      () => p.global("collections", "OrderedDict").op(OP.EMPTY_TUPLE, OP.REDUCE),
    ]);
    p.op(OP.REDUCE);
  }
  p.op(OP.SETITEMS);
  const entries = [
    { name: `${prefix}/data.pkl`, data: p.done() },
    { name: `${prefix}/byteorder`, data: Buffer.from("little") },
    ...Object.entries(extra).map(([name, text]) => ({ name: `${prefix}/${name}`, data: Buffer.from(text, "utf8") })),
    ...storages,
    { name: `${prefix}/version`, data: Buffer.from("3\n") },
  ];
  return zipStored(entries);
}
