// The writer-built test artifact of hsa-make-test-artifact (also built by the
// runtime's tests and the fuzzer's seed corpus): the layer contract's buffer
// table with the algorithm package's buffers, plus the kernel scratch the
// compiler emits (scratch.attn_o, scratch.attn_lse) and one PTX no-op kernel
// per plan whose parameter list follows kernel ABI v2 (memref descriptors
// expanded, ExprI64 sizes and strides). The CUDA backend loads and launches
// the kernels, which compute nothing; the CPU backend ignores them.
#ifndef HSA_RUNTIME_TOOLS_TEST_ARTIFACT_H
#define HSA_RUNTIME_TOOLS_TEST_ARTIFACT_H

#include <string>
#include <vector>

#include "algorithms/algorithm.h"
#include "hsa/artifact_writer.h"

namespace hsa {
namespace artifact {

// The algorithm package of a test layer and its parameters, as an artifact
// records them.
struct TestAlgorithm {
  std::string name = "quest";
  std::vector<Param> params = {Param::string("combine", "max")};

  static TestAlgorithm quest(const std::string& combine = "max") {
    return TestAlgorithm{"quest", {Param::string("combine", combine)}};
  }
  static TestAlgorithm streaming_llm() { return TestAlgorithm{"streaming_llm", {}}; }
  static TestAlgorithm cluster_kv(int64_t clusters, int64_t iterations, int64_t every, int64_t new_clusters,
                                  int64_t max_clusters, const std::string& combine = "max") {
    return TestAlgorithm{"cluster_kv",
                         {Param::number("clusters", clusters), Param::number("iterations", iterations),
                          Param::number("recluster_every", every), Param::number("new_clusters", new_clusters),
                          Param::number("max_clusters", max_clusters), Param::string("combine", combine)}};
  }

  static TestAlgorithm dsa(int64_t index_heads, int64_t index_dim, const std::string& index_dtype = "f8E4M3FN") {
    return TestAlgorithm{"dsa",
                         {Param::number("index_heads", index_heads), Param::number("index_dim", index_dim),
                          Param::string("index_dtype", index_dtype)}};
  }

  AlgorithmParams parsed() const {
    AlgorithmParams out;
    for (const Param& p : params) out.items.push_back(AlgorithmParam{p.name, p.kind, p.integer, p.text});
    return out;
  }
  // The package's own buffers for `c` (none for a name no package has).
  std::vector<DocumentedBuffer> buffers(const LayerConfigRecord& c) const {
    const AlgorithmPackage* package = find_algorithm(name);
    return package ? package->buffers(c, parsed()) : std::vector<DocumentedBuffer>{};
  }
};

// Hq 32, Hkv 8, D 128, bf16, P 16, Quest (max) kv_head, K 128, C 512, sinks 1, window 2.
inline LayerConfigRecord default_test_config() {
  LayerConfigRecord c{};
  c.num_q_heads = 32;
  c.num_kv_heads = 8;
  c.head_dim = 128;
  c.value_dim = 128;
  c.page_size = 16;
  c.kv_dtype = uint32_t(KvDtype::BF16);
  c.scope = uint32_t(SelectionScope::KvHead);
  c.softmax_scale = 0.08838834764831845f;  // 1/sqrt(128)
  c.budget_units = 128;
  c.capacity_units = 512;
  c.sink_units = 1;
  c.window_units = 2;
  return c;
}

// A small Quest layer whose rows select (K 6 < units) and whose runs evict
// quickly (C 12): the fault-injection and threading tests' layer.
inline LayerConfigRecord small_selecting_config() {
  LayerConfigRecord c = default_test_config();
  c.num_q_heads = 8;
  c.num_kv_heads = 2;
  c.head_dim = c.value_dim = 32;
  c.softmax_scale = 0.17677669529663687f;  // 1/sqrt(32)
  c.page_size = 8;
  c.budget_units = 6;
  c.capacity_units = 12;
  return c;
}

// A small DSA layer (MLA: Hq 8 over one latent head of 32 + 16 dims, bf16,
// P 1, request scope) whose rows select (K 12) and evict (C 24); with
// TestAlgorithm::dsa(4, 32).
inline LayerConfigRecord small_dsa_config() {
  LayerConfigRecord c = default_test_config();
  c.num_q_heads = 8;
  c.num_kv_heads = 1;
  c.head_dim = 48;
  c.value_dim = 32;
  c.flags |= kLayerFlagValueIsKeyPrefix;
  c.softmax_scale = 0.14433756729740643f;  // 1/sqrt(48)
  c.page_size = 1;
  c.scope = uint32_t(SelectionScope::Request);
  c.budget_units = 12;
  c.capacity_units = 24;
  c.sink_units = 0;
  c.window_units = 1;
  return c;
}

// small_dsa_config() with FlashMLA's fp8 latent cache (KvDtype::Fp8Latent):
// a latent of one scale tile (Dv 128) and 6 rope dims, rows of 128 + 4 + 12
// = 144 bytes (a multiple of 16, as the loader requires).
inline LayerConfigRecord small_fp8_dsa_config() {
  LayerConfigRecord c = small_dsa_config();
  c.kv_dtype = uint32_t(KvDtype::Fp8Latent);
  c.head_dim = 134;
  c.value_dim = 128;
  c.softmax_scale = 0.08638684255813601f;  // 1/sqrt(134)
  return c;
}

// dynamic_shared_bytes: what every kernel states as its maximum dynamic
// shared memory (the runtime opts in above 48 KiB per block).
// telemetry_bound: the artifact also lists io.unselected_log_bound [B][Hq]
// f32, as the compiler's Quest kernels declare it with telemetry;
// group_bound: io.group_unselected_log_bound [B][S] f32, as its top-k
// declares it for Quest max.
inline std::vector<uint8_t> make_test_artifact(const LayerConfigRecord& c, const std::string& chip = "sm_90a",
                                               const TestAlgorithm& algorithm = TestAlgorithm(),
                                               int64_t dynamic_shared_bytes = 0, bool telemetry_bound = false,
                                               bool append_writes_host_pool = true, bool group_bound = false) {
  ArtifactWriter w;
  w.set_layer_config(c);
  w.set_algorithm(algorithm.name, algorithm.params);
  w.set_layer_name("test_layer");
  w.set_target(chip.c_str(), 80);
  w.add_documented_buffers(algorithm.buffers(c));
  using S = Symbol;
  const Expr B = Expr::sym(S::Batch), G = Expr::sym(S::Groups), Hq = Expr::sym(S::QHeads),
             Dv = Expr::sym(S::ValueDim), splits = Expr::constant(4);
  w.add_buffer("scratch.attn_o", Tier::Device, ElementType::F32, BufferScope::PerBatchSlot, {B, Hq, splits, Dv});
  w.add_buffer("scratch.attn_lse", Tier::Device, ElementType::F32, BufferScope::PerBatchSlot, {B, Hq, splits});
  if (telemetry_bound)
    w.add_buffer("io.unselected_log_bound", Tier::Device, ElementType::F32, BufferScope::PerBatchSlot, {B, Hq});
  if (group_bound)
    w.add_buffer("io.group_unselected_log_bound", Tier::Device, ElementType::F32, BufferScope::PerBatchSlot, {B, G});

  // One no-op kernel per plan, each with its own ABI-v2 parameter list.
  auto plan = [&](const char* name, std::vector<const char*> memrefs) {
    std::vector<Arg> args;
    for (const char* buffer : memrefs) {
      const std::vector<Arg> descriptor = w.memref_args(w.buffer_index(buffer));
      args.insert(args.end(), descriptor.begin(), descriptor.end());
    }
    args.push_back(Arg::symbol_i32(Symbol::MaxUnits));
    args.push_back(Arg::expr_i64(Expr::sym(S::Batch) * Expr::sym(S::MaxTokens)));
    const std::string entry = std::string("hsa_test_noop_") + name;
    const uint32_t kernel =
        w.add_kernel(std::string("noop_") + name, entry, {}, noop_kernel_ptx(chip, entry, args),
                     Expr::constant(dynamic_shared_bytes));
    w.add_plan(name, {LaunchSpec{kernel,
                                 {B, G, Expr::constant(1)},
                                 {Expr::constant(128), Expr::constant(1), Expr::constant(1)},
                                 Expr::constant(0),
                                 args}});
  };
  plan("prefill", {"host.k", "host.page_of", "req.length"});
  // store_kv writes the appended token into the pool (false: an older store_kv).
  if (append_writes_host_pool)
    plan("append", {"io.new_k", "host.page_of", "host.k", "req.length", "buf.slot_unit"});
  else
    plan("append", {"io.new_k", "host.page_of", "req.length", "buf.slot_unit"});
  plan("decode_step", {"io.q", "buf.k", "buf.unit_slot", "scratch.attn_o", "io.o"});
  return w.finish();
}

}  // namespace artifact
}  // namespace hsa

#endif  // HSA_RUNTIME_TOOLS_TEST_ARTIFACT_H
