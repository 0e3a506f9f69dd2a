// Images decode and augment on libuv's thread pool (sharp, with the next batch prefetched); its
// default of 4 threads starves a GPU on a many-core machine. libuv sizes the pool on its first
// use, so this runs before anything else the CLI imports; a user's UV_THREADPOOL_SIZE wins.
import * as os from "os";

process.env.UV_THREADPOOL_SIZE ??= String(Math.max(4, os.availableParallelism?.() ?? os.cpus().length));
