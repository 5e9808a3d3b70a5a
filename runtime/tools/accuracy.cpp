// The accuracy measures of accuracy.h.
#include "accuracy.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "cpu_backend.h"
#include "parallel.h"
#include "text_format.h"

namespace hsa {
namespace accuracy {

void dense_attention(const Layout& l, const float* keys, const float* values, uint64_t length, const float* q,
                     Dense* out) {
  out->length = length;
  out->prob.assign(size_t(l.q_heads) * length, 0.0f);
  out->out.assign(size_t(l.q_heads) * l.value_dim, 0.0);
  const uint32_t G = l.q_heads / l.kv_heads, D = l.head_dim, Dv = l.value_dim;
  parallel_for(l.q_heads, length * (D + Dv), [&](uint64_t begin, uint64_t end) {
    std::vector<double> logits(length);
    for (uint64_t h = begin; h < end; ++h) {
      const uint32_t kv = uint32_t(h) / G;
      const float* qh = q + h * D;
      double max_logit = -INFINITY;
      for (uint64_t t = 0; t < length; ++t) {
        const float* k = keys + (t * l.kv_heads + kv) * D;
        double dot = 0.0;
        for (uint32_t i = 0; i < D; ++i) dot += double(qh[i]) * k[i];
        logits[t] = double(l.scale) * dot;
        max_logit = std::max(max_logit, logits[t]);
      }
      double total = 0.0;
      for (uint64_t t = 0; t < length; ++t) total += (logits[t] = std::exp(logits[t] - max_logit));
      float* p = &out->prob[h * length];
      double* o = &out->out[h * Dv];
      for (uint64_t t = 0; t < length; ++t) {
        const double w = logits[t] / total;
        p[t] = float(w);
        const float* v = values + (t * l.kv_heads + kv) * Dv;
        for (uint32_t i = 0; i < Dv; ++i) o[i] += w * v[i];
      }
    }
  });
}

double selection_mass(const Layout& l, const Dense& d, uint32_t h, const int32_t* units, uint32_t k) {
  const float* p = d.head(h);
  double mass = 0.0;
  for (uint32_t i = 0; i < k; ++i) {
    if (units[i] < 0) continue;
    const uint64_t first = uint64_t(units[i]) * l.page_size, end = std::min<uint64_t>(d.length, first + l.page_size);
    for (uint64_t t = first; t < end; ++t) mass += p[t];
  }
  return mass;
}

double token_oracle_mass(const Dense& d, uint32_t h, uint64_t tokens) {
  std::vector<float> p(d.head(h), d.head(h) + d.length);
  if (tokens < p.size()) std::nth_element(p.begin(), p.begin() + tokens, p.end(), std::greater<float>());
  double mass = 0.0;
  for (uint64_t i = 0; i < std::min<uint64_t>(tokens, p.size()); ++i) mass += p[i];
  return mass;
}

void unit_oracle(const Layout& l, const Dense& d, uint32_t k, uint32_t sinks, uint32_t window,
                 std::vector<int32_t>* units) {
  const uint32_t n = uint32_t((d.length + l.page_size - 1) / l.page_size);
  units->assign(size_t(l.groups) * k, -1);
  std::vector<double> mass(n);
  std::vector<uint32_t> order;
  for (uint32_t g = 0; g < l.groups; ++g) {
    std::fill(mass.begin(), mass.end(), 0.0);
    for (uint32_t h = 0; h < l.q_heads; ++h) {
      if (l.group_of_head(h) != g) continue;
      const float* p = d.head(h);
      for (uint64_t t = 0; t < d.length; ++t) mass[t / l.page_size] += p[t];
    }
    std::vector<int32_t> chosen;
    order.clear();
    for (uint32_t u = 0; u < n; ++u) {
      if (u < sinks || u + window >= n) chosen.push_back(int32_t(u));
      else order.push_back(u);
    }
    if (chosen.size() > k) chosen.resize(k);  // cannot happen for valid layers (sinks + window <= K)
    const size_t others = std::min<size_t>(order.size(), k - chosen.size());
    std::partial_sort(order.begin(), order.begin() + others, order.end(), [&](uint32_t a, uint32_t b) {
      return mass[a] != mass[b] ? mass[a] > mass[b] : a < b;
    });
    for (size_t i = 0; i < others; ++i) chosen.push_back(int32_t(order[i]));
    std::sort(chosen.begin(), chosen.end());
    std::copy(chosen.begin(), chosen.end(), units->begin() + size_t(g) * k);
  }
}

void quantized_bounds(uint32_t bits, uint32_t dim, const float* kmin, const float* kmax, double* qmin, double* qmax) {
  float lo = kmin[0], hi = kmax[0];
  for (uint32_t d = 0; d < dim; ++d) lo = std::min(lo, kmin[d]), hi = std::max(hi, kmax[d]);
  const double levels = double((1u << bits) - 1);
  const float step = std::nextafter(float((double(hi) - double(lo)) / levels), INFINITY);
  for (uint32_t d = 0; d < dim; ++d) {
    if (!(hi > lo)) {  // one value in the whole row: exact
      qmin[d] = kmin[d], qmax[d] = kmax[d];
      continue;
    }
    double cmin = std::clamp(std::floor((double(kmin[d]) - lo) / step), 0.0, levels);
    double cmax = std::clamp(std::ceil((double(kmax[d]) - lo) / step), 0.0, levels);
    if (double(lo) + cmin * step > kmin[d] && cmin > 0) cmin -= 1;
    if (double(lo) + cmax * step < kmax[d] && cmax < levels) cmax += 1;
    qmin[d] = double(lo) + cmin * step;
    qmax[d] = double(lo) + cmax * step;
  }
}

void quest_max_selection(const Layout& l, const float* keys, uint64_t length, const float* q, uint32_t k,
                         uint32_t sinks, uint32_t window, uint32_t bits, std::vector<int32_t>* units,
                         std::vector<float>* scores) {
  const uint32_t n = uint32_t((length + l.page_size - 1) / l.page_size), D = l.head_dim;
  const uint32_t G = l.q_heads / l.kv_heads, heads_per_unit = l.kv_heads / l.groups;
  units->assign(size_t(l.groups) * k, -1);
  if (scores) scores->assign(size_t(l.groups) * n, 0.0f);
  std::vector<float> row(n), kmin(D), kmax(D);
  std::vector<double> lo(D), hi(D);
  for (uint32_t g = 0; g < l.groups; ++g) {
    std::fill(row.begin(), row.end(), -INFINITY);
    for (uint32_t u = 0; u < n; ++u) {
      if (u < sinks || u + window >= n) {
        row[u] = INFINITY;
        continue;
      }
      double combined = -INFINITY;
      for (uint32_t j = 0; j < heads_per_unit; ++j) {
        const uint32_t kv = g * heads_per_unit + j;
        std::fill(kmin.begin(), kmin.end(), INFINITY);
        std::fill(kmax.begin(), kmax.end(), -INFINITY);
        for (uint64_t t = uint64_t(u) * l.page_size; t < std::min<uint64_t>(length, uint64_t(u + 1) * l.page_size); ++t)
          for (uint32_t d = 0; d < D; ++d) {
            const float x = keys[(t * l.kv_heads + kv) * D + d];
            kmin[d] = std::min(kmin[d], x), kmax[d] = std::max(kmax[d], x);
          }
        if (bits) {
          quantized_bounds(bits, D, kmin.data(), kmax.data(), lo.data(), hi.data());
        } else {
          for (uint32_t d = 0; d < D; ++d) lo[d] = kmin[d], hi[d] = kmax[d];
        }
        for (uint32_t h = kv * G; h < (kv + 1) * G; ++h) {
          double sum = 0.0;
          for (uint32_t d = 0; d < D; ++d) {
            const double a = double(q[size_t(h) * D + d]) * lo[d], b = double(q[size_t(h) * D + d]) * hi[d];
            sum += a > b ? a : b;
          }
          combined = std::max(combined, sum);
        }
      }
      row[u] = float(combined);
    }
    reference::top_k(row.data(), n, k, units->data() + size_t(g) * k);
    if (scores) std::copy(row.begin(), row.end(), scores->begin() + size_t(g) * n);
  }
}

double output_error(const Dense& d, const std::vector<double>& o) {
  double num = 0.0, den = 0.0;
  for (size_t i = 0; i < d.out.size(); ++i) {
    num += (o[i] - d.out[i]) * (o[i] - d.out[i]);
    den += d.out[i] * d.out[i];
  }
  return den > 0.0 ? std::sqrt(num / den) : 0.0;
}

void restricted_output(const Layout& l, const Dense& d, const float* values, const std::vector<int32_t>& units,
                       uint32_t k, std::vector<double>* o) {
  const uint32_t G = l.q_heads / l.kv_heads, Dv = l.value_dim;
  o->assign(size_t(l.q_heads) * Dv, 0.0);
  for (uint32_t h = 0; h < l.q_heads; ++h) {
    const uint32_t kv = h / G;
    const int32_t* row = &units[size_t(l.group_of_head(h)) * k];
    const float* p = d.head(h);
    double total = 0.0;
    double* out = &(*o)[size_t(h) * Dv];
    for (uint32_t i = 0; i < k; ++i) {
      if (row[i] < 0) continue;
      const uint64_t first = uint64_t(row[i]) * l.page_size, end = std::min<uint64_t>(d.length, first + l.page_size);
      for (uint64_t t = first; t < end; ++t) {
        total += p[t];
        const float* v = values + (t * l.kv_heads + kv) * Dv;
        for (uint32_t j = 0; j < Dv; ++j) out[j] += double(p[t]) * v[j];
      }
    }
    if (total > 0.0)
      for (uint32_t j = 0; j < Dv; ++j) out[j] /= total;
  }
}

double overlap(uint32_t groups, uint32_t k, const std::vector<int32_t>& now, const std::vector<int32_t>& before) {
  double sum = 0.0;
  uint32_t count = 0;
  for (uint32_t g = 0; g < groups; ++g) {
    const int32_t* a = &now[size_t(g) * k];
    const int32_t* b = &before[size_t(g) * k];
    uint32_t i = 0, j = 0, common = 0, size = 0;
    while (size < k && a[size] >= 0) ++size;
    while (i < k && j < k && a[i] >= 0 && b[j] >= 0) {
      if (a[i] == b[j]) ++common, ++i, ++j;
      else if (a[i] < b[j]) ++i;
      else ++j;
    }
    if (size) {
      sum += double(common) / double(size);
      ++count;
    }
  }
  return count ? sum / count : NAN;
}

double lru_hit_rate(uint32_t groups, uint32_t k, uint32_t capacity, const std::vector<std::vector<int32_t>>& steps) {
  std::vector<int32_t> slot_unit(size_t(groups) * capacity, -1), last_used(slot_unit.size(), -1);
  std::vector<int32_t> slots(k), copy_units(k), copy_slots(k);
  uint64_t selected = 0, hits = 0;
  for (size_t t = 0; t < steps.size(); ++t)
    for (uint32_t g = 0; g < groups; ++g) {
      const int32_t* units = &steps[t][size_t(g) * k];
      const uint32_t misses = reference::lru_diff(units, k, int32_t(t), capacity, &slot_unit[size_t(g) * capacity],
                                                  &last_used[size_t(g) * capacity], slots.data(), copy_units.data(),
                                                  copy_slots.data());
      if (t == 0) continue;
      uint32_t size = 0;
      while (size < k && units[size] >= 0) ++size;
      selected += size;
      hits += size - misses;
    }
  return selected ? double(hits) / double(selected) : NAN;
}

Status check_budget(uint64_t budget_tokens, uint64_t context, uint32_t page_size, uint32_t forced_units) {
  if (budget_tokens == 0 || budget_tokens % page_size != 0)
    return Status(StatusCode::InvalidArgument,
                  format_text("budget %llu tokens is not a positive multiple of the page size %u",
                              (unsigned long long)budget_tokens, page_size));
  if (budget_tokens < uint64_t(forced_units) * page_size)
    return Status(StatusCode::InvalidArgument,
                  format_text("budget %llu tokens is below the %u forced units (sinks + window) of %u tokens",
                              (unsigned long long)budget_tokens, forced_units, page_size));
  if (budget_tokens > context)
    return Status(StatusCode::InvalidArgument,
                  format_text("budget %llu tokens is larger than the %llu-token context: every token would be "
                              "selected (give a budget <= the context)",
                              (unsigned long long)budget_tokens, (unsigned long long)context));
  return Status::ok();
}

}  // namespace accuracy
}  // namespace hsa
