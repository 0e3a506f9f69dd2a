// The `torch` tfjs backend: tensors live in libtorch's memory on one device (cpu or cuda:N) and
// kernels run ATen's ops (./torch-kernels.ts registers them). tfjs's bookkeeping stays here:
// each data id maps to a tensor of the addon with a reference count, so that reshapes and
// identities share storage as on tfjs's own backends, and `tf.memory()` stays true.
import { tf } from "./tf";
import { TorchLib } from "./torch-lib";

type Info = tf.TensorInfo;
type Values = Float32Array | Int32Array | Uint8Array;

export const TORCH_BACKEND = "torch";
const DTYPES = ["float32", "int32", "bool"] as const;

export function dtypeCode(dtype: tf.DataType): number {
  const code = (DTYPES as readonly string[]).indexOf(dtype);
  if (code < 0) throw new Error(`the torch backend holds float32, int32 and bool tensors, not ${dtype}`);
  return code;
}

interface Entry {
  id: number;
  refCount: number;
}

export class TorchBackend extends tf.KernelBackend {
  private readonly data = new Map<object, Entry>();

  /** Where tensors live ("cpu", "cuda:0"), as the addon was told; set when the backend starts. */
  device: string;

  constructor(
    readonly lib: TorchLib,
    device: string,
  ) {
    super();
    this.device = device;
  }

  /** A data id's entry; data another backend holds (a tensor made before switching) is moved
   * here first, as tfjs's DataStorage does for its own backends. */
  private entry(dataId: object): Entry {
    let e = this.data.get(dataId);
    if (!e) {
      (tf.engine() as unknown as { moveData(b: tf.KernelBackend, id: object): void }).moveData(this, dataId);
      e = this.data.get(dataId);
    }
    if (!e) throw new Error("torch backend: a tensor's data was already disposed");
    return e;
  }

  /** The addon's id of a tensor's data. */
  idOf(dataId: object): number {
    return this.entry(dataId).id;
  }

  override write(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): object {
    const dataId = {};
    this.data.set(dataId, { id: this.upload(values, shape, dtype), refCount: 1 });
    return dataId;
  }

  override move(dataId: object, values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType, refCount: number): void {
    this.data.set(dataId, { id: this.upload(values, shape, dtype), refCount });
  }

  private upload(values: tf.backend_util.BackendValues, shape: number[], dtype: tf.DataType): number {
    if (!(values instanceof Float32Array || values instanceof Int32Array || values instanceof Uint8Array))
      throw new Error(`the torch backend takes typed arrays (float32, int32, bool), not ${dtype} values`);
    return this.lib.write(values, new Float64Array(shape), dtypeCode(dtype));
  }

  /** Wrap ids the addon returned ([id, dtype, rank, dims...] per output) as tfjs tensor infos. */
  adopt(meta: Float64Array): Info[] {
    const out: Info[] = [];
    for (let k = 0; k < meta.length;) {
      const id = meta[k++];
      const dtype = DTYPES[meta[k++]];
      const rank = meta[k++];
      const shape = Array.from(meta.subarray(k, k + rank));
      k += rank;
      const dataId = {};
      this.data.set(dataId, { id, refCount: 1 });
      out.push({ dataId, shape, dtype });
    }
    return out;
  }

  override readSync(dataId: object): Values {
    return this.lib.read(this.idOf(dataId));
  }

  override async read(dataId: object): Promise<Values> {
    return this.readSync(dataId);
  }

  override refCount(dataId: object): number {
    return this.data.get(dataId)?.refCount ?? 0;
  }

  override incRef(dataId: object): void {
    this.entry(dataId).refCount++;
  }

  override disposeData(dataId: object, force = false): boolean {
    const e = this.data.get(dataId);
    if (!e) return true;
    e.refCount--;
    if (!force && e.refCount > 0) return false;
    this.lib.free(e.id);
    this.data.delete(dataId);
    return true;
  }

  override numDataIds(): number {
    return this.data.size;
  }

  override memory(): { unreliable: boolean; reasons?: string[] } {
    return { unreliable: false };
  }

  override async time(f: () => void): Promise<tf.BackendTimingInfo> {
    const start = performance.now();
    f();
    this.lib.synchronize();
    return { kernelMs: performance.now() - start };
  }

  override timerAvailable(): boolean {
    return true;
  }

  override floatPrecision(): 32 {
    return 32;
  }

  override epsilon(): number {
    return 1e-7;
  }

  override dispose(): void {
    for (const e of this.data.values()) this.lib.free(e.id);
    this.data.clear();
  }
}

/** Run one of the addon's ops on tensor infos of this backend (`undefined`: an absent optional
 * input), with numeric attributes; `outDtype` casts the results. */
export function runTorch(backend: unknown, op: string, inputs: (Info | undefined)[], attrs: number[] = [], outDtype?: tf.DataType): Info[] {
  const b = backend as TorchBackend;
  const ids = new Float64Array(inputs.length);
  const shapes: number[] = [];
  inputs.forEach((t, i) => {
    ids[i] = t ? b.idOf(t.dataId) : -1;
    shapes.push(t ? t.shape.length : 0, ...(t ? t.shape : []));
  });
  const meta = b.lib.run(op, ids, new Float64Array(shapes), new Float64Array(attrs), outDtype ? dtypeCode(outDtype) : -1);
  return b.adopt(meta);
}
