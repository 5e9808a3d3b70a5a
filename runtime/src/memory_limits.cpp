#include "memory_limits.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <string>

#include "text_format.h"

namespace hsa {

namespace {

uint64_t rlimit_bytes(int resource) {
  struct rlimit limit;
  if (::getrlimit(resource, &limit) != 0 || limit.rlim_cur == RLIM_INFINITY) return 0;
  return uint64_t(limit.rlim_cur);
}

// memory.max of the cgroup v2 this process runs in ("max" or absent: 0).
// Containers and CI runners limit memory here while sysconf reports the host's.
uint64_t cgroup_memory_max() {
  std::ifstream cgroup("/proc/self/cgroup");
  std::string line, path;
  while (std::getline(cgroup, line))
    if (line.rfind("0::", 0) == 0) path = line.substr(3);  // the v2 entry: "0::/some/path"
  for (const std::string& dir : {"/sys/fs/cgroup" + path, std::string("/sys/fs/cgroup")}) {
    std::ifstream file(dir + "/memory.max");
    std::string value;
    if (!(file >> value)) continue;
    if (value == "max") return 0;
    if (value.find_first_not_of("0123456789") != std::string::npos || value.size() > 19) return 0;
    return std::stoull(value);
  }
  return 0;
}

std::string list_buffers(const std::vector<BufferBytes>& buffers) {
  std::string text;
  const size_t shown = std::min<size_t>(buffers.size(), 4);
  for (size_t i = 0; i < shown; ++i)
    text += (i ? ", " : "") + buffers[i].name + " " + byte_size_text(buffers[i].bytes);
  if (buffers.size() > shown) text += format_text(", and %zu smaller", buffers.size() - shown);
  return text;
}

}  // namespace

std::string byte_size_text(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double value = double(bytes);
  int unit = 0;
  while (value >= 1024.0 && unit < 6) {
    value /= 1024.0;
    ++unit;
  }
  return unit == 0 ? format_text("%llu B", static_cast<unsigned long long>(bytes))
                   : format_text("%.2f %s", value, units[unit]);
}

HostMemoryFacts current_host_memory_facts() {
  HostMemoryFacts facts;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page_size > 0) facts.physical_bytes = uint64_t(pages) * uint64_t(page_size);
  facts.rlimit_as_bytes = rlimit_bytes(RLIMIT_AS);
  facts.rlimit_data_bytes = rlimit_bytes(RLIMIT_DATA);
  try {
    facts.cgroup_bytes = cgroup_memory_max();
  } catch (...) {  // unreadable or unparsable: not a limit we know of
    facts.cgroup_bytes = 0;
  }
  return facts;
}

HostMemoryLimit automatic_host_memory_limit(const HostMemoryFacts& facts) {
  struct Bound {
    uint64_t bytes;
    const char* name;
  };
  const Bound bounds[] = {{facts.physical_bytes, "physical memory"},
                          {facts.rlimit_as_bytes, "RLIMIT_AS (ulimit -v)"},
                          {facts.rlimit_data_bytes, "RLIMIT_DATA (ulimit -d)"},
                          {facts.cgroup_bytes, "cgroup memory.max"}};
  const Bound* smallest = nullptr;
  for (const Bound& b : bounds)
    if (b.bytes > 0 && (!smallest || b.bytes < smallest->bytes)) smallest = &b;
  HostMemoryLimit limit;
  if (!smallest) {
    limit.source = "no host memory size known";
    return limit;
  }
  limit.bytes = smallest->bytes - smallest->bytes / 8;
  limit.source = std::string(smallest->name) + " " + byte_size_text(smallest->bytes) + " minus 1/8";
  return limit;
}

HostMemoryLimit host_memory_limit(uint64_t option_bytes) {
  if (option_bytes > 0) return HostMemoryLimit{option_bytes, "host_memory_limit_bytes"};
  return automatic_host_memory_limit(current_host_memory_facts());
}

uint64_t usable_device_memory(uint64_t free_bytes) { return free_bytes - free_bytes / 20; }

Status check_memory_needs(const MemoryNeeds& needs, const HostMemoryLimit& host_limit, const std::string& instance) {
  const char* advice =
      "lower max_batch, max_context_tokens or pool_pages (buffers scale with them; the unit buffer with batch x "
      "capacity x page size), or compile the layer with a smaller capacity or page size";
  // No known host size (an exotic system): nothing to check against.
  if (host_limit.bytes > 0 && needs.host_bytes > host_limit.bytes)
    return Status(StatusCode::OutOfMemory,
                  "the layer at " + instance + " needs " + byte_size_text(needs.host_bytes) + " of host memory (" +
                      list_buffers(needs.host_buffers) + ") but " + byte_size_text(host_limit.bytes) +
                      " are available (" + host_limit.source + "): " + advice +
                      "; RuntimeOptions::host_memory_limit_bytes sets the limit");
  if (needs.device_limited && needs.device_bytes > needs.device_usable_bytes)
    return Status(StatusCode::OutOfMemory,
                  "the layer at " + instance + " needs " + byte_size_text(needs.device_bytes) + " of device memory (" +
                      list_buffers(needs.device_buffers) + ") but " + byte_size_text(needs.device_usable_bytes) +
                      " are available on " + needs.device_name + " (free memory minus 1/20): " + advice +
                      ", or free the device (other processes, other runtimes)");
  return Status::ok();
}

}  // namespace hsa
