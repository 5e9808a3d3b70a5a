// Deterministic data parallelism for the CPU reference: the work is split
// into contiguous chunks whose results do not depend on the split, so a
// reference computed on 2 or 16 cores is bit-identical.
#pragma once

#include <algorithm>
#include <cstdint>
#include <thread>
#include <vector>

namespace hsa {

// Calls body(begin, end) over [0, n) in contiguous chunks on up to
// hardware_concurrency threads; serially when the work (n * cost_per_item,
// in rough multiply-adds) is too small to pay for threads.
template <typename Body>
void parallel_for(uint64_t n, uint64_t cost_per_item, Body&& body) {
  constexpr uint64_t kMinWorkPerThread = uint64_t(1) << 22;
  const uint64_t hw = std::max(1u, std::thread::hardware_concurrency());
  const uint64_t by_work = (n * std::max<uint64_t>(cost_per_item, 1)) / kMinWorkPerThread;
  const uint64_t threads = std::min({hw, std::max<uint64_t>(by_work, 1), std::max<uint64_t>(n, 1)});
  if (threads <= 1) {
    if (n > 0) body(uint64_t(0), n);
    return;
  }
  std::vector<std::thread> pool;
  pool.reserve(threads - 1);
  const uint64_t chunk = (n + threads - 1) / threads;
  uint64_t serial_from = n;  // chunks no thread could be started for run here
  for (uint64_t t = 1; t < threads; ++t) {
    const uint64_t begin = t * chunk, end = std::min(n, begin + chunk);
    if (begin >= end) break;
    try {
      pool.emplace_back([&body, begin, end] { body(begin, end); });
    } catch (...) {
      serial_from = begin;
      break;
    }
  }
  body(uint64_t(0), std::min(n, chunk));
  if (serial_from < n) body(serial_from, n);
  for (std::thread& th : pool) th.join();
}

}  // namespace hsa
