// hsa-make-fuzz-corpus DIR: the seed corpus of the artifact fuzzer. Valid
// writer-built artifacts of several layer shapes (Quest kv_head/request with
// every combine, f16, StreamingLLM, V as a prefix of K, page size 1, K = C,
// a GQA ratio of 8), small enough that the fuzzer runs each in milliseconds,
// and truncated copies of one of them.
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "hsa/sha256.h"
#include "test_artifact.h"

using namespace hsa::artifact;

namespace {

LayerConfigRecord small() {
  LayerConfigRecord c = default_test_config();
  c.num_q_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = c.value_dim = 8;
  c.softmax_scale = 0.35355339059327373f;  // 1/sqrt(8)
  c.page_size = 4;
  c.budget_units = 4;
  c.capacity_units = 6;
  c.sink_units = 1;
  c.window_units = 1;
  return c;
}

bool write(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream file(path, std::ios::binary);
  file.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  if (!file) std::fprintf(stderr, "hsa-make-fuzz-corpus: cannot write '%s'\n", path.c_str());
  return bool(file);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: hsa-make-fuzz-corpus DIR (an existing directory)\n");
    return 2;
  }
  const std::string dir = argv[1];
  struct Layer {
    std::string name;
    LayerConfigRecord config;
    TestAlgorithm algorithm;
  };
  std::vector<Layer> layers;
  layers.push_back({"quest-kvhead-max", small(), TestAlgorithm::quest("max")});
  LayerConfigRecord c = small();
  c.scope = uint32_t(SelectionScope::Request);
  c.kv_dtype = uint32_t(KvDtype::F16);
  layers.push_back({"quest-request-sum-f16", c, TestAlgorithm::quest("sum")});
  c = small();
  c.num_q_heads = 16;  // GQA 8
  layers.push_back({"quest-kvhead-mean-gqa8", c, TestAlgorithm::quest("mean_query")});
  c = small();
  c.budget_units = 2;  // sinks + window
  layers.push_back({"streaming-kvhead", c, TestAlgorithm::streaming_llm()});
  c = small();
  c.flags = kLayerFlagValueIsKeyPrefix;
  c.value_dim = 4;
  layers.push_back({"quest-mla-value-prefix", c, TestAlgorithm::quest("max")});
  c = small();
  c.page_size = 1;
  c.budget_units = c.capacity_units = 8;
  c.window_units = 2;
  layers.push_back({"quest-page1-k-equals-c", c, TestAlgorithm::quest("max")});
  c = small();  // an fp8 latent cache (KvDtype::Fp8Latent): 128 latent + 6 rope dims, 144-byte rows
  c.num_kv_heads = 1;
  c.flags = kLayerFlagValueIsKeyPrefix;
  c.kv_dtype = uint32_t(KvDtype::Fp8Latent);
  c.head_dim = 134;
  c.value_dim = 128;
  c.budget_units = 2;  // sinks + window
  layers.push_back({"streaming-fp8-latent", c, TestAlgorithm::streaming_llm()});
  int written = 0;
  for (const Layer& layer : layers) {
    const std::vector<uint8_t> bytes = make_test_artifact(layer.config, "sm_90a", layer.algorithm);
    if (!write(dir + "/" + layer.name + ".hsa", bytes)) return 1;
    ++written;
  }
  const std::vector<uint8_t> whole = make_test_artifact(small());
  for (size_t cut : {size_t(0), size_t(47), size_t(48), size_t(48 + 240), whole.size() / 2, whole.size() - 1}) {
    if (!write(dir + "/truncated-" + std::to_string(cut) + ".hsa",
               std::vector<uint8_t>(whole.begin(), whole.begin() + long(cut))))
      return 1;
    ++written;
  }
  std::printf("hsa-make-fuzz-corpus: %d seeds in %s\n", written, dir.c_str());
  return 0;
}
