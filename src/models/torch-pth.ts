// PyTorch's own checkpoint files (.pth / .pt), read in TypeScript without running Python:
//   zip format (torch >= 1.6): an archive with <prefix>/data.pkl, whose persistent ids
//     ("storage", StorageType, key, location, numel) point at raw entries <prefix>/data/<key>;
//   legacy format (_use_new_zipfile_serialization=False): five pickles in a row (magic number,
//     protocol version, sys info, the object, the storage keys), then each storage as
//     [int64 element count][raw little-endian bytes].
// Only tensors are read: the pickle may name the tensor/storage rebuild functions and
// OrderedDict, nothing else (see pickle.ts). The state dict is found under the usual wrappers
// ({"state_dict": ...}, {"model": ...}) and DataParallel's "module." prefix is removed.
import { PyDict, PyGlobal, PyTuple, unpickle } from "./pickle";
import { decode, DTYPE_BYTES, readWeightsBytes, SafeDType, SafeTensorsFile } from "./safetensors";
import { isZip, zipEntries, zipRead } from "./zip";

const STORAGE_DTYPES: Record<string, SafeDType> = {
  FloatStorage: "F32",
  DoubleStorage: "F64",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};
const REBUILD_TENSOR = ["torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor"];
const REBUILD_PARAMETER = ["torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"];
const ALLOWED = new Set([
  "collections.OrderedDict",
  ...REBUILD_TENSOR,
  ...REBUILD_PARAMETER,
  ...Object.keys(STORAGE_DTYPES).map((s) => `torch.${s}`),
]);
const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
/** Where training scripts commonly nest the state dict, outermost first. */
const WRAPPERS = ["state_dict", "model", "model_state_dict", "module"];
const PREFIXES = ["module.", "model."];

class Storage {
  data?: Float32Array;
  constructor(
    readonly key: string,
    readonly dtype: SafeDType,
    readonly numel: number,
  ) {}
}

class TensorRef {
  constructor(
    readonly storage: Storage,
    readonly offset: number,
    readonly size: number[],
    readonly stride: number[],
  ) {}
}

const ints = (v: unknown): number[] => (v instanceof PyTuple ? v.items : (v as unknown[])).map(Number);

/** REDUCE on an allowed global: a tensor from its storage, a parameter's tensor, an OrderedDict. */
function call(fn: PyGlobal, args: unknown[], file: string): unknown {
  const q = fn.qualified;
  if (REBUILD_TENSOR.includes(q)) {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof Storage)) throw new Error(`${file}: ${q} without a storage`);
    return new TensorRef(storage, Number(offset), ints(size), ints(stride));
  }
  if (REBUILD_PARAMETER.includes(q)) return args[0];
  if (q === "collections.OrderedDict") {
    const d = new PyDict();
    for (const kv of (args[0] as unknown[]) ?? []) {
      const [k, v] = kv instanceof PyTuple ? kv.items : (kv as unknown[]);
      d.map.set(k, v);
    }
    return d;
  }
  throw new Error(`${file}: the pickle calls ${q}, which a state dict never does`);
}

/** A persistent id ("storage", torch.FloatStorage, key, location, numel[, view]) -> a Storage. */
function storageOf(pid: unknown, file: string): Storage {
  const t = pid instanceof PyTuple ? pid.items : [];
  const [kind, type, key, , numel] = t;
  if (kind !== "storage" || !(type instanceof PyGlobal)) throw new Error(`${file}: a persistent id that is not a storage`);
  if (t[5] != null) throw new Error(`${file}: storage views (torch < 0.4) are not supported; re-save the file with a current torch`);
  return new Storage(String(key), STORAGE_DTYPES[type.name], Number(numel));
}

/** The tensor's values in row-major order, whatever its strides. */
function materialize(
  t: TensorRef,
  storageBytes: (s: Storage) => Buffer,
  file: string,
): { dtype: SafeDType; shape: number[]; data: Float32Array } {
  const s = t.storage;
  if (!s.data) {
    const raw = storageBytes(s);
    const need = s.numel * DTYPE_BYTES[s.dtype];
    if (raw.length < need) throw new Error(`${file}: storage ${s.key} holds ${raw.length} bytes, ${need} expected (truncated?)`);
    s.data = decode(s.dtype, raw, s.numel);
  }
  const n = t.size.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  const rank = t.size.length;
  const idx = new Array(rank).fill(0);
  let at = t.offset;
  for (let i = 0; i < n; i++) {
    if (at >= s.numel || at < 0) throw new Error(`${file}: a tensor reaches past its storage ${s.key}`);
    out[i] = s.data[at];
    for (let d = rank - 1; d >= 0; d--) {
      idx[d]++;
      at += t.stride[d];
      if (idx[d] < t.size[d]) break;
      at -= t.stride[d] * t.size[d];
      idx[d] = 0;
    }
  }
  return { dtype: s.dtype, shape: t.size, data: out };
}

/** The state dict inside whatever was saved, with the path of wrapper keys taken to reach it. */
function findStateDict(v: unknown, file: string, via: string[] = []): { dict: PyDict; via: string[] } {
  if (!(v instanceof PyDict)) throw new Error(`${file}: holds a ${Array.isArray(v) ? "list" : typeof v}, not a state dict`);
  const values = [...v.map.values()];
  if (values.some((x) => x instanceof TensorRef)) return { dict: v, via };
  for (const w of WRAPPERS) if (v.map.get(w) instanceof PyDict) return findStateDict(v.map.get(w), file, [...via, w]);
  const keys = [...v.map.keys()].slice(0, 8).map(String);
  throw new Error(
    `${file}: no tensors found${via.length ? ` under '${via.join("' > '")}'` : ""} (keys: ${keys.join(", ")}${v.map.size > 8 ? ", ..." : ""}); expected a state dict or one under ${WRAPPERS.map((w) => `'${w}'`).join(" / ")}`,
  );
}

function toTensorsFile(root: unknown, storageBytes: (s: Storage) => Buffer, file: string, format: string): SafeTensorsFile {
  const { dict, via } = findStateDict(root, file);
  let names = [...dict.map.keys()].filter((k) => dict.map.get(k) instanceof TensorRef).map(String);
  let stripped = "";
  for (let again = true; again;) {
    again = false;
    for (const pre of PREFIXES) {
      if (names.length && names.every((n) => n.startsWith(pre))) {
        names = names.map((n) => n.slice(pre.length));
        stripped += pre;
        again = true;
      }
    }
  }
  const tensors = new Map<string, ReturnType<typeof materialize>>();
  for (const name of names) tensors.set(name, materialize(dict.map.get(stripped + name) as TensorRef, storageBytes, file));
  return {
    tensors,
    metadata: { format, ...(via.length ? { wrapper: via.join("/") } : {}), ...(stripped ? { strippedPrefix: stripped } : {}) },
  };
}

/** Parse a .pth file's bytes (either format) into named float32 tensors. */
export function parsePth(bytes: Buffer, file: string): SafeTensorsFile {
  const opts = {
    allowed: ALLOWED,
    call: (fn: PyGlobal, args: unknown[]) => call(fn, args, file),
    persistentLoad: (pid: unknown) => storageOf(pid, file),
    file,
  };
  if (isZip(bytes)) {
    const entries = zipEntries(bytes, file);
    const pkl = [...entries.keys()].filter((n) => n === "data.pkl" || n.endsWith("/data.pkl"));
    if (pkl.length !== 1) throw new Error(`${file}: a zip archive but not a torch.save file (${pkl.length ? "several" : "no"} data.pkl)`);
    const prefix = pkl[0].slice(0, -"data.pkl".length);
    const order = entries.get(`${prefix}byteorder`);
    if (order && zipRead(bytes, order, file).toString() !== "little")
      throw new Error(`${file}: written on a big-endian machine; load and re-save it with torch on a little-endian one`);
    const { value } = unpickle(zipRead(bytes, entries.get(pkl[0])!, file), opts);
    return toTensorsFile(
      value,
      (s) => {
        const e = entries.get(`${prefix}data/${s.key}`);
        if (!e) throw new Error(`${file}: storage ${s.key} is missing from the archive`);
        return zipRead(bytes, e, file);
      },
      file,
      "pth-zip",
    );
  }
  if (bytes[0] !== 0x80) throw new Error(`${file}: neither a torch.save file (zip or legacy pickle) nor safetensors`);
  // Legacy: the magic number, protocol version and sys info pickles hold no globals at all.
  const plain = { ...opts, allowed: new Set<string>(), persistentLoad: undefined };
  const magic = unpickle(bytes, plain);
  if (magic.value !== LEGACY_MAGIC)
    throw new Error(`${file}: a pickle but not a torch.save file (no torch magic number); refusing to read it further`);
  const version = unpickle(bytes, plain, magic.end);
  if (version.value !== 1001) throw new Error(`${file}: torch legacy protocol ${String(version.value)}, only 1001 is read`);
  const sysInfo = unpickle(bytes, plain, version.end);
  if (sysInfo.value instanceof PyDict && sysInfo.value.map.get("little_endian") === false)
    throw new Error(`${file}: written on a big-endian machine; load and re-save it with torch on a little-endian one`);
  const storages = new Map<string, Storage>();
  const main = unpickle(
    bytes,
    {
      ...opts,
      persistentLoad: (pid) => {
        const s = storageOf(pid, file);
        if (!storages.has(s.key)) storages.set(s.key, s);
        return storages.get(s.key);
      },
    },
    sysInfo.end,
  );
  const keys = unpickle(bytes, plain, main.end);
  // The raw storages follow in the order of the keys list.
  const raw = new Map<string, Buffer>();
  let p = keys.end;
  for (const key of keys.value as unknown[]) {
    if (p + 8 > bytes.length) throw new Error(`${file}: storage ${String(key)} is missing (truncated?)`);
    const numel = Number(bytes.readBigInt64LE(p));
    const s = storages.get(String(key));
    const len = numel * (s ? DTYPE_BYTES[s.dtype] : 1);
    if (p + 8 + len > bytes.length) throw new Error(`${file}: storage ${String(key)} ends past the end of the file (truncated?)`);
    raw.set(String(key), bytes.subarray(p + 8, p + 8 + len));
    p += 8 + len;
  }
  return toTensorsFile(main.value, (s) => raw.get(s.key) ?? Buffer.alloc(0), file, "pth-legacy");
}

export function readPth(file: string): SafeTensorsFile {
  return parsePth(readWeightsBytes(file), file);
}
