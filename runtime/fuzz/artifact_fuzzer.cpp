// libFuzzer target: the input is an artifact. It goes through the verifying
// loader and, when it loads, runs on a CPU-backend runtime with small limits:
// prefill, decode steps, append, selection, accounting, release. Any crash,
// sanitizer report, leak or exception escaping the API is a finding.
//
// Fuzzer-friendly: a mutated input almost never keeps a valid CRC-32, and
// would stop at the checksum. When the header is intact (magic, version,
// total_size = input size) the input is also run with its checksum recomputed,
// so mutations reach the structural checks and the runtime behind them.
//
// Build: cmake -S runtime -B build/runtime-asan -DHSA_RUNTIME_FUZZ=ON (clang);
// seeds: hsa-make-fuzz-corpus DIR; run: scripts/check-runtime-sanitized.sh.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "artifact.h"
#include "hsa/artifact_writer.h"
#include "hsa/runtime.hpp"

namespace {

using namespace hsa;
using namespace hsa::artifact;

// Bounds that keep one input in the milliseconds: a layer whose step would
// take longer (or whose instance exceeds the memory limit) is loaded and
// verified, then not run.
constexpr uint64_t kHostMemoryLimit = uint64_t(64) << 20;  // the runtime refuses larger instances up front
constexpr uint64_t kMaxStepWork = uint64_t(1) << 22;       // multiply-adds of one decode step, roughly
constexpr uint64_t kMaxPromptValues = uint64_t(1) << 18;   // K/V values of one prefill

void run_layer(const uint8_t* bytes, size_t size, const LayerConfigRecord& c) {
  const uint64_t P = c.page_size, D = c.head_dim, Dv = c.value_dim, Hq = c.num_q_heads, Hkv = c.num_kv_heads;
  const uint64_t prompt = std::min<uint64_t>(2 * P + 3, 64);  // two full units and a partial one (or less)
  const uint64_t max_context = prompt + 4;
  const uint64_t units = (max_context + P - 1) / P, selected = std::min<uint64_t>(c.budget_units, units);
  const uint64_t step_work = Hq * D * units + Hq * (D + Dv) * selected * P;
  const uint64_t kv_values = prompt * Hkv * (D + Dv);
  if (step_work * 2 > kMaxStepWork || kv_values > kMaxPromptValues || Hq * (D + Dv) > kMaxPromptValues) return;

  RuntimeOptions options;
  options.backend = BackendKind::Cpu;
  options.max_batch = 2;
  options.max_context_tokens = max_context;
  options.host_memory_limit_bytes = kHostMemoryLimit;
  std::unique_ptr<Runtime> rt;
  if (!Runtime::create(options, &rt).is_ok()) return;
  if (!rt->load_artifact(bytes, size).is_ok()) return;  // e.g. a launch that does not evaluate, Unsupported

  // K/V/q values from the input itself: every bf16/f16 pattern, NaN and inf included.
  std::vector<uint16_t> values(std::max<uint64_t>(kv_values, 2 * Hq * std::max(D, Dv)) + 16);
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t at = (i * 2654435761u) % size;
    values[i] = uint16_t(bytes[at] | (bytes[(at + 1) % size] << 8));
  }
  std::vector<uint16_t> out(2 * Hq * Dv + 1);
  RequestId ids[2] = {0, 0};
  if (!rt->create_request(&ids[0]).is_ok() || !rt->create_request(&ids[1]).is_ok()) return;
  (void)rt->prefill(ids[0], values.data(), values.data() + 1, prompt);
  (void)rt->prefill(ids[1], values.data() + 3, values.data() + 5, 1 + prompt / 2);
  StepStats stats;
  (void)rt->decode_step(ids, 2, values.data() + 7, out.data(), &stats);
  (void)rt->append(ids, 2, values.data() + 11, values.data() + 13);
  (void)rt->decode_step(ids, 2, values.data() + 2, out.data(), &stats);
  (void)rt->decode_step(&ids[1], 1, values.data() + 9, out.data(), &stats);
  std::vector<int32_t> selection(size_t(c.scope == uint32_t(SelectionScope::KvHead) ? Hkv : 1) * c.budget_units);
  (void)rt->selected_units(ids[0], selection.data(), selection.size());
  RequestAccounting accounting;
  (void)rt->request_accounting(ids[1], &accounting);
  (void)rt->release_request(ids[0]);
  (void)rt->release_request(ids[1]);
}

void load_and_run(const uint8_t* bytes, size_t size) {
  Artifact artifact;
  if (!load_artifact(bytes, size, &artifact).is_ok()) return;
  run_layer(bytes, size, artifact.config);
}

bool header_intact(const uint8_t* data, size_t size) {
  if (size < sizeof(FileHeader)) return false;
  FileHeader h;
  std::memcpy(&h, data, sizeof(h));
  return std::memcmp(h.magic, kMagic, sizeof(kMagic)) == 0 && h.format_version == kFormatVersion &&
         h.total_size == size;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (!header_intact(data, size)) {
    Artifact artifact;
    (void)load_artifact(data, size, &artifact);  // the header checks; fails early
    return 0;
  }
  FileHeader h;
  std::memcpy(&h, data, sizeof(h));
  if (crc32(data + kChecksumCoverageBegin, size - kChecksumCoverageBegin) == h.checksum) {
    load_and_run(data, size);
    return 0;
  }
  Artifact artifact;
  (void)load_artifact(data, size, &artifact);  // the checksum mismatch, as given
  std::vector<uint8_t> sealed(data, data + size);
  ArtifactWriter::seal(sealed);
  load_and_run(sealed.data(), sealed.size());
  return 0;
}
