// Property test of the LRU diff against an independently written brute force.
#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <random>
#include <set>
#include <tuple>

#include "cpu_backend.h"

namespace hsa {
namespace {

// The brute-force model: slot state as plain maps, victims chosen by sorting
// all evictable slots on (occupied, last_used, slot id).
struct ModelBuffer {
  std::vector<int> unit;  // -1 empty
  std::vector<int> last;  // -1 never

  struct StepResult {
    std::vector<int> slots;
    std::vector<std::pair<int, int>> copies;  // (unit, slot)
  };

  StepResult step(const std::vector<int>& selected, int now) {
    StepResult r;
    std::map<int, int> resident;  // unit -> slot
    for (size_t c = 0; c < unit.size(); ++c)
      if (unit[c] >= 0) resident[unit[c]] = int(c);
    std::set<int> protected_slots;
    for (int u : selected)
      if (resident.count(u)) protected_slots.insert(resident[u]);
    std::vector<int> misses;
    for (int u : selected)
      if (!resident.count(u)) misses.push_back(u);
    std::sort(misses.begin(), misses.end());
    std::map<int, int> assigned;
    for (int u : misses) {
      std::vector<std::tuple<int, int, int>> evictable;
      for (int c = 0; c < int(unit.size()); ++c)
        if (!protected_slots.count(c)) evictable.emplace_back(unit[c] >= 0 ? 1 : 0, unit[c] >= 0 ? last[c] : 0, c);
      std::sort(evictable.begin(), evictable.end());
      const int victim = std::get<2>(evictable.front());
      protected_slots.insert(victim);
      unit[victim] = u;
      assigned[u] = victim;
      r.copies.emplace_back(u, victim);
    }
    for (int u : selected) {
      const int slot = resident.count(u) ? resident[u] : assigned[u];
      r.slots.push_back(slot);
      last[slot] = now;
    }
    return r;
  }
};

TEST(LruDiff, MatchesBruteForceOnRandomDriftingSelections) {
  std::mt19937 rng(1234);
  int sequences = 0, total_steps = 0;
  for (int trial = 0; trial < 400; ++trial, ++sequences) {
    const uint32_t K = 1 + rng() % 12;
    const uint32_t C = K + rng() % 12;
    const uint32_t sinks = rng() % 3, window = 1 + rng() % 3;
    uint32_t n = 1 + rng() % 8;
    std::vector<float> scores(256);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    for (auto& s : scores) s = normal(rng);
    std::vector<int32_t> slot_unit(C, -1), last_used(C, -1);
    ModelBuffer model{std::vector<int>(C, -1), std::vector<int>(C, -1)};
    const int steps = 10 + rng() % 40;
    for (int step = 0; step < steps; ++step, ++total_steps) {
      if (rng() % 3 == 0 && n < 200) n += 1 + rng() % 4;  // the context grows
      for (auto& s : scores) s += 0.3f * normal(rng);    // queries drift slowly
      std::vector<float> step_scores(scores.begin(), scores.begin() + n);
      for (uint32_t u = 0; u < n; ++u)
        if (u < sinks || u + window >= n) step_scores[u] = INFINITY;
      std::vector<int32_t> units(K);
      reference::top_k(step_scores.data(), n, K, units.data());
      std::vector<int> selected;
      for (int32_t u : units)
        if (u >= 0) selected.push_back(u);
      ASSERT_EQ(selected.size(), std::min<size_t>(K, n));

      const std::vector<int32_t> before = slot_unit;
      std::vector<int32_t> slots(K), copy_units(K), copy_slots(K);
      const uint32_t misses = reference::lru_diff(units.data(), K, step, C, slot_unit.data(), last_used.data(),
                                                  slots.data(), copy_units.data(), copy_slots.data());
      const ModelBuffer::StepResult expected = model.step(selected, step);

      // Victim order and page table exactly as the model.
      ASSERT_EQ(misses, expected.copies.size()) << "trial " << trial << " step " << step;
      for (uint32_t i = 0; i < misses; ++i) {
        EXPECT_EQ(copy_units[i], expected.copies[i].first);
        EXPECT_EQ(copy_slots[i], expected.copies[i].second);
      }
      for (size_t i = 0; i < selected.size(); ++i) ASSERT_EQ(slots[i], expected.slots[i]);
      for (size_t i = selected.size(); i < K; ++i) EXPECT_EQ(slots[i], -1);
      EXPECT_EQ(std::vector<int>(slot_unit.begin(), slot_unit.end()), model.unit);
      EXPECT_EQ(std::vector<int>(last_used.begin(), last_used.end()), model.last);

      // BRIEF.md invariants, checked directly.
      std::set<int32_t> used_slots;
      std::set<int32_t> hit_slots;
      for (size_t i = 0; i < selected.size(); ++i) {
        EXPECT_EQ(slot_unit[slots[i]], units[i]) << "page table points at a slot holding another unit";
        EXPECT_TRUE(used_slots.insert(slots[i]).second) << "slot assigned twice";
        if (std::find(before.begin(), before.end(), units[i]) != before.end()) hit_slots.insert(slots[i]);
      }
      for (uint32_t i = 0; i < misses; ++i) {
        EXPECT_EQ(std::count(before.begin(), before.end(), copy_units[i]), 0) << "resident unit copied again";
        EXPECT_EQ(hit_slots.count(copy_slots[i]), 0u) << "slot of the current selection recycled";
      }
      EXPECT_EQ(size_t(misses), selected.size() - hit_slots.size());
    }
  }
  EXPECT_GT(total_steps, 4000);
  EXPECT_EQ(sequences, 400);
}

TEST(LruDiff, EmptySlotsFirstThenLeastRecentlyUsed) {
  // C = 3, K = 2. Step 0 selects {0, 1}: slots 0, 1. Step 1 selects {1, 2}: unit 2
  // takes empty slot 2. Step 2 selects {3, 4}: victims are the LRU slot 0
  // (last_used 0), then slot 1 (last_used 1, tie with slot 2 broken by id).
  std::vector<int32_t> slot_unit(3, -1), last_used(3, -1), slots(2), cu(2), cs(2);
  const int32_t s0[] = {0, 1}, s1[] = {1, 2}, s2[] = {3, 4};
  EXPECT_EQ(reference::lru_diff(s0, 2, 0, 3, slot_unit.data(), last_used.data(), slots.data(), cu.data(), cs.data()), 2u);
  EXPECT_EQ(reference::lru_diff(s1, 2, 1, 3, slot_unit.data(), last_used.data(), slots.data(), cu.data(), cs.data()), 1u);
  EXPECT_EQ(cs[0], 2);
  EXPECT_EQ(reference::lru_diff(s2, 2, 2, 3, slot_unit.data(), last_used.data(), slots.data(), cu.data(), cs.data()), 2u);
  EXPECT_EQ(cs[0], 0);
  EXPECT_EQ(cs[1], 1);
  EXPECT_EQ(slot_unit, (std::vector<int32_t>{3, 4, 2}));
}

}  // namespace
}  // namespace hsa
