#include "stage_check.h"

#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <limits>

#include "half.h"
#include "hsa/page_table_contract.h"
#include "telemetry.h"
#include "text_format.h"
#include "runtime_internal.h"

namespace hsa {
using namespace artifact;

const char* check_stage_name(CheckStage stage) {
  switch (stage) {
    case CheckStage::Repr: return "repr";
    case CheckStage::Score: return "score";
    case CheckStage::TopK: return "top-k";
    case CheckStage::Diff: return "diff";
    case CheckStage::Gather: return "gather";
    case CheckStage::Attend: return "attend";
    case CheckStage::Telemetry: return "telemetry";
  }
  return "?";
}

namespace {


std::string number(double v) { return format_text("%.9g", v); }

// What byte `at` of an fp8 latent row is, for messages.
std::string latent_row_byte(const LayerShape& s, uint32_t at) {
  const uint32_t latent = s.value_dim, scales = latent / artifact::kFp8LatentTile * 4;
  if (at < latent) return format_text("e4m3 code of latent dim %u", at);
  if (at < latent + scales) return format_text("scale of latent tile %u", (at - latent) / 4);
  return format_text("rope dim %u", (at - latent - scales) / 2);
}

// Records mismatches of one request; the first one of each stage keeps its message.
struct Recorder {
  StageCheckReport& report;
  int64_t step;
  RequestId id;
  uint32_t slot;

  void compared(CheckStage s, uint64_t n = 1) { report.stages[int(s)].compared += n; }
  void mismatch(CheckStage s, int64_t group, const std::string& what) {
    StageOutcome& o = report.stages[int(s)];
    o.passed = false;
    o.mismatches += 1;
    if (!o.first_mismatch.empty()) return;
    o.first_mismatch = "step " + std::to_string(step) + ", request " + std::to_string(id) + " (batch slot " +
                       std::to_string(slot) + ")" + (group >= 0 ? ", group " + std::to_string(group) : "") +
                       ", stage " + check_stage_name(s) + ": " + what;
  }
};

using reference::unit_count;

uint64_t slot_offset(const LayerShape& s, uint32_t b, uint32_t g, uint32_t c, uint32_t width) {
  return ((uint64_t(b) * s.groups + g) * s.capacity + c) * s.heads_per_unit * s.page_size * width;
}

// The snapshot's representations vs the algorithm's reference, replayed from
// the host pool: the request's last prefill, then every token appended since
// (the model persists in a workspace, so a step replays only its new tokens).
void check_repr(const LayerShape& s, const HostBuffers& host, StepCapture& cap, size_t call_index, Recorder& rec) {
  const uint32_t b = cap.slots[call_index];
  const RequestId id = call_index < cap.ids.size() ? cap.ids[call_index] : 0;
  const uint32_t length = uint32_t(std::max(cap.before.req_length[b], 0));
  uint32_t prefill = cap.prefill_length.empty() ? length : cap.prefill_length[b];
  if (prefill == 0 || prefill > length) prefill = length;
  DeviceBuffers& model = cap.model;
  const bool full = id == 0 || cap.model_request[b] != id || cap.model_prefill[b] != prefill ||
                    uint32_t(model.req_length[b]) > length;
  if (full) {
    model.reset_slot(s, b);
    model.req_length[b] = int32_t(prefill);
    reference::build_representations(s, host, model, b, 0, unit_count(s, int32_t(prefill)));
    cap.model_request[b] = id;
    cap.model_prefill[b] = prefill;
  }
  const uint32_t P = s.page_size;
  const uint64_t row_k = s.key_row_bytes();
  for (uint32_t t = uint32_t(model.req_length[b]); t < length; ++t) {
    const uint64_t page = uint64_t(host.page_of[uint64_t(b) * s.max_units + t / P]);
    for (uint32_t h = 0; h < s.kv_heads; ++h)
      std::memcpy(&model.io_new_k_bytes[(uint64_t(b) * s.kv_heads + h) * row_k],
                  host.key_bytes() + ((page * s.kv_heads + h) * P + t % P) * row_k, row_k);
    // The append inputs' rows of token t, from their host pools.
    for (const LayerShape::StepInputRow& row : s.step_inputs) {
      if (row.pool.empty()) continue;
      DeviceBuffers::Array* input = model.find(row.buffer);
      const uint8_t* pool = static_cast<const uint8_t*>(host.pool_rows(row.pool));
      std::memcpy(static_cast<uint8_t*>(input->data()) + uint64_t(b) * row.row_bytes,
                  pool + (page * P + t % P) * row.row_bytes, row.row_bytes);
    }
    s.algorithm->append(s, host, model, b);
    model.req_length[b] = int32_t(t + 1);
  }
  ReprCheckResult result;
  s.algorithm->check_representations(s, host, cap.before, model, b, prefill, full, &result);
  rec.compared(CheckStage::Repr, result.compared);
  if (result.mismatches) rec.mismatch(CheckStage::Repr, -1, result.first_mismatch);
  StageOutcome& o = rec.report.stages[int(CheckStage::Repr)];
  o.worst_error = std::max(o.worst_error, 1.0 - result.agreement);
}

void check_score(const LayerShape& s, StepCapture& cap, uint32_t b, Recorder& rec, StageCheckReport& report) {
  reference::score(s, cap.before, b);  // the snapshot's sel.scores row is scratch for the reference
  for (uint32_t g = 0; g < s.groups; ++g) {
    const uint64_t row = (uint64_t(b) * s.groups + g) * s.max_units;
    const float* ref = &cap.before.sel_scores[row];
    const float* dev = &cap.after.sel_scores[row];
    double scale = 1.0;
    for (uint32_t u = 0; u < s.max_units; ++u)
      if (std::isfinite(ref[u])) scale = std::max(scale, std::fabs(double(ref[u])));
    const double tolerance = s.algorithm->score_tolerance(s);
    report.score_tolerance = tolerance;
    const double bound = tolerance * scale;
    for (uint32_t u = 0; u < s.max_units; ++u) {
      rec.compared(CheckStage::Score);
      const double r = ref[u], d = dev[u];
      bool ok;
      double error = 0.0;
      if (std::isinf(r)) {
        ok = d == r;  // forced (+inf) and invalid (-inf) units: exactly
      } else {
        error = std::fabs(d - r);
        ok = std::isfinite(d) && error <= bound;
        if (std::isfinite(d)) {
          StageOutcome& o = report.stages[int(CheckStage::Score)];
          o.worst_error = std::max(o.worst_error, error / scale);
        }
      }
      if (!ok)
        rec.mismatch(CheckStage::Score, g,
                     format_text("sel.scores[%u][%u][%u] (unit %u): expected %s (reference), actual %s (device)", b, g, u,
                            u, number(r).c_str(), number(d).c_str()) +
                         (std::isinf(r) ? std::string(", +-inf must match exactly")
                                        : ", |diff| " + number(error) + " > bound " + number(bound) + " = " +
                                              number(tolerance) + " * max(1, row max |score| " +
                                              number(scale) + ")"));
    }
  }
}

void check_topk(const LayerShape& s, StepCapture& cap, uint32_t b, Recorder& rec) {
  const uint32_t n = unit_count(s, cap.before.req_length[b]);
  std::vector<int32_t> ref(s.budget);
  for (uint32_t g = 0; g < s.groups; ++g) {
    const uint64_t gi = uint64_t(b) * s.groups + g;
    reference::top_k(&cap.after.sel_scores[gi * s.max_units], n, s.budget, ref.data());
    const int32_t* dev = &cap.after.sel_units[gi * s.budget];
    for (uint32_t i = 0; i < s.budget; ++i) {
      rec.compared(CheckStage::TopK);
      if (dev[i] != ref[i])
        rec.mismatch(CheckStage::TopK, g,
                     format_text("sel.units[%u][%u][%u]: expected unit %d (reference top-k of the device's scores, "
                            "n = %u, K = %u), actual %d (device)",
                            b, g, i, ref[i], n, s.budget, dev[i]));
    }
  }
}

void check_diff(const LayerShape& s, StepCapture& cap, uint32_t b, Recorder& rec) {
  const uint32_t K = s.budget, C = s.capacity;
  const int32_t step = cap.before.req_step[b];
  for (uint32_t g = 0; g < s.groups; ++g) {
    const uint64_t gi = uint64_t(b) * s.groups + g, sel = gi * K, buf = gi * C;
    std::vector<int32_t> slot_unit(&cap.before.buf_slot_unit[buf], &cap.before.buf_slot_unit[buf] + C);
    std::vector<int32_t> last_used(&cap.before.buf_last_used[buf], &cap.before.buf_last_used[buf] + C);
    std::vector<int32_t> slots(K), copy_units(K), copy_slots(K);
    const int32_t misses = int32_t(reference::lru_diff(&cap.after.sel_units[sel], K, step, C, slot_unit.data(),
                                                       last_used.data(), slots.data(), copy_units.data(),
                                                       copy_slots.data()));
    auto expect = [&](const char* buffer, uint64_t index, int32_t expected, int32_t actual, const char* what) {
      rec.compared(CheckStage::Diff);
      if (expected != actual)
        rec.mismatch(CheckStage::Diff, g,
                     format_text("%s[%u][%u][%" PRIu64 "]%s: expected %d (reference LRU diff of the device's units, "
                            "step %d), actual %d (device)",
                            buffer, b, g, index, what, expected, step, actual));
    };
    for (uint32_t i = 0; i < K; ++i) expect("sel.slots", i, slots[i], cap.after.sel_slots[sel + i], "");
    const int32_t count = cap.after.sel_copy_count[gi];
    expect("sel.copy_count", 0, misses, count, " (misses)");
    const int32_t listed = std::max(0, std::min({misses, count, int32_t(K)}));
    for (int32_t i = 0; i < listed; ++i) {
      expect("sel.copy_units", uint64_t(i), copy_units[i], cap.after.sel_copy_units[sel + i], "");
      expect("sel.copy_slots", uint64_t(i), copy_slots[i], cap.after.sel_copy_slots[sel + i], "");
    }
    for (uint32_t c = 0; c < C; ++c) {
      expect("buf.slot_unit", c, slot_unit[c], cap.after.buf_slot_unit[buf + c], "");
      expect("buf.last_used", c, last_used[c], cap.after.buf_last_used[buf + c], "");
    }
    // The reverse map: evicted units lose their slot, misses get theirs.
    const uint64_t row = gi * s.max_units;
    std::vector<int32_t> unit_slot(&cap.before.buf_unit_slot[row], &cap.before.buf_unit_slot[row] + s.max_units);
    for (int32_t i = 0; i < misses; ++i) {
      const int32_t evicted = cap.before.buf_slot_unit[buf + uint32_t(copy_slots[i])];
      if (evicted >= 0 && uint32_t(evicted) < s.max_units) unit_slot[uint32_t(evicted)] = -1;
    }
    for (int32_t i = 0; i < misses; ++i) unit_slot[uint32_t(copy_units[i])] = copy_slots[i];
    for (uint32_t u = 0; u < s.max_units; ++u)
      expect("buf.unit_slot", u, unit_slot[u], cap.after.buf_unit_slot[row + u], " (reverse of buf.slot_unit)");
  }
}

void check_gather(const LayerShape& s, const HostBuffers& host, StepCapture& cap, uint32_t b, Recorder& rec) {
  const uint32_t P = s.page_size, Hu = s.heads_per_unit, K = s.budget, C = s.capacity;
  const int32_t length = cap.before.req_length[b];
  const uint32_t n = unit_count(s, length);
  // Rows compared as bytes; a mismatch is reported per element of 16 bits
  // (bf16/f16) or per byte of an fp8 latent row.
  struct Tensor {
    const char* name;
    BufferView<uint8_t> device, before;
    const uint8_t* host;
    uint64_t row_bytes;
  };
  std::vector<Tensor> tensors{
      {"buf.k", cap.after.bytes("buf.k"), cap.before.bytes("buf.k"), host.key_bytes(), s.key_row_bytes()}};
  if (s.has_separate_v)
    tensors.push_back({"buf.v", cap.after.bytes("buf.v"), cap.before.bytes("buf.v"),
                       reinterpret_cast<const uint8_t*>(host.v), s.value_row_bytes()});
  for (uint32_t g = 0; g < s.groups; ++g) {
    const uint64_t gi = uint64_t(b) * s.groups + g;
    // Slots the step may write: the device's copy list.
    std::vector<char> copied(C, 0);
    const int32_t count = std::max(0, std::min(cap.after.sel_copy_count[gi], int32_t(K)));
    for (int32_t i = 0; i < count; ++i) {
      const int32_t c = cap.after.sel_copy_slots[gi * K + i];
      if (c >= 0 && uint32_t(c) < C) copied[c] = 1;
    }
    for (uint32_t c = 0; c < C; ++c) {
      rec.compared(CheckStage::Gather);
      const int32_t u = cap.after.buf_slot_unit[gi * C + c];
      bool slot_ok = true;
      // Only misses move: a slot outside the copy list keeps its bytes.
      for (const Tensor& t : tensors) {
        const uint64_t at = slot_offset(s, b, g, c, t.row_bytes), bytes = uint64_t(Hu) * P * t.row_bytes;
        if (!copied[c] && slot_ok && std::memcmp(&t.device[at], &t.before[at], bytes) != 0) {
          rec.mismatch(CheckStage::Gather, g,
                       format_text("%s slot %u (unit %d) changed during the step although it is not in the copy list "
                              "(only misses move)",
                              t.name, c, u));
          slot_ok = false;
        }
      }
      if (u < 0 || !slot_ok) continue;
      if (uint32_t(u) >= n || host.page_of[uint64_t(b) * s.max_units + uint32_t(u)] < 0) {
        rec.mismatch(CheckStage::Gather, g,
                     format_text("buf.slot_unit[%u][%u][%u] = %d names a unit with no host page (request has %u units)", b,
                            g, c, u, n));
        continue;
      }
      const uint64_t page = uint64_t(host.page_of[uint64_t(b) * s.max_units + uint32_t(u)]);
      const uint32_t tokens = uint32_t(std::min<int64_t>(P, int64_t(length) - int64_t(u) * P));
      for (const Tensor& t : tensors) {
        for (uint32_t j = 0; j < Hu && slot_ok; ++j)
          for (uint32_t p = 0; p < tokens && slot_ok; ++p) {
            const uint32_t kv_head = g * Hu + j;
            const uint8_t* dev = &t.device[slot_offset(s, b, g, c, t.row_bytes) + (uint64_t(j) * P + p) * t.row_bytes];
            const uint8_t* ref = t.host + ((page * s.kv_heads + kv_head) * P + p) * t.row_bytes;
            if (std::memcmp(dev, ref, t.row_bytes) == 0) continue;
            uint32_t at = 0;
            while (dev[at] == ref[at]) ++at;
            const std::string where = format_text("(unit %d, token %d, kv head %u)", u, u * int32_t(P) + int32_t(p), kv_head);
            if (s.fp8_latent()) {
              rec.mismatch(CheckStage::Gather, g,
                           format_text("%s[%u][%u][slot %u][head %u][token %u][byte %u, %s] %s: expected 0x%02x (host "
                                       "page %" PRIu64 "), actual 0x%02x (device)",
                                       t.name, b, g, c, j, p, at, latent_row_byte(s, at).c_str(), where.c_str(),
                                       ref[at], page, dev[at]));
            } else {
              const uint32_t d = at / 2;
              uint16_t r, v;
              std::memcpy(&r, ref + 2 * d, 2);
              std::memcpy(&v, dev + 2 * d, 2);
              rec.mismatch(CheckStage::Gather, g,
                           format_text("%s[%u][%u][slot %u][head %u][token %u][dim %u] %s: expected 0x%04x = %s (host "
                                       "page %" PRIu64 "), actual 0x%04x = %s (device)",
                                       t.name, b, g, c, j, p, d, where.c_str(), r, number(kv_to_float(r, s.dtype)).c_str(),
                                       page, v, number(kv_to_float(v, s.dtype)).c_str()));
            }
            slot_ok = false;
          }
      }
    }
  }
}

// `ref_lse` [Hq]: the reference attention's LSE per head (fp64), for the
// telemetry check; untouched when the page table cannot be read.
void check_attend(const LayerShape& s, StepCapture& cap, uint32_t b, Recorder& rec, StageCheckReport& report,
                  double* ref_lse) {
  const uint32_t K = s.budget, C = s.capacity, Dv = s.value_dim;
  // The reference reads buf.k/v through the device's page table: it must point into the buffer.
  for (uint32_t g = 0; g < s.groups; ++g)
    for (uint32_t i = 0; i < K; ++i) {
      const uint64_t at = (uint64_t(b) * s.groups + g) * K + i;
      if (cap.after.sel_units[at] >= 0 && (cap.after.sel_slots[at] < 0 || uint32_t(cap.after.sel_slots[at]) >= C)) {
        rec.mismatch(CheckStage::Attend, g,
                     format_text("sel.slots[%u][%u][%u] = %d is not a slot in [0, %u): the reference attention cannot "
                            "read the device's buffer",
                            b, g, i, cap.after.sel_slots[at], C));
        return;
      }
    }
  const uint64_t row = uint64_t(s.q_heads) * Dv;
  const std::vector<uint16_t> device(cap.after.io_o.begin() + b * row, cap.after.io_o.begin() + (b + 1) * row);
  const std::vector<float> device_lse(cap.after.io_lse.begin() + b * s.q_heads,
                                      cap.after.io_lse.begin() + (b + 1) * s.q_heads);
  std::vector<float> ref(row);
  // Overwrites the capture's io.o and io.lse rows with the reference's.
  reference::attend(s, cap.after, b, ref.data(), ref_lse);
  std::copy(device.begin(), device.end(), cap.after.io_o.begin() + b * row);
  std::copy(device_lse.begin(), device_lse.end(), cap.after.io_lse.begin() + b * s.q_heads);
  double error2 = 0.0, norm2 = 0.0, worst = -1.0;
  uint64_t worst_at = 0;
  for (uint64_t i = 0; i < row; ++i) {
    const double d = kv_to_float(device[i], s.act_dtype), r = ref[i], e = std::fabs(d - r);
    error2 += (d - r) * (d - r);
    norm2 += r * r;
    if (!(e <= worst)) {  // NaN wins
      worst = e;
      worst_at = i;
    }
  }
  rec.compared(CheckStage::Attend, row);
  const double relative = norm2 > 0.0 ? std::sqrt(error2 / norm2) : std::sqrt(error2);
  StageOutcome& o = report.stages[int(CheckStage::Attend)];
  if (!(relative <= o.worst_error)) o.worst_error = relative;
  if (!(worst <= report.attend_max_abs_error)) report.attend_max_abs_error = worst;
  if (!(relative <= kAttendTolerance)) {
    const uint32_t h = uint32_t(worst_at / Dv), d = uint32_t(worst_at % Dv);
    const uint32_t g = (h / s.group_size) / s.heads_per_unit;
    rec.mismatch(CheckStage::Attend, g,
                 format_text("io.o relative L2 error %s > bound %s; largest difference at io.o[%u][head %u][dim %u]: "
                        "expected %s (reference), actual %s (device), |diff| %s",
                        number(relative).c_str(), number(kAttendTolerance).c_str(), b, h, d,
                        number(ref[worst_at]).c_str(), number(kv_to_float(device[worst_at], s.act_dtype)).c_str(),
                        number(worst).c_str()));
  }
}

// io.lse, and with telemetry the backend's RequestTelemetry, against the
// reference: the LSE of check_attend's attention (`ref_lse`, NaN when it
// could not run) and reference::telemetry on the snapshot (repr.*, io.q,
// req.length) with the backend's sel.units.
void check_telemetry(const LayerShape& s, StepCapture& cap, size_t call_index, const std::vector<double>& ref_lse,
                     Recorder& rec, StageCheckReport& report) {
  const uint32_t b = cap.slots[call_index], H = s.q_heads;
  StageOutcome& o = report.stages[int(CheckStage::Telemetry)];
  // The top-k's group bound, on the device's own scores and selection.
  const int32_t length = cap.before.req_length[b];
  const uint32_t n = reference::unit_count(s, length);
  for (uint32_t g = 0; s.group_bound && g < s.groups; ++g) {
    const uint64_t gi = uint64_t(b) * s.groups + g;
    const double r = reference::group_log_bound(s, &cap.after.sel_scores[gi * s.max_units], n);
    const double d = cap.after.io_group_bound[gi];
    const double bound = kGroupBoundTolerance + double(n) * kGroupBoundTolerancePerUnit;
    rec.compared(CheckStage::Telemetry);
    const bool ok = std::isinf(r) ? d == r : std::isfinite(d) && std::fabs(d - r) <= bound;
    if (!ok)
      rec.mismatch(CheckStage::Telemetry, int64_t(g),
                   format_text("%s[%u][%u]: expected %s (reference log U over the device's scores), "
                               "actual %s (device), bound %s",
                               kGroupUnselectedLogBoundBuffer, b, g, number(r).c_str(), number(d).c_str(),
                               number(bound).c_str()));
    // The telemetry reference below reads it from the snapshot.
    cap.before.io_group_bound[gi] = cap.after.io_group_bound[gi];
  }
  if (std::isnan(ref_lse[0])) return;  // the attend stage already failed: no reference
  auto lse_ok = [&](double d, double r, const char* what, uint32_t h) {
    rec.compared(CheckStage::Telemetry);
    const double bound = kLseTolerance * (1.0 + std::fabs(r));
    bool ok;
    if (std::isinf(r)) {
      ok = d == r;
    } else {
      ok = std::isfinite(d) && std::fabs(d - r) <= bound;
      if (std::isfinite(d) && !(std::fabs(d - r) / (1.0 + std::fabs(r)) <= o.worst_error))
        o.worst_error = std::fabs(d - r) / (1.0 + std::fabs(r));
    }
    if (!ok)
      rec.mismatch(CheckStage::Telemetry, int64_t((h / s.group_size) / s.heads_per_unit),
                   format_text("%s[%u][head %u]: expected %s (reference LSE over the device's selection), actual %s "
                               "(device), bound %s = %s * (1 + |reference|)",
                               what, b, h, number(r).c_str(), number(d).c_str(), number(bound).c_str(),
                               number(kLseTolerance).c_str()));
  };
  for (uint32_t h = 0; h < H; ++h) lse_ok(cap.after.io_lse[uint64_t(b) * H + h], ref_lse[h], "io.lse", h);
  if (cap.telemetry.empty()) return;
  const RequestTelemetry& t = cap.telemetry[call_index];
  if (t.selected_lse.size() != H) {
    rec.mismatch(CheckStage::Telemetry, -1,
                 format_text("request_telemetry: %zu selected_lse entries, the layer has %u query heads",
                             t.selected_lse.size(), H));
    return;
  }
  for (uint32_t h = 0; h < H; ++h) lse_ok(t.selected_lse[h], ref_lse[h], "selected_lse", h);
  // The reference bound: the snapshot holds the step's repr.* and q; its
  // sel.units row is not compared elsewhere, so it takes the device's.
  const uint64_t sel = uint64_t(b) * s.groups * s.budget;
  std::copy(cap.after.sel_units.begin() + sel, cap.after.sel_units.begin() + sel + uint64_t(s.groups) * s.budget,
            cap.before.sel_units.begin() + sel);
  reference::Telemetry ref;
  reference::telemetry(s, cap.before, b, ref_lse.data(), &ref);
  const bool has_bound =
      s.algorithm->bounds_unselected_logits() && unit_count(s, cap.before.req_length[b]) > 0;
  rec.compared(CheckStage::Telemetry);
  if (t.has_bound != has_bound) {
    rec.mismatch(CheckStage::Telemetry, -1,
                 format_text("request_telemetry: has_bound %d, the reference %s a bound", int(t.has_bound),
                             has_bound ? "has" : "has no"));
    return;
  }
  if (!t.has_bound || ref.missed_mass_bound.empty()) return;
  for (uint32_t h = 0; h < H; ++h) {
    rec.compared(CheckStage::Telemetry);
    const double r = ref.missed_mass_bound[h], d = t.missed_mass_bound[h], error = std::fabs(d - r);
    if (!(error <= o.worst_error)) o.worst_error = error;
    if (!(error <= kMissedMassTolerance))
      rec.mismatch(CheckStage::Telemetry, int64_t((h / s.group_size) / s.heads_per_unit),
                   format_text("missed_mass_bound[%u][head %u]: expected %s (reference), actual %s (device), |diff| "
                               "%s > bound %s",
                               b, h, number(r).c_str(), number(d).c_str(), number(error).c_str(),
                               number(kMissedMassTolerance).c_str()));
  }
}

// A device-tier array of DeviceBuffers, read back by name.
Status read_into(Backend& backend, DeviceBuffers& dev, const std::string& name) {
  DeviceBuffers::Array* array = dev.find(name);
  if (!array || array->bytes == 0) return Status::ok();  // absent in this config (buf.v for MLA)
  return backend.read_buffer(name, array->data(), array->bytes);
}

}  // namespace

void StageCheckReport::merge(const StageCheckReport& other) {
  score_tolerance = std::max(score_tolerance, other.score_tolerance);
  for (int i = 0; i < kCheckStageCount; ++i) {
    StageOutcome& a = stages[i];
    const StageOutcome& b = other.stages[i];
    a.passed = a.passed && b.passed;
    a.compared += b.compared;
    a.mismatches += b.mismatches;
    if (!(b.worst_error <= a.worst_error)) a.worst_error = b.worst_error;
    if (a.first_mismatch.empty()) a.first_mismatch = b.first_mismatch;
  }
  if (!(other.attend_max_abs_error <= attend_max_abs_error)) attend_max_abs_error = other.attend_max_abs_error;
  passed = passed && other.passed;
  if (message.empty()) message = other.message;
}

std::string StageCheckReport::summary() const {
  std::string out;
  for (int i = 0; i < kCheckStageCount; ++i) {
    const StageOutcome& o = stages[i];
    if (i) out += ", ";
    out += check_stage_name(CheckStage(i));
    out += o.passed ? " ok" : " FAILED (" + std::to_string(o.mismatches) + " mismatches)";
    if (CheckStage(i) == CheckStage::Repr && o.compared == 0) out += " (none)";
    if (CheckStage(i) == CheckStage::Score) out += format_text(" (max rel %.2g)", o.worst_error);
    if (CheckStage(i) == CheckStage::Attend)
      out += format_text(" (max rel L2 %.2g, max abs %.2g)", o.worst_error, attend_max_abs_error);
  }
  return out;
}

// The exported page tables' rows of slot b (and, for the call's first slot,
// the CSR's closing offset) against the reference's, under the diff stage:
// they are the diff's page table in the format's layout.
void check_page_tables(const LayerShape& s, const StepCapture& cap, const std::vector<std::vector<int32_t>>& ref,
                       uint32_t b, bool first, Recorder& rec) {
  using page_table_contract::Dims;
  const auto tables = page_table_contract::tables(PageTableFormat(s.config.page_table_format));
  if (cap.page_tables.size() != tables.size()) return;
  const bool csr = PageTableFormat(s.config.page_table_format) == PageTableFormat::FlashInferCsr;
  size_t t = 0;
  for (const page_table_contract::Table& table : tables) {
    const std::vector<int32_t>& d = cap.page_tables[t];
    const std::vector<int32_t>& r = ref[t++];
    // Entries of row b: [first, end) of the table.
    size_t begin = 0, end = 0;
    switch (table.dims) {
      case Dims::Batch: begin = b, end = b + 1; break;
      case Dims::BatchPlusOne: begin = b, end = b + 1; break;
      case Dims::BatchBudget:
        if (csr) {  // packed at the reference's offsets
          begin = size_t(ref[0][b]), end = size_t(ref[0][b + 1]);
        } else {
          begin = size_t(b) * s.budget, end = begin + s.budget;
        }
        break;
      case Dims::BatchGroupsTokens:
        begin = size_t(b) * s.groups * s.budget * s.page_size, end = begin + size_t(s.groups) * s.budget * s.page_size;
        break;
    }
    auto compare = [&](size_t i) {
      rec.compared(CheckStage::Diff);
      if (i < d.size() && i < r.size() && d[i] == r[i]) return;
      rec.mismatch(CheckStage::Diff, -1,
                   format_text("%s[%zu]: expected %d (reference from the device's selection and slots), actual %d",
                               table.name, i, i < r.size() ? r[i] : -1, i < d.size() ? d[i] : -1));
    };
    for (size_t i = begin; i < end; ++i) compare(i);
    if (first && table.dims == Dims::BatchPlusOne) compare(s.batch);
  }
}

StageCheckReport compare_step(const LayerShape& shape, const HostBuffers& host, StepCapture& capture, int64_t step) {
  StageCheckReport report;
  const std::vector<std::vector<int32_t>> ref_tables =
      capture.page_tables.empty() ? std::vector<std::vector<int32_t>>{}
                                  : reference::page_tables(shape, capture.after.sel_units.data(),
                                                           capture.after.sel_slots.data(),
                                                           capture.before.req_length.data());
  const uint64_t row_q = uint64_t(shape.q_heads) * shape.head_dim;
  for (size_t i = 0; i < capture.slots.size(); ++i) {
    const uint32_t b = capture.slots[i];
    Recorder rec{report, step, i < capture.ids.size() ? capture.ids[i] : RequestId(b), b};
    std::copy(capture.q.begin() + i * row_q, capture.q.begin() + (i + 1) * row_q, capture.before.io_q.begin() + b * row_q);
    std::copy(capture.q.begin() + i * row_q, capture.q.begin() + (i + 1) * row_q, capture.after.io_q.begin() + b * row_q);
    size_t input = 0;  // the decode inputs' rows, as io.q's
    for (const LayerShape::StepInputRow& row : shape.step_inputs) {
      if (row.kind != StepKind::Decode) continue;
      const std::vector<uint8_t>& rows = capture.decode_inputs[input++];
      if (rows.size() < (i + 1) * row.row_bytes) continue;
      for (DeviceBuffers* dev : {&capture.before, &capture.after})
        std::memcpy(static_cast<uint8_t*>(dev->find(row.buffer)->data()) + b * row.row_bytes,
                    rows.data() + i * row.row_bytes, row.row_bytes);
    }
    capture.after.req_length[b] = capture.before.req_length[b];
    capture.after.req_step[b] = capture.before.req_step[b];
    check_repr(shape, host, capture, i, rec);
    check_score(shape, capture, b, rec, report);
    check_topk(shape, capture, b, rec);
    check_diff(shape, capture, b, rec);
    if (!ref_tables.empty()) check_page_tables(shape, capture, ref_tables, b, i == 0, rec);
    check_gather(shape, host, capture, b, rec);
    std::vector<double> ref_lse(shape.q_heads, std::numeric_limits<double>::quiet_NaN());
    check_attend(shape, capture, b, rec, report, ref_lse.data());
    check_telemetry(shape, capture, i, ref_lse, rec, report);
  }
  for (const StageOutcome& o : report.stages)
    if (!o.passed) {
      report.passed = false;
      if (report.message.empty()) report.message = o.first_mismatch;
    }
  return report;
}

Status checked_decode_step(Runtime& rt, const RequestId* ids, size_t count, const void* q, void* o, StepStats* stats,
                           const StageCheckOptions& options, StageCheckReport* report, const StepInput* inputs,
                           size_t input_count) {
  if (!report) return Status(StatusCode::InvalidArgument, "checked_decode_step: null report");
  HSA_RETURN_IF_ERROR(RuntimeInternals::require_loaded(rt));
  if (!ids || !q || !o || count == 0) return Status(StatusCode::InvalidArgument, "checked_decode_step: empty call");
  const LayerShape& shape = RuntimeInternals::shape(rt);
  const HostCache& cache = RuntimeInternals::cache(rt);
  Backend& backend = RuntimeInternals::backend(rt);
  try {
    std::unique_ptr<StepCapture> local;
    std::unique_ptr<StepCapture>& owner = options.workspace ? *options.workspace : local;
    if (!owner) owner.reset(new StepCapture(shape));
    // Every array the comparison reads is rewritten below (read back, or set
    // for the call's slots), so a reused capture needs no clearing.
    StepCapture& capture = *owner;
    capture.slots.clear();
    capture.ids.clear();
    for (size_t i = 0; i < count; ++i) {
      uint32_t slot = 0;
      HSA_RETURN_IF_ERROR(RuntimeInternals::slot_of(rt, ids[i], &slot));
      capture.slots.push_back(slot);
      capture.ids.push_back(ids[i]);
    }
    const uint64_t row_q = uint64_t(shape.q_heads) * shape.head_dim;
    const uint16_t* q16 = static_cast<const uint16_t*>(q);
    capture.q.assign(q16, q16 + count * row_q);
    capture.decode_inputs.clear();
    for (const LayerShape::StepInputRow& row : shape.step_inputs) {
      if (row.kind != StepKind::Decode) continue;
      const uint8_t* data = nullptr;
      for (size_t i = 0; i < input_count && inputs; ++i)
        if (inputs[i].name && row.buffer == inputs[i].name) data = static_cast<const uint8_t*>(inputs[i].data);
      // A missing input: the step below refuses it with the runtime's message.
      capture.decode_inputs.emplace_back(data ? data : nullptr, data ? data + count * row.row_bytes : nullptr);
    }

    // The representations of prefilled tokens are built before the step
    // (Runtime::prefill defers them): build them now so that the snapshot
    // holds what the step will see.
    for (size_t i = 0; i < count; ++i) HSA_RETURN_IF_ERROR(rt.finish_prefill(ids[i]));

    // a) The pre-step state. req.* are runtime-owned (uploaded before every
    // plan): the snapshot holds what this step will see, length 0 for slots
    // outside the call.
    for (const DeviceBuffers::Array& a : capture.before.arrays())
      if (a.name.compare(0, 5, "repr.") == 0) HSA_RETURN_IF_ERROR(read_into(backend, capture.before, a.name));
    for (const char* name : {"buf.k", "buf.v", "buf.slot_unit", "buf.last_used", "buf.unit_slot"})
      HSA_RETURN_IF_ERROR(read_into(backend, capture.before, name));
    for (uint32_t b = 0; b < shape.batch; ++b) {
      capture.before.req_length[b] = 0;
      capture.before.req_step[b] = backend.request_step(b);
    }
    for (uint32_t b : capture.slots) capture.before.req_length[b] = int32_t(cache.length(b));
    capture.prefill_length.assign(shape.batch, 0);
    for (uint32_t b : capture.slots) capture.prefill_length[b] = RuntimeInternals::prefill_length(rt, b);

    // b) The step itself, then its results.
    const auto start = std::chrono::steady_clock::now();
    HSA_RETURN_IF_ERROR(rt.decode_step(ids, count, q, o, stats, inputs, input_count));
    const double decode_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    for (const char* name : {"sel.scores", "sel.units", "sel.slots", "sel.copy_units", "sel.copy_slots",
                             "sel.copy_count", "buf.slot_unit", "buf.last_used", "buf.unit_slot", "buf.k", "buf.v",
                             "io.o", "io.lse", kGroupUnselectedLogBoundBuffer})
      HSA_RETURN_IF_ERROR(read_into(backend, capture.after, name));
    // The format's exported page tables (every backend writes them).
    capture.page_tables.clear();
    for (const page_table_contract::Table& t :
         page_table_contract::tables(PageTableFormat(shape.config.page_table_format))) {
      const size_t n =
          page_table_contract::entries(t.dims, shape.batch, shape.groups, shape.budget, shape.page_size);
      std::vector<int32_t> table(n);
      HSA_RETURN_IF_ERROR(backend.read_buffer(t.name, table.data(), n * sizeof(int32_t)));
      capture.page_tables.push_back(std::move(table));
    }
    // The backend's telemetry of the step, when the runtime computes it.
    capture.telemetry.clear();
    for (size_t i = 0; i < count; ++i) {
      RequestTelemetry t;
      const Status status = backend.telemetry(capture.slots[i], &t);
      const bool off = status.code() == StatusCode::InvalidArgument || status.code() == StatusCode::Unsupported;
      if (!status.is_ok() && off && i == 0) break;  // telemetry off (or a backend without it)
      HSA_RETURN_IF_ERROR(status);
      capture.telemetry.push_back(std::move(t));
    }

    if (options.perturb) options.perturb(capture);
    // c) + d) Stage by stage against the reference.
    const HostBuffers host = host_buffers_of(cache);
    *report = compare_step(shape, host, capture, options.step);
    report->decode_wall_ms = decode_ms;
  } catch (const std::bad_alloc&) {
    return Status(StatusCode::OutOfMemory, "stage checker: out of host memory for the snapshot");
  }
  return Status::ok();
}

}  // namespace hsa
