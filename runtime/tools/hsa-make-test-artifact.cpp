// hsa-make-test-artifact: writes an artifact built with artifact_writer.h for
// running hsa-run without the compiler. Its layer config and buffer table are
// real (the documented buffers plus the free-form ones the compiler emits:
// buf.unit_slot, scratch.attn_o, scratch.attn_lse); its kernels are PTX
// no-ops whose parameter lists follow kernel ABI v2 (memref descriptors
// expanded, ExprI64 sizes and strides), so the CUDA backend can load and
// launch them, but they compute nothing: with --backend=cuda --check the
// stage checker must report a score mismatch. The CPU backend ignores kernels.
//
//   hsa-make-test-artifact OUT [--q-heads=32] [--kv-heads=8] [--head-dim=128] [--value-dim=D]
//       [--page=16] [--budget=128] [--capacity=512] [--sinks=1] [--window=2]
//       [--scope=kv_head|request] [--algorithm=quest|streaming_llm|dsa] [--combine=max|sum|mean_query]
//       [--index-heads=4] [--index-dim=32] [--index-dtype=f8E4M3FN|bf16] [--dtype=bf16|f16|fp8] [--chip=sm_90a]
// (dsa: an MLA layer, V the first --value-dim dims of K; give --kv-heads=1 --page=1.)
// --dtype=fp8 (also --kv-dtype=fp8): FlashMLA's fp8 latent cache (KvDtype::Fp8Latent), an MLA layer whose
// rows are --value-dim e4m3 latent bytes, a f32 scale per 128, and D - Dv bf16 rope values; D/Dv default
// to DeepSeek's 576/512 (656-byte rows). Only dsa and streaming_llm take it (the loader refuses quest).
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "hsa/sha256.h"
#include "test_artifact.h"

using namespace hsa::artifact;

namespace {

bool parse_u32(const std::string& text, uint32_t* out) {
  char* end = nullptr;
  const unsigned long v = std::strtoul(text.c_str(), &end, 10);
  if (text.empty() || *end != 0 || v > 0xffffffffUL) return false;
  *out = uint32_t(v);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  LayerConfigRecord c = default_test_config();
  c.value_dim = 0;  // --value-dim, else D
  std::string out, chip = "sm_90a", algorithm = "quest", combine = "max", index_dtype = "f8E4M3FN";
  uint32_t index_heads = 4, index_dim = 32;
  bool dims_given = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string key = arg.substr(0, eq), value = eq == std::string::npos ? "" : arg.substr(eq + 1);
    bool ok = true;
    if (arg.rfind("--", 0) != 0) { out = arg; continue; }
    if (key == "--q-heads") ok = parse_u32(value, &c.num_q_heads);
    else if (key == "--kv-heads") ok = parse_u32(value, &c.num_kv_heads);
    else if (key == "--head-dim") ok = parse_u32(value, &c.head_dim), dims_given = true;
    else if (key == "--value-dim") ok = parse_u32(value, &c.value_dim), dims_given = true;
    else if (key == "--page") ok = parse_u32(value, &c.page_size);
    else if (key == "--budget") ok = parse_u32(value, &c.budget_units);
    else if (key == "--capacity") ok = parse_u32(value, &c.capacity_units);
    else if (key == "--sinks") ok = parse_u32(value, &c.sink_units);
    else if (key == "--window") ok = parse_u32(value, &c.window_units);
    else if (key == "--chip") chip = value;
    else if (key == "--scope") {
      ok = value == "kv_head" || value == "request";
      c.scope = uint32_t(value == "request" ? SelectionScope::Request : SelectionScope::KvHead);
    } else if (key == "--algorithm") {
      ok = value == "quest" || value == "streaming_llm" || value == "dsa";  // the packages whose parameters this tool knows
      algorithm = value;
    } else if (key == "--index-heads") {
      ok = parse_u32(value, &index_heads);
    } else if (key == "--index-dim") {
      ok = parse_u32(value, &index_dim);
    } else if (key == "--index-dtype") {
      ok = value == "f8E4M3FN" || value == "bf16";
      index_dtype = value;
    } else if (key == "--combine") {
      ok = value == "max" || value == "sum" || value == "mean_query";
      combine = value;
    } else if (key == "--dtype" || key == "--kv-dtype") {
      ok = value == "bf16" || value == "f16" || value == "fp8";
      c.kv_dtype = uint32_t(value == "f16" ? KvDtype::F16 : value == "fp8" ? KvDtype::Fp8Latent : KvDtype::BF16);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr, "hsa-make-test-artifact: bad option '%s' (see the comment at the top of the source)\n",
                   arg.c_str());
      return 2;
    }
  }
  if (out.empty()) {
    std::fprintf(stderr, "usage: hsa-make-test-artifact OUT [--q-heads=N ...]\n");
    return 2;
  }
  const bool fp8 = c.kv_dtype == uint32_t(KvDtype::Fp8Latent);
  if (fp8 && !dims_given) c.head_dim = 576, c.value_dim = 512;  // DeepSeek-V3.2's latent + rope
  if (c.value_dim == 0) c.value_dim = c.head_dim;
  // An MLA layer: V is the first Dv dims of K (fp8 latent rows exist only there).
  if (algorithm == "dsa" || fp8) c.flags |= kLayerFlagValueIsKeyPrefix;
  c.softmax_scale = float(1.0 / std::sqrt(double(c.head_dim)));

  const TestAlgorithm test_algorithm = algorithm == "quest" ? TestAlgorithm::quest(combine)
                                       : algorithm == "dsa"
                                           ? TestAlgorithm::dsa(index_heads, index_dim, index_dtype)
                                           : TestAlgorithm::streaming_llm();
  const std::vector<uint8_t> bytes = make_test_artifact(c, chip, test_algorithm);
  std::ofstream file(out, std::ios::binary);
  file.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!file) {
    std::fprintf(stderr, "hsa-make-test-artifact: cannot write '%s'\n", out.c_str());
    return 1;
  }
  std::printf("wrote %s (%zu bytes, sha256 %s): Hq %u, Hkv %u, D %u, P %u, K %u, C %u\n", out.c_str(), bytes.size(),
              hsa::sha256_hex(bytes.data(), bytes.size()).c_str(), c.num_q_heads, c.num_kv_heads, c.head_dim,
              c.page_size, c.budget_units, c.capacity_units);
  return 0;
}
