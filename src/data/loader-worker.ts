// One of the loader's worker threads (loader-pool.ts): decodes, augments and normalises the rows
// it is sent with the main thread's own function, and sends the pixels back without a copy.
import { parentPort } from "worker_threads";
import { batchPixels } from "./batch-pixels";
import { BadImageError } from "./images";
import type { PixelRequest, PixelReply } from "./loader-pool";

parentPort!.on("message", async (req: PixelRequest) => {
  let reply: PixelReply;
  try {
    const data = await batchPixels(req.files, req.opts, req.batchIndex, req.rows);
    parentPort!.postMessage({ id: req.id, data } satisfies PixelReply, [data.buffer as ArrayBuffer]);
    return;
  } catch (e) {
    const err = e as Error;
    reply = {
      id: req.id,
      error: e instanceof BadImageError ? { file: e.file, problem: e.problem } : { message: err.message ?? String(e) },
    };
  }
  parentPort!.postMessage(reply);
});
