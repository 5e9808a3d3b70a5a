// Loading and complete verification of an artifact (format: artifact_format.h).
// A loaded Artifact owns copies of everything it needs; nothing in it is
// trusted before load_artifact returned ok.
#ifndef HSA_RUNTIME_ARTIFACT_H
#define HSA_RUNTIME_ARTIFACT_H

#include <cstdint>
#include <string>
#include <vector>

#include "hsa/artifact_format.h"
#include "hsa/status.hpp"

namespace hsa {

struct ArtifactBuffer {
  std::string name;
  artifact::Tier tier;
  artifact::ElementType element_type;
  artifact::BufferScope scope;
  uint32_t flags = 0;  // artifact::kBufferFlag*
  std::vector<artifact::ExprRef> dims;

  bool fills_minus_one() const { return (flags & artifact::kBufferFlagFillMinusOne) != 0; }
};

struct ArtifactKernel {
  std::string name;
  std::string entry_symbol;
  std::vector<uint8_t> cubin;  // may be empty
  std::string ptx;  // without the NUL; .c_str() gives the NUL-terminated image
  uint32_t static_shared_bytes;
  uint32_t max_registers;
  uint32_t required_block[3];
  artifact::ExprRef max_dynamic_shared_bytes;
};

struct ArtifactLaunch {
  uint32_t kernel;
  artifact::ExprRef grid[3];
  artifact::ExprRef block[3];
  artifact::ExprRef dynamic_shared_bytes;
  std::vector<artifact::LaunchArgRecord> args;
};

struct ArtifactPlan {
  std::string name;
  std::vector<ArtifactLaunch> launches;
};

struct Artifact {
  artifact::LayerConfigRecord config{};
  std::string chip;
  uint32_t ptx_isa_version = 0;
  uint32_t kernel_abi_version = 0;
  std::vector<artifact::ExprInstr> code;
  std::vector<ArtifactBuffer> buffers;
  std::vector<ArtifactKernel> kernels;
  std::vector<ArtifactPlan> plans;

  // Index of the named buffer / plan, or -1.
  int find_buffer(const std::string& name) const;
  int find_plan(const std::string& name) const;
};

// Verifies `data[0, size)` completely (see docs/ARTIFACT.md, "Verification")
// and fills `out` only on success.
Status load_artifact(const uint8_t* data, size_t size, Artifact* out);
// Reads a regular file and verifies it. NotFound when the path does not exist;
// InvalidArgument naming the path for a directory, a device/FIFO/socket, an
// unreadable file or one larger than kMaxArtifactFileBytes.
Status load_artifact_file(const std::string& path, Artifact* out);
// The bytes of a regular file (the checks of load_artifact_file, no verification).
Status read_artifact_file(const std::string& path, std::vector<uint8_t>* bytes);
// Far above any artifact (kernels of one layer are megabytes): a larger file
// is refused before it is read into memory.
constexpr uint64_t kMaxArtifactFileBytes = uint64_t(1) << 31;

// Which kernel image a device of compute capability major.minor can use.
// cubin: the chip's number equals the device's (e.g. sm_90a on 9.0).
// PTX: the device is at least the chip, and arch-specific chips (suffix 'a'/'f')
// only on the same number. Errors when neither image of some kernel is usable.
struct ImageChoice {
  bool use_cubin;
};
Status choose_kernel_images(const Artifact& artifact, int cc_major, int cc_minor, ImageChoice* choice);

// Parses "sm_90a" into 90 and the suffix ('a', 'f' or 0); false if malformed.
bool parse_chip(const std::string& chip, int* number, char* suffix);

}  // namespace hsa

#endif  // HSA_RUNTIME_ARTIFACT_H
