// The headers the compiler includes (it is built with -fno-exceptions and
// -fno-rtti) must compile that way: this file is built with those flags and
// -Werror. Nothing runs; building it is the test.
#include "hsa/artifact_format.h"
#include "hsa/artifact_writer.h"
#include "hsa/sha256.h"

namespace hsa {

std::string headers_without_exceptions_digest() {
  artifact::ArtifactWriter writer;
  const std::vector<uint8_t> image = writer.finish();
  return sha256_hex(image.data(), image.size());
}

}  // namespace hsa
