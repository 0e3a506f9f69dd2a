// Collectives for data-parallel training, on PyTorch's own c10d: a TCPStore for the rendezvous at
// MASTER_ADDR:MASTER_PORT (rank 0 hosts it) and a Gloo process group over TCP, as
// torch.distributed.init_process_group("gloo") builds them. The buffers are the caller's
// Float32Arrays, viewed as CPU tensors without a copy (whatever tfjs backend trains); every call
// blocks until the collective is done or fails. A failure is reported with the rank that stopped
// beating: each process writes a heartbeat into the store every second from a thread of its own.
#include <ATen/ATen.h>
#include <node_api.h>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "napi_util.hpp"

namespace {

using namespace napi_util;
using Clock = std::chrono::system_clock;

// Held for the life of the process and never destroyed: at exit (process.exit included) a
// joinable std::thread's destructor aborts, and the heartbeat thread may still be using the store.
c10::intrusive_ptr<c10d::TCPStore>& store = *new c10::intrusive_ptr<c10d::TCPStore>();
c10::intrusive_ptr<c10d::ProcessGroupGloo>& group = *new c10::intrusive_ptr<c10d::ProcessGroupGloo>();
int rank = -1, world = 0;
std::atomic<bool> beating{false};
std::thread& heart = *new std::thread();

int64_t now_ms() { return std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch()).count(); }

std::string heartbeat_key(int r) { return "retail-repr/alive/" + std::to_string(r); }

void beat() {
  while (beating) {
    try {
      auto t = std::to_string(now_ms());
      store->set(heartbeat_key(rank), std::vector<uint8_t>(t.begin(), t.end()));
    } catch (...) {
      // The store's host (rank 0) is gone; the main thread's collective reports it.
    }
    for (int i = 0; i < 10 && beating; i++) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

void stop_heart(void*) {
  beating = false;
  if (heart.joinable()) heart.join();
}

// The ranks whose heartbeat is older than `stale_ms`, or "rank 0 (the store's host)" when the
// store itself cannot be reached.
std::string dead_ranks(int64_t stale_ms) {
  std::string out;
  try {
    for (int r = 0; r < world; r++) {
      if (r == rank) continue;
      auto v = store->get(heartbeat_key(r));
      int64_t last = std::stoll(std::string(v.begin(), v.end()));
      if (now_ms() - last > stale_ms) out += (out.empty() ? "rank " : ", rank ") + std::to_string(r);
    }
  } catch (...) {
    return "rank 0 (it hosts the rendezvous store, now unreachable)";
  }
  return out.empty() ? "no rank has stopped beating (a collective timed out: is one rank much slower, or stuck?)" : out + " stopped";
}

// Runs a collective; a failure names the dead ranks after waiting long enough for a dead rank's
// heartbeat to go stale.
void collective(const char* what, const std::function<c10::intrusive_ptr<c10d::Work>()>& start) {
  if (!group) throw std::runtime_error(std::string(what) + ": no process group (call init first)");
  try {
    start()->wait();
  } catch (const std::exception& e) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2500));
    throw std::runtime_error("rank " + std::to_string(rank) + " of " + std::to_string(world) + ": " + what + " failed: " + dead_ranks(2000) +
                             " [" + first_line(e) + "]");
  }
}

at::Tensor view_f32(napi_env env, napi_value v) {
  auto [data, len] = typed_array(env, v, napi_float32_array, "Float32Array");
  return at::from_blob(data, {(int64_t)len}, at::TensorOptions().dtype(at::kFloat));
}

// init(host, port, rank, world, timeoutMs, interface) -> a description
napi_value init_group(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 6);
    if (group) throw std::runtime_error("the process group is already initialised");
    std::string host = text(env, a[0]), iface = text(env, a[5]);
    rank = (int)number(env, a[2]);
    world = (int)number(env, a[3]);
    auto timeout = std::chrono::milliseconds((int64_t)number(env, a[4]));
    c10d::TCPStoreOptions so;
    so.port = (uint16_t)number(env, a[1]);
    so.isServer = rank == 0;
    so.numWorkers = world;
    so.waitWorkers = true;
    so.timeout = timeout;
    store = c10::make_intrusive<c10d::TCPStore>(host, so);
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    opts->devices.push_back(iface.empty() ? c10d::ProcessGroupGloo::createDefaultDevice()
                                          : c10d::ProcessGroupGloo::createDeviceForInterface(iface));
    opts->threads = 1;
    group = c10::make_intrusive<c10d::ProcessGroupGloo>(store, rank, world, opts);
    beating = true;
    heart = std::thread(beat);
    return str(env, "gloo, rank " + std::to_string(rank) + " of " + std::to_string(world) + ", store " + host + ":" +
                        std::to_string(so.port));
  })
}

// allreduce(Float32Array): summed over ranks, in place.
napi_value allreduce(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 1);
    std::vector<at::Tensor> t{view_f32(env, a[0])};
    collective("all-reduce", [&] { return group->allreduce(t); });
    return a[0];
  })
}

// allgather(Float32Array of n) -> Float32Array of world * n, rank r's values at [r * n, (r + 1) * n).
napi_value allgather(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 1);
    std::vector<at::Tensor> in{view_f32(env, a[0])};
    int64_t n = in[0].numel();
    void* data;
    napi_value buf, arr;
    napi_create_arraybuffer(env, world * n * sizeof(float), &data, &buf);
    auto all = at::from_blob(data, {world * n}, at::TensorOptions().dtype(at::kFloat));
    std::vector<std::vector<at::Tensor>> out(1);
    for (int r = 0; r < world; r++) out[0].push_back(all.narrow(0, r * n, n));
    collective("all-gather", [&] { return group->allgather(out, in); });
    napi_create_typedarray(env, napi_float32_array, world * n, buf, 0, &arr);
    return arr;
  })
}

// broadcast(Float32Array, root): root's values on every rank, in place.
napi_value broadcast(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 2);
    std::vector<at::Tensor> t{view_f32(env, a[0])};
    c10d::BroadcastOptions o;
    o.rootRank = (int64_t)number(env, a[1]);
    collective("broadcast", [&] { return group->broadcast(t, o); });
    return a[0];
  })
}

// storeSet(key, value): a string for every rank to read (e.g. "rank 0 made the inputs").
napi_value store_set(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 2);
    if (!store) throw std::runtime_error("storeSet: no process group (call init first)");
    auto v = text(env, a[1]);
    store->set(text(env, a[0]), std::vector<uint8_t>(v.begin(), v.end()));
    return num(env, 0);
  })
}

// storeWait(key, timeoutMs) -> the key's value, once some rank has set it.
napi_value store_wait(napi_env env, napi_callback_info info) {
  GUARD({
    auto a = args(env, info, 2);
    if (!store) throw std::runtime_error("storeWait: no process group (call init first)");
    auto key = text(env, a[0]);
    store->wait({key}, std::chrono::milliseconds((int64_t)number(env, a[1])));
    auto v = store->get(key);
    return str(env, std::string(v.begin(), v.end()));
  })
}

// Stops the heartbeat and leaves the group (the store's server stops with rank 0's exit).
napi_value shutdown(napi_env env, napi_callback_info) {
  GUARD({
    stop_heart(nullptr);
    group.reset();
    return num(env, 0);
  })
}

napi_value init(napi_env env, napi_value exports) {
  define_functions(env, exports,
                   {{"init", init_group},
                    {"allreduce", allreduce},
                    {"allgather", allgather},
                    {"broadcast", broadcast},
                    {"storeSet", store_set},
                    {"storeWait", store_wait},
                    {"shutdown", shutdown}});
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
