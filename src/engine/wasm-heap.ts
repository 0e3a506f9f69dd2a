// A full wasm heap as an error. tfjs's wasm build allows the heap to grow to 4 GiB and, past
// that, its malloc returns 0 (NULL) instead of aborting; tfjs does not check, so the tensor is
// placed at address 0 and written over the engine's own stack and allocator state. What
// follows is undefined: seen here as "memory access out of bounds", and the likeliest reason
// for a CI run that hung instead of dying. Checking every allocation made through the module
// turns that into one error, thrown before anything is written.
import { tf } from "./tf";
import { wayOut } from "../util/host";

export class WasmHeapFullError extends Error {
  override name = "WasmHeapFullError";
}

interface WasmModule {
  _malloc(bytes: number): number;
  HEAPU8: Uint8Array;
  asm?: { malloc?: (bytes: number) => number };
  retailHeapChecked?: boolean;
}

const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

/** Wrap the wasm module's malloc (once) so that a failed allocation throws WasmHeapFullError. */
export function checkWasmAllocations(): void {
  const backend = tf.backend() as unknown as { wasm?: WasmModule };
  const mod = backend.wasm;
  if (!mod || mod.retailHeapChecked) return;
  // Module._malloc starts as a stub that, on its first call, replaces itself (and so any
  // wrapper) with the export: wrap the export itself.
  const malloc = mod.asm?.malloc ?? mod._malloc.bind(mod);
  mod._malloc = (bytes: number) => {
    const at = malloc(bytes);
    if (at === 0 && bytes > 0) {
      throw new WasmHeapFullError(
        `the wasm engine's heap is full: ${mib(bytes)} more did not fit in its 4 GiB. ` +
          `Lower the batch, or compute it in chunks (${wayOut("--chunk N", "profile.train.chunk = N")}); ${wayOut("retail-repr info --arch A --size S", 'rr.largestBatch(config, size, "train")')} shows the largest batch that fits.`,
      );
    }
    return at;
  };
  mod.retailHeapChecked = true;
}
