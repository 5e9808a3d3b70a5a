// Helpers the runtime's run tools share (hsa-run, hsa-residency): the
// summary's number formatting, the JSON writer, sample statistics, the top-k
// overlap of consecutive steps, the algorithm's step inputs for a synthetic
// workload, and the writability check of an output path. Header-only; the
// tools include the runtime's internal headers (src/) as they always did.
#ifndef HSA_RUNTIME_TOOLS_RUN_SUPPORT_H
#define HSA_RUNTIME_TOOLS_RUN_SUPPORT_H

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "fp8.h"
#include "half.h"
#include "hsa/runtime.hpp"
#include "layer_shape.h"
#include "text_format.h"

namespace hsa {
namespace tools {

// A value for the summary, or "n/a" where there is none (no steps, or no
// steps after the first): the summary never prints nan.
inline std::string number_text(double value, const char* format) {
  return std::isfinite(value) ? format_text(format, value) : std::string("n/a");
}

inline std::string percent_text(double fraction) { return number_text(100.0 * fraction, "%.1f%%"); }

inline std::string bytes_text(double bytes) {
  if (!std::isfinite(bytes)) return "n/a";
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024.0 && u < 4) {
    bytes /= 1024.0;
    ++u;
  }
  return u == 0 ? format_text("%.0f B", bytes) : format_text("%.2f %s", bytes, units[u]);
}

// |S_t ∩ S_{t-1}| / |S_t| per group, summed; both lists ascending, -1 padded.
inline void overlap(const LayerShape& s, const std::vector<int32_t>& now, const std::vector<int32_t>& before, double* sum,
             uint64_t* count) {
  for (uint32_t g = 0; g < s.groups; ++g) {
    const int32_t* a = &now[size_t(g) * s.budget];
    const int32_t* b = &before[size_t(g) * s.budget];
    uint32_t i = 0, j = 0, common = 0, size = 0;
    while (i < s.budget && a[i] >= 0) ++size, ++i;
    i = 0;
    while (i < s.budget && j < s.budget && a[i] >= 0 && b[j] >= 0) {
      if (a[i] == b[j]) ++common, ++i, ++j;
      else if (a[i] < b[j]) ++i;
      else ++j;
    }
    if (size) {
      *sum += double(common) / double(size);
      ++*count;
    }
  }
}

// ---------------------------------------------------------------------------
// JSON output (a flat writer: numbers, strings, booleans, arrays, objects)

class Json {
 public:
  Json& begin(const char* key = nullptr, char bracket = '{') { return open(key, bracket); }
  Json& end(char bracket = '}') {
    text_ += '\n' + std::string(2 * (--depth_), ' ') + bracket;
    first_ = false;
    return *this;
  }
  Json& num(const char* key, double v) { return raw(key, std::isfinite(v) ? format_text("%.10g", v) : "null"); }
  Json& integer(const char* key, uint64_t v) { return raw(key, std::to_string(v)); }
  Json& boolean(const char* key, bool v) { return raw(key, v ? "true" : "false"); }
  Json& null(const char* key) { return raw(key, "null"); }
  Json& str(const char* key, const std::string& v) {
    std::string quoted = "\"";
    for (char c : v) {
      if (c == '"' || c == '\\') quoted += '\\', quoted += c;
      else if (uint8_t(c) < 0x20) quoted += format_text("\\u%04x", c);
      else quoted += c;
    }
    return raw(key, quoted + "\"");
  }
  const std::string& text() const { return text_; }

 private:
  Json& open(const char* key, char bracket) {
    separator(key);
    text_ += bracket;
    ++depth_;
    first_ = true;
    return *this;
  }
  Json& raw(const char* key, const std::string& value) {
    separator(key);
    text_ += value;
    return *this;
  }
  void separator(const char* key) {
    if (!first_) text_ += ',';
    if (depth_ > 0) text_ += '\n' + std::string(2 * depth_, ' ');
    if (key) text_ += "\"" + std::string(key) + "\": ";
    first_ = false;
  }
  std::string text_;
  int depth_ = 0;
  bool first_ = true;
};

struct Stats {
  std::vector<double> values;
  void add(double v) { values.push_back(v); }
  double mean() const {
    double sum = 0.0;
    for (double v : values) sum += v;
    return values.empty() ? NAN : sum / double(values.size());
  }
  double min() const { return values.empty() ? NAN : *std::min_element(values.begin(), values.end()); }
  double max() const { return values.empty() ? NAN : *std::max_element(values.begin(), values.end()); }
  double median() const {
    if (values.empty()) return NAN;
    std::vector<double> sorted = values;
    std::sort(sorted.begin(), sorted.end());
    return sorted[sorted.size() / 2];
  }
};

// The layer algorithm's own step inputs of one kind (DSA: indexer queries
// and weights at decode, indexer keys at append and prefill): made by the
// package from the step's q or K where it can (AlgorithmPackage::
// synthesize_step_inputs), else fresh random rows, never zeros: normal
// values in the input's element type (fp8 as e4m3 codes of N(0, 2), never NaN).
// K rows in the layer's stored format from the workload's `rows` rows of
// [Hkv][D] bf16/f16 elements: the elements themselves, or (Fp8Latent) each
// head's row quantised into FlashMLA's fp8 latent row as an engine's own
// quantiser would (Runtime::quantize_fp8_latent). `scratch` holds the
// quantised rows; the returned pointer is valid while it and `k` live.
inline const void* stored_key_rows(const LayerShape& s, const uint16_t* k, uint64_t rows, std::vector<uint8_t>* scratch) {
  if (!s.fp8_latent()) return k;
  scratch->resize(rows * s.kv_heads * s.key_row_bytes());
  const Status status =
      Runtime::quantize_fp8_latent(k, rows * s.kv_heads, s.value_dim, s.head_dim - s.value_dim, scratch->data());
  // The workloads make finite values: a refusal here is a bug of the tool.
  if (!status.is_ok()) std::fprintf(stderr, "hsa tools: %s\n", status.message().c_str()), std::abort();
  return scratch->data();
}

struct StepInputFeed {
  std::vector<std::vector<uint8_t>> rows;
  std::vector<StepInput> list;

  // The package's inputs made from the step's tensor (q at decode, the
  // tokens' K at append and prefill) where it offers them, else random.
  void fill(const LayerShape& s, StepKind kind, uint64_t count, std::mt19937_64& rng, const uint16_t* tensor) {
    rows.clear();
    list.clear();
    if (s.algorithm->synthesize_step_inputs(s, kind, tensor, count, &rows)) {
      size_t r = 0;
      for (const LayerShape::StepInputRow& in : s.step_inputs)
        if (in.kind == kind) list.push_back(StepInput{in.buffer.c_str(), rows[r++].data()});
      return;
    }
    for (const LayerShape::StepInputRow& in : s.step_inputs)
      if (in.kind == kind) rows.emplace_back(count * in.row_bytes);
    size_t r = 0;
    for (const LayerShape::StepInputRow& in : s.step_inputs) {
      if (in.kind != kind) continue;
      std::vector<uint8_t>& data = rows[r++];
      std::normal_distribution<float> normal(0.0f, in.element_type == artifact::ElementType::F8E4M3FN ? 2.0f : 1.0f);
      const size_t bytes = artifact::element_type_bytes(in.element_type);
      for (size_t i = 0; i < data.size() / bytes; ++i) {
        const float x = normal(rng);
        switch (in.element_type) {
          case artifact::ElementType::F32: std::memcpy(&data[4 * i], &x, 4); break;
          case artifact::ElementType::BF16: { const uint16_t b = float_to_bf16(x); std::memcpy(&data[2 * i], &b, 2); break; }
          case artifact::ElementType::F16: { const uint16_t h = float_to_f16(x); std::memcpy(&data[2 * i], &h, 2); break; }
          case artifact::ElementType::F8E4M3FN: data[i] = fp8::float_to_e4m3(x); break;
          default: data[i * bytes] = uint8_t(rng() | 1); break;
        }
      }
      list.push_back(StepInput{in.buffer.c_str(), data.data()});
    }
  }
  const StepInput* inputs() const { return list.empty() ? nullptr : list.data(); }
  size_t count() const { return list.size(); }
};

// "" when `path` can be written, else why not. Checked before the run so that
// a mistyped directory fails at once, not after minutes of decoding; a file
// created by the check is removed again (a failed run leaves nothing).
inline std::string check_writable(const std::string& path) {
  struct stat info;
  const bool existed = ::stat(path.c_str(), &info) == 0;
  if (existed && S_ISDIR(info.st_mode)) return "it is a directory";
  errno = 0;
  {
    std::ofstream probe(path, std::ios::app);
    if (!probe) return errno ? std::strerror(errno) : "cannot open it for writing";
  }
  if (!existed) ::unlink(path.c_str());
  return "";
}

// Writes `text` and a newline to `path`; false (after a message naming
// `tool`) if it could not.
inline bool write_text_file(const char* tool, const std::string& path, const std::string& text) {
  std::ofstream file(path);
  file << text << "\n";
  if (file) return true;
  std::fprintf(stderr, "%s: cannot write '%s'\n", tool, path.c_str());
  return false;
}

}  // namespace tools
}  // namespace hsa

#endif  // HSA_RUNTIME_TOOLS_RUN_SUPPORT_H
