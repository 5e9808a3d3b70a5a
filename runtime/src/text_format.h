// printf-style formatting into a std::string, for the runtime's messages and
// the tools' summaries (messages longer than 1 KiB are truncated).
#ifndef HSA_RUNTIME_TEXT_FORMAT_H
#define HSA_RUNTIME_TEXT_FORMAT_H

#include <cstdarg>
#include <cstdio>
#include <string>

namespace hsa {

std::string format_text(const char* fmt, ...) __attribute__((format(printf, 1, 2)));
inline std::string format_text(const char* fmt, ...) {
  char text[1024];
  va_list args;
  va_start(args, fmt);
  std::vsnprintf(text, sizeof(text), fmt, args);
  va_end(args);
  return text;
}

}  // namespace hsa

#endif  // HSA_RUNTIME_TEXT_FORMAT_H
