// Decoding workloads for hsa-run and hsa-accuracy: the keys, values and
// queries one attention layer sees while it decodes. A workload is a named
// preset of the synthetic generator (below) or a recorded trace
// (`trace:PATH`, the format is in docs/ACCURACY.md). Everything is
// deterministic from the seed: the same preset, seed, shape and prompts give
// the same bytes on every machine.
//
// The presets and why each exists (docs/ACCURACY.md has the measurements):
//   drift          i.i.d. normal keys, one key direction per KV head that the
//                  queries start near and drift slowly away from; sinks, a
//                  recency bias and 8 far needles per KV head. hsa-run's
//                  default since the first session (cheap; its numbers are in
//                  the docs and tests). Half the attention mass is a flat noise
//                  floor no selection can reach, so it cannot rank algorithms.
//   rope           drift with rotary position embeddings on queries and keys
//                  (theta 500000, as Llama 3): logits depend on relative
//                  position, high-frequency pairs decorrelate with distance,
//                  and the matching content lives in the low-frequency pairs
//                  (as trained models put it). Tests scoring on rotated keys.
//   outliers       drift plus 4 key channels per KV head of magnitude ~12 (the
//                  rest ~1) that the queries also weight: what KIVI and others
//                  measure in real keys. Per-channel min/max bounds (Quest)
//                  are dominated by these channels' spread.
//   topics         low-rank keys: 8 topic vectors per KV head, the prompt in
//                  segments of ~1024 tokens each on one topic, small noise, weak
//                  recency; the queries follow a topic the prompt does not end
//                  on and switch to another every 4 decode steps. Mass sits on a few thousand far tokens that
//                  only content-based selection finds, and the switches test
//                  the LRU buffer (hit rate, top-k overlap).
//   needles        weak background, sinks, and one strongly attended token
//                  per KV head at each chosen distance from the end of the
//                  prompt (default 1K, 2K, 4K, ..., 128K tokens back; override
//                  with needle distances): retrieval at known ranges.
//   sinks-recency  strong attention sinks and a steep recency decay, nothing
//                  far: the regime StreamingLLM is built for (its best case).
//   llm            rope + outliers + topics + sinks + mild recency: the
//                  combined realistic preset.
// A temperature T (any preset) divides every logit by T: T < 1 concentrates
// attention, T > 1 flattens it.
#ifndef HSA_RUNTIME_TOOLS_WORKLOAD_H
#define HSA_RUNTIME_TOOLS_WORKLOAD_H

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "hsa/artifact_format.h"
#include "hsa/status.hpp"

namespace hsa {
namespace workload {

class Rng {  // xoshiro256** seeded by splitmix64: fast, reproducible everywhere
 public:
  explicit Rng(uint64_t seed);
  uint64_t next() {
    const uint64_t result = rotl(s_[1] * 5, 7) * 9, t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  double uniform() { return double(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  // A standard normal sample from 16 random bits: the midpoint quantiles of
  // 65536 equal-probability bins (|x| <= 4.3). Far finer than the bf16 the
  // workload stores, and four samples per 64-bit draw: gigabytes of
  // synthetic K/V in seconds.
  float normal() {
    if (bits_left_ == 0) {
      bits_ = next();
      bits_left_ = 4;
    }
    --bits_left_;
    const uint32_t index = uint32_t(bits_ & 0xffff);
    bits_ >>= 16;
    return table()[index];
  }

 private:
  static const float* table();
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t s_[4];
  uint64_t bits_ = 0;
  int bits_left_ = 0;
};

// The layer dimensions a workload produces data for.
struct Dims {
  uint32_t q_heads = 32, kv_heads = 8, head_dim = 128, value_dim = 128;
  artifact::KvDtype dtype = artifact::KvDtype::BF16;
  uint32_t group_size() const { return q_heads / kv_heads; }
};

// The synthetic generator's knobs; a preset is one setting of them.
struct Params {
  std::string name = "drift";
  float key_noise = 1.0f;  // std of the i.i.d. normal part of every key
  // Attention sinks: the first tokens' keys aligned with the KV head's direction.
  uint32_t sink_tokens = 4;
  float sink_strength = 11.5f;
  // Recency: prompt token t aligns with strength recent_strength * exp(-(L0 - 1 - t) / recent_scale);
  // decode tokens align with the current query at recent_strength.
  float recent_strength = 6.0f, recent_scale = 512.0f;
  // Needles: per KV head, `needles` far tokens at random positions (drift), or
  // one at each of `needle_distances` tokens before the end of the prompt.
  uint32_t needles = 8;
  float needle_strength = 10.0f;
  std::vector<uint64_t> needle_distances;
  // Queries: per head an offset from the direction, then a random walk.
  float query_offset = 0.5f, query_drift = 0.05f;
  float temperature = 1.0f;  // logits / T (the query's norm is scaled by 1/T)
  // RoPE on queries and keys at their positions (rotate-half pairing i, i + D/2).
  bool rope = false;
  double rope_theta = 500000.0;
  float rope_high_frequency_weight = 0.25f;  // weight of the fast-rotating pairs in the matching directions
  // Outlier channels (after RoPE): `outlier_channels` per KV head, keys get
  // +-outlier_magnitude * (1 + outlier_spread * N(0,1)) there, queries +-outlier_query_weight.
  uint32_t outlier_channels = 0;
  float outlier_magnitude = 12.0f, outlier_spread = 0.3f, outlier_query_weight = 0.15f;
  // Topics: `topics` unit vectors per KV head; the prompt in segments of
  // topic_segment tokens on average, each on one topic, keys += topic_strength * topic;
  // queries follow one topic (plus sink_share of the direction) and switch every topic_switch_every steps.
  uint32_t topics = 0;
  float topic_strength = 4.0f, sink_share = 0.6f;
  uint32_t topic_segment = 1024, topic_switch_every = 4;
};

struct PresetInfo {
  const char* name;
  const char* why;  // one line, for --help and errors
};
// Every preset, in the order --help lists them.
const std::vector<PresetInfo>& presets();
// "drift, rope, ...": for messages.
std::string preset_names();
// The preset's parameters; InvalidArgument naming the valid ones otherwise.
Status preset(const std::string& name, Params* out);

class Workload {
 public:
  virtual ~Workload() = default;
  virtual std::string describe() const = 0;
  // Prompt tokens [first, first + count) of request b: k [count][Hkv][D], v [count][Hkv][Dv].
  virtual void prompt(size_t b, uint64_t first, uint64_t count, std::vector<uint16_t>* k,
                      std::vector<uint16_t>* v) = 0;
  // The new token of request b's next decode step: k [Hkv][D], v [Hkv][Dv].
  virtual void next_token(size_t b, uint16_t* k, uint16_t* v) = 0;
  // The queries of request b's next decode step (after its next_token): [Hq][D].
  virtual void next_query(size_t b, uint16_t* q) = 0;
  // Request b's queries jump to new random directions (hsa-run --query-jump).
  virtual void jump_query(size_t b) = 0;
  // Whether prompt() of different requests may run on different threads at
  // once: each touches only its own request's state (its own streams), so the
  // data does not depend on the threads.
  virtual bool concurrent_prompts() const { return false; }
};

// A recorded trace (docs/ACCURACY.md "Trace format"): one request.
struct TraceHeader {
  uint32_t version = 1, dtype = 0;  // 0 bf16, 1 f16, 2 f32
  uint32_t q_heads = 0, kv_heads = 0, head_dim = 0, value_dim = 0;
  uint64_t prompt_tokens = 0;
  uint32_t steps = 0;
};
Status read_trace_header(const std::string& path, TraceHeader* header);
// Writes a trace (f32 payload): k and v [prompt + steps][Hkv][D|Dv], q [steps][Hq][D].
Status write_trace(const std::string& path, const Dims& dims, uint64_t prompt_tokens, uint32_t steps,
                   const std::vector<float>& k, const std::vector<float>& v, const std::vector<float>& q);

// `spec` is a preset name or trace:PATH. `prompts` are the prompt lengths of
// the requests (a trace has one prompt length, which every request replays);
// `steps` the decode steps the caller will run (a trace must have that many).
// `temperature` > 0 overrides the preset's; `needle_distances` (non-empty)
// the needles preset's.
struct Overrides {
  float temperature = 0.0f;
  std::vector<uint64_t> needle_distances;
};
Status make_workload(const std::string& spec, const Dims& dims, uint64_t seed, const std::vector<uint64_t>& prompts,
                     uint32_t steps, const Overrides& overrides, std::unique_ptr<Workload>* out);
// The synthetic generator with explicit parameters (tests).
std::unique_ptr<Workload> make_synthetic(const Params& params, const Dims& dims, uint64_t seed,
                                         const std::vector<uint64_t>& prompts);

// RoPE of one head vector x[D] at position `pos` (pairs i, i + D/2, angle pos * theta^(-2i/D)).
void apply_rope(float* x, uint32_t head_dim, double pos, double theta);

}  // namespace workload
}  // namespace hsa

#endif  // HSA_RUNTIME_TOOLS_WORKLOAD_H
