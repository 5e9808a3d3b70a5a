#include "cpu_backend.h"

#include <algorithm>
#include <chrono>
#include <functional>
#include <cmath>
#include <cstring>
#include <limits>

#include "fp8.h"
#include "half.h"
#include "hsa/artifact_writer.h"
#include "expression.h"
#include "hsa/page_table_contract.h"
#include "hsa/telemetry_contract.h"
#include "telemetry.h"

namespace hsa {
using namespace artifact;

namespace {

constexpr float kPositiveInfinity = std::numeric_limits<float>::infinity();

// Flat offsets into the documented layouts.
uint64_t group_index(const LayerShape& s, uint32_t b, uint32_t g) { return uint64_t(b) * s.groups + g; }
uint64_t slot_key_offset(const LayerShape& s, uint32_t b, uint32_t g, uint32_t c, uint32_t j, uint32_t p, uint64_t width) {
  return ((((group_index(s, b, g) * s.capacity + c) * s.heads_per_unit + j) * s.page_size) + p) * width;
}

}  // namespace

DeviceBuffers::DeviceBuffers(const LayerShape& s) {
  const SymbolValues symbols = s.symbols();
  for (const DocumentedBuffer& doc : s.device_buffers()) {
    Array a;
    a.name = doc.name;
    a.type = doc.element_type;
    a.fill = (doc.flags & kBufferFlagFillMinusOne) ? 0xFF : 0x00;
    a.per_slot = doc.scope == BufferScope::PerBatchSlot;
    uint64_t bytes = element_type_bytes(doc.element_type);
    for (const Expr& dim : doc.dims) {
      int64_t value = 0;
      std::vector<ExprInstr> code = dim.code;
      // The contract's dims are symbols and the packages' small expressions of
      // them; the loader evaluated the artifact's equal ones already.
      if (!evaluate_expression(code, ExprRef{0, uint32_t(code.size())}, symbols, a.name, &value).is_ok() || value < 0)
        throw std::bad_alloc();
      bytes *= uint64_t(value);
    }
    a.bytes = size_t(bytes);
    a.storage.assign((a.bytes + 7) / 8, a.fill == 0xFF ? ~uint64_t(0) : 0);
    arrays_.push_back(std::move(a));
  }
  bind();
}

void DeviceBuffers::bind() {
  buf_k_bytes = bytes("buf.k");
  io_new_k_bytes = bytes("io.new_k");
  buf_k = view<uint16_t>("buf.k");
  buf_v = view<uint16_t>("buf.v");
  buf_slot_unit = view<int32_t>("buf.slot_unit");
  buf_last_used = view<int32_t>("buf.last_used");
  buf_unit_slot = view<int32_t>("buf.unit_slot");
  sel_scores = view<float>("sel.scores");
  sel_units = view<int32_t>("sel.units");
  sel_slots = view<int32_t>("sel.slots");
  sel_copy_units = view<int32_t>("sel.copy_units");
  sel_copy_slots = view<int32_t>("sel.copy_slots");
  sel_copy_count = view<int32_t>("sel.copy_count");
  req_length = view<int32_t>("req.length");
  req_step = view<int32_t>("req.step");
  io_q = view<uint16_t>("io.q");
  io_o = view<uint16_t>("io.o");
  io_lse = view<float>("io.lse");
  io_group_bound = view<float>(telemetry_contract::kGroupBoundBuffer);
  io_new_k = view<uint16_t>("io.new_k");
  io_new_v = view<uint16_t>("io.new_v");
}

DeviceBuffers::Array* DeviceBuffers::find(const std::string& name) {
  for (Array& a : arrays_)
    if (a.name == name) return &a;
  return nullptr;
}

const DeviceBuffers::Array* DeviceBuffers::find(const std::string& name) const {
  return const_cast<DeviceBuffers*>(this)->find(name);
}

void DeviceBuffers::reset_slot(const LayerShape& s, uint32_t b) {
  for (Array& a : arrays_) {
    if (a.bytes == 0 || !a.per_slot) continue;  // a global table is rewritten whole by every step
    const size_t row = a.bytes / s.batch;
    std::memset(static_cast<uint8_t*>(a.data()) + size_t(b) * row, a.fill, row);
  }
}

namespace reference {

void decode_key_row(const LayerShape& s, const uint8_t* row, double* out) {
  if (s.fp8_latent()) {
    // In double, exact for any scale (a code has 4 significant bits); the
    // quantiser's power-of-two scales make it exact in float too.
    const uint32_t latent = s.value_dim, tiles = latent / artifact::kFp8LatentTile;
    for (uint32_t t = 0; t < tiles; ++t) {
      const double scale = fp8::latent_row_scale(row, latent, t);
      for (uint32_t i = t * artifact::kFp8LatentTile; i < (t + 1) * artifact::kFp8LatentTile; ++i)
        out[i] = double(fp8::e4m3_value(row[i])) * scale;
    }
    const uint8_t* rope = row + latent + tiles * 4;
    for (uint32_t d = latent; d < s.head_dim; ++d) {
      uint16_t bits;
      std::memcpy(&bits, rope + 2 * (d - latent), 2);
      out[d] = bf16_to_float(bits);
    }
    return;
  }
  for (uint32_t d = 0; d < s.head_dim; ++d) {
    uint16_t bits;
    std::memcpy(&bits, row + 2 * d, 2);
    out[d] = kv_to_float(bits, s.dtype);
  }
}

void decode_value_row(const LayerShape& s, const uint8_t* row, double* out) {
  for (uint32_t d = 0; d < s.value_dim; ++d) {
    uint16_t bits;
    std::memcpy(&bits, row + 2 * d, 2);
    out[d] = kv_to_float(bits, s.dtype);
  }
}

uint32_t unit_count(const LayerShape& s, int32_t length) {
  return uint32_t((uint64_t(std::max(length, 0)) + s.page_size - 1) / s.page_size);
}

void group_queries(const LayerShape& s, const DeviceBuffers& dev, uint32_t b, std::vector<double>* q,
                   std::vector<double>* mean) {
  const uint32_t D = s.head_dim, Gq = s.group_size;
  q->assign(uint64_t(s.q_heads) * D, 0.0);
  mean->assign(uint64_t(s.kv_heads) * D, 0.0);
  for (uint64_t i = 0; i < q->size(); ++i) (*q)[i] = kv_to_float(dev.io_q[uint64_t(b) * s.q_heads * D + i], s.act_dtype);
  for (uint32_t h = 0; h < s.q_heads; ++h)
    for (uint32_t d = 0; d < D; ++d) (*mean)[uint64_t(h / Gq) * D + d] += (*q)[uint64_t(h) * D + d] / Gq;
}

void top_k(const float* scores, uint32_t n, uint32_t k, int32_t* units) {
  std::vector<int32_t> candidates;
  candidates.reserve(n);
  for (uint32_t u = 0; u < n; ++u)
    if (scores[u] > -kPositiveInfinity) candidates.push_back(int32_t(u));  // false for -inf and NaN
  const uint32_t take = std::min<uint32_t>(k, uint32_t(candidates.size()));
  std::partial_sort(candidates.begin(), candidates.begin() + take, candidates.end(), [&](int32_t a, int32_t b) {
    return scores[a] != scores[b] ? scores[a] > scores[b] : a < b;
  });
  std::sort(candidates.begin(), candidates.begin() + take);
  for (uint32_t i = 0; i < k; ++i) units[i] = i < take ? candidates[i] : -1;
}

uint32_t lru_diff(const int32_t* units, uint32_t k, int32_t step, uint32_t capacity, int32_t* slot_unit,
                  int32_t* last_used, int32_t* slots, int32_t* copy_units, int32_t* copy_slots) {
  std::vector<char> taken(capacity, 0);  // selected this step: never a victim
  for (uint32_t i = 0; i < k; ++i) {
    slots[i] = -1;
    if (units[i] < 0) continue;
    for (uint32_t c = 0; c < capacity; ++c)
      if (slot_unit[c] == units[i]) { slots[i] = int32_t(c); taken[c] = 1; break; }
  }
  uint32_t misses = 0;
  for (uint32_t i = 0; i < k; ++i) {  // units ascend, so misses take victims in unit order
    if (units[i] < 0 || slots[i] >= 0) continue;
    int32_t victim = -1;
    for (uint32_t c = 0; c < capacity && victim < 0; ++c)
      if (!taken[c] && slot_unit[c] < 0) victim = int32_t(c);
    if (victim < 0)
      for (uint32_t c = 0; c < capacity; ++c)
        if (!taken[c] && (victim < 0 || last_used[c] < last_used[victim])) victim = int32_t(c);
    // C >= K guarantees a victim: at most k - 1 other slots are taken.
    taken[victim] = 1;
    slot_unit[victim] = units[i];
    slots[i] = victim;
    copy_units[misses] = units[i];
    copy_slots[misses] = victim;
    ++misses;
  }
  for (uint32_t i = misses; i < k; ++i) copy_units[i] = copy_slots[i] = -1;
  for (uint32_t i = 0; i < k; ++i)
    if (slots[i] >= 0) last_used[slots[i]] = step;
  return misses;
}

void score(const LayerShape& s, DeviceBuffers& dev, uint32_t b) {
  const uint32_t n = unit_count(s, dev.req_length[b]);
  // Forced units are [0, sinks) and [n - window, n); the package scores the rest.
  const uint32_t first = std::min(s.sinks, n), end = n > s.window ? std::max(first, n - s.window) : first;
  for (uint32_t g = 0; g < s.groups; ++g) {
    float* out = &dev.sel_scores[group_index(s, b, g) * s.max_units];
    for (uint32_t u = 0; u < s.max_units; ++u)
      out[u] = u >= n ? -kPositiveInfinity : (u >= first && u < end) ? 0.0f : kPositiveInfinity;
    if (first < end) s.algorithm->score(s, dev, b, g, first, end, out);
  }
}

double group_log_bound(const LayerShape& s, const float* scores, uint32_t n) {
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const uint32_t k = std::min(n, s.budget);
  if (k == n) return -kInf;  // every unit selected
  // Bins of the top 11 bits of the order-preserving key (top_k's and the
  // kernel's), counted; the threshold bin holds the k-th largest key.
  auto key_of = [](float x) {
    uint32_t bits;
    std::memcpy(&bits, &x, 4);
    return (bits & 0x80000000u) ? ~bits : (bits | 0x80000000u);
  };
  constexpr uint32_t kShift = 21, kBins = 2048;
  std::vector<uint32_t> count(kBins, 0);
  for (uint32_t u = 0; u < n; ++u) ++count[key_of(scores[u]) >> kShift];
  uint32_t threshold = kBins, above = 0;
  while (threshold > 0 && above + count[threshold - 1] < k) above += count[--threshold];
  --threshold;  // the bin where the count reaches k
  const uint32_t selected_in_threshold = k - above;
  // Each bin's top score: the key with all its low bits set, decoded; a NaN
  // top counts as +inf.
  auto top_of = [](uint32_t bin) {
    const uint32_t key = (bin << kShift) | ((1u << kShift) - 1);
    const uint32_t bits = (key & 0x80000000u) ? (key ^ 0x80000000u) : ~key;
    float x;
    std::memcpy(&x, &bits, 4);
    return std::isnan(x) ? kInf : double(x);
  };
  double max = -kInf;
  std::vector<std::pair<double, double>> bins;  // (top, unselected units)
  for (uint32_t d = 0; d <= threshold; ++d) {
    const uint32_t left = d < threshold ? count[d] : count[d] - selected_in_threshold;
    if (left == 0) continue;
    bins.push_back({top_of(d), double(left)});
    max = std::max(max, bins.back().first);
  }
  if (max == -kInf) return -kInf;  // only -inf scores left out
  if (max == kInf) return kInf;
  double sum = 0.0;
  for (const auto& [top, units] : bins) sum += units * std::exp(double(s.scale) * (top - max));
  return double(s.scale) * max + std::log(double(s.page_size) * sum) + telemetry_contract::kGroupBoundMarginLog +
         double(n) * telemetry_contract::kGroupBoundMarginPerUnit;
}

std::vector<std::vector<int32_t>> page_tables(const LayerShape& s, const int32_t* units, const int32_t* slots,
                                              const int32_t* lengths) {
  const PageTableFormat format = PageTableFormat(s.config.page_table_format);
  const uint32_t B = s.batch, S = s.groups, K = s.budget, C = s.capacity, P = s.page_size;
  std::vector<std::vector<int32_t>> out;
  for (const page_table_contract::Table& t : page_table_contract::tables(format)) {
    out.emplace_back(page_table_contract::entries(t.dims, B, S, K, P), 0);
  }
  // Row (b, g): k units selected, the block of entry i, the last unit's tokens.
  auto selected = [&](uint32_t b) { return std::min<uint32_t>(K, unit_count(s, lengths[b])); };
  auto block_of = [&](uint32_t b, uint32_t g, uint32_t i) {
    return int32_t((uint64_t(b) * S + g) * C + uint32_t(slots[(uint64_t(b) * S + g) * K + i]));
  };
  auto last_tokens = [&](uint32_t b, uint32_t g, uint32_t k) {
    const int64_t start = int64_t(units[(uint64_t(b) * S + g) * K + k - 1]) * P;
    return int32_t(std::min<int64_t>(P, int64_t(lengths[b]) - std::min<int64_t>(start, lengths[b])));
  };
  switch (format) {
    case PageTableFormat::FlashAttnBlockTable:
      for (uint32_t b = 0; b < B; ++b) {
        const uint32_t k = selected(b);
        for (uint32_t i = 0; i < K; ++i) out[0][uint64_t(b) * K + i] = i < k ? block_of(b, 0, i) : -1;
        out[1][b] = k == 0 ? 0 : int32_t((k - 1) * P) + last_tokens(b, 0, k);
      }
      break;
    case PageTableFormat::FlashInferCsr: {
      int32_t offset = 0;
      for (uint32_t b = 0; b < B; ++b) {
        const uint32_t k = selected(b);
        out[0][b] = offset;
        for (uint32_t i = 0; i < k; ++i) out[1][size_t(offset) + i] = block_of(b, 0, i);
        out[2][b] = k == 0 ? 0 : last_tokens(b, 0, k);
        offset += int32_t(k);
      }
      out[0][B] = offset;
      break;
    }
    case PageTableFormat::TokenIndices:
      for (uint32_t b = 0; b < B; ++b)
        for (uint32_t g = 0; g < S; ++g) {
          const uint32_t k = selected(b);
          for (uint32_t j = 0; j < K * P; ++j) {
            const uint32_t i = j / P, p = j % P;
            const int64_t token = i < k ? int64_t(units[(uint64_t(b) * S + g) * K + i]) * P + p : -1;
            out[0][(uint64_t(b) * S + g) * K * P + j] =
                i < k && token < lengths[b] ? block_of(b, g, i) * int32_t(P) + int32_t(p) : -1;
          }
        }
      break;
    default:
      break;
  }
  return out;
}

void select(const LayerShape& s, DeviceBuffers& dev, uint32_t b) {
  const uint32_t n = unit_count(s, dev.req_length[b]);
  for (uint32_t g = 0; g < s.groups; ++g) {
    const float* scores = &dev.sel_scores[group_index(s, b, g) * s.max_units];
    int32_t* units = &dev.sel_units[group_index(s, b, g) * s.budget];
    top_k(scores, n, s.budget, units);
    if (!dev.io_group_bound.empty())
      dev.io_group_bound[group_index(s, b, g)] =
          round_up_to_float(group_log_bound(s, scores, n));
  }
}

void diff(const LayerShape& s, DeviceBuffers& dev, uint32_t b) {
  std::vector<int32_t> resident(s.capacity);
  for (uint32_t g = 0; g < s.groups; ++g) {
    const uint64_t gi = group_index(s, b, g), sel = gi * s.budget, buf = gi * s.capacity;
    std::copy(&dev.buf_slot_unit[buf], &dev.buf_slot_unit[buf] + s.capacity, resident.begin());
    const uint32_t misses = lru_diff(&dev.sel_units[sel], s.budget, dev.req_step[b], s.capacity,
                                     &dev.buf_slot_unit[buf], &dev.buf_last_used[buf], &dev.sel_slots[sel],
                                     &dev.sel_copy_units[sel], &dev.sel_copy_slots[sel]);
    dev.sel_copy_count[gi] = int32_t(misses);
    // The reverse map follows: evicted units lose their slot, then misses get theirs.
    int32_t* unit_slot = &dev.buf_unit_slot[gi * s.max_units];
    for (uint32_t i = 0; i < misses; ++i) {
      const int32_t evicted = resident[size_t(dev.sel_copy_slots[sel + i])];
      if (evicted >= 0) unit_slot[evicted] = -1;
    }
    for (uint32_t i = 0; i < misses; ++i) unit_slot[dev.sel_copy_units[sel + i]] = dev.sel_copy_slots[sel + i];
  }
}

void gather(const LayerShape& s, const HostBuffers& host, DeviceBuffers& dev, uint32_t b) {
  const uint32_t Hu = s.heads_per_unit, P = s.page_size;
  for (uint32_t g = 0; g < s.groups; ++g) {
    const uint64_t gi = group_index(s, b, g);
    for (int32_t i = 0; i < dev.sel_copy_count[gi]; ++i) {
      const uint32_t u = uint32_t(dev.sel_copy_units[gi * s.budget + i]);
      const uint32_t c = uint32_t(dev.sel_copy_slots[gi * s.budget + i]);
      const uint64_t page = uint64_t(host.page_of[uint64_t(b) * s.max_units + u]);
      // A unit is Hu consecutive heads of one page: contiguous in both layouts, copied as bytes.
      const uint64_t row_k = s.key_row_bytes();
      std::memcpy(&dev.buf_k_bytes[slot_key_offset(s, b, g, c, 0, 0, row_k)],
                  host.key_bytes() + (page * s.kv_heads + uint64_t(g) * Hu) * P * row_k, uint64_t(Hu) * P * row_k);
      if (s.has_separate_v)
        std::memcpy(&dev.buf_v[slot_key_offset(s, b, g, c, 0, 0, s.value_dim)],
                    host.v + (page * s.kv_heads + uint64_t(g) * Hu) * P * s.value_dim,
                    uint64_t(Hu) * P * s.value_dim * sizeof(uint16_t));
    }
  }
}

void telemetry(const LayerShape& s, const DeviceBuffers& dev, uint32_t b, const double* selected_lse,
               Telemetry* out) {
  const uint32_t P = s.page_size;
  const int64_t length = dev.req_length[b];
  const uint32_t units = unit_count(s, int32_t(length));
  out->selected_lse.assign(selected_lse, selected_lse + s.q_heads);
  out->missed_mass_bound.clear();
  // The group bound where the layer has it; the per-head one where the
  // artifact carries it or carries neither.
  if (s.group_bound && units > 0) {
    out->missed_mass_bound.assign(s.q_heads, 0.0);
    for (uint32_t h = 0; h < s.q_heads; ++h)
      out->missed_mass_bound[h] = missed_mass_bound(
          selected_lse[h], double(dev.io_group_bound[group_index(s, b, (h / s.group_size) / s.heads_per_unit)]));
    if (!s.head_bound) return;
  }
  std::vector<double> bounds(units);
  const bool bounded = units > 0 && s.algorithm->logit_upper_bounds(s, dev, b, 0, units, bounds.data());
  if (!bounded) return;
  const bool tighten = !out->missed_mass_bound.empty();
  if (!tighten) out->missed_mass_bound.assign(s.q_heads, 0.0);
  std::vector<char> selected(units);
  for (uint32_t h = 0; h < s.q_heads; ++h) {
    const uint32_t g = (h / s.group_size) / s.heads_per_unit;
    std::fill(selected.begin(), selected.end(), 0);
    const uint64_t sel = group_index(s, b, g) * s.budget;
    for (uint32_t i = 0; i < s.budget; ++i) {
      const int32_t u = dev.sel_units[sel + i];
      if (u >= 0 && uint32_t(u) < units) selected[u] = 1;
    }
    // log U over the unselected units, each worth n_u tokens at its bound.
    if (h > 0) s.algorithm->logit_upper_bounds(s, dev, b, h, units, bounds.data());
    double mu = -std::numeric_limits<double>::infinity(), zu = 0.0;
    for (uint32_t u = 0; u < units; ++u)
      if (!selected[u]) mu = std::max(mu, bounds[u]);
    for (uint32_t u = 0; u < units; ++u)
      if (!selected[u]) zu += double(std::min<int64_t>(P, length - int64_t(u) * P)) * std::exp(bounds[u] - mu);
    const double log_u = zu > 0.0 ? mu + std::log(zu) : -std::numeric_limits<double>::infinity();
    const double head = missed_mass_bound(selected_lse[h], log_u);
    out->missed_mass_bound[h] = tighten ? std::min(out->missed_mass_bound[h], head) : head;
  }
}

void attend(const LayerShape& s, DeviceBuffers& dev, uint32_t b, float* o_f32, double* selected_lse) {
  const uint32_t D = s.head_dim, Dv = s.value_dim, P = s.page_size;
  const uint64_t row_k = s.key_row_bytes();
  const int64_t length = dev.req_length[b];
  std::vector<double> logits, acc(Dv), key(D);
  std::vector<double> values;  // [selected tokens][Dv], decoded
  for (uint32_t h = 0; h < s.q_heads; ++h) {
    const uint32_t kv_head = h / s.group_size, g = kv_head / s.heads_per_unit, j = kv_head % s.heads_per_unit;
    const uint16_t* q = &dev.io_q[(uint64_t(b) * s.q_heads + h) * D];
    std::vector<double> qd(D);
    for (uint32_t d = 0; d < D; ++d) qd[d] = kv_to_float(q[d], s.act_dtype);
    logits.clear();
    values.clear();
    const uint64_t sel = group_index(s, b, g) * s.budget;
    for (uint32_t i = 0; i < s.budget; ++i) {
      const int32_t u = dev.sel_units[sel + i];
      if (u < 0) continue;
      const uint32_t c = uint32_t(dev.sel_slots[sel + i]);
      for (uint32_t p = 0; p < P && int64_t(u) * P + p < length; ++p) {
        decode_key_row(s, &dev.buf_k_bytes[slot_key_offset(s, b, g, c, j, p, row_k)], key.data());
        double dot = 0.0;
        for (uint32_t d = 0; d < D; ++d) dot += qd[d] * key[d];
        logits.push_back(double(s.scale) * dot);
        const size_t at = values.size();
        values.resize(at + Dv);
        if (s.has_separate_v)
          decode_value_row(s, reinterpret_cast<const uint8_t*>(&dev.buf_v[slot_key_offset(s, b, g, c, j, p, Dv)]),
                           &values[at]);
        else
          std::copy(key.begin(), key.begin() + Dv, values.begin() + at);  // V: the key row's first Dv values
      }
    }
    std::fill(acc.begin(), acc.end(), 0.0);
    double max_logit = -std::numeric_limits<double>::infinity(), denominator = 0.0;
    for (double l : logits) max_logit = std::max(max_logit, l);
    for (size_t t = 0; t < logits.size(); ++t) {
      const double p = std::exp(logits[t] - max_logit);
      denominator += p;
      for (uint32_t d = 0; d < Dv; ++d) acc[d] += p * values[t * Dv + d];
    }
    const double lse = logits.empty() ? max_logit : max_logit + std::log(denominator);
    if (selected_lse) selected_lse[h] = lse;
    dev.io_lse[uint64_t(b) * s.q_heads + h] = float(lse);
    for (uint32_t d = 0; d < Dv; ++d) {
      const float value = denominator > 0.0 ? float(acc[d] / denominator) : 0.0f;
      dev.io_o[(uint64_t(b) * s.q_heads + h) * Dv + d] = float_to_kv(value, s.act_dtype);
      if (o_f32) o_f32[uint64_t(h) * Dv + d] = value;
    }
  }
}

void decode_step(const LayerShape& s, const HostBuffers& host, DeviceBuffers& dev, uint32_t b, float* o_f32) {
  score(s, dev, b);
  select(s, dev, b);
  diff(s, dev, b);
  gather(s, host, dev, b);
  attend(s, dev, b, o_f32);
  dev.req_step[b] += 1;
}

void append_token(const LayerShape& s, const HostBuffers& host, DeviceBuffers& dev, uint32_t b) {
  const uint32_t t = uint32_t(dev.req_length[b]), u = t / s.page_size, p = t % s.page_size;
  const uint32_t Dv = s.value_dim;
  const uint64_t row_k = s.key_row_bytes();
  for (uint32_t g = 0; g < s.groups; ++g) {
    const uint64_t buf = group_index(s, b, g) * s.capacity;
    for (uint32_t c = 0; c < s.capacity; ++c) {
      if (dev.buf_slot_unit[buf + c] != int32_t(u)) continue;
      for (uint32_t j = 0; j < s.heads_per_unit; ++j) {
        const uint64_t kv_head = uint64_t(g) * s.heads_per_unit + j;
        std::memcpy(&dev.buf_k_bytes[slot_key_offset(s, b, g, c, j, p, row_k)],
                    &dev.io_new_k_bytes[(uint64_t(b) * s.kv_heads + kv_head) * row_k], row_k);
        if (s.has_separate_v)
          std::memcpy(&dev.buf_v[slot_key_offset(s, b, g, c, j, p, Dv)],
                      &dev.io_new_v[(uint64_t(b) * s.kv_heads + kv_head) * Dv], Dv * sizeof(uint16_t));
      }
    }
  }
  s.algorithm->append(s, host, dev, b);
  dev.req_length[b] = int32_t(t + 1);
}

void build_representations(const LayerShape& s, const HostBuffers& host, DeviceBuffers& dev, uint32_t b,
                           uint32_t first_unit, uint32_t end_unit) {
  s.algorithm->build_representations(s, host, dev, b, first_unit, end_unit);
}

}  // namespace reference

// The CPU backend keeps the device-tier buffers of the layer's table
// (DeviceBuffers, same dims as the artifact's, checked at load) in host memory.
Status CpuBackend::memory_needs(const Artifact& artifact, const LayerShape& shape, MemoryNeeds* needs) {
  const SymbolValues symbols = shape.symbols();
  for (const DocumentedBuffer& doc : shape.device_buffers()) {
    const int index = artifact.find_buffer(doc.name);
    if (index < 0) return Status(StatusCode::InvalidArtifact, std::string("buffer table lacks '") + doc.name + "'");
    std::vector<int64_t> dims;
    uint64_t bytes = 0;
    HSA_RETURN_IF_ERROR(evaluate_buffer_dims(artifact, artifact.buffers[index], symbols, &dims, &bytes));
    needs->host_buffers.push_back(BufferBytes{doc.name + std::string(" (cpu backend)"), bytes});
  }
  return Status::ok();
}

Status CpuBackend::prepare(const Artifact& artifact, const LayerShape& shape, HostCache* cache) {
  shape_ = shape;
  cache_ = cache;
  try {
    dev_.reset(new DeviceBuffers(shape));
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::OutOfMemory, "CPU backend: cannot allocate the device-tier buffers");
  }
  // Kernel scratch (scratch.*) is not modelled: the reference stages need none.
  telemetry_of_.assign(telemetry_ ? shape.batch : 0, reference::Telemetry{});
  telemetry_step_.assign(shape.batch, -1);
  return Status::ok();
}

Status CpuBackend::named_array(const std::string& name, size_t bytes, DeviceBuffers::Array** array) {
  if (name.compare(0, 5, "host.") == 0)
    return Status(StatusCode::InvalidArgument, "'" + name + "' is a host-tier buffer: read the host cache instead");
  *array = dev_->find(name);
  if (!*array || (*array)->bytes == 0)
    return Status(StatusCode::NotFound, "the cpu backend holds no device buffer '" + name +
                                            "' (it models the layer contract's buffers, docs/BUFFERS.md, and the "
                                            "algorithm's; kernel scratch is not modelled)");
  if ((*array)->bytes != bytes)
    return Status(StatusCode::InvalidArgument, "buffer '" + name + "' has " + std::to_string((*array)->bytes) +
                                                   " bytes, " + std::to_string(bytes) + " requested");
  return Status::ok();
}

Status CpuBackend::read_buffer(const std::string& name, void* dst, size_t bytes) {
  DeviceBuffers::Array* array = nullptr;
  HSA_RETURN_IF_ERROR(named_array(name, bytes, &array));
  std::memcpy(dst, array->data(), bytes);
  return Status::ok();
}

Status CpuBackend::write_buffer(const std::string& name, const void* src, size_t bytes) {
  DeviceBuffers::Array* array = nullptr;
  HSA_RETURN_IF_ERROR(named_array(name, bytes, &array));
  std::memcpy(array->data(), src, bytes);
  return Status::ok();
}

HostBuffers host_buffers_of(const HostCache& cache) {
  HostBuffers host{cache.host_k(), cache.host_v(), cache.host_page_of(), {}};
  for (const LayerShape::StepInputRow& row : cache.shape().step_inputs)
    if (!row.pool.empty()) host.pools.push_back({row.pool, cache.pool_rows(row.pool)});
  return host;
}

HostBuffers CpuBackend::host_buffers() const { return host_buffers_of(*cache_); }

Status CpuBackend::reset_slot(uint32_t slot) {
  dev_->reset_slot(shape_, slot);
  telemetry_step_[slot] = -1;
  return Status::ok();
}

Status CpuBackend::after_prefill(uint32_t slot, uint32_t old_length) {
  DeviceBuffers& dev = *dev_;
  dev.req_length[slot] = int32_t(cache_->length(slot));
  const uint32_t first = old_length / shape_.page_size;
  const uint32_t end = uint32_t((uint64_t(cache_->length(slot)) + shape_.page_size - 1) / shape_.page_size);
  reference::build_representations(shape_, host_buffers(), dev, slot, first, end);
  // Drop resident copies of the units the prefill wrote (as the CUDA backend
  // does), in both directions of the slot map.
  for (uint32_t g = 0; g < shape_.groups; ++g) {
    const uint64_t gi = uint64_t(slot) * shape_.groups + g, buf = gi * shape_.capacity;
    for (uint32_t c = 0; c < shape_.capacity; ++c)
      if (dev.buf_slot_unit[buf + c] >= int32_t(first)) dev.buf_slot_unit[buf + c] = dev.buf_last_used[buf + c] = -1;
    for (uint32_t u = first; u < shape_.max_units; ++u) dev.buf_unit_slot[gi * shape_.max_units + u] = -1;
  }
  return Status::ok();
}

// The call's rows of the step inputs of `kind` into their arrays' slot rows.
void CpuBackend::stage_inputs(StepKind kind, const uint32_t* slots, size_t count, const StepInputRows& inputs) {
  size_t i = 0;
  for (const LayerShape::StepInputRow& row : shape_.step_inputs) {
    if (row.kind != kind) continue;
    uint8_t* array = static_cast<uint8_t*>(dev_->find(row.buffer)->data());
    const uint8_t* rows = static_cast<const uint8_t*>(inputs[i++]);
    for (size_t r = 0; r < count; ++r)
      std::memcpy(array + slots[r] * row.row_bytes, rows + r * row.row_bytes, row.row_bytes);
  }
}

Status CpuBackend::after_append(const uint32_t* slots, size_t count, const void* new_k, const void* new_v,
                                const StepInputRows& inputs) {
  DeviceBuffers& dev = *dev_;
  stage_inputs(StepKind::Append, slots, count, inputs);
  // Bytes of one slot's rows, in the stored format.
  const uint64_t row_k = uint64_t(shape_.kv_heads) * shape_.key_row_bytes();
  const uint64_t row_v = uint64_t(shape_.kv_heads) * shape_.value_row_bytes();
  for (size_t i = 0; i < count; ++i) {
    const uint32_t b = slots[i];
    std::memcpy(&dev.io_new_k_bytes[b * row_k], static_cast<const uint8_t*>(new_k) + i * row_k, row_k);
    if (shape_.has_separate_v)
      std::memcpy(reinterpret_cast<uint8_t*>(dev.io_new_v.data()) + b * row_v,
                  static_cast<const uint8_t*>(new_v) + i * row_v, row_v);
    reference::append_token(shape_, host_buffers(), dev, b);
  }
  return Status::ok();
}

Status CpuBackend::decode(const uint32_t* slots, size_t count, const uint16_t* q, uint16_t* o, SlotStepResult* results,
                          const StepInputRows& inputs) {
  DeviceBuffers& dev = *dev_;
  stage_inputs(StepKind::Decode, slots, count, inputs);
  const uint64_t row_q = uint64_t(shape_.q_heads) * shape_.head_dim, row_o = uint64_t(shape_.q_heads) * shape_.value_dim;
  const HostBuffers host = host_buffers();
  for (size_t i = 0; i < count; ++i) std::memcpy(&dev.io_q[slots[i] * row_q], q + i * row_q, row_q * sizeof(uint16_t));
  // reference::decode_step's stages, stage by stage over the slots (slots are
  // independent, so the order changes nothing) so that each stage can be timed.
  timings_.clear();
  auto stage = [&](const char* name, const std::function<void(uint32_t)>& run) {
    const auto start = std::chrono::steady_clock::now();
    for (size_t i = 0; i < count; ++i) run(slots[i]);
    if (profile_)
      timings_.push_back(KernelTiming{
          name, std::chrono::duration<float, std::milli>(std::chrono::steady_clock::now() - start).count()});
  };
  stage("reference.score", [&](uint32_t b) { reference::score(shape_, dev, b); });
  stage("reference.select", [&](uint32_t b) { reference::select(shape_, dev, b); });
  stage("reference.diff", [&](uint32_t b) { reference::diff(shape_, dev, b); });
  stage("reference.gather", [&](uint32_t b) { reference::gather(shape_, host, dev, b); });
  // With telemetry, attention also leaves each head's LSE over the selection.
  std::vector<double> lse(telemetry_ ? size_t(shape_.batch) * shape_.q_heads : 0);  // [B][Hq]
  auto lse_of = [&](uint32_t b) { return telemetry_ ? &lse[size_t(b) * shape_.q_heads] : nullptr; };
  stage("reference.attend", [&](uint32_t b) { reference::attend(shape_, dev, b, nullptr, lse_of(b)); });
  // The format's exported tables, as the page_table kernel writes them: from
  // every row's selection, rows outside the call selecting nothing.
  const auto tables = page_table_contract::tables(PageTableFormat(shape_.config.page_table_format));
  if (tables.size() > 0) {
    const auto start = std::chrono::steady_clock::now();
    std::vector<int32_t> lengths(shape_.batch, 0);
    for (size_t i = 0; i < count; ++i) lengths[slots[i]] = dev.req_length[slots[i]];
    const std::vector<std::vector<int32_t>> rows =
        reference::page_tables(shape_, dev.sel_units.data(), dev.sel_slots.data(), lengths.data());
    size_t t = 0;
    for (const page_table_contract::Table& table : tables) {
      HSA_RETURN_IF_ERROR(write_buffer(table.name, rows[t].data(), rows[t].size() * sizeof(int32_t)));
      ++t;
    }
    if (profile_)
      timings_.push_back(KernelTiming{
          "reference.page_table", std::chrono::duration<float, std::milli>(std::chrono::steady_clock::now() - start).count()});
  }
  if (telemetry_)
    stage("reference.telemetry", [&](uint32_t b) {
      reference::telemetry(shape_, dev, b, lse_of(b), &telemetry_of_[b]);
      telemetry_step_[b] = int64_t(dev.req_step[b]) + 1;
    });
  for (size_t i = 0; i < count; ++i) {
    const uint32_t b = slots[i];
    dev.req_step[b] += 1;
    std::memcpy(o + i * row_o, &dev.io_o[b * row_o], row_o * sizeof(uint16_t));
    SlotStepResult r;
    for (uint32_t g = 0; g < shape_.groups; ++g) {
      const uint64_t gi = uint64_t(b) * shape_.groups + g;
      for (uint32_t k = 0; k < shape_.budget; ++k) r.units_selected += dev.sel_units[gi * shape_.budget + k] >= 0;
      r.misses += uint64_t(dev.sel_copy_count[gi]);
    }
    results[i] = r;
  }
  return Status::ok();
}

Status CpuBackend::telemetry(uint32_t slot, RequestTelemetry* out) {
  if (!telemetry_) return Status(StatusCode::InvalidArgument, "telemetry is off: create the runtime with RuntimeOptions::telemetry");
  if (telemetry_step_[slot] < 0) return Status(StatusCode::NotFound, "the request has no decode step yet");
  const reference::Telemetry& t = telemetry_of_[slot];
  out->step = uint64_t(telemetry_step_[slot]);
  out->selected_lse.assign(t.selected_lse.begin(), t.selected_lse.end());
  out->has_bound = !t.missed_mass_bound.empty();
  // Rounded up to float: the bound stays a bound after the narrowing.
  out->missed_mass_bound.clear();
  for (double m : t.missed_mass_bound) out->missed_mass_bound.push_back(round_up_to_float(m));
  out->max_missed_mass_bound = 0.0f;
  for (float m : out->missed_mass_bound) out->max_missed_mass_bound = std::max(out->max_missed_mass_bound, m);
  return Status::ok();
}

Status CpuBackend::selected_units(uint32_t slot, int32_t* units) {
  const uint64_t SK = uint64_t(shape_.groups) * shape_.budget;
  std::memcpy(units, &dev_->sel_units[slot * SK], SK * sizeof(int32_t));
  return Status::ok();
}

}  // namespace hsa
