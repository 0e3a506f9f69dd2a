// The safetensors format, read and written in TypeScript (no Python at run time):
//   [8 bytes: header length n, u64 little-endian][n bytes: JSON header][raw tensor bytes]
// header: { name: { dtype, shape, data_offsets: [begin, end] } (offsets into the byte
// buffer after the header), "__metadata__"?: { string: string } }.
import * as fs from "fs";

export type SafeDType = "F32" | "F16" | "BF16" | "F64" | "I64" | "I32" | "I16" | "I8" | "U8" | "BOOL";
export const DTYPE_BYTES: Record<SafeDType, number> = { F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  /** Values widened to float32 (integers included; torch's num_batches_tracked is I64). */
  data: Float32Array;
}

export interface SafeTensorsFile {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * 2 ** -14 * (f / 1024);
  if (e === 31) return f ? NaN : s * Infinity;
  return s * 2 ** (e - 15) * (1 + f / 1024);
}

/** `count` little-endian values of `dtype` from `buf`, widened to float32. */
export function decode(dtype: SafeDType, buf: Buffer, count: number): Float32Array {
  if (dtype === "F32") return new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + count * 4));
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) {
    switch (dtype) {
      case "F64":
        out[i] = buf.readDoubleLE(i * 8);
        break;
      case "F16":
        out[i] = halfToFloat(buf.readUInt16LE(i * 2));
        break;
      case "BF16":
        out[i] = new Float32Array(new Uint32Array([buf.readUInt16LE(i * 2) << 16]).buffer)[0];
        break;
      case "I64":
        out[i] = Number(buf.readBigInt64LE(i * 8));
        break;
      case "I32":
        out[i] = buf.readInt32LE(i * 4);
        break;
      case "I16":
        out[i] = buf.readInt16LE(i * 2);
        break;
      case "I8":
        out[i] = buf.readInt8(i);
        break;
      case "U8":
      case "BOOL":
        out[i] = buf[i];
        break;
    }
  }
  return out;
}

/** Parse a safetensors buffer; every structural problem names the file and the tensor. */
export function parseSafetensors(bytes: Buffer, file = "<buffer>"): SafeTensorsFile {
  const bad = (msg: string) => new Error(`${file}: not a valid safetensors file: ${msg}`);
  if (bytes.length < 8) throw bad(`only ${bytes.length} bytes`);
  const n = Number(bytes.readBigUInt64LE(0));
  if (n <= 0 || 8 + n > bytes.length) throw bad(`header length ${n} does not fit in ${bytes.length} bytes (truncated?)`);
  let header: Record<string, any>;
  try {
    header = JSON.parse(bytes.subarray(8, 8 + n).toString("utf8"));
  } catch (e) {
    throw bad(`header is not JSON (${(e as Error).message})`);
  }
  const body = bytes.subarray(8 + n);
  const tensors = new Map<string, SafeTensor>();
  let metadata: Record<string, string> = {};
  for (const [name, info] of Object.entries(header)) {
    if (name === "__metadata__") {
      metadata = info;
      continue;
    }
    const dtype = info.dtype as SafeDType;
    if (!(dtype in DTYPE_BYTES)) throw bad(`tensor '${name}' has unsupported dtype ${info.dtype}`);
    const shape: number[] = info.shape;
    const [begin, end] = info.data_offsets as [number, number];
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * DTYPE_BYTES[dtype])
      throw bad(`tensor '${name}' ${dtype}[${shape}] needs ${count * DTYPE_BYTES[dtype]} bytes, offsets give ${end - begin}`);
    if (end > body.length) throw bad(`tensor '${name}' ends at byte ${end} of a ${body.length}-byte body (truncated?)`);
    tensors.set(name, { dtype, shape, data: decode(dtype, body.subarray(begin, end), count) });
  }
  return { tensors, metadata };
}

/** A weights file's bytes; a file that cannot be read is named with the reason. */
export function readWeightsBytes(file: string): Buffer {
  try {
    return fs.readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
}

export function readSafetensors(file: string): SafeTensorsFile {
  return parseSafetensors(readWeightsBytes(file), file);
}

/** Write float32 (and int64) tensors, header entries sorted by name as the reference writer does. */
export function serializeSafetensors(
  tensors: Map<string, { shape: number[]; data: Float32Array | BigInt64Array }>,
  metadata: Record<string, string> = {},
): Buffer {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const name of names) {
    const t = tensors.get(name)!;
    const dtype = t.data instanceof BigInt64Array ? "I64" : "F32";
    header[name] = { dtype, shape: t.shape, data_offsets: [offset, offset + t.data.byteLength] };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8); // keep the body 8-byte aligned
  const head = Buffer.alloc(8);
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  const body = Buffer.concat(
    names.map((n) => Buffer.from(tensors.get(n)!.data.buffer, tensors.get(n)!.data.byteOffset, tensors.get(n)!.data.byteLength)),
  );
  return Buffer.concat([head, Buffer.from(json), body]);
}
