// The residency models of residency.h: the LRU buffer over pages, the
// equal-memory accounting, the H2D copy-time model and the selection trace.
#include "residency.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <stdexcept>

#include "text_format.h"

namespace hsa {
namespace residency {

LruBuffer::LruBuffer(uint32_t page_tokens, uint32_t slots, Overflow overflow)
    : page_tokens_(page_tokens), overflow_(overflow), slot_page_(slots, -1), last_used_(slots, -1), selected_stamp_(slots, 0) {
  if (page_tokens == 0 || slots == 0) throw std::invalid_argument("LruBuffer: page_tokens and slots must be >= 1");
}

StepOutcome LruBuffer::step(const int32_t* tokens, size_t count, uint64_t length, int32_t step) {
  StepOutcome out;
  ++stamp_;
  pages_.clear();
  page_selected_.clear();
  copies_.clear();
  copy_rows_.clear();
  const uint64_t P = page_tokens_;
  for (size_t i = 0; i < count; ++i) {
    const int32_t t = tokens[i];
    if (t < 0 || uint64_t(t) >= length || (i > 0 && t <= tokens[i - 1]))
      throw std::invalid_argument(format_text("selection not ascending, distinct and below the length %llu: "
                                              "token %d at position %zu (previous %d)",
                                              (unsigned long long)length, t, i, i ? tokens[i - 1] : -1));
    const int64_t page = int64_t(uint64_t(t) / P);
    if (pages_.empty() || pages_.back() != page) {
      pages_.push_back(page);
      page_selected_.push_back(1);
    } else {
      ++page_selected_.back();
    }
  }
  out.tokens = uint32_t(count);
  out.pages = uint32_t(pages_.size());
  // Pages this buffer also selected at its previous step (both ascending).
  for (size_t i = 0, j = 0; i < pages_.size() && j < previous_pages_.size();) {
    if (pages_[i] == previous_pages_[j]) ++out.common_pages, ++i, ++j;
    else if (pages_[i] < previous_pages_[j]) ++i;
    else ++j;
  }

  // Hits keep their slot (and are protected from eviction this step).
  slots_.assign(pages_.size(), -1);
  std::vector<size_t> misses;
  for (size_t i = 0; i < pages_.size(); ++i) {
    const int64_t page = pages_[i];
    const int32_t slot = uint64_t(page) < page_slot_.size() ? page_slot_[size_t(page)] : -1;
    if (slot >= 0) {
      ++out.hit_pages;
      out.hit_tokens += page_selected_[i];
      slots_[i] = slot;
      selected_stamp_[size_t(slot)] = stamp_;
    } else {
      misses.push_back(i);
    }
  }
  if (!misses.empty()) {
    // Victims in BRIEF.md's order: empty slots by id, then the resident slots
    // not selected this step by (last_used, slot id).
    candidates_.clear();
    for (size_t c = 0; c < slot_page_.size(); ++c)
      if (slot_page_[c] < 0) candidates_.push_back(int32_t(c));
    if (candidates_.size() < misses.size()) {
      const size_t empty = candidates_.size();
      for (size_t c = 0; c < slot_page_.size(); ++c)
        if (slot_page_[c] >= 0 && selected_stamp_[c] != stamp_) candidates_.push_back(int32_t(c));
      const auto older = [&](int32_t a, int32_t b) {
        return last_used_[size_t(a)] != last_used_[size_t(b)] ? last_used_[size_t(a)] < last_used_[size_t(b)] : a < b;
      };
      const size_t wanted = std::min(candidates_.size(), misses.size());
      std::partial_sort(candidates_.begin() + empty, candidates_.begin() + wanted, candidates_.end(), older);
    }
    if (candidates_.size() < misses.size() && overflow_ == Overflow::Densest) {
      // The densest missed pages take the slots (in ascending page order, as
      // BRIEF.md's misses do); the others come last and stream.
      std::stable_sort(misses.begin(), misses.end(),
                       [&](size_t a, size_t b) { return page_selected_[a] > page_selected_[b]; });
      std::sort(misses.begin(), misses.begin() + candidates_.size());
    }
    for (size_t m = 0; m < misses.size(); ++m) {
      const size_t i = misses[m];
      const int64_t page = pages_[i];
      if (m >= candidates_.size()) {  // every slot holds a page of this step: stream the rest
        ++out.streamed_pages;
        out.streamed_rows += page_selected_[i];
        continue;
      }
      const int32_t slot = candidates_[m];
      if (slot_page_[size_t(slot)] >= 0) {
        ++out.evictions;
        page_slot_[size_t(slot_page_[size_t(slot)])] = -1;
      }
      slot_page_[size_t(slot)] = page;
      if (uint64_t(page) >= page_slot_.size()) page_slot_.resize(size_t(page) + 1, -1);
      page_slot_[size_t(page)] = slot;
      selected_stamp_[size_t(slot)] = stamp_;
      slots_[i] = slot;
      const uint64_t first = uint64_t(page) * P;
      const uint32_t rows = uint32_t(std::min<uint64_t>(P, length - first));
      copies_.emplace_back(page, slot);
      copy_rows_.push_back(rows);
      ++out.miss_pages;
      out.miss_rows += rows;
    }
  }
  for (int32_t slot : slots_)
    if (slot >= 0) last_used_[size_t(slot)] = step;
  previous_pages_ = pages_;
  return out;
}

BufferBytes buffer_bytes(uint32_t page_tokens, uint32_t slots, uint64_t row_bytes, uint64_t max_context_tokens) {
  BufferBytes b;
  b.rows = uint64_t(slots) * page_tokens * row_bytes;
  const uint64_t pages = (max_context_tokens + page_tokens - 1) / page_tokens;
  b.bookkeeping = uint64_t(slots) * 2 * 4 + pages * 4;
  return b;
}

uint32_t equal_memory_slots(uint64_t capacity_tokens, uint32_t page_tokens) {
  return uint32_t(capacity_tokens / page_tokens);
}

// The default curve, NVIDIA H200 (shared/CEILINGS.md):
//  - 656-B and 1152-B rows: "zero-copy gather of scattered rows, one warp per
//    row: 656 B / 1152 B ... 31-36 / 42-50 GB/s" (re-measured 2026-12-01);
//    the midpoints 33.5 and 46.0.
//  - 4, 16, 64, 256 KiB: "zero-copy gather kernel (SM loads from mapped host
//    memory)", 2048 random pages per step from a 2 GiB pinned pool:
//    48.8, 50.5, 51.0, 51.1 GB/s (2026-11-29).
//  - overhead: the same table's small steps of 16 KiB pages, 32 / 128 / 512
//    pages in 18 / 49 / 172 us, exceed bytes / 50.5 GB/s by 7.6 / 7.5 / 6 us.
//  - ceiling: one 1 GiB pinned host-to-device copy, 55.3 GB/s.
// Checked against hsa's own gather (docs/PERF.md "DSA selection stages"):
// the cold B=1 step's 2048 rows of 1152 B (2.36 MB) took 57.2 us, the model
// says 58.3; at B=8 (18.9 MB) 343 us, the model 418 (that grid reached the
// pinned ceiling: many rows in flight do better than the per-row figure).
H2dModel H2dModel::measured_h200() {
  H2dModel m;
  m.curve = {{656, 33.5}, {1152, 46.0}, {4096, 48.8}, {16384, 50.5}, {65536, 51.0}, {262144, 51.1}};
  m.overhead_us = 7.0;
  m.ceiling_gbps = 55.3;
  m.source = "shared/CEILINGS.md, NVIDIA H200: zero-copy gathers of scattered rows (656 B 31-36, 1152 B 42-50 GB/s, "
             "2026-12-01) and pages (4-256 KiB 48.8-51.1 GB/s, 2026-11-29), 7 us per step, pinned copy 55.3 GB/s";
  return m;
}

double H2dModel::bandwidth_gbps(double bytes) const {
  if (curve.empty()) return ceiling_gbps;
  if (bytes <= curve.front().first) return curve.front().second;
  if (bytes >= curve.back().first) return curve.back().second;
  for (size_t i = 1; i < curve.size(); ++i)
    if (bytes <= curve[i].first) {
      const double x0 = std::log(curve[i - 1].first), x1 = std::log(curve[i].first);
      const double f = (std::log(bytes) - x0) / (x1 - x0);
      return curve[i - 1].second + f * (curve[i].second - curve[i - 1].second);
    }
  return curve.back().second;
}

double H2dModel::transfer_us(double bytes, uint64_t copies) const {
  if (copies == 0 || bytes <= 0) return 0.0;
  return double(copies) * bytes / (bandwidth_gbps(bytes) * 1e3);
}

Status H2dModel::parse_curve(const std::string& text) {
  std::vector<std::pair<double, double>> points;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    const size_t colon = item.find(':');
    char* end = nullptr;
    double size = 0, gbps = 0;
    bool ok = colon != std::string::npos && colon > 0;
    if (ok) {
      std::string s = item.substr(0, colon);
      double scale = 1;
      if (!s.empty() && (s.back() == 'K' || s.back() == 'k')) scale = 1024, s.pop_back();
      size = std::strtod(s.c_str(), &end) * scale;
      ok = !s.empty() && *end == 0 && size >= 1;
      const std::string g = item.substr(colon + 1);
      gbps = std::strtod(g.c_str(), &end);
      ok = ok && !g.empty() && *end == 0 && gbps > 0 && gbps < 1e5;
    }
    if (!ok)
      return Status(StatusCode::InvalidArgument,
                    "bad H2D curve point '" + item + "' (SIZE:GBPS with SIZE in bytes, K suffix allowed, e.g. 1152:46)");
    if (!points.empty() && size <= points.back().first)
      return Status(StatusCode::InvalidArgument, "the H2D curve's sizes must ascend ('" + item + "')");
    points.emplace_back(size, gbps);
    start = comma + 1;
  }
  curve = points;
  source = "--h2d-curve=" + text;
  return Status::ok();
}

// ---------------------------------------------------------------------------
// Selection traces: little-endian u32/u64/i32 fields after an 8-byte magic.

namespace {

constexpr char kMagic[8] = {'H', 'S', 'A', 'S', 'E', 'L', 'T', 'R'};
constexpr uint32_t kVersion = 1;

struct Writer {
  std::ofstream& f;
  void u32(uint32_t v) {
    unsigned char b[4];
    for (int i = 0; i < 4; ++i) b[i] = uint8_t(v >> (8 * i));
    f.write(reinterpret_cast<char*>(b), 4);
  }
  void u64(uint64_t v) { u32(uint32_t(v)), u32(uint32_t(v >> 32)); }
};

struct Reader {
  std::ifstream& f;
  uint32_t u32() {
    unsigned char b[4] = {};
    f.read(reinterpret_cast<char*>(b), 4);
    return uint32_t(b[0]) | uint32_t(b[1]) << 8 | uint32_t(b[2]) << 16 | uint32_t(b[3]) << 24;
  }
  uint64_t u64() {
    const uint64_t lo = u32();
    return lo | uint64_t(u32()) << 32;
  }
};

}  // namespace

Status SelectionTrace::write(const std::string& path) const {
  std::ofstream f(path, std::ios::binary);
  if (!f) return Status(StatusCode::InvalidArgument, "cannot write the selection trace '" + path + "'");
  f.write(kMagic, 8);
  Writer w{f};
  w.u32(kVersion);
  for (const std::string* text : {&layer, &run}) {
    w.u32(uint32_t(text->size()));
    f.write(text->data(), std::streamsize(text->size()));
  }
  w.u32(batch), w.u32(groups), w.u32(budget), w.u32(capacity), w.u32(steps);
  w.u64(row_bytes), w.u64(max_context);
  for (uint64_t p : prompts) w.u64(p);
  for (uint64_t l : lengths) w.u64(l);
  for (int32_t t : tokens) w.u32(uint32_t(t));
  if (!f) return Status(StatusCode::InvalidArgument, "cannot write the selection trace '" + path + "'");
  return Status::ok();
}

Status SelectionTrace::read(const std::string& path, SelectionTrace* out) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Status(StatusCode::NotFound, "cannot open the selection trace '" + path + "'");
  char magic[8] = {};
  f.read(magic, 8);
  if (!f || std::memcmp(magic, kMagic, 8) != 0)
    return Status(StatusCode::InvalidArgument,
                  "'" + path + "' is not a selection trace (written by hsa-residency --save-trace)");
  Reader r{f};
  SelectionTrace t;
  const uint32_t version = r.u32();
  if (version != kVersion)
    return Status(StatusCode::InvalidArgument,
                  format_text("selection trace '%s' has version %u, this tool reads %u", path.c_str(), version, kVersion));
  for (std::string* text : {&t.layer, &t.run}) {
    const uint32_t bytes = r.u32();
    if (!f || bytes > 4096) return Status(StatusCode::InvalidArgument, "selection trace '" + path + "': bad header");
    text->resize(bytes);
    if (bytes) f.read(&(*text)[0], std::streamsize(bytes));
  }
  t.batch = r.u32(), t.groups = r.u32(), t.budget = r.u32(), t.capacity = r.u32(), t.steps = r.u32();
  t.row_bytes = r.u64(), t.max_context = r.u64();
  const uint64_t selections = uint64_t(t.steps) * t.batch * t.groups * t.budget;
  if (!f || t.batch == 0 || t.batch > 65536 || t.groups == 0 || t.groups > 1024 || t.budget == 0 ||
      t.budget > (1u << 24) || t.capacity == 0 || t.steps == 0 || t.row_bytes == 0 || selections > (uint64_t(1) << 32))
    return Status(StatusCode::InvalidArgument, "selection trace '" + path + "': bad header");
  t.prompts.resize(t.batch);
  for (uint64_t& p : t.prompts) p = r.u64();
  t.lengths.resize(size_t(t.steps) * t.batch);
  for (uint64_t& l : t.lengths) l = r.u64();
  t.tokens.resize(size_t(selections));
  for (int32_t& x : t.tokens) x = int32_t(r.u32());
  if (!f) return Status(StatusCode::InvalidArgument, "selection trace '" + path + "' ends early (truncated?)");
  f.peek();
  if (!f.eof()) return Status(StatusCode::InvalidArgument, "selection trace '" + path + "' has bytes after its end");
  *out = std::move(t);
  return Status::ok();
}

}  // namespace residency
}  // namespace hsa
