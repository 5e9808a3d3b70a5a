// hsa-device-check: the device API (Runtime::begin_step, enqueue_append,
// enqueue_decode) on a GPU, as an engine drives it: device tensors on the
// caller's stream, the append and decode captured once into a CUDA graph and
// replayed every later step while requests join and leave and the batch
// changes from step to step. The same steps run through the host-memory API
// on a second CUDA runtime and on the CPU reference. Checks:
//   - o of every request and step equals the host-API run bit for bit (same
//     kernels, same inputs: any difference is the device path's);
//   - the selections and the step's misses are the same;
//   - o against the CPU reference, reported, not judged: an independent
//     reference run may select other units after a near-tie (Quest: a few
//     rows per hundred) or cluster differently (ClusterKV's k-means diverges
//     from one flipped assignment on), so end to end it is no oracle;
//     hsa-run --check bounds every stage on the device's own state instead,
//     and the bit-equality above ties the device API to that;
//   - at the end the host pools hold the same K/V for every token (the
//     appended tokens were written by store_kv from device memory).
//   hsa-device-check ART [--batch=8] [--context=4096] [--steps=48] [--seed=1] [--no-graph]
// Exit 0: every check passed; 1: a mismatch; 2: usage; 3: a call failed.
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "cuda_driver.h"
#include "half.h"
#include "host_cache.h"
#include "cli.h"
#include "hsa/runtime.hpp"
#include "runtime_internal.h"

using namespace hsa;

namespace {

const char kUsage[] =
    "usage: hsa-device-check ARTIFACT [--batch=8] [--context=4096] [--steps=48] [--seed=1] [--no-graph]\n";

struct Options {
  std::string artifact;
  uint32_t batch = 8, steps = 48;
  uint64_t context = 4096, seed = 1;
  bool graph = true;
};

using cli::parse_count;

[[noreturn]] void die(const char* what, const Status& s) {
  std::fprintf(stderr, "hsa-device-check: %s: %s\n", what, s.message().c_str());
  std::exit(3);
}
void check(const char* what, const Status& s) {
  if (!s.is_ok()) die(what, s);
}
void check_cu(const CudaDriver& d, const char* what, CUresult r) {
  if (r != CUDA_SUCCESS) die(what, d.check(r, what));
}

// One logical request, present in the three runtimes.
struct Request {
  RequestId dev = 0, host = 0, ref = 0;
  uint32_t slot = 0;  // the device runtime's (its tensors are slot-indexed)
};

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string key = arg.substr(0, eq), value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    uint64_t n = 0;
    if (arg == "--help" || arg == "-h") {
      std::fputs(kUsage, stdout);
      return 0;
    } else if (arg == "--no-graph") {
      opt.graph = false;
    } else if ((key == "--batch" || key == "--steps") && parse_count(value, &n) && n < 4096) {
      (key == "--batch" ? opt.batch : opt.steps) = uint32_t(n);
    } else if (key == "--context" && parse_count(value, &n)) {
      opt.context = n;
    } else if (key == "--seed" && parse_count(value, &n)) {
      opt.seed = n;
    } else if (!arg.empty() && arg[0] != '-' && opt.artifact.empty()) {
      opt.artifact = arg;
    } else {
      std::fprintf(stderr, "hsa-device-check: bad option '%s'\n%s", arg.c_str(), kUsage);
      return 2;
    }
  }
  if (opt.artifact.empty()) {
    std::fprintf(stderr, "hsa-device-check: no artifact given\n%s", kUsage);
    return 2;
  }

  // The three runtimes over one artifact.
  RuntimeOptions options;
  options.max_batch = opt.batch;
  options.max_context_tokens = opt.context + opt.steps + 1;
  auto make = [&](BackendKind kind, std::unique_ptr<Runtime>* rt) {
    RuntimeOptions o = options;
    o.backend = kind;
    check("create a runtime", Runtime::create(o, rt));
    check("load the artifact", (*rt)->load_artifact_file(opt.artifact));
  };
  std::unique_ptr<Runtime> dev, host, ref;
  make(BackendKind::Cuda, &dev);
  make(BackendKind::Cuda, &host);
  make(BackendKind::Cpu, &ref);
  LayerInfo info;
  check("layer_info", dev->layer_info(&info));
  const size_t B = opt.batch, Hq = info.num_q_heads, Hkv = info.num_kv_heads, D = info.head_dim,
               Dv = info.value_dim;
  const bool separate_v = !info.value_is_key_prefix;
  const artifact::KvDtype dtype = info.kv_dtype;
  // Its random K rows and byte comparisons are bf16/f16 elements; an fp8
  // latent layer's rows need quantising (hsa-run --check covers those).
  if (dtype == artifact::KvDtype::Fp8Latent) {
    std::fprintf(stderr, "hsa-device-check: %s stores fp8 latent rows, which this tool does not generate yet: "
                         "check it with hsa-run --backend=cuda --check\n", opt.artifact.c_str());
    return 2;
  }

  // The caller's side: the driver, the primary context, a stream, device tensors.
  std::unique_ptr<CudaDriver> cu;
  check("load libcuda", CudaDriver::load("libcuda.so.1", &cu));
  CUdevice device = 0;
  CUcontext context = nullptr;
  check_cu(*cu, "cuDeviceGet", cu->cuDeviceGet(&device, 0));
  check_cu(*cu, "cuDevicePrimaryCtxRetain", cu->cuDevicePrimaryCtxRetain(&context, device));
  check_cu(*cu, "cuCtxSetCurrent", cu->cuCtxSetCurrent(context));
  CUstream stream = nullptr;
  check_cu(*cu, "cuStreamCreate", cu->cuStreamCreate(&stream, CU_STREAM_NON_BLOCKING));
  const size_t q_bytes = B * Hq * D * 2, o_bytes = B * Hq * Dv * 2, k_bytes = B * Hkv * D * 2,
               v_bytes = B * Hkv * Dv * 2;
  CUdeviceptr q_dev = 0, o_dev = 0, k_dev = 0, v_dev = 0, lse_dev = 0;
  check_cu(*cu, "cuMemAlloc", cu->cuMemAlloc(&lse_dev, B * Hq * 4));
  check_cu(*cu, "cuMemAlloc", cu->cuMemAlloc(&q_dev, q_bytes));
  check_cu(*cu, "cuMemAlloc", cu->cuMemAlloc(&o_dev, o_bytes));
  check_cu(*cu, "cuMemAlloc", cu->cuMemAlloc(&k_dev, k_bytes));
  check_cu(*cu, "cuMemAlloc", cu->cuMemAlloc(&v_dev, separate_v ? v_bytes : 16));
  auto ptr = [](CUdeviceptr p) { return reinterpret_cast<void*>(p); };

  std::mt19937_64 rng(opt.seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  auto random_rows = [&](size_t n) {
    std::vector<uint16_t> x(n);
    for (uint16_t& e : x) e = float_to_kv(normal(rng), dtype);
    return x;
  };
  std::vector<Request> requests;
  uint64_t joined = 0, left = 0;
  auto join = [&]() {
    Request r;
    check("create_request", dev->create_request(&r.dev));
    check("create_request", host->create_request(&r.host));
    check("create_request", ref->create_request(&r.ref));
    check("request_slot", dev->request_slot(r.dev, &r.slot));
    // Rows longer than the budget, of different lengths (partial pages).
    const uint64_t tokens = opt.context / 2 + rng() % (opt.context / 2);
    const std::vector<uint16_t> k = random_rows(tokens * Hkv * D), v = random_rows(tokens * Hkv * Dv);
    for (Runtime* rt : {dev.get(), host.get(), ref.get()}) {
      const RequestId id = rt == dev.get() ? r.dev : rt == host.get() ? r.host : r.ref;
      check("prefill", rt->prefill(id, k.data(), separate_v ? v.data() : nullptr, tokens));
    }
    requests.push_back(r);
    ++joined;
  };
  auto leave = [&](size_t i) {
    check("release_request", dev->release_request(requests[i].dev));
    check("release_request", host->release_request(requests[i].host));
    check("release_request", ref->release_request(requests[i].ref));
    requests.erase(requests.begin() + long(i));
    ++left;
  };
  for (size_t i = 0; i < B; ++i) join();

  CUgraphExec exec = nullptr;
  uint64_t rows = 0, rows_bitwise = 0, selections = 0, selections_equal = 0, misses = 0, miss_mismatch = 0,
           replays = 0, rows_over_bound = 0;
  double worst_vs_host = 0.0, worst_vs_ref = 0.0, worst_lse_vs_ref = 0.0;
  uint64_t lse_rows_bitwise = 0;
  std::vector<float> lse_dev_host(B * Hq), lse_host(B * Hq), lse_ref(B * Hq);
  uint32_t smallest_batch = uint32_t(B), largest_batch = 0;
  double dev_ms = 0.0, host_ms = 0.0;
  constexpr double kReferenceBound = 5e-2;  // what the report counts rows over
  const uint32_t churn = std::max<uint32_t>(4, opt.steps / 6);
  std::vector<uint16_t> q_host(B * Hq * D), k_host(B * Hkv * D), v_host(B * Hkv * Dv), o_host(B * Hq * Dv);
  for (uint32_t step = 0; step < opt.steps; ++step) {
    if (step > 0 && step % churn == 0) {  // continuous batching: one leaves, one joins
      leave(size_t(step / churn) % requests.size());
      join();
    }
    std::vector<size_t> members;
    for (size_t i = 0; i < requests.size(); ++i)
      if ((i + step) % 3 != 0 || requests.size() == 1) members.push_back(i);
    const size_t count = members.size();
    smallest_batch = std::min<uint32_t>(smallest_batch, uint32_t(count));
    largest_batch = std::max<uint32_t>(largest_batch, uint32_t(count));
    const std::vector<uint16_t> q = random_rows(count * Hq * D), k = random_rows(count * Hkv * D),
                                v = random_rows(count * Hkv * Dv);
    std::vector<RequestId> dev_ids, host_ids, ref_ids;
    for (size_t m = 0; m < count; ++m) {
      const Request& r = requests[members[m]];
      dev_ids.push_back(r.dev), host_ids.push_back(r.host), ref_ids.push_back(r.ref);
      std::memcpy(&q_host[r.slot * Hq * D], &q[m * Hq * D], Hq * D * 2);
      std::memcpy(&k_host[r.slot * Hkv * D], &k[m * Hkv * D], Hkv * D * 2);
      if (separate_v) std::memcpy(&v_host[r.slot * Hkv * Dv], &v[m * Hkv * Dv], Hkv * Dv * 2);
    }
    // The host-memory API (CUDA and the CPU reference).
    std::vector<uint16_t> o_ref_host(count * Hq * Dv), o_ref(count * Hq * Dv);
    StepStats host_stats, ref_stats;
    auto t0 = std::chrono::steady_clock::now();
    check("append (host API)", host->append(host_ids.data(), count, k.data(), separate_v ? v.data() : nullptr));
    check("decode_step (host API)", host->decode_step(host_ids.data(), count, q.data(), o_ref_host.data(), &host_stats));
    host_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    check("append (reference)", ref->append(ref_ids.data(), count, k.data(), separate_v ? v.data() : nullptr));
    check("decode_step (reference)", ref->decode_step(ref_ids.data(), count, q.data(), o_ref.data(), &ref_stats));
    // The device API: inputs uploaded on the caller's stream, then the step.
    check_cu(*cu, "upload q", cu->cuMemcpyHtoDAsync(q_dev, q_host.data(), q_bytes, stream));
    check_cu(*cu, "upload k", cu->cuMemcpyHtoDAsync(k_dev, k_host.data(), k_bytes, stream));
    if (separate_v) check_cu(*cu, "upload v", cu->cuMemcpyHtoDAsync(v_dev, v_host.data(), v_bytes, stream));
    check_cu(*cu, "cuStreamSynchronize", cu->cuStreamSynchronize(stream));
    t0 = std::chrono::steady_clock::now();
    check("begin_step", dev->begin_step(dev_ids.data(), count, true, stream));
    if (opt.graph) {
      if (!exec) {
        check_cu(*cu, "cuStreamBeginCapture", cu->cuStreamBeginCapture(stream, CU_STREAM_CAPTURE_MODE_GLOBAL));
        const Status a = dev->enqueue_append(ptr(k_dev), separate_v ? ptr(v_dev) : nullptr, stream);
        const Status d = dev->enqueue_decode(ptr(q_dev), ptr(o_dev), reinterpret_cast<float*>(lse_dev), stream);
        CUgraph graph = nullptr;
        check_cu(*cu, "cuStreamEndCapture", cu->cuStreamEndCapture(stream, &graph));
        check("enqueue_append (captured)", a);
        check("enqueue_decode (captured)", d);
        check_cu(*cu, "cuGraphInstantiate", cu->cuGraphInstantiate(&exec, graph, 0));
        cu->cuGraphDestroy(graph);
      } else {
        ++replays;
      }
      check_cu(*cu, "cuGraphLaunch", cu->cuGraphLaunch(exec, stream));
    } else {
      check("enqueue_append", dev->enqueue_append(ptr(k_dev), separate_v ? ptr(v_dev) : nullptr, stream));
      check("enqueue_decode", dev->enqueue_decode(ptr(q_dev), ptr(o_dev), reinterpret_cast<float*>(lse_dev), stream));
    }
    check_cu(*cu, "cuStreamSynchronize", cu->cuStreamSynchronize(stream));
    dev_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    check_cu(*cu, "download o", cu->cuMemcpyDtoHAsync(o_host.data(), o_dev, o_bytes, stream));
    check_cu(*cu, "download lse", cu->cuMemcpyDtoHAsync(lse_dev_host.data(), lse_dev, B * Hq * 4, stream));
    // The host-API runs' own io.lse (slot-indexed too; debug access).
    check("io.lse (host API)", RuntimeInternals::backend(*host).read_buffer("io.lse", lse_host.data(), B * Hq * 4));
    check("io.lse (reference)", RuntimeInternals::backend(*ref).read_buffer("io.lse", lse_ref.data(), B * Hq * 4));
    check_cu(*cu, "cuStreamSynchronize", cu->cuStreamSynchronize(stream));
    // Compare.
    StepStats dev_stats;
    check("device_step_stats", dev->device_step_stats(dev_ids.data(), count, &dev_stats));
    misses += dev_stats.misses;
    miss_mismatch += dev_stats.misses != host_stats.misses || dev_stats.units_selected != host_stats.units_selected;
    for (size_t m = 0; m < count; ++m) {
      const Request& r = requests[members[m]];
      const uint16_t* got = &o_host[r.slot * Hq * Dv];
      const uint16_t* want = &o_ref_host[m * Hq * Dv];
      const uint16_t* cpu = &o_ref[m * Hq * Dv];
      ++rows;
      rows_bitwise += std::memcmp(got, want, Hq * Dv * 2) == 0;
      uint32_t hs = 0, rs = 0;
      check("slot", RuntimeInternals::slot_of(*host, r.host, &hs));
      check("slot", RuntimeInternals::slot_of(*ref, r.ref, &rs));
      lse_rows_bitwise += std::memcmp(&lse_dev_host[r.slot * Hq], &lse_host[hs * Hq], Hq * 4) == 0;
      for (size_t h = 0; h < Hq; ++h)
        worst_lse_vs_ref = std::max(worst_lse_vs_ref, double(std::fabs(lse_dev_host[r.slot * Hq + h] - lse_ref[rs * Hq + h])));
      double e_host = 0, e_ref = 0, n_ref = 0;
      for (size_t i = 0; i < Hq * Dv; ++i) {
        const double g = kv_to_float(got[i], dtype), h = kv_to_float(want[i], dtype), c = kv_to_float(cpu[i], dtype);
        e_host = std::max(e_host, std::fabs(g - h));
        e_ref += (g - c) * (g - c), n_ref += c * c;
      }
      const double rel = n_ref > 0 ? std::sqrt(e_ref / n_ref) : std::sqrt(e_ref);
      worst_vs_host = std::max(worst_vs_host, e_host);
      if (!(rel <= worst_vs_ref)) worst_vs_ref = rel;
      rows_over_bound += !(rel <= kReferenceBound);
      const size_t need = Hkv * info.budget_units;  // groups <= Hkv
      std::vector<int32_t> a(need), b(need);
      check("selected_units", dev->selected_units(r.dev, a.data(), a.size()));
      check("selected_units", host->selected_units(r.host, b.data(), b.size()));
      ++selections;
      selections_equal += a == b;
    }
  }
  // The host pools: every token of every live request, K and V.
  uint64_t tokens = 0, tokens_equal = 0;
  const HostCache& dev_cache = RuntimeInternals::cache(*dev);
  const HostCache& host_cache = RuntimeInternals::cache(*host);
  for (const Request& r : requests) {
    uint32_t hs = 0;
    check("slot", RuntimeInternals::slot_of(*host, r.host, &hs));
    const uint32_t length = dev_cache.length(r.slot);
    if (length != host_cache.length(hs)) {
      std::printf("hsa-device-check: FAIL: request lengths differ (%u on the device API, %u on the host API)\n", length,
                  host_cache.length(hs));
      return 1;
    }
    for (uint32_t t = 0; t < length; ++t) {
      bool same = true;
      for (uint32_t h = 0; h < Hkv; ++h) {
        same = same && std::memcmp(dev_cache.key(r.slot, t, h), host_cache.key(hs, t, h), D * 2) == 0;
        if (separate_v) same = same && std::memcmp(dev_cache.value(r.slot, t, h), host_cache.value(hs, t, h), Dv * 2) == 0;
      }
      ++tokens;
      tokens_equal += same;
    }
  }
  if (exec) cu->cuGraphExecDestroy(exec);
  dev.reset();  // before the tensors it may still read are freed
  for (CUdeviceptr p : {q_dev, o_dev, k_dev, v_dev, lse_dev}) cu->cuMemFree(p);
  cu->cuStreamDestroy(stream);
  cu->cuDevicePrimaryCtxRelease(device);

  const bool pass = rows_bitwise == rows && lse_rows_bitwise == rows && selections_equal == selections &&
                    miss_mismatch == 0 && tokens_equal == tokens && rows > 0;
  std::printf(
      "hsa-device-check: %s: %s, B %zu, context %" PRIu64 ", %u steps (%s, %" PRIu64 " replays), batch %u-%u, %" PRIu64
      " joined / %" PRIu64 " left\n"
      "  o equal to the host-API run bit for bit: %" PRIu64 "/%" PRIu64 " rows (max |diff| %.3g); lse %" PRIu64
      "/%" PRIu64 " rows (max |diff| vs the CPU reference %.3g)\n"
      "  selections equal: %" PRIu64 "/%" PRIu64 "; step stats differ in %" PRIu64 " steps; %" PRIu64 " misses\n"
      "  o vs an independent CPU reference run (reported, not judged): max rel L2 %.3g, %" PRIu64 " rows over %.3g\n"
      "  host pool K/V equal: %" PRIu64 "/%" PRIu64 " tokens\n"
      "  host-side time per step: device API %.3f ms, host API %.3f ms\n",
      pass ? "PASS" : "FAIL", info.name.c_str(), B, opt.context, opt.steps, opt.graph ? "one CUDA graph" : "no graph",
      replays, smallest_batch, largest_batch, joined, left, rows_bitwise, rows, worst_vs_host, lse_rows_bitwise, rows,
      worst_lse_vs_ref, selections_equal,
      selections, miss_mismatch, misses, worst_vs_ref, rows_over_bound, kReferenceBound, tokens_equal, tokens,
      dev_ms / opt.steps, host_ms / opt.steps);
  return pass ? 0 : 1;
}
