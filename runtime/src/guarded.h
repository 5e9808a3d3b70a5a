// No exception leaves a public function of the runtime: `guarded` runs a
// body and turns what escapes into a Status.
#ifndef HSA_RUNTIME_GUARDED_H
#define HSA_RUNTIME_GUARDED_H

#include <exception>
#include <new>
#include <string>

#include "hsa/status.hpp"

namespace hsa {

// A status for a failure that may be the lack of memory itself: without its
// message if even that cannot be allocated.
inline Status failure(StatusCode code, const char* message) noexcept {
  try {
    return Status(code, message);
  } catch (...) {
    return Status(code, std::string());
  }
}

// Runs `body`, turning any escaping exception into a Status: no exception
// leaves a public function (std::bad_alloc is OutOfMemory, anything else a bug).
template <typename Body>
Status guarded(Body&& body) noexcept {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    return failure(StatusCode::OutOfMemory, "out of host memory");
  } catch (const std::exception& e) {
    try {
      return Status(StatusCode::Internal, std::string("internal error: ") + e.what());
    } catch (...) {
      return failure(StatusCode::Internal, "internal error");
    }
  } catch (...) {
    return failure(StatusCode::Internal, "internal error: unknown exception");
  }
}

}  // namespace hsa

#endif  // HSA_RUNTIME_GUARDED_H
