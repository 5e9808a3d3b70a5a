// An engine's use of an installed hsa runtime, through the C++ API
// (hsa/runtime.hpp): the layer's info, a prefill and two decode steps of a
// batch of two requests on the CPU backend.
//   consumer_cpp ARTIFACT
#include <hsa/runtime.hpp>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <vector>

namespace {

uint16_t to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

float from_bf16(uint16_t h) {
  const uint32_t u = uint32_t(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

bool ok(const hsa::Status& status, const char* what) {
  if (!status.is_ok()) std::fprintf(stderr, "%s: %s\n", what, status.message().c_str());
  return status.is_ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer_cpp ARTIFACT\n");
    return 2;
  }
  hsa::RuntimeOptions options;
  options.backend = hsa::BackendKind::Cpu;
  options.max_batch = 2;
  options.max_context_tokens = 1024;
  std::unique_ptr<hsa::Runtime> rt;
  if (!ok(hsa::Runtime::create(options, &rt), "create") || !ok(rt->load_artifact_file(argv[1]), "load"))
    return 1;
  hsa::LayerInfo l;
  if (!ok(rt->layer_info(&l), "layer_info")) return 1;
  std::printf("layer %s: %s, batch %u, heads %u/%u, dims %u/%u, page %u, budget %u, capacity %u, max context %llu, %s\n",
              l.name.c_str(), l.algorithm.c_str(), l.max_batch, l.num_q_heads, l.num_kv_heads, l.head_dim,
              l.value_dim, l.page_size, l.budget_units, l.capacity_units, (unsigned long long)l.max_context_tokens,
              l.kv_dtype == hsa::artifact::KvDtype::BF16 ? "bf16" : "f16");

  std::mt19937 rng(11);
  std::uniform_real_distribution<float> uniform(-0.5f, 0.5f);
  auto random = [&](size_t n) {
    std::vector<uint16_t> x(n);
    for (auto& e : x) e = to_bf16(uniform(rng));
    return x;
  };
  const size_t kv_row = size_t(l.num_kv_heads) * l.head_dim, v_row = size_t(l.num_kv_heads) * l.value_dim;
  hsa::RequestId ids[2];
  for (int r = 0; r < 2; ++r) {
    const size_t tokens = r == 0 ? 300 : 77;
    const std::vector<uint16_t> k = random(tokens * kv_row), v = random(tokens * v_row);
    if (!ok(rt->create_request(&ids[r]), "create_request") ||
        !ok(rt->prefill(ids[r], k.data(), v.data(), tokens), "prefill"))
      return 1;
  }
  std::vector<uint16_t> o(2 * size_t(l.num_q_heads) * l.value_dim);
  for (int step = 0; step < 2; ++step) {
    const std::vector<uint16_t> nk = random(2 * kv_row), nv = random(2 * v_row);
    const std::vector<uint16_t> q = random(2 * size_t(l.num_q_heads) * l.head_dim);
    hsa::StepStats stats;
    if (!ok(rt->append(ids, 2, nk.data(), nv.data()), "append") ||
        !ok(rt->decode_step(ids, 2, q.data(), o.data(), &stats), "decode_step"))
      return 1;
    for (uint16_t x : o)
      if (!std::isfinite(from_bf16(x)) || std::fabs(from_bf16(x)) > 0.51f) {
        std::fprintf(stderr, "output %g is not a mean of values in [-0.5, 0.5]\n", from_bf16(x));
        return 1;
      }
    std::printf("step %d on %s: %llu units selected, hit rate %.2f\n", step, rt->backend_name(),
                (unsigned long long)stats.units_selected, stats.hit_rate);
  }
  for (hsa::RequestId id : ids)
    if (!ok(rt->release_request(id), "release_request")) return 1;
  return 0;
}
