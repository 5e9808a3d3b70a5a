// Status: the error value every runtime call returns (no exception crosses the API).
#ifndef HSATTN_STATUS_HPP
#define HSATTN_STATUS_HPP

#include <string>
#include <utility>

namespace hsa {

// Values are those of hsattn_status_t in hsattn.h.
enum class StatusCode : int {
  Ok = 0,
  InvalidArgument = 1,   // bad pointer, shape, id or option
  InvalidArtifact = 2,   // the artifact failed verification
  NotFound = 3,          // unknown request id, plan or buffer
  OutOfCapacity = 4,     // host pool full, no free batch slot, context longer than max
  Unavailable = 5,       // no CUDA driver / device
  Unsupported = 6,       // valid but not implemented by this backend
  DeviceError = 7,       // a CUDA driver call failed
  OutOfMemory = 8,       // host or device allocation failed
  Internal = 9,          // a bug: please report
};

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}
  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == StatusCode::Ok; }
  explicit operator bool() const { return is_ok(); }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::Ok;
  std::string message_;
};

}  // namespace hsa

#define HSA_RETURN_IF_ERROR(expr)          \
  do {                                     \
    ::hsa::Status hsa_return_status_ = (expr);    \
    if (!hsa_return_status_.is_ok()) return hsa_return_status_; \
  } while (0)

#endif  // HSATTN_STATUS_HPP
