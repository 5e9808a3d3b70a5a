// The decoding workloads of workload.h: the synthetic generator with its
// presets, and the trace reader.
#include "workload.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "half.h"
#include "text_format.h"

namespace hsa {
namespace workload {

namespace {

// Inverse of the standard normal CDF (Acklam's rational approximation,
// relative error < 1.2e-9), for the quantile table of Rng::normal.
double normal_quantile(double p) {
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                             1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double low = 0.02425;
  if (p < low) {
    const double q = std::sqrt(-2 * std::log(p));
    return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
           ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  if (p > 1 - low) return -normal_quantile(1 - p);
  const double q = p - 0.5, r = q * q;
  return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
         (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
}

}  // namespace

Rng::Rng(uint64_t seed) {
  for (uint64_t& word : s_) {
    seed += 0x9e3779b97f4a7c15ull;
    uint64_t z = seed;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    word = z ^ (z >> 31);
  }
}

const float* Rng::table() {
  static const std::vector<float> quantiles = [] {
    std::vector<float> t(65536);
    for (size_t i = 0; i < t.size(); ++i) t[i] = float(normal_quantile((double(i) + 0.5) / 65536.0));
    return t;
  }();
  return quantiles.data();
}

void apply_rope(float* x, uint32_t head_dim, double pos, double theta) {
  const uint32_t half = head_dim / 2;
  for (uint32_t i = 0; i < half; ++i) {
    const double angle = pos * std::pow(theta, -2.0 * double(i) / double(head_dim));
    const double c = std::cos(angle), s = std::sin(angle);
    const double a = x[i], b = x[i + half];
    x[i] = float(a * c - b * s);
    x[i + half] = float(a * s + b * c);
  }
}

// ---------------------------------------------------------------------------
// Presets

const std::vector<PresetInfo>& presets() {
  static const std::vector<PresetInfo> list = {
      {"drift", "i.i.d. keys, slowly drifting queries, sinks, recency, 8 far needles (hsa-run's default; cheap)"},
      {"rope", "drift with RoPE (theta 500000) on queries and keys: logits depend on relative position"},
      {"outliers", "drift plus 4 key channels of magnitude ~12 that queries weight (loosens per-channel bounds)"},
      {"topics", "low-rank keys (8 topics in ~1024-token segments); queries switch topic every 4 steps"},
      {"needles", "weak background plus one strong token per KV head at 1K, 2K, 4K, ... tokens back"},
      {"sinks-recency", "strong sinks and a steep recency decay, nothing far (StreamingLLM's best case)"},
      {"llm", "rope + outliers + topics + sinks + mild recency: the combined realistic preset"},
  };
  return list;
}

std::string preset_names() {
  std::string names;
  for (const PresetInfo& p : presets()) names += (names.empty() ? "" : ", ") + std::string(p.name);
  return names + ", trace:PATH";
}

Status preset(const std::string& name, Params* out) {
  Params p;
  p.name = name;
  if (name == "drift") {
  } else if (name == "rope") {
    p.rope = true;
  } else if (name == "outliers") {
    p.outlier_channels = 4;
  } else if (name == "topics") {
    p.topics = 8;
    p.key_noise = 0.3f;
    p.needles = 0;
    p.recent_strength = 2.0f;
  } else if (name == "needles") {
    p.needles = 0;
    p.needle_distances = {1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072};
    p.recent_strength = 3.0f;
  } else if (name == "sinks-recency") {
    p.needles = 0;
    p.sink_strength = 14.0f;
    p.recent_strength = 9.0f;
    p.recent_scale = 128.0f;
  } else if (name == "llm") {
    p.rope = true;
    p.outlier_channels = 4;
    p.topics = 8;
    p.key_noise = 0.5f;
    p.needles = 0;
    p.sink_strength = 20.0f;
    p.recent_strength = 2.0f;
    p.recent_scale = 256.0f;
  } else {
    return Status(StatusCode::InvalidArgument,
                  "unknown workload '" + name + "': the presets are " + preset_names());
  }
  *out = p;
  return Status::ok();
}

namespace {

// ---------------------------------------------------------------------------
// The synthetic generator. The drift preset draws from each request's main
// stream exactly as hsa-run always did (its outputs are unchanged); every
// other feature draws from a second stream (`aux`), so it adds to the drift
// data without shifting it.

class Synthetic : public Workload {
 public:
  Synthetic(const Params& p, const Dims& dims, uint64_t seed, const std::vector<uint64_t>& prompts)
      : p_(p), d_(dims) {
    const uint32_t D = d_.head_dim;
    for (size_t b = 0; b < prompts.size(); ++b) {
      Request r(seed * 0x100000001b3ull + b, prompts[b]);
      r.direction.resize(size_t(d_.kv_heads) * D);
      for (uint32_t h = 0; h < d_.kv_heads; ++h) {
        float* dir = &r.direction[size_t(h) * D];
        random_unit(r.rng, dir);
        slow_weighted(dir);
      }
      r.query.resize(size_t(d_.q_heads) * D);
      std::vector<float> offset(D);
      for (uint32_t h = 0; h < d_.q_heads; ++h) {
        random_unit(r.rng, offset.data());
        float* q = &r.query[size_t(h) * D];
        const float* dir = &r.direction[size_t(h / d_.group_size()) * D];
        for (uint32_t i = 0; i < D; ++i) q[i] = dir[i] + p_.query_offset * offset[i];
        normalize(q);
      }
      r.needles.resize(d_.kv_heads);
      if (!p_.needle_distances.empty()) {
        for (auto& list : r.needles)
          for (uint64_t distance : p_.needle_distances)
            if (distance + 64 <= prompts[b]) list.push_back(prompts[b] - distance);
      } else if (prompts[b] > 4096) {  // far from the end: not in the window, not recent
        for (auto& list : r.needles)
          for (uint32_t i = 0; i < p_.needles; ++i)
            list.push_back(uint64_t(64 + r.rng.uniform() * double(prompts[b] - 2048 - 64)));
      }
      if (p_.outlier_channels) {
        r.outliers.resize(d_.kv_heads);
        for (auto& list : r.outliers) {
          while (list.size() < std::min(p_.outlier_channels, D)) {
            const uint32_t c = uint32_t(r.aux.uniform() * D);
            if (std::none_of(list.begin(), list.end(), [&](const Outlier& o) { return o.channel == c; }))
              list.push_back(Outlier{c, r.aux.uniform() < 0.5 ? -1.0f : 1.0f});
          }
        }
      }
      if (p_.topics) {
        r.topic_vectors.resize(size_t(d_.kv_heads) * p_.topics * D);
        for (uint32_t i = 0; i < d_.kv_heads * p_.topics; ++i) {
          random_unit(r.aux, &r.topic_vectors[size_t(i) * D]);
          slow_weighted(&r.topic_vectors[size_t(i) * D]);
        }
        uint64_t t = 0;
        while (t < prompts[b]) {
          r.segments.push_back(Segment{t, uint32_t(r.aux.uniform() * p_.topics)});
          t += uint64_t(p_.topic_segment * (0.5 + r.aux.uniform()));
        }
        // The queries return to an earlier topic: not the one the prompt ends on.
        const uint32_t last = r.segments.empty() ? 0 : r.segments.back().topic;
        const uint32_t other = uint32_t(r.aux.uniform() * (p_.topics - 1));
        r.topic = p_.topics == 1 ? 0 : other >= last ? other + 1 : other;
        reset_topic_queries(r);
      }
      requests_.push_back(std::move(r));
    }
  }

  std::string describe() const override {
    return p_.temperature == 1.0f ? p_.name : format_text("%s at temperature %g", p_.name.c_str(), p_.temperature);
  }

  // prompt(b) draws from request b's streams only (the normal table is a
  // function-local static, built once under the language's lock).
  bool concurrent_prompts() const override { return true; }

  void prompt(size_t b, uint64_t first, uint64_t count, std::vector<uint16_t>* k, std::vector<uint16_t>* v) override {
    Request& r = requests_[b];
    k->resize(count * d_.kv_heads * d_.head_dim);
    v->resize(count * d_.kv_heads * d_.value_dim);
    for (uint64_t i = 0; i < count; ++i) {
      const uint64_t t = first + i;
      for (uint32_t h = 0; h < d_.kv_heads; ++h) {
        float strength = p_.recent_strength * std::exp(-float(r.prompt - 1 - t) / p_.recent_scale);
        if (t < p_.sink_tokens) strength = p_.sink_strength;
        for (uint64_t needle : r.needles[h])
          if (needle == t) strength = p_.needle_strength;
        const float* topic = p_.topics ? topic_vector(r, h, topic_at(r, t)) : nullptr;
        token(r, h, t, &r.direction[size_t(h) * d_.head_dim], strength, topic,
              &(*k)[(i * d_.kv_heads + h) * d_.head_dim], &(*v)[(i * d_.kv_heads + h) * d_.value_dim]);
      }
    }
  }

  // Aligned with the KV head's current mean query (recency), and on the current topic.
  void next_token(size_t b, uint16_t* k, uint16_t* v) override {
    Request& r = requests_[b];
    const uint32_t D = d_.head_dim;
    std::vector<float> mean(D);
    for (uint32_t h = 0; h < d_.kv_heads; ++h) {
      std::fill(mean.begin(), mean.end(), 0.0f);
      for (uint32_t j = h * d_.group_size(); j < (h + 1) * d_.group_size(); ++j)
        for (uint32_t i = 0; i < D; ++i) mean[i] += r.query[size_t(j) * D + i];
      normalize(mean.data());
      const float* topic = p_.topics ? topic_vector(r, h, r.topic) : nullptr;
      token(r, h, r.prompt + r.appended, mean.data(), p_.recent_strength, topic, k + size_t(h) * D,
            v + size_t(h) * d_.value_dim);
    }
    ++r.appended;
  }

  void jump_query(size_t b) override {
    Request& r = requests_[b];
    for (uint32_t h = 0; h < d_.q_heads; ++h) random_unit(r.rng, &r.query[size_t(h) * d_.head_dim]);
  }

  // Drifts the queries one step (a topic switch first, every topic_switch_every
  // steps) and writes them at the newest token's position, scaled by
  // sqrt(D) / T: logits of unit vectors with the default 1/sqrt(D) scale, over T.
  void next_query(size_t b, uint16_t* q) override {
    Request& r = requests_[b];
    const uint32_t D = d_.head_dim;
    if (p_.topics && r.steps > 0 && r.steps % p_.topic_switch_every == 0) {
      const uint32_t other = uint32_t(r.aux.uniform() * (p_.topics - 1));
      r.topic = p_.topics == 1 ? 0 : other >= r.topic ? other + 1 : other;
      reset_topic_queries(r);
    }
    ++r.steps;
    const float sigma = p_.query_drift / std::sqrt(float(D)), norm = std::sqrt(float(D)) / p_.temperature;
    std::vector<float> y(D);
    for (uint32_t h = 0; h < d_.q_heads; ++h) {
      float* x = &r.query[size_t(h) * D];
      for (uint32_t i = 0; i < D; ++i) x[i] += sigma * r.rng.normal();
      normalize(x);
      const float* out = x;
      if (p_.rope || p_.outlier_channels) {
        std::copy(x, x + D, y.begin());
        if (p_.rope) apply_rope(y.data(), D, double(r.prompt + r.appended - 1), p_.rope_theta);
        if (p_.outlier_channels) {
          for (const Outlier& o : r.outliers[h / d_.group_size()]) y[o.channel] += o.sign * p_.outlier_query_weight;
          normalize(y.data());
        }
        out = y.data();
      }
      for (uint32_t i = 0; i < D; ++i) q[size_t(h) * D + i] = float_to_kv(norm * out[i], d_.dtype);
    }
  }

 private:
  struct Outlier {
    uint32_t channel;
    float sign;
  };
  struct Segment {
    uint64_t first;
    uint32_t topic;
  };
  struct Request {
    Request(uint64_t stream, uint64_t prompt_tokens)
        : rng(stream), aux(stream ^ 0x5bd1e9955bd1e995ull), prompt(prompt_tokens) {}
    Rng rng, aux;
    uint64_t prompt;
    std::vector<float> direction;  // [Hkv][D] unit
    std::vector<float> query;      // [Hq][D] unit, drifting (before RoPE and outliers)
    std::vector<std::vector<uint64_t>> needles;  // [Hkv][...] token positions
    std::vector<std::vector<Outlier>> outliers;  // [Hkv][outlier_channels]
    std::vector<float> topic_vectors;            // [Hkv][topics][D] unit
    std::vector<Segment> segments;               // ascending first token
    uint32_t topic = 0;                          // the queries' topic
    uint64_t appended = 0;                       // decode tokens so far
    uint32_t steps = 0;                          // next_query calls so far
    std::vector<float> scratch;                  // token()'s key row, per request (prompts run concurrently)
  };

  // A rotary pair that turns more than once over 8192 tokens.
  bool fast_pair(uint32_t i) const {
    const double wavelength = 2.0 * M_PI * std::pow(p_.rope_theta, 2.0 * double(i) / double(d_.head_dim));
    return wavelength < 8192.0;
  }
  // With RoPE, matching content lives in the slow pairs: the fast ones of a
  // direction (sinks, needles, recency) or topic are down-weighted.
  void slow_weighted(float* x) const {
    if (!p_.rope) return;
    const uint32_t D = d_.head_dim;
    for (uint32_t i = 0; i < D; ++i)
      if (fast_pair(i % (D / 2))) x[i] *= p_.rope_high_frequency_weight;
    normalize(x);
  }
  const float* topic_vector(const Request& r, uint32_t h, uint32_t topic) const {
    return &r.topic_vectors[(size_t(h) * p_.topics + topic) * d_.head_dim];
  }
  uint32_t topic_at(const Request& r, uint64_t t) const {
    auto it = std::upper_bound(r.segments.begin(), r.segments.end(), t,
                               [](uint64_t x, const Segment& s) { return x < s.first; });
    return it == r.segments.begin() ? 0 : std::prev(it)->topic;
  }
  // Queries on topic r.topic: the topic, sink_share of the direction (sinks
  // stay attended), and each head's own offset.
  void reset_topic_queries(Request& r) {
    const uint32_t D = d_.head_dim;
    std::vector<float> offset(D);
    for (uint32_t h = 0; h < d_.q_heads; ++h) {
      const uint32_t kv = h / d_.group_size();
      random_unit(r.aux, offset.data());
      const float* topic = topic_vector(r, kv, r.topic);
      const float* dir = &r.direction[size_t(kv) * D];
      float* q = &r.query[size_t(h) * D];
      for (uint32_t i = 0; i < D; ++i) q[i] = topic[i] + p_.sink_share * dir[i] + p_.query_offset * offset[i];
      normalize(q);
    }
  }

  // Token t of KV head h: noise + strength * direction (+ topic), rotated to
  // position t, plus the outlier channels; values i.i.d. normal.
  void token(Request& r, uint32_t h, uint64_t t, const float* direction, float strength, const float* topic,
             uint16_t* k, uint16_t* v) {
    const uint32_t D = d_.head_dim;
    if (!p_.rope && !p_.outlier_channels && !topic) {  // drift: exactly the original arithmetic
      for (uint32_t i = 0; i < D; ++i)
        k[i] = float_to_kv(p_.key_noise * r.rng.normal() + strength * direction[i], d_.dtype);
    } else {
      std::vector<float>& x = r.scratch;
      x.resize(D);
      for (uint32_t i = 0; i < D; ++i) x[i] = p_.key_noise * r.rng.normal() + strength * direction[i];
      if (topic)
        for (uint32_t i = 0; i < D; ++i) x[i] += p_.topic_strength * topic[i];
      if (p_.rope) apply_rope(x.data(), D, double(t), p_.rope_theta);
      if (p_.outlier_channels)
        for (const Outlier& o : r.outliers[h])
          x[o.channel] += o.sign * p_.outlier_magnitude * (1.0f + p_.outlier_spread * r.aux.normal());
      for (uint32_t i = 0; i < D; ++i) k[i] = float_to_kv(x[i], d_.dtype);
    }
    for (uint32_t i = 0; i < d_.value_dim; ++i) v[i] = float_to_kv(r.rng.normal(), d_.dtype);
  }
  void random_unit(Rng& rng, float* x) const {
    for (uint32_t i = 0; i < d_.head_dim; ++i) x[i] = rng.normal();
    normalize(x);
  }
  void normalize(float* x) const {
    double n = 0.0;
    for (uint32_t i = 0; i < d_.head_dim; ++i) n += double(x[i]) * x[i];
    const float inv = float(1.0 / std::sqrt(std::max(n, 1e-30)));
    for (uint32_t i = 0; i < d_.head_dim; ++i) x[i] *= inv;
  }

  Params p_;
  Dims d_;
  std::vector<Request> requests_;
};

// ---------------------------------------------------------------------------
// Traces

constexpr char kTraceMagic[8] = {'H', 'S', 'A', 'T', 'R', 'A', 'C', 'E'};
constexpr uint64_t kTraceHeaderBytes = 48;

uint64_t trace_element_bytes(uint32_t dtype) { return dtype == 2 ? 4 : 2; }

uint32_t get_u32(const unsigned char* p) { return uint32_t(p[0]) | uint32_t(p[1]) << 8 | uint32_t(p[2]) << 16 | uint32_t(p[3]) << 24; }
uint64_t get_u64(const unsigned char* p) { return uint64_t(get_u32(p)) | uint64_t(get_u32(p + 4)) << 32; }
void put_u32(unsigned char* p, uint32_t v) {
  for (int i = 0; i < 4; ++i) p[i] = uint8_t(v >> (8 * i));
}

class Trace : public Workload {
 public:
  Trace(std::string path, const TraceHeader& h, const Dims& dims) : path_(std::move(path)), h_(h), d_(dims) {
    file_.open(path_, std::ios::binary);
    const uint64_t e = trace_element_bytes(h_.dtype), tokens = h_.prompt_tokens + h_.steps;
    k_offset_ = kTraceHeaderBytes;
    v_offset_ = k_offset_ + tokens * h_.kv_heads * h_.head_dim * e;
    q_offset_ = v_offset_ + tokens * h_.kv_heads * h_.value_dim * e;
  }
  std::string describe() const override { return "trace " + path_; }
  void prompt(size_t, uint64_t first, uint64_t count, std::vector<uint16_t>* k, std::vector<uint16_t>* v) override {
    k->resize(count * d_.kv_heads * d_.head_dim);
    v->resize(count * d_.kv_heads * d_.value_dim);
    read(k_offset_, first * d_.kv_heads * d_.head_dim, k->size(), k->data());
    read(v_offset_, first * d_.kv_heads * d_.value_dim, v->size(), v->data());
  }
  void next_token(size_t b, uint16_t* k, uint16_t* v) override {
    const uint64_t t = h_.prompt_tokens + appended_[b]++;
    read(k_offset_, t * d_.kv_heads * d_.head_dim, size_t(d_.kv_heads) * d_.head_dim, k);
    read(v_offset_, t * d_.kv_heads * d_.value_dim, size_t(d_.kv_heads) * d_.value_dim, v);
  }
  void next_query(size_t b, uint16_t* q) override {
    const uint64_t step = queried_[b]++;
    read(q_offset_, step * d_.q_heads * d_.head_dim, size_t(d_.q_heads) * d_.head_dim, q);
  }
  void jump_query(size_t) override {}  // a trace is what it recorded
  void set_batch(size_t batch) { appended_.assign(batch, 0), queried_.assign(batch, 0); }

 private:
  // `count` elements from element `index` of the array at `offset`, as KV dtype.
  void read(uint64_t offset, uint64_t index, size_t count, uint16_t* out) {
    const uint64_t e = trace_element_bytes(h_.dtype);
    buffer_.resize(count * e);
    file_.seekg(std::streamoff(offset + index * e));
    file_.read(reinterpret_cast<char*>(buffer_.data()), std::streamsize(buffer_.size()));
    if (!file_) throw std::runtime_error("trace '" + path_ + "' ends early (truncated?)");
    for (size_t i = 0; i < count; ++i) {
      const unsigned char* p = &buffer_[i * e];
      float f;
      if (h_.dtype == 2) {
        const uint32_t bits = get_u32(p);
        std::memcpy(&f, &bits, 4);
      } else {
        f = kv_to_float(uint16_t(p[0] | p[1] << 8), h_.dtype == 1 ? artifact::KvDtype::F16 : artifact::KvDtype::BF16);
      }
      out[i] = float_to_kv(f, d_.dtype);
    }
  }
  std::string path_;
  TraceHeader h_;
  Dims d_;
  std::ifstream file_;
  uint64_t k_offset_ = 0, v_offset_ = 0, q_offset_ = 0;
  std::vector<uint64_t> appended_, queried_;
  std::vector<unsigned char> buffer_;
};

}  // namespace

Status read_trace_header(const std::string& path, TraceHeader* header) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return Status(StatusCode::NotFound, "cannot open trace '" + path + "'");
  unsigned char raw[kTraceHeaderBytes];
  file.read(reinterpret_cast<char*>(raw), sizeof(raw));
  if (!file || std::memcmp(raw, kTraceMagic, 8) != 0)
    return Status(StatusCode::InvalidArgument,
                  "'" + path + "' is not an hsa trace (no 'HSATRACE' header; format: docs/ACCURACY.md)");
  TraceHeader h;
  h.version = get_u32(raw + 8);
  h.dtype = get_u32(raw + 12);
  h.q_heads = get_u32(raw + 16);
  h.kv_heads = get_u32(raw + 20);
  h.head_dim = get_u32(raw + 24);
  h.value_dim = get_u32(raw + 28);
  h.prompt_tokens = get_u64(raw + 32);
  h.steps = get_u32(raw + 40);
  if (h.version != 1)
    return Status(StatusCode::InvalidArgument, format_text("trace '%s': version %u (this tool reads version 1)",
                                                           path.c_str(), h.version));
  if (h.dtype > 2 || h.q_heads == 0 || h.kv_heads == 0 || h.q_heads % h.kv_heads != 0 || h.head_dim == 0 ||
      h.head_dim > 1024 || h.value_dim == 0 || h.value_dim > 1024 || h.prompt_tokens == 0 ||
      h.prompt_tokens > (uint64_t(1) << 30))
    return Status(StatusCode::InvalidArgument,
                  format_text("trace '%s': bad header (dtype %u, Hq %u, Hkv %u, D %u, Dv %u, prompt %llu)",
                              path.c_str(), h.dtype, h.q_heads, h.kv_heads, h.head_dim, h.value_dim,
                              (unsigned long long)h.prompt_tokens));
  const uint64_t e = trace_element_bytes(h.dtype), tokens = h.prompt_tokens + h.steps;
  const uint64_t want = kTraceHeaderBytes + tokens * h.kv_heads * (h.head_dim + h.value_dim) * e +
                        uint64_t(h.steps) * h.q_heads * h.head_dim * e;
  file.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(file.tellg());
  if (size != want)
    return Status(StatusCode::InvalidArgument,
                  format_text("trace '%s' has %llu bytes, its header describes %llu", path.c_str(),
                              (unsigned long long)size, (unsigned long long)want));
  *header = h;
  return Status::ok();
}

Status write_trace(const std::string& path, const Dims& dims, uint64_t prompt_tokens, uint32_t steps,
                   const std::vector<float>& k, const std::vector<float>& v, const std::vector<float>& q) {
  const uint64_t tokens = prompt_tokens + steps;
  if (k.size() != tokens * dims.kv_heads * dims.head_dim || v.size() != tokens * dims.kv_heads * dims.value_dim ||
      q.size() != uint64_t(steps) * dims.q_heads * dims.head_dim)
    return Status(StatusCode::InvalidArgument, "write_trace: array sizes do not match the dims");
  std::ofstream file(path, std::ios::binary);
  unsigned char raw[kTraceHeaderBytes] = {};
  std::memcpy(raw, kTraceMagic, 8);
  put_u32(raw + 8, 1);
  put_u32(raw + 12, 2);
  put_u32(raw + 16, dims.q_heads);
  put_u32(raw + 20, dims.kv_heads);
  put_u32(raw + 24, dims.head_dim);
  put_u32(raw + 28, dims.value_dim);
  put_u32(raw + 32, uint32_t(prompt_tokens));
  put_u32(raw + 36, uint32_t(prompt_tokens >> 32));
  put_u32(raw + 40, steps);
  file.write(reinterpret_cast<const char*>(raw), sizeof(raw));
  for (const std::vector<float>* a : {&k, &v, &q}) {
    std::vector<unsigned char> bytes(a->size() * 4);
    for (size_t i = 0; i < a->size(); ++i) {
      uint32_t bits;
      std::memcpy(&bits, &(*a)[i], 4);
      put_u32(&bytes[i * 4], bits);
    }
    file.write(reinterpret_cast<const char*>(bytes.data()), std::streamsize(bytes.size()));
  }
  if (!file) return Status(StatusCode::InvalidArgument, "cannot write trace '" + path + "'");
  return Status::ok();
}

std::unique_ptr<Workload> make_synthetic(const Params& params, const Dims& dims, uint64_t seed,
                                         const std::vector<uint64_t>& prompts) {
  return std::make_unique<Synthetic>(params, dims, seed, prompts);
}

Status make_workload(const std::string& spec, const Dims& dims, uint64_t seed, const std::vector<uint64_t>& prompts,
                     uint32_t steps, const Overrides& overrides, std::unique_ptr<Workload>* out) {
  if (overrides.temperature < 0.0f || !std::isfinite(overrides.temperature))
    return Status(StatusCode::InvalidArgument, "the temperature must be > 0");
  if (spec.rfind("trace:", 0) == 0) {
    const std::string path = spec.substr(6);
    TraceHeader h;
    Status status = read_trace_header(path, &h);
    if (!status.is_ok()) return status;
    if (h.q_heads != dims.q_heads || h.kv_heads != dims.kv_heads || h.head_dim != dims.head_dim ||
        h.value_dim != dims.value_dim)
      return Status(StatusCode::InvalidArgument,
                    format_text("trace '%s' has Hq %u, Hkv %u, D %u, Dv %u but the layer Hq %u, Hkv %u, D %u, Dv %u",
                                path.c_str(), h.q_heads, h.kv_heads, h.head_dim, h.value_dim, dims.q_heads,
                                dims.kv_heads, dims.head_dim, dims.value_dim));
    for (uint64_t prompt : prompts)
      if (prompt != h.prompt_tokens)
        return Status(StatusCode::InvalidArgument,
                      format_text("trace '%s' has a prompt of %llu tokens, not %llu (give --context=%llu)",
                                  path.c_str(), (unsigned long long)h.prompt_tokens, (unsigned long long)prompt,
                                  (unsigned long long)h.prompt_tokens));
    if (steps > h.steps)
      return Status(StatusCode::InvalidArgument,
                    format_text("trace '%s' has %u decode steps, %u asked", path.c_str(), h.steps, steps));
    if (overrides.temperature > 0.0f || !overrides.needle_distances.empty())
      return Status(StatusCode::InvalidArgument, "a trace takes no temperature or needle distances");
    auto trace = std::make_unique<Trace>(path, h, dims);
    trace->set_batch(prompts.size());
    *out = std::move(trace);
    return Status::ok();
  }
  Params p;
  Status status = preset(spec, &p);
  if (!status.is_ok()) return status;
  if (overrides.temperature > 0.0f) p.temperature = overrides.temperature;
  if (!overrides.needle_distances.empty()) {
    if (p.needle_distances.empty())
      return Status(StatusCode::InvalidArgument, "needle distances are for the needles preset, not '" + spec + "'");
    p.needle_distances = overrides.needle_distances;
  }
  if (p.rope && dims.head_dim % 2 != 0)
    return Status(StatusCode::InvalidArgument, "RoPE needs an even head dim");
  if (dims.kv_heads == 0 || dims.q_heads % dims.kv_heads != 0)
    return Status(StatusCode::InvalidArgument, "the query heads must be a multiple of the KV heads");
  *out = make_synthetic(p, dims, seed, prompts);
  return Status::ok();
}

}  // namespace workload
}  // namespace hsa
