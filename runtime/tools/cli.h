// Command-line helpers shared by the runtime's tools.
#ifndef HSA_RUNTIME_TOOLS_CLI_H
#define HSA_RUNTIME_TOOLS_CLI_H

#include <cstdint>
#include <cstdlib>
#include <string>

namespace hsa {
namespace cli {

// A positive count, optionally with a K (x1024) suffix: "4096", "32K".
inline bool parse_count(const std::string& text, uint64_t* out) {
  char* end = nullptr;
  uint64_t v = std::strtoull(text.c_str(), &end, 10);
  if (end == text.c_str() || text[0] == '-') return false;
  if (*end == 'K' || *end == 'k') v *= 1024, ++end;
  if (*end != '\0' || v == 0) return false;
  *out = v;
  return true;
}

}  // namespace cli
}  // namespace hsa

#endif  // HSA_RUNTIME_TOOLS_CLI_H
