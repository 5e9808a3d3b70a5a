// Loading and complete verification of an artifact (format: artifact_format.h).
// A loaded Artifact owns copies of everything it needs; nothing in it is
// trusted before load_artifact returned ok.
#ifndef HSA_RUNTIME_ARTIFACT_H
#define HSA_RUNTIME_ARTIFACT_H

#include <cstdint>
#include <string>
#include <vector>

#include "algorithms/algorithm.h"
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

// One memref descriptor among a launch's arguments (kernel ABI v2): at
// `first_arg`, BufferPointer `buffer` twice (allocated, aligned), ImmediateI64
// 0 (offset), then rank(buffer) ExprI64 sizes and as many ExprI64 strides. The
// loader checks the form; the runtime checks, when it evaluates the plan, that
// the sizes are the buffer's dims and the strides its row-major strides.
struct MemrefDescriptor {
  uint32_t first_arg;
  uint32_t buffer;
  uint32_t rank;
};

struct ArtifactLaunch {
  uint32_t kernel;
  artifact::ExprRef grid[3];
  artifact::ExprRef block[3];
  artifact::ExprRef dynamic_shared_bytes;
  std::vector<artifact::LaunchArgRecord> args;
  std::vector<MemrefDescriptor> descriptors;  // every BufferPointer argument starts one
};

struct ArtifactPlan {
  std::string name;
  std::vector<ArtifactLaunch> launches;
};

struct Artifact {
  artifact::LayerConfigRecord config{};
  std::string name;  // the layer's name, config.name ("" when unnamed)
  const AlgorithmPackage* algorithm = nullptr;  // the package config.algorithm names
  AlgorithmParams params;
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
// and fills `out` only on success. With `expected_sha256` (64 hex digits; ""
// for none) the bytes must have exactly that SHA-256, checked before anything
// is parsed: InvalidArtifact giving both digests otherwise, InvalidArgument
// for a malformed digest.
Status load_artifact(const uint8_t* data, size_t size, Artifact* out, const std::string& expected_sha256 = "");
// Reads a regular file and verifies it. NotFound when the path does not exist;
// InvalidArgument naming the path for a directory, a device/FIFO/socket, an
// unreadable file or one larger than kMaxArtifactFileBytes.
Status load_artifact_file(const std::string& path, Artifact* out, const std::string& expected_sha256 = "");
// Ok when `data` has the SHA-256 `expected_hex` (the pinned digest).
Status check_artifact_digest(const uint8_t* data, size_t size, const std::string& expected_hex);

// The rules of a KvDtype::Fp8Latent layer (FlashMLA's fp8 latent rows): a
// latent (MLA) layer, value_dim (the latent part) a multiple of
// kFp8LatentTile, head_dim > value_dim (the rope part), and a row of a
// multiple of 16 bytes (the GPU copies rows in 16-byte pieces). InvalidArtifact.
Status check_fp8_latent_layer(const artifact::LayerConfigRecord& config);

// The parameter sizes (bytes) of `.entry <symbol>(...)` in a PTX text: .u64/.s64/.b64/.f64
// 8, .u32/.s32/.b32/.f32 4, arrays (`.b8 name[16]`) their total. False with
// `why` when the entry is missing or its parameter list cannot be read.
bool ptx_entry_parameter_sizes(const std::string& ptx, const std::string& symbol, std::vector<uint32_t>* sizes,
                               std::string* why);
// Bytes of the kernel parameter an argument of this kind is (ABI v2): 4 for the i32 kinds, else 8.
uint32_t argument_bytes(artifact::ArgKind kind);
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
