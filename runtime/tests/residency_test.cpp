// The residency models of hsa-residency (tools/residency.h): the LRU buffer
// at P = 1 against the runtime's own diff (reference::lru_diff), at any P
// against an independently written brute force (both overflow policies),
// BRIEF.md's invariants, the equal-memory accounting, the copy-time model
// and the selection trace's file.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "cpu_backend.h"
#include "residency.h"

namespace hsa {
namespace {

using residency::LruBuffer;
using residency::Overflow;
using residency::StepOutcome;

// A drifting token selection: `k` of `length` tokens, a recent window, a few
// sinks and a scored remainder whose scores random-walk (so consecutive
// selections overlap), ascending. Sometimes clustered (runs of tokens).
struct SelectionGenerator {
  std::mt19937 rng;
  std::vector<float> score;
  bool clustered;
  SelectionGenerator(uint32_t seed, bool clustered_) : rng(seed), clustered(clustered_) {}

  std::vector<int32_t> next(uint32_t length, uint32_t k) {
    std::normal_distribution<float> normal(0.0f, 1.0f);
    while (score.size() < length) score.push_back(normal(rng));
    for (float& s : score) s += 0.3f * normal(rng);
    std::vector<float> s(score.begin(), score.begin() + length);
    if (clustered)  // neighbouring tokens share a score: selections come in runs
      for (uint32_t t = 1; t < length; ++t)
        if (t % 7 != 0) s[t] = s[t - 1] + 0.01f * normal(rng);
    for (uint32_t t = 0; t < length; ++t)
      if (t < 2 || t + 3 >= length) s[t] = INFINITY;
    std::vector<int32_t> units(k);
    reference::top_k(s.data(), length, k, units.data());
    units.erase(std::remove(units.begin(), units.end(), -1), units.end());
    return units;
  }
};

TEST(Residency, TokenModelEqualsTheRuntimesLruDiff) {
  std::mt19937 rng(77);
  for (int trial = 0; trial < 200; ++trial) {
    const uint32_t K = 1 + rng() % 16, C = K + rng() % 16;
    SelectionGenerator gen(rng(), trial % 2 == 0);
    LruBuffer model(1, C);
    std::vector<int32_t> slot_unit(C, -1), last_used(C, -1);
    uint32_t length = 4 + rng() % 20;
    const int steps = 5 + rng() % 30;
    for (int step = 0; step < steps; ++step) {
      length += rng() % 3;
      const std::vector<int32_t> tokens = gen.next(length, K);
      std::vector<int32_t> units(K, -1), slots(K), copy_units(K), copy_slots(K);
      std::copy(tokens.begin(), tokens.end(), units.begin());
      const uint32_t misses = reference::lru_diff(units.data(), K, step, C, slot_unit.data(), last_used.data(),
                                                  slots.data(), copy_units.data(), copy_slots.data());
      const StepOutcome o = model.step(tokens.data(), tokens.size(), length, step);
      ASSERT_EQ(o.miss_pages, misses) << "trial " << trial << " step " << step;
      ASSERT_EQ(o.miss_rows, misses);
      ASSERT_EQ(o.hit_tokens + misses, tokens.size());
      ASSERT_EQ(o.pages, tokens.size());
      ASSERT_EQ(o.streamed_pages, 0u);
      for (size_t i = 0; i < tokens.size(); ++i) ASSERT_EQ(model.step_slots()[i], slots[i]);
      ASSERT_EQ(model.step_copies().size(), misses);
      for (uint32_t m = 0; m < misses; ++m) {
        ASSERT_EQ(model.step_copies()[m].first, copy_units[m]);
        ASSERT_EQ(model.step_copies()[m].second, copy_slots[m]);
      }
      for (uint32_t c = 0; c < C; ++c) {
        ASSERT_EQ(model.slot_page()[c], slot_unit[c]);
        ASSERT_EQ(model.last_used()[c], last_used[c]);
      }
    }
  }
}

// The brute force: slot state as plain maps; per step, the distinct pages
// and their token counts, hits, then each admitted miss (in ascending page
// order) scans every slot for BRIEF.md's best victim.
struct BruteForce {
  uint32_t P;
  std::vector<int64_t> page;  // per slot, -1 empty
  std::vector<int32_t> last;  // per slot, -1 never
  Overflow overflow;
  std::vector<int32_t> table;                       // slot per distinct page, -1 streamed
  std::vector<std::pair<int64_t, int32_t>> copies;  // (page, slot)
  std::set<int64_t> previous;

  StepOutcome step(const std::vector<int32_t>& tokens, uint64_t length, int32_t now) {
    StepOutcome o;
    std::map<int64_t, uint32_t> count;  // page -> selected tokens
    for (int32_t t : tokens) ++count[t / int64_t(P)];
    o.tokens = uint32_t(tokens.size());
    o.pages = uint32_t(count.size());
    for (const auto& pc : count) o.common_pages += previous.count(pc.first);
    previous.clear();
    for (const auto& pc : count) previous.insert(pc.first);
    std::map<int64_t, int> resident;
    for (size_t c = 0; c < page.size(); ++c)
      if (page[c] >= 0) resident[page[c]] = int(c);
    std::set<int> taken;
    std::vector<int64_t> misses;
    for (const auto& pc : count) {
      if (resident.count(pc.first)) {
        ++o.hit_pages;
        o.hit_tokens += pc.second;
        taken.insert(resident[pc.first]);
      } else {
        misses.push_back(pc.first);
      }
    }
    // Victims available: slots not holding a page of this step.
    const size_t available = page.size() - taken.size();
    std::set<int64_t> admitted;
    if (misses.size() <= available) {
      admitted.insert(misses.begin(), misses.end());
    } else if (overflow == Overflow::Ascending) {
      admitted.insert(misses.begin(), misses.begin() + available);
    } else {
      std::vector<std::pair<int64_t, int64_t>> by_density;  // (-count, page)
      for (int64_t p : misses) by_density.emplace_back(-int64_t(count[p]), p);
      std::sort(by_density.begin(), by_density.end());
      for (size_t i = 0; i < available; ++i) admitted.insert(by_density[i].second);
    }
    std::map<int64_t, int> assigned;
    copies.clear();
    for (int64_t p : misses) {
      if (!admitted.count(p)) {
        ++o.streamed_pages;
        o.streamed_rows += count[p];
        continue;
      }
      int best = -1;
      for (int c = 0; c < int(page.size()); ++c) {
        if (taken.count(c)) continue;
        if (best < 0) { best = c; continue; }
        const auto key = [&](int s) { return std::make_tuple(page[s] >= 0, page[s] >= 0 ? last[s] : 0, s); };
        if (key(c) < key(best)) best = c;
      }
      if (page[best] >= 0) ++o.evictions;
      page[best] = p;
      taken.insert(best);
      assigned[p] = best;
      copies.emplace_back(p, best);
      ++o.miss_pages;
      o.miss_rows += std::min<uint64_t>(P, length - uint64_t(p) * P);
    }
    table.clear();
    for (const auto& pc : count) {
      const int slot = resident.count(pc.first) ? resident[pc.first] : assigned.count(pc.first) ? assigned[pc.first] : -1;
      table.push_back(slot);
      if (slot >= 0) last[slot] = now;
    }
    return o;
  }
};

void expect_same(const StepOutcome& a, const StepOutcome& b, const std::string& where) {
  EXPECT_EQ(a.tokens, b.tokens) << where;
  EXPECT_EQ(a.pages, b.pages) << where;
  EXPECT_EQ(a.hit_tokens, b.hit_tokens) << where;
  EXPECT_EQ(a.hit_pages, b.hit_pages) << where;
  EXPECT_EQ(a.miss_pages, b.miss_pages) << where;
  EXPECT_EQ(a.miss_rows, b.miss_rows) << where;
  EXPECT_EQ(a.evictions, b.evictions) << where;
  EXPECT_EQ(a.streamed_pages, b.streamed_pages) << where;
  EXPECT_EQ(a.streamed_rows, b.streamed_rows) << where;
  EXPECT_EQ(a.common_pages, b.common_pages) << where;
}

TEST(Residency, PageModelMatchesBruteForceOnRandomTraces) {
  std::mt19937 rng(2024);
  int overflowing = 0, evicting = 0, partial = 0;
  for (int trial = 0; trial < 400; ++trial) {
    const uint32_t P = 1u << (rng() % 5);  // 1 .. 16
    const uint32_t K = 1 + rng() % 24;
    // Capacities from far too small (overflow) to roomy.
    const uint32_t slots = 1 + rng() % (2 * K / std::min<uint32_t>(P, K) + 2);
    const Overflow policy = trial % 2 ? Overflow::Densest : Overflow::Ascending;
    SelectionGenerator gen(rng(), trial % 3 == 0);
    LruBuffer model(P, slots, policy);
    BruteForce brute{P, std::vector<int64_t>(slots, -1), std::vector<int32_t>(slots, -1), policy, {}, {}, {}};
    uint32_t length = 8 + rng() % 100;
    const int steps = 5 + rng() % 25;
    for (int step = 0; step < steps; ++step) {
      length += 1 + (rng() % 4 == 0 ? rng() % 30 : 0);
      const std::vector<int32_t> tokens = gen.next(length, K);
      const std::string where = "trial " + std::to_string(trial) + " step " + std::to_string(step) + " P " +
                                std::to_string(P) + " slots " + std::to_string(slots);
      const StepOutcome a = model.step(tokens.data(), tokens.size(), length, step);
      const StepOutcome b = brute.step(tokens, length, step);
      expect_same(a, b, where);
      ASSERT_EQ(model.step_slots(), brute.table) << where;
      ASSERT_EQ(model.step_copies(), brute.copies) << where;
      ASSERT_EQ(model.slot_page(), brute.page) << where;
      ASSERT_EQ(model.last_used(), brute.last) << where;
      overflowing += a.streamed_pages > 0;
      evicting += a.evictions > 0;
      for (uint32_t rows : model.step_copy_rows()) partial += rows < P;
    }
  }
  // The traces reach every branch.
  EXPECT_GT(overflowing, 50);
  EXPECT_GT(evicting, 50);
  EXPECT_GT(partial, 20);
}

// BRIEF.md's invariants on a page buffer: the page table points at slots
// holding the page; no slot twice; a resident page is never copied again;
// rows copied = what the copies move; no slot of this step is recycled.
TEST(Residency, PageBufferInvariants) {
  std::mt19937 rng(5);
  for (int trial = 0; trial < 100; ++trial) {
    const uint32_t P = 1u << (1 + rng() % 5), K = 8 + rng() % 40, slots = 2 + rng() % 40;
    LruBuffer model(P, slots, trial % 2 ? Overflow::Densest : Overflow::Ascending);
    SelectionGenerator gen(rng(), trial % 2 == 0);
    uint32_t length = 64 + rng() % 200;
    for (int step = 0; step < 30; ++step) {
      length += 1;
      const std::vector<int64_t> before = model.slot_page();
      const std::vector<int32_t> tokens = gen.next(length, K);
      const StepOutcome o = model.step(tokens.data(), tokens.size(), length, step);
      const std::vector<int64_t>& pages = model.step_pages();
      const std::vector<int32_t>& table = model.step_slots();
      std::set<int32_t> used;
      for (size_t i = 0; i < pages.size(); ++i) {
        if (table[i] < 0) continue;
        ASSERT_EQ(model.slot_page()[size_t(table[i])], pages[i]);
        ASSERT_TRUE(used.insert(table[i]).second) << "slot " << table[i] << " twice";
        ASSERT_EQ(model.last_used()[size_t(table[i])], step);
      }
      uint64_t rows = 0;
      for (size_t m = 0; m < model.step_copies().size(); ++m) {
        const int64_t page = model.step_copies()[m].first;
        ASSERT_EQ(std::count(before.begin(), before.end(), page), 0) << "resident page " << page << " copied";
        rows += model.step_copy_rows()[m];
        ASSERT_EQ(model.step_copy_rows()[m], std::min<uint64_t>(P, length - uint64_t(page) * P));
      }
      ASSERT_EQ(rows, o.miss_rows);
      ASSERT_EQ(o.hit_pages + o.miss_pages + o.streamed_pages, o.pages);
      // Streaming happens only when every slot holds a page of this step.
      if (o.streamed_pages) {
        ASSERT_EQ(used.size(), slots);
      }
    }
  }
}

// A page copied while partial is complete afterwards: the appended tokens go
// to its device copy (BRIEF.md step 6), so the next steps hit without a copy.
TEST(Residency, PartialPageFillsByAppend) {
  LruBuffer buffer(16, 4);
  const int32_t first[] = {0, 1, 18};  // pages 0 and 1, length 19: page 1 has 3 rows
  StepOutcome o = buffer.step(first, 3, 19, 0);
  EXPECT_EQ(o.miss_pages, 2u);
  EXPECT_EQ(o.miss_rows, 16u + 3u);
  const int32_t second[] = {0, 18, 19};  // token 19 appended into resident page 1
  o = buffer.step(second, 3, 20, 1);
  EXPECT_EQ(o.hit_tokens, 3u);
  EXPECT_EQ(o.miss_rows, 0u);
  EXPECT_EQ(o.common_pages, 2u);
  const int32_t third[] = {0, 32};  // page 2: one row so far
  o = buffer.step(third, 2, 33, 2);
  EXPECT_EQ(o.miss_rows, 1u);
  EXPECT_EQ(o.hit_tokens, 1u);
}

TEST(Residency, RejectsBadSelections) {
  LruBuffer buffer(8, 4);
  const int32_t unsorted[] = {5, 3};
  EXPECT_THROW(buffer.step(unsorted, 2, 10, 0), std::invalid_argument);
  const int32_t beyond[] = {3, 10};
  EXPECT_THROW(buffer.step(beyond, 2, 10, 0), std::invalid_argument);
  const int32_t repeated[] = {3, 3};
  EXPECT_THROW(buffer.step(repeated, 2, 10, 0), std::invalid_argument);
  EXPECT_THROW(LruBuffer(0, 4), std::invalid_argument);
  EXPECT_THROW(LruBuffer(8, 0), std::invalid_argument);
}

TEST(Residency, EqualMemoryAccounting) {
  const uint64_t context = 131072 + 64;
  for (uint64_t row : {1152u, 656u}) {
    const residency::BufferBytes token = residency::buffer_bytes(1, 8192, row, context);
    EXPECT_EQ(token.rows, 8192 * row);
    EXPECT_EQ(token.bookkeeping, 8192u * 8 + context * 4);
    for (uint32_t P : {8u, 16u, 32u, 64u}) {
      const uint32_t slots = residency::equal_memory_slots(8192, P);
      EXPECT_EQ(slots, 8192 / P);
      const residency::BufferBytes page = residency::buffer_bytes(P, slots, row, context);
      EXPECT_EQ(page.rows, token.rows) << "P " << P;  // equal device memory for the rows
      EXPECT_EQ(page.bookkeeping, uint64_t(slots) * 8 + (context + P - 1) / P * 4);
      EXPECT_LT(page.bookkeeping, token.bookkeeping);
    }
  }
  // A capacity that is no multiple of P: floor, never more memory.
  EXPECT_EQ(residency::equal_memory_slots(1000, 64), 15u);
  EXPECT_LE(residency::buffer_bytes(64, 15, 1152, 4096).rows, residency::buffer_bytes(1, 1000, 1152, 4096).rows);
  EXPECT_GT(residency::buffer_bytes(64, 15, 1152, 4096).rows + 64 * 1152,
            residency::buffer_bytes(1, 1000, 1152, 4096).rows);
}

TEST(Residency, CopyTimeModel) {
  const residency::H2dModel m = residency::H2dModel::measured_h200();
  EXPECT_DOUBLE_EQ(m.bandwidth_gbps(1152), 46.0);
  EXPECT_DOUBLE_EQ(m.bandwidth_gbps(656), 33.5);
  EXPECT_DOUBLE_EQ(m.bandwidth_gbps(100), 33.5);      // clamped below
  EXPECT_DOUBLE_EQ(m.bandwidth_gbps(1 << 24), 51.1);  // and above
  // Log-linear between points: the geometric mean of 4 KiB and 16 KiB sits half way.
  EXPECT_NEAR(m.bandwidth_gbps(8192), (48.8 + 50.5) / 2, 1e-9);
  double last = 0;
  for (double bytes = 600; bytes < 300000; bytes *= 1.3) {
    EXPECT_GE(m.bandwidth_gbps(bytes), last);
    last = m.bandwidth_gbps(bytes);
  }
  // hsa's cold B=1 DSA gather (docs/PERF.md): 2048 rows of 1152 B in 57.2 us; the model within 5%.
  const double us = m.overhead_us + m.transfer_us(1152, 2048);
  EXPECT_NEAR(us, 57.2, 0.05 * 57.2);
  EXPECT_DOUBLE_EQ(m.transfer_us(1152, 0), 0.0);

  residency::H2dModel custom;
  EXPECT_TRUE(custom.parse_curve("1K:10,64K:40").is_ok());
  EXPECT_DOUBLE_EQ(custom.bandwidth_gbps(1024), 10.0);
  EXPECT_DOUBLE_EQ(custom.bandwidth_gbps(65536), 40.0);
  EXPECT_DOUBLE_EQ(custom.transfer_us(1024, 10), 10 * 1024 / 10e3);
  for (const char* bad : {"", "1152", "1152:", ":46", "1152:0", "1152:-3", "2K:10,1K:20", "1152:46,x:3", "1152:46,"})
    EXPECT_EQ(custom.parse_curve(bad).code(), StatusCode::InvalidArgument) << "'" << bad << "'";
}

TEST(Residency, SelectionTraceRoundTrip) {
  residency::SelectionTrace t;
  t.layer = "layer x";
  t.run = "drift";
  t.batch = 2, t.groups = 3, t.budget = 4, t.capacity = 8, t.steps = 5, t.row_bytes = 1152, t.max_context = 1000;
  t.prompts = {100, 900};
  for (uint32_t s = 0; s < t.steps; ++s) t.lengths.push_back(101 + s), t.lengths.push_back(901 + s);
  std::mt19937 rng(3);
  for (size_t i = 0; i < size_t(t.steps) * t.batch * t.groups * t.budget; ++i) t.tokens.push_back(int32_t(rng() % 900) - 1);
  const std::string path = ::testing::TempDir() + "/residency_trace.bin";
  ASSERT_TRUE(t.write(path).is_ok());
  residency::SelectionTrace r;
  ASSERT_TRUE(residency::SelectionTrace::read(path, &r).is_ok());
  EXPECT_EQ(r.layer, t.layer);
  EXPECT_EQ(r.run, t.run);
  EXPECT_EQ(r.batch, t.batch);
  EXPECT_EQ(r.groups, t.groups);
  EXPECT_EQ(r.budget, t.budget);
  EXPECT_EQ(r.capacity, t.capacity);
  EXPECT_EQ(r.steps, t.steps);
  EXPECT_EQ(r.row_bytes, t.row_bytes);
  EXPECT_EQ(r.max_context, t.max_context);
  EXPECT_EQ(r.prompts, t.prompts);
  EXPECT_EQ(r.lengths, t.lengths);
  EXPECT_EQ(r.tokens, t.tokens);
  EXPECT_EQ(r.selection(4, 1, 2), &r.tokens[((4 * 2 + 1) * 3 + 2) * 4]);

  // Truncated, padded and foreign files are refused.
  std::ifstream in(path, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string bad = ::testing::TempDir() + "/residency_bad.bin";
  for (const std::string& content : {bytes.substr(0, bytes.size() - 3), bytes + "x", std::string("HSATRACE") + bytes.substr(8)}) {
    std::ofstream(bad, std::ios::binary) << content;
    EXPECT_EQ(residency::SelectionTrace::read(bad, &r).code(), StatusCode::InvalidArgument);
  }
  EXPECT_EQ(residency::SelectionTrace::read(::testing::TempDir() + "/no_such_trace", &r).code(), StatusCode::NotFound);
  std::remove(path.c_str());
  std::remove(bad.c_str());
}

}  // namespace
}  // namespace hsa
