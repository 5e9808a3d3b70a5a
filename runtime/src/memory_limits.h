// Memory limits of a runtime instance: the host memory it may use (an option,
// or what the machine and the process's limits allow) and the check, made
// from the layer's buffer table before anything is allocated, that the
// instance fits in host and device memory. A layer that does not fit is
// refused with OutOfMemory saying how much it needs, how much there is and
// what to change, instead of being killed by the OOM killer half-way.
#ifndef HSA_RUNTIME_MEMORY_LIMITS_H
#define HSA_RUNTIME_MEMORY_LIMITS_H

#include <cstdint>
#include <string>
#include <vector>

#include "hsa/status.hpp"

namespace hsa {

// What the automatic host limit is made of; 0 means unknown or unlimited.
struct HostMemoryFacts {
  uint64_t physical_bytes = 0;     // sysconf(_SC_PHYS_PAGES) * page size
  uint64_t rlimit_as_bytes = 0;    // RLIMIT_AS soft limit
  uint64_t rlimit_data_bytes = 0;  // RLIMIT_DATA soft limit
  uint64_t cgroup_bytes = 0;       // cgroup v2 memory.max of this process's cgroup
};
HostMemoryFacts current_host_memory_facts();

struct HostMemoryLimit {
  uint64_t bytes = 0;
  std::string source;  // for messages: "host_memory_limit_bytes", "physical memory 23.47 GiB minus 1/8", ...
};

// The smallest known bound minus 1/8 of it (the rest of the process, the
// allocator's overhead and the page cache need room too); 0 bytes when
// nothing is known.
HostMemoryLimit automatic_host_memory_limit(const HostMemoryFacts& facts);
// `option_bytes` (RuntimeOptions::host_memory_limit_bytes) when non-zero, else automatic.
HostMemoryLimit host_memory_limit(uint64_t option_bytes);

// Device memory usable by one instance: the driver's free memory minus 1/20
// (the context, modules, graphs and launch workspace).
uint64_t usable_device_memory(uint64_t free_bytes);

// One buffer of an instance, for the explanation of a refusal.
struct BufferBytes {
  std::string name;
  uint64_t bytes = 0;
};

// What an instance (a layer at max_batch, max_context_tokens, pool_pages)
// allocates: host memory (the host cache plus the backend's own, which on the
// CPU backend includes its "device" buffers) and device memory.
struct MemoryNeeds {
  // Backends add entries to the lists; the runtime sorts them (largest
  // first) and sums them into the totals (saturating).
  uint64_t host_bytes = 0;
  uint64_t device_bytes = 0;
  std::vector<BufferBytes> host_buffers, device_buffers;
  uint64_t device_usable_bytes = 0;  // valid when device_limited
  bool device_limited = false;       // false: the backend has no device memory (CPU)
  std::string device_name;           // "device 0 (NVIDIA H200)", for messages
};

// Ok, or OutOfMemory: "... needs X of host memory (buf.k 16.00 GiB, buf.v
// 16.00 GiB, ...) but Y are available (source): lower max_batch, ...".
// `instance` describes the sizes the instance was asked for, e.g.
// "max_batch 1, max_context_tokens 200, pool_pages 1".
Status check_memory_needs(const MemoryNeeds& needs, const HostMemoryLimit& host_limit, const std::string& instance);

// "32.00 GiB" (binary units, 2 decimals; bytes below 1 KiB as "123 B").
std::string byte_size_text(uint64_t bytes);

}  // namespace hsa

#endif  // HSA_RUNTIME_MEMORY_LIMITS_H
